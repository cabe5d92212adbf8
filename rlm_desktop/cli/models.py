"""Models and their keys: ``models``, ``generate``, ``key set`` and ``key delete``."""

from __future__ import annotations

import sys

import click

from rlm_desktop.cli.output import err, json_option, model_options, out, print_json, shown
from rlm_desktop.errors import UsageError


@click.command()
@json_option
def models(as_json: bool) -> None:
    """The models you can use: the demo model, recent GGUF files, the configured ones."""
    from rlm_desktop.llm.catalog import local_models
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    entries = local_models(settings)
    if as_json:
        print_json(
            {
                "model": settings.model,
                "sub_model": settings.sub_model or settings.model,
                "base_url": settings.base_url,
                "offline": settings.offline,
                "models": [entry.to_json() for entry in entries],
            }
        )
        return
    out.print(
        f"model: {shown(settings.model)}   sub-calls: {shown(settings.sub_model or settings.model)}"
        f"   offline: {'on' if settings.offline else 'off'}"
    )
    for entry in entries:
        out.print(f"  [bold]{shown(entry.spec)}[/] ({entry.status}): {shown(entry.summary())}")


@click.command()
@click.argument("prompt")
@model_options
@click.option("--max-tokens", type=click.IntRange(1), default=256, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True)
def generate(
    prompt: str, model_spec: str | None, base_url: str | None, max_tokens: int, temperature: float
) -> None:
    """Stream one answer from a model (a quick way to check that a model works)."""
    from rlm_desktop.llm.base import GenerationSettings, Usage
    from rlm_desktop.llm.spec import ModelPool
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    pool = ModelPool(settings, base_url)
    try:
        backend = pool.get(model_spec or settings.model)
        usage = Usage()
        generation = GenerationSettings(max_tokens=max_tokens, temperature=temperature)
        with backend.lock:
            for chunk in backend.stream([{"role": "user", "content": prompt}], generation, usage):
                click.echo(chunk, nl=False)
        click.echo()
        err.print(
            f"[dim]{usage.prompt_tokens} prompt tokens, {usage.completion_tokens} generated[/]"
        )
    finally:
        pool.close()


@click.group()
def key() -> None:
    """API keys of OpenAI-compatible servers, kept in the OS keychain (never in files)."""


@key.command("set")
@click.argument("provider")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the key from standard input.")
def key_set(provider: str, from_stdin: bool) -> None:
    """Store the key for PROVIDER (the server's host[:port], e.g. api.openai.com)."""
    from rlm_desktop.llm.keys import set_key

    secret = (
        sys.stdin.readline().strip()
        if from_stdin
        else click.prompt(f"API key for {provider}", hide_input=True)
    )
    if not secret:
        raise UsageError("no key given")
    set_key(provider, secret)
    out.print(f"stored the key for {shown(provider)} in the OS keychain")


@key.command("delete")
@click.argument("provider")
def key_delete(provider: str) -> None:
    """Remove the key stored for PROVIDER."""
    from rlm_desktop.llm.keys import delete_key

    if delete_key(provider):
        out.print(f"deleted the key for {shown(provider)}")
    else:
        out.print(f"no key was stored for {shown(provider)}")
