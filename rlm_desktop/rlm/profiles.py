"""Protocol profiles: how the root model is told to work and to finish.

``paper`` is the method as the RLM paper describes it (``FINAL``/``FINAL_VAR``); ``reference``
is the scaffold that natively recursive models were trained with (an ``answer`` dict made
ready in code, ``SHOW_VARS``, ``rlm_query_batched``). The REPL offers every helper of both,
and the loop accepts both ways to finish, whichever profile the prompt describes.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import PurePath

from rlm_desktop.paths import resources_dir
from rlm_desktop.rlm import prompts

PROFILES = ("paper", "reference")
CHOICES = ("auto", *PROFILES)  # what the setting may say; "auto" is resolved per model

_REFERENCE_HELPERS = (
    "context.search(query, k), context.grep(pattern), context.chunks(size), llm_query(prompt), "
    "llm_query_batched(prompts), rlm_query(question, text), rlm_query_batched(questions, "
    'texts), SHOW_VARS(), cite(snippet); finish with answer["content"] = ... then '
    'answer["ready"] = True'
)


def system_prompt(profile: str, variant: str, tools: str = "") -> str:
    """The system prompt of a profile (the paper's depends on the model's size), with the
    user's custom tools described at its end."""
    text = prompts.system_prompt(variant) if profile == "paper" else _reference()
    return f"{text.rstrip()}\n\n{tools}" if tools else text


def helpers(profile: str) -> str:
    """The one-line list of helpers the first message repeats."""
    return prompts.HELPERS if profile == "paper" else _REFERENCE_HELPERS


def check(profile: str) -> str:
    """The profile itself, or a clear error for a name that is none."""
    if profile not in PROFILES:
        raise ValueError(f"unknown protocol profile {profile!r}; known: {', '.join(CHOICES)}")
    return profile


def resolve(choice: str, description: dict) -> str:
    """The profile a run uses: the one chosen, or for "auto" the one the model was trained
    with when it is a known natively recursive model, else the paper's."""
    if choice != "auto":
        return check(choice)
    known = trained_with(description)
    return known["profile"] if known is not None else "paper"


def trained_with(description: dict) -> dict | None:
    """The entry of ``resources/models/recursive.json`` that a model (its GGUF name, its
    file or its LoRA adapter's file) matches, if any."""
    names = [str(description.get("name") or "")]
    files = (description.get("path"), description.get("lora"))
    names += [PurePath(str(path)).name for path in files if path]
    for entry in _known_models():
        if any(re.search(entry["pattern"], name, re.I) for name in names if name):
            return entry
    return None


@cache
def _known_models() -> list[dict]:
    data = json.loads((resources_dir() / "models" / "recursive.json").read_text("utf-8"))
    return [m for m in data["models"] if m.get("profile") in PROFILES]


@cache
def _reference() -> str:
    return (resources_dir() / "prompts" / "system_reference.md").read_text(encoding="utf-8")
