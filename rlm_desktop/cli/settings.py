"""``rlm-desktop config``: show the saved settings, or change one."""

from __future__ import annotations

from dataclasses import asdict

import click

from rlm_desktop.cli.output import json_option, out, print_json, shown
from rlm_desktop.settings import known_setting, load_settings, save_settings, settings_path


@click.command()
@click.argument("name", required=False)
@click.argument("value", required=False)
@json_option
def config(name: str | None, value: str | None, as_json: bool) -> None:
    """Show the settings, or set one: `rlm-desktop config offline false`."""
    settings = load_settings()
    if name is not None:
        if value is None:
            click.echo(getattr(settings, known_setting(name)))
            return
        settings.set_from_text(name, value)
        save_settings(settings)
    if as_json:
        print_json(asdict(settings))
        return
    out.print(f"[dim]{shown(str(settings_path()))}[/]")
    for key, current in asdict(settings).items():
        out.print(f"{key} = {shown(repr(current))}")
