"""``rlm-desktop about``: the version, the bundled components and their licences."""

from __future__ import annotations

import click

from rlm_desktop.cli.output import json_option, print_json
from rlm_desktop.textsafe import printable
from rlm_desktop.version import __version__


@click.command()
@click.option(
    "--licence",
    "licence_of",
    metavar="NAME",
    help="Print the full licence text of one component (e.g. PySide6) or sample licence file.",
)
@json_option
def about(licence_of: str | None, as_json: bool) -> None:
    """The version, the bundled components and the sample documents, with their licences."""
    from rlm_desktop import about as facts
    from rlm_desktop.llm.spec import models_in_use
    from rlm_desktop.settings import load_settings

    components = facts.components()
    samples = facts.sample_licences()
    if licence_of:
        wanted = licence_of.lower()
        texts = [
            (f"{c.name}: {name}", text)
            for c in components
            if c.name.lower() == wanted
            for name, text in c.texts.items()
        ] + [(s.file, s.text) for s in samples if s.file.lower() == wanted]
        if not texts:
            raise click.UsageError(
                f"no licence text for '{licence_of}': names are listed by `rlm-desktop about`"
            )
        for title, text in texts:
            click.echo(f"==> {title}\n{text}")
        return
    if as_json:
        print_json(
            {
                "version": __version__,
                "components": [
                    {k: v for k, v in vars(c).items() if k != "texts"} | {"files": list(c.texts)}
                    for c in components
                ],
                "samples": [{"covers": s.covers, "file": s.file} for s in samples],
                "models": models_in_use(load_settings()),
            }
        )
        return
    click.echo(facts.summary(components, samples))
    click.echo(
        "\n".join(
            ["", "Models in use:", *(f"  {printable(m)}" for m in models_in_use(load_settings()))]
        )
    )
