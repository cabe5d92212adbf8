"""The root model's prompts: a system prompt per model size, and the first message."""

from __future__ import annotations

from functools import cache

from rlm_desktop.paths import resources_dir

VARIANTS = ("frontier", "local", "tiny")


@cache
def system_prompt(variant: str) -> str:
    """The system prompt text of a variant (files in resources/prompts/)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown prompt variant {variant!r}; known: {', '.join(VARIANTS)}")
    return (resources_dir() / "prompts" / f"system_{variant}.md").read_text(encoding="utf-8")


def variant_for(description: dict) -> str:
    """Pick the prompt for a model: tiny under 1B parameters, local up to ~30B, else frontier."""
    kind = description.get("kind")
    if kind == "openai-compatible":
        return "frontier"
    parameters = description.get("parameters") or 0
    if kind == "llama.cpp":
        return "tiny" if parameters < 1e9 else "local" if parameters < 30e9 else "frontier"
    return "local"


def first_message(question: str, overview: str, history: list[dict], helpers: str) -> str:
    """The question plus a description of ``context`` — never the documents' text."""
    parts = []
    if history:
        earlier = "\n".join(
            f"- Q{i}: {h['question']}\n  A{i}: {h['answer'][:400]}"
            for i, h in enumerate(history, 1)
        )
        parts.append(
            "Earlier in this conversation (also in the REPL variable `history`, a list of "
            f"dicts with question, answer, citations):\n{earlier}"
        )
    parts.append(f"The REPL's `context`: {overview}")
    parts.append(f"Helpers: {helpers}")
    parts.append(f"Question: {question}")
    parts.append("Start by writing a ```repl block.")
    return "\n\n".join(parts)


NUDGE_NO_CODE = (
    "You did not write any code. You cannot see the documents except through the REPL: write "
    'a ```repl block, for example `print(context.search("words from the question", k=5))`.'
)
FINAL_TOO_EARLY = (
    "You wrote FINAL in the same reply as code, before seeing that code's output. The output "
    "is above. If it supports your answer, reply with FINAL(...) again; otherwise continue."
)
REPEATED_ERROR = (
    "The same code failed twice with: {error}\nTry another approach, for example "
    "`context.search(...)`, `context.grep(...)` or `map_chunks(question)`."
)
LAST_CALL = (
    "You have no steps left. Give your best final answer now, as FINAL(your answer), using "
    'what you have seen so far, with cite(...) markers or [n] "exact quote" lines.'
)
