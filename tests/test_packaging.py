"""What the packaged app relies on: one entry point for every process, the licences it shows,
the demo-model add-on, the menu entry and the AppDir. The bundle itself is built and
smoke-tested by ``packaging/build.py --smoke`` (slow, outside this suite)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from rlm_desktop import __version__, about, launch
from rlm_desktop.cli import cli
from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.spec import DEMO_FILE, demo_model_path
from rlm_desktop.sandbox.host import Sandbox

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("rlm_build", ROOT / "packaging" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def _python_module(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlm_desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def test_python_m_runs_the_command_line_and_refuses_an_unknown_child():
    done = _python_module("--version")
    assert done.returncode == 0 and __version__ in done.stdout
    done = _python_module(launch.CHILD_FLAG, "format-disk")
    assert done.returncode != 0 and "sandbox-worker" in done.stderr


def test_children_start_through_the_executable_itself_when_frozen(monkeypatch, tmp_path):
    """A frozen build has no python: the sandbox child is the app's executable + a flag."""
    assert launch.child_command("sandbox-worker")[1:] == [
        "-I",
        "-m",
        "rlm_desktop",
        launch.CHILD_FLAG,
        "sandbox-worker",
    ]
    # An executable that, like the frozen one, only understands the app's own arguments.
    exe = tmp_path / "rlm-desktop"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -m rlm_desktop "$@"\n')
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert launch.child_command("sandbox-worker") == [str(exe), launch.CHILD_FLAG, "sandbox-worker"]
    assert launch.bundle_dir() == tmp_path
    with Sandbox(context="the frozen build's context") as sandbox:
        result = sandbox.execute("print(context.upper())")
    assert result.stdout.strip() == "THE FROZEN BUILD'S CONTEXT"
    with pytest.raises(ValueError):
        launch.child_command("format-disk")


def test_the_demo_model_add_on_is_found_in_the_bundle_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(launch, "bundle_dir", lambda: tmp_path)
    with pytest.raises(ModelError, match=r"add-on is not installed.*models"):
        demo_model_path()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / DEMO_FILE).write_bytes(b"GGUF")
    assert demo_model_path() == tmp_path / "models" / DEMO_FILE


def test_about_lists_the_components_with_their_licence_texts():
    found = {c.name.lower(): c for c in about.components()}
    assert found["rlm desktop"].version == __version__
    assert "Permission is hereby granted" in found["rlm desktop"].texts["LICENSE"]
    assert "ggml authors" in found["llama.cpp / ggml"].texts["LICENSE"]
    assert found["pypdf"].licence.startswith("BSD") and found["pypdf"].texts
    assert "LGPL" in found["pyside6"].licence
    assert found["python"].kind == "runtime" and found["sqlite"].texts
    samples = {s.file: s for s in about.sample_licences()}
    assert set(samples) == {
        "LICENSE-loghub.txt",
        "LICENSE-sample-files.txt",
        "LICENSE-python-docx.txt",
    }
    assert "PDF" in samples["LICENSE-sample-files.txt"].covers
    assert "loghub" in samples["LICENSE-loghub.txt"].text.lower()


def test_notices_written_for_a_build_read_back_the_same(monkeypatch, tmp_path):
    """A frozen build has no package metadata: the notices written at build time stand in."""
    live = about.components()
    folder = about.write_notices(tmp_path / "notices")
    assert "PySide6" in (folder / "THIRD-PARTY-NOTICES.txt").read_text()
    monkeypatch.setattr(about, "notices_dir", lambda: folder)
    monkeypatch.setattr(about, "_from_metadata", lambda: pytest.fail("metadata was read"))
    bundled = about.components()
    assert [(c.name, c.version, c.licence, c.texts) for c in bundled] == [
        (c.name, c.version, c.licence, c.texts) for c in live
    ]


def test_about_command_prints_the_summary_json_and_full_texts():
    runner = CliRunner()
    text = runner.invoke(cli, ["about"])
    assert text.exit_code == 0
    assert f"RLM Desktop {__version__}" in text.output and "PySide6" in text.output
    data = json.loads(runner.invoke(cli, ["about", "--json"]).output)
    assert data["version"] == __version__
    assert all(c["files"] for c in data["components"] if c["name"] != "SQLite")
    licence = runner.invoke(cli, ["about", "--licence", "LICENSE-loghub.txt"])
    assert licence.exit_code == 0 and "LOGHUB" in licence.output
    unknown = runner.invoke(cli, ["about", "--licence", "no-such-thing"])
    assert unknown.exit_code != 0 and "no licence text for 'no-such-thing'" in unknown.output


def test_the_about_dialog_shows_the_version_and_each_licence(qtbot):
    from rlm_desktop.gui.about_dialog import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert __version__ in dialog.title.text()
    assert dialog.table.rowCount() == len(about.components())
    assert dialog.select("PySide6")
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in dialog.licence_text.toPlainText() or (
        "no licence text" in dialog.licence_text.toPlainText()  # a system without LGPL text
    )
    assert dialog.select("pypdf") and "Redistribution" in dialog.licence_text.toPlainText()
    assert not dialog.select("no-such-component")
    dialog.tabs.setCurrentIndex(1)
    rows = [dialog.sample_list.item(i).text() for i in range(dialog.sample_list.count())]
    dialog.sample_list.setCurrentRow(rows.index(next(r for r in rows if "loghub" in r)))
    assert "LOGHUB" in dialog.sample_text.toPlainText()
    shots = os.environ.get("RLM_SCREENSHOTS")
    if shots:
        dialog.grab().save(str(Path(shots) / "about.png"))


def test_help_about_opens_the_dialog(qtbot, tmp_path):
    from rlm_desktop.gui.window import MainWindow

    window = MainWindow(tmp_path / "lib", first_launch=False)
    qtbot.addWidget(window)
    action = next(a for a in window.menuBar().actions() if a.text().strip("&") == "Help")
    about_action = next(a for a in action.menu().actions() if a.text() == "About")
    about_action.trigger()
    assert window.about_dialog.isVisible()
    assert window.about_dialog.table.rowCount() > 10
    window.about_dialog.close()


def test_the_screenshot_option_saves_the_window_and_reports_the_start(qtbot, tmp_path, capsys):
    from PySide6.QtWidgets import QApplication

    from rlm_desktop.gui.app import _screenshot_and_quit, seconds_since_start
    from rlm_desktop.gui.window import MainWindow

    window = MainWindow(tmp_path / "lib", first_launch=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    target = tmp_path / "shots" / "window.png"

    # The real application, except that quitting is only recorded (a real exit() here would
    # end the event loops of the tests that follow).
    codes: list[int] = []
    app = SimpleNamespace(processEvents=QApplication.processEvents, exit=codes.append)
    _screenshot_and_quit(app, window, target)
    qtbot.waitUntil(lambda: codes == [0], timeout=5000)
    assert target.stat().st_size > 1000
    assert "window on screen" in capsys.readouterr().out
    assert not window.isVisible()
    started = seconds_since_start()
    assert started is None or 0 < started < 3600


@pytest.mark.skipif(not shutil.which("sh"), reason="needs a POSIX shell")
def test_install_script_adds_and_removes_the_menu_entry(tmp_path):
    if not (ROOT / ".venv" / "bin" / "rlm-desktop").exists():
        pytest.skip("no .venv in this checkout (bash packaging/bootstrap.sh test makes one)")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    script = ROOT / "packaging" / "linux" / "install.sh"
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "applications" / "rlm-desktop.desktop"
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Exec"] == f'"{ROOT / ".venv" / "bin" / "rlm-desktop"}" gui'
    assert fields["Icon"] == "rlm-desktop" and fields["Name"] == "RLM Desktop"
    assert (tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "rlm-desktop.png").exists()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout  # not even hints
    subprocess.run(["bash", str(script), "--uninstall"], env=env, check=True, capture_output=True)
    assert not entry.exists()


def test_the_appdir_runs_the_bundle_with_an_empty_path_and_the_archive_keeps_it_runnable(
    tmp_path,
):
    """AppRun must find the bundle by itself: an AppImage starts it with any environment."""
    bundle = tmp_path / "dist" / "rlm-desktop"
    bundle.mkdir(parents=True)
    exe = bundle / "rlm-desktop"
    exe.write_text('#!/bin/sh\necho "bundle says: $*"\n')
    exe.chmod(0o755)
    for name in ("rlm-desktop.desktop", "rlm-desktop.png"):
        shutil.copy2(ROOT / "packaging" / "linux" / "rlm-desktop.desktop", bundle / name)
    appdir = build.make_appdir(bundle, tmp_path / "AppDir")
    assert (appdir / ".DirIcon").resolve() == (appdir / "rlm-desktop.png").resolve()
    done = subprocess.run(
        [str(appdir / "AppRun"), "--version"], env={"PATH": ""}, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "bundle says: --version"
    assert build.folder_size(bundle)[1] == 3
    archive = build.make_archive(bundle, tmp_path)
    with tarfile.open(archive) as packed:
        member = packed.getmember("rlm-desktop/rlm-desktop")
    assert member.mode & 0o111 and __version__ in archive.name
