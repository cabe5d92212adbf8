"""What the models are told: a system prompt per model size, the first message, the nudges."""

from __future__ import annotations

from functools import cache

from rlm_desktop.paths import resources_dir
from rlm_desktop.sandbox.large import MAP_CHUNKS_CAP, SLICE_CAP

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


HELPERS = (
    "context.search(query, k), context.grep(pattern), context.documents, context.chunks(size), "
    "locate(text), llm_query(prompt), llm_query_batched(prompts), map_chunks(question), "
    "rlm_query(question, text), rlm_query_batched(questions, texts), SHOW_VARS(), "
    "cite(snippet), FINAL(answer), FINAL_VAR(name)"
)

# Added to the description of a ``context`` too big to be one str (sandbox.large).
LARGE_CONTEXT = (
    "This `context` is a large library mapped from disk, not a str. It answers len(context), "
    f"context[a:b] (up to {SLICE_CAP:,} characters at once), "
    "context.find/rfind/index/count(text, start, end), `text in context` and "
    "context.startswith/endswith, and reads lazily:\n"
    "  for line in context.splitlines(): ...\n"
    '  for m in context.finditer(r"pattern"): print(m.start(), m.group())\n'
    '  hits = context.grep(r"pattern")  # matching lines, with document and line number\n'
    "    (fastest with plain words, or words joined by |; pass flags=0 for a case-sensitive\n"
    "    regular expression: case-insensitive ones scan several times slower)\n"
    "  for piece in context.chunks(1_000_000): ...\n"
    "Operations on the whole text at once (print(context), str(context), context.split(), "
    "context.lower(), re.findall(p, context)) raise an error: use the forms above "
    f"(context.findall(p) for re.findall). map_chunks takes at most {MAP_CHUNKS_CAP:,} "
    "chunks: narrow the text with grep or search first."
)


def first_message(question: str, overview: str, history: list[dict], helpers: str = HELPERS) -> str:
    """The question plus a description of ``context`` — never the documents' text."""
    parts = []
    if history:
        earlier = "\n".join(_turn(i, h) for i, h in enumerate(history))
        parts.append(
            "Earlier in this conversation (each turn is also in the REPL as `history_0`, "
            "`history_1`, ...: dicts with question, answer, citations and trajectory; "
            f"`history` lists them all):\n{earlier}"
        )
    parts.append(f"The REPL's `context`: {overview}")
    parts.append(f"Helpers: {helpers}")
    parts.append(f"Question: {question}")
    parts.append("Start by writing a ```repl block.")
    return "\n\n".join(parts)


def earlier_contexts(count: int) -> str:
    """The overview's note when earlier turns asked about other documents."""
    return (
        f"\nEarlier questions in this conversation were asked about other documents: "
        f"`context_0` to `context_{count - 1}` hold each earlier turn's, and `context_{count}` "
        "(the same as `context`) this question's."
    )


def _turn(position: int, turn: dict) -> str:
    """One earlier turn as the first message lists it (a summary of several has no index)."""
    index = turn.get("index", position)
    name = f"history_{index}" if index is not None else "summary"
    return f"- {name}: Q: {turn['question']}\n  A: {turn['answer'][:400]}"


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
ANSWER_TOO_EARLY = (
    'You set answer["ready"] in a reply whose code printed output you had not seen yet. The '
    'output is above, and answer["ready"] is False again. If the output supports your '
    'answer, set answer["ready"] = True again; otherwise continue.'
)
FINAL_VAR_UNKNOWN = "FINAL_VAR named no variable of the REPL; compute the answer in code first."
COMPACT = (
    "Your conversation is about to outgrow your context window. Before you continue, "
    "summarise your progress for yourself in at most 150 words: what you found (with the "
    "exact numbers, names and quotes that matter), which REPL variables hold results, and "
    "what is left to do. Write no code."
)
COMPACT_TOKENS = 384


def compacted(summary: str, steps: int) -> str:
    """What replaces a conversation's older steps once they are compacted."""
    return (
        f"(My {steps} earlier steps were replaced by this summary to fit the context window; "
        "their full replies and outputs are in the REPL variable `earlier_steps`, a list of "
        f"{{'role', 'content'}} dicts.)\nSummary: {summary}\n\nMy latest step:"
    )


def with_text(question: str, text: str) -> str:
    """An ``rlm_query`` asked as one plain sub-call: the question, then its text."""
    return f"{question}\n\nText:\n{text}" if text else question


def one_call(material: str, question: str) -> str:
    """The single prompt of the direct and retrieval modes: material, question, quote lines."""
    return (
        f"{material}\n\nQuestion: {question}\nAnswer, then list the exact quotes you "
        'used, one per line as [n] "quote".'
    )
