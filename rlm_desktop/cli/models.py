"""Models and their keys: ``models list|scan|info|download|remove``, ``generate``,
``key set`` and ``key delete``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from rlm_desktop.cli.output import (
    err,
    json_option,
    model_options,
    out,
    print_json,
    shown,
    shown_text,
)
from rlm_desktop.errors import UsageError
from rlm_desktop.llm.catalog import FIT_MARKS, RECENT_GROUP, Choice
from rlm_desktop.llm.download import DownloadProgress
from rlm_desktop.settings import Settings

_FIT_STYLES = {"fits": "green", "tight": "yellow", "too big": "red"}


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """The models you can use, the ones already on this computer, and downloads.

    Without a command: `models list`.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_models, as_json=as_json)


def _fit(verdict: str) -> str:
    if not verdict:
        return ""
    return f"[{_FIT_STYLES[verdict]}]{FIT_MARKS[verdict]} {verdict}[/]"


def _show_choice(choice: Choice) -> None:
    if choice.group == RECENT_GROUP and not choice.detail:
        out.print(f"  [bold]{shown(choice.spec)}[/] (unreadable): {shown(choice.note)}")
        return
    if choice.recommended_id:
        out.print(f"  [bold]{shown(choice.recommended_id)}[/]  {shown(choice.label)}")
        out.print(f"      [dim]{shown(choice.detail)}; {shown(choice.note)}[/]")
        out.print(f"      [dim]{shown(choice.explain.split(chr(10))[0])}[/]")
        return
    out.print(f"  [bold]{shown(choice.label)}[/]")
    out.print(f"      [dim]{shown(choice.detail)}[/]")
    if choice.spec not in (choice.label, "demo"):
        out.print(f"      [dim]{shown(choice.spec)}[/]")
    if choice.note:
        out.print(f"      [yellow]{shown(choice.note)}[/]")


@models.command("list")
@json_option
def list_models(as_json: bool) -> None:
    """Every model you can pick: the demo, models found on this computer by app, recent
    files, and the recommended downloads."""
    from rlm_desktop.llm.catalog import local_models, picker
    from rlm_desktop.llm.discovery import scan
    from rlm_desktop.llm.fit import system_memory
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    found = scan(settings)
    choices = picker(settings, found, system_memory(settings.n_gpu_layers))
    if as_json:
        print_json(
            {
                "model": settings.model,
                "sub_model": settings.sub_model or settings.model,
                "base_url": settings.base_url,
                "offline": settings.offline,
                "models": [entry.to_json() for entry in local_models(settings)],
                "choices": [choice.to_json() for choice in choices],
            }
        )
        return
    out.print(
        f"model: {shown(settings.model)}   sub-calls: {shown(settings.sub_model or settings.model)}"
        f"   offline: {'on' if settings.offline else 'off'}"
    )
    group = ""
    for choice in choices:
        if choice.group != group:
            group = choice.group
            hint = " (`rlm-desktop models download ID`)" if choice.recommended_id else ""
            out.print(f"\n[bold underline]{shown(group)}[/]{hint}")
        _show_choice(choice)
    out.print(
        "\n[dim]Use one: rlm-desktop config model PATH (sub-calls: config sub_model PATH), "
        "or --model PATH for one question.[/]"
    )


@models.command("scan")
@click.option(
    "--add-folder",
    "add",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also search this folder, now and from now on (repeatable).",
)
@click.option(
    "--remove-folder",
    "remove",
    multiple=True,
    help="Stop searching a folder added before (repeatable).",
)
@json_option
def scan_models(add: tuple[Path, ...], remove: tuple[str, ...], as_json: bool) -> None:
    """Find the GGUF models other apps downloaded (LM Studio, GPT4All, Ollama, Jan, the
    Hugging Face and llama.cpp caches) and in your folders, and say whether each fits."""
    from rlm_desktop.llm.catalog import found_json
    from rlm_desktop.llm.discovery import SOURCES, scan
    from rlm_desktop.llm.fit import gib, system_memory
    from rlm_desktop.llm.gguf import parameter_label
    from rlm_desktop.settings import load_settings, save_settings

    settings = load_settings()
    if add or remove:
        _change_folders(settings, add, remove)
        save_settings(settings)
    found = scan(settings, include_demo=True)
    memory = system_memory(settings.n_gpu_layers)
    rows = [found_json(model, settings, memory) for model in found.models]
    if as_json:
        print_json(rows)
        return
    source = ""
    for row in rows:
        if row["source"] != source:
            source = row["source"]
            out.print(f"\n[bold underline]{SOURCES[source]}[/]")
        out.print(
            f"  [bold]{shown(row['name'])}[/]  {_fit(row['fit'])} "
            f"[dim](about {gib(row['ram_estimate_bytes'])})[/]\n"
            f"      [dim]{shown(row['architecture'])} · {parameter_label(row['parameters'])} · "
            f"{shown(row['quantization'])} · {row['context_length']:,}-token context · "
            f"{gib(row['size_bytes'])}[/]\n      [dim]{shown(row['path'])}[/]"
        )
        if row["notes"]:
            out.print(f"      [yellow]{shown(row['notes'])}[/]")
    for skipped in found.skipped:
        out.print(f"[dim]skipped {shown(skipped.path)}: {shown(skipped.reason)}[/]")
    places = ", ".join(sorted({SOURCES[s] for s, _ in found.searched})) or "none of the usual"
    out.print(
        f"\n[dim]{len(rows)} model{'' if len(rows) == 1 else 's'} in {found.seconds:.2f} s; "
        f"looked in: {shown(places)} folders. Free memory: {gib(memory.ram_free)} of "
        f"{gib(memory.ram_total)} RAM"
        + (f", {gib(memory.vram_free)} VRAM" if memory.vram_total else "")
        + ".[/]"
    )


def _change_folders(settings: Settings, add: tuple[Path, ...], remove: tuple[str, ...]) -> None:
    folders = [f for f in settings.model_folders if f not in remove]
    for folder in add:
        if str(folder.resolve()) not in folders:
            folders.append(str(folder.resolve()))
    unknown = [f for f in remove if f not in settings.model_folders]
    if unknown:
        raise UsageError(
            f"{', '.join(unknown)} is not one of the model folders "
            f"({', '.join(settings.model_folders) or 'none added'})"
        )
    settings.model_folders = folders


@models.command("info")
@click.argument("name")
@json_option
def info(name: str, as_json: bool) -> None:
    """What NAME is and whether it fits: demo, a .gguf path, a name `models list` shows
    (llama3.2:3b) or a recommended model's id."""
    from rlm_desktop.llm.catalog import describe, find_model, found_json
    from rlm_desktop.llm.discovery import FoundModel, scan
    from rlm_desktop.llm.fit import system_memory
    from rlm_desktop.llm.gguf import read_gguf
    from rlm_desktop.llm.recommended import find_recommended
    from rlm_desktop.llm.spec import parse_spec
    from rlm_desktop.settings import load_settings

    settings = load_settings()
    memory = system_memory(settings.n_gpu_layers)
    recommended = find_recommended(name)
    model = find_model(name, scan(settings))
    if recommended is not None and (model is None or model.source != "folder"):
        if as_json:
            print_json(recommended.to_json())
        else:
            out.print(f"[bold]{shown(recommended.name)}[/] ({shown(recommended.repo)})")
            out.print(shown_text(describe("download:" + recommended.id, settings, memory)))
            state = "downloaded" if recommended.downloaded() else "not downloaded"
            out.print(f"[dim]{state}: rlm-desktop models download {recommended.id}[/]")
        return
    if model is None:
        spec = parse_spec(name)
        if spec.kind != "gguf":
            raise UsageError(f"{name} is not a local model: `info` reads GGUF files")
        model = FoundModel(spec.value, "file", Path(spec.value).name, read_gguf(spec.value))
    if as_json:
        print_json(found_json(model, settings, memory))
        return
    facts = model.info
    out.print(f"[bold]{shown(model.label)}[/]  [dim]{shown(model.path)}[/]")
    out.print(
        f"layers {facts.block_count} · attention heads {facts.head_count} · KV heads "
        f"{facts.head_count_kv} · key/value length {facts.key_length}/{facts.value_length}"
        + (f" · {facts.split_count} parts" if facts.split_count > 1 else "")
    )
    chosen = "demo" if model.source == "demo" else model.path
    out.print(shown_text(describe(chosen, settings, memory)))


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[DownloadProgress], None]]:
    """Bytes, speed and time left on stderr when it is a terminal."""
    if not (enabled and err.is_terminal):
        yield lambda _progress: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("downloading", total=None)

        def update(event: DownloadProgress) -> None:
            progress.update(task, completed=event.done, total=event.total, description=event.stage)

        yield update


@models.command("download")
@click.argument("source")
@click.option("--file", "file", default=None, help="The file in the Hugging Face repo.")
@click.option("--sha256", default=None, help="The expected checksum (default: the server's).")
@click.option("--use", is_flag=True, help="Make it the model of the root loop once stored.")
@json_option
def download(source: str, file: str | None, sha256: str | None, use: bool, as_json: bool) -> None:
    """Download a model into the app's models folder: SOURCE is a recommended model's id
    (`models list`), a Hugging Face repo (org/name with --file) or a URL. An interrupted
    download resumes where it stopped; the file is kept only if its sha256 matches."""
    from rlm_desktop.llm import download as fetch
    from rlm_desktop.settings import load_settings, save_settings

    request = fetch.plan(source, file, sha256)
    with _progress(not as_json) as on_progress:
        try:
            done = fetch.download(request, on_progress)
        except KeyboardInterrupt as exc:
            raise fetch.DownloadCancelled(
                f"the download of {request.filename} was interrupted; what was downloaded is "
                "kept: run the same command to resume"
            ) from exc
    if use:
        settings = load_settings()
        settings.model = done.path
        settings.remember_model(done.path)
        save_settings(settings)
    if as_json:
        print_json(done.to_json())
        return
    checked = "checked" if done.verified else "not checked: the server gave no checksum"
    out.print(f"stored {shown(done.path)}")
    out.print(f"[dim]sha256 {done.sha256} ({checked})[/]")
    if done.resumed_from:
        out.print(f"[dim]resumed after {done.resumed_from:,} bytes[/]")
    if not use:
        out.print(f"[dim]use it: rlm-desktop config model {shown(done.path)}[/]")


@models.command("remove")
@click.argument("name")
@json_option
def remove(name: str, as_json: bool) -> None:
    """Delete a model the app downloaded (or an unfinished download): NAME is its file name,
    path or recommended id. Other apps' models are never deleted."""
    from rlm_desktop.llm.catalog import find_model
    from rlm_desktop.llm.discovery import SOURCES, scan
    from rlm_desktop.llm.model_files import downloads_dir, models_dir, remove_model
    from rlm_desktop.llm.recommended import find_recommended
    from rlm_desktop.settings import load_settings, save_settings

    settings = load_settings()
    recommended = find_recommended(name)
    owner = ""
    if recommended is not None:
        path = models_dir() / recommended.file
    elif (models_dir() / name).exists() or (downloads_dir() / f"{name}.part").exists():
        path = models_dir() / name
    elif (found := find_model(name, scan(settings))) is not None:
        path, owner = Path(found.path), SOURCES[found.source]
    else:
        path = Path(name).expanduser().resolve()
    removal = remove_model(path, owner)
    names = {str(path), str(path.resolve())}
    was_root = settings.model in names
    if was_root or settings.sub_model in names or names & set(settings.recent_models):
        settings.recent_models = [s for s in settings.recent_models if s not in names]
        settings.model = "demo" if was_root else settings.model
        settings.sub_model = "" if settings.sub_model in names else settings.sub_model
        save_settings(settings)
    if as_json:
        print_json({**removal.to_json(), "model": settings.model})
        return
    for removed in removal.removed:
        out.print(f"removed {shown(removed)}")
    if was_root:
        out.print("[dim]the root model is the demo model again[/]")


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
    pool = ModelPool(settings, base_url, check_window=False)
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
