"""Smoke-test a built bundle the way a user meets it, headless, with nothing else to lean on.

    .venv/bin/python packaging/build.py --skip-build --demo-model --smoke

Every command runs the bundle's own executable with an empty PATH (so no ``python`` could be
found) and a fresh data folder: the version and licences, ingestion of the bundled samples by
worker processes, the sandboxed REPL, a question to the demo model, exports of its answer
(PDF, Word), and the window under Xvfb with a screenshot. Start-up times are measured side by
side with the source checkout's ``.venv``. Exits 0 only if every check passed; the screenshot,
the exports and ``smoke.json`` are written to ``dist/smoke/``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "Which user names appear in failed SSH password attempts?"


class Failed(Exception):
    """A smoke check that did not pass."""


def _run(command: list[str], env: dict[str, str], timeout: float = 600) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, input=""
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise Failed(
            f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout[-2000:]}"
            f"\n{done.stderr[-3000:]}"
        )
    return done.stdout, took


def _median_start(command: list[str], env: dict[str, str], runs: int = 3) -> float:
    return statistics.median(_run(command, env)[1] for _ in range(runs))


class Xvfb:
    """A private X server for the window (the first free display from :90)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.display = ""

    def __enter__(self) -> Xvfb:
        binary = shutil.which("Xvfb")
        if not binary:
            raise Failed("Xvfb is not installed (bash packaging/bootstrap.sh bundle installs it)")
        for number in range(90, 140):
            if Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.process = subprocess.Popen(
                [binary, f":{number}", "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    self.display = f":{number}"
                    return self
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
            self.process.kill()
        raise Failed("could not start Xvfb")

    def __exit__(self, *exc: object) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)


def _image_colours(path: Path) -> int:
    """How many distinct colours a PNG has (a blank or failed grab has one or two)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage

    QGuiApplication.instance() or QGuiApplication([])
    image = QImage(str(path))
    if image.isNull():
        return 0
    colours = set()
    for y in range(0, image.height(), 7):
        for x in range(0, image.width(), 7):
            colours.add(image.pixel(x, y))
    return len(colours)


def smoke(bundle: Path, root: Path, appdir: Path | None = None) -> int:
    """Run every check; print a report; return the exit status."""
    exe = str(bundle / "rlm-desktop")
    source_exe = str(root / ".venv" / "bin" / "rlm-desktop")
    out_dir = bundle.parent / "smoke"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    home = Path(tempfile.mkdtemp(prefix="rlm-smoke-"))
    # No PATH: nothing the bundle starts can come from the machine's Python.
    env = {"HOME": str(home), "PATH": "", "LANG": "C.UTF-8", "RLM_DESKTOP_HOME": str(home / "a")}
    source_env = {**env, "RLM_DESKTOP_HOME": str(home / "b")}
    report: dict[str, object] = {"bundle": str(bundle)}
    checks: list[tuple[str, str]] = []

    def check(name: str, detail: str) -> None:
        checks.append((name, detail))
        print(f"  ok  {name}: {detail}", flush=True)

    try:
        from rlm_desktop import __version__

        text, _ = _run([exe, "--version"], env)
        if __version__ not in text:
            raise Failed(f"--version printed {text!r}, expected {__version__}")
        cli_bundle = _median_start([exe, "--version"], env)
        cli_source = _median_start([source_exe, "--version"], source_env)
        report["cli_start_s"] = {"bundle": cli_bundle, "source": cli_source}
        check(
            "version", f"{text.strip()}; CLI start {cli_bundle:.2f} s (source {cli_source:.2f} s)"
        )

        about = json.loads(_run([exe, "about", "--json"], env)[0])
        names = {c["name"].lower() for c in about["components"]}
        missing = {"pyside6", "llama.cpp / ggml", "pypdf", "python"} - names
        if missing or not about["samples"] or not all(c["files"] for c in about["components"]):
            raise Failed(f"about lacks components or licence texts: {missing or about}")
        check(
            "about",
            f"{len(about['components'])} components, {len(about['samples'])} sample licences",
        )

        samples = bundle / "_internal" / "resources" / "samples"
        ingest = json.loads(_run([exe, "ingest", str(samples), "--workers", "2", "--json"], env)[0])
        if ingest["failed"] or ingest["added"] < 7:
            raise Failed(f"ingest of the bundled samples: {ingest}")
        check("ingest", f"{ingest['added']} sample files added by 2 worker processes")

        cell = home / "cell.py"
        outside = home / "outside.txt"
        cell.write_text(
            "print(len(context))\n"
            "try:\n"
            f"    open({str(outside)!r}, 'w').write('x')\n"
            "    print('write outside: allowed')\n"
            "except Exception:\n"
            "    print('write outside: blocked')\n"
        )
        repl = json.loads(_run([exe, "repl", "--exec", str(cell), "--json"], env)[0])
        lines = repl["stdout"].split()
        if repl["error"] or not lines or int(lines[0]) < 100_000 or "blocked" not in lines:
            raise Failed(f"sandboxed REPL from the bundle: {repl}")
        if outside.exists():
            raise Failed("the sandbox wrote outside its folder")
        banner = subprocess.run(
            [exe, "repl"], env=env, capture_output=True, text=True, input="", timeout=120
        )
        banner = " ".join((banner.stdout + banner.stderr).split())
        level = banner.split("Isolation ", 1)[1].split(":", 1)[0] if "Isolation " in banner else "?"
        report["isolation"] = level
        check(
            "sandbox",
            f"context of {int(lines[0]):,} characters; writing outside blocked; isolation {level}",
        )

        started = time.perf_counter()
        answer = json.loads(_run([exe, "ask", QUESTION, "--model", "demo", "--json"], env)[0])
        took = time.perf_counter() - started
        if not answer.get("answer", "").strip():
            raise Failed(f"the demo model gave no answer: {answer}")
        report["ask_s"] = took
        check("ask", f"demo model answered in {took:.1f} s ({answer.get('stop_reason')})")

        # Qt's PDF writer and python-docx from the bundle, with no display.
        sizes = []
        for fmt in ("pdf", "docx"):
            target = out_dir / f"answer.{fmt}"
            export_env = {**env, "QT_QPA_PLATFORM": "offscreen"}
            _run([exe, "export", "--last", "--format", fmt, "-o", str(target)], export_env)
            head = target.read_bytes()[:4]
            if head != (b"%PDF" if fmt == "pdf" else b"PK\x03\x04"):
                raise Failed(f"the exported {fmt} is not one: starts {head!r}")
            sizes.append(f"{fmt} {target.stat().st_size:,} bytes")
        check("export", ", ".join(sizes))

        with Xvfb() as xvfb:
            shot = out_dir / "window.png"
            gui_env = {**env, "DISPLAY": xvfb.display}
            text, gui_bundle = _run([exe, "gui", "--screenshot", str(shot)], gui_env)
            colours = _image_colours(shot)
            if colours < 8:
                raise Failed(f"the screenshot {shot} looks blank ({colours} colours)")
            source_shot = out_dir / "window-source.png"
            source_gui_env = {**source_env, "DISPLAY": xvfb.display}
            _run([source_exe, "gui", "--screenshot", str(source_shot)], source_gui_env)
            _, gui_source = _run(
                [source_exe, "gui", "--screenshot", str(source_shot)], source_gui_env
            )
            _, gui_bundle_warm = _run([exe, "gui", "--screenshot", str(shot)], gui_env)
        report["window_start_s"] = {
            "bundle_first": gui_bundle,
            "bundle": gui_bundle_warm,
            "source": gui_source,
            "bundle_reported": text.strip(),
        }
        check(
            "window",
            f"screenshot {shot} ({colours} colours); open-screenshot-exit "
            f"{gui_bundle:.2f} s first, {gui_bundle_warm:.2f} s again "
            f"(source {gui_source:.2f} s, ratio {gui_bundle_warm / gui_source:.2f})",
        )

        if appdir is not None:
            text, _ = _run([str(appdir / "AppRun"), "--version"], env)
            check("AppDir", f"AppRun --version: {text.strip()}")
    except (Failed, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as exc:
        print(f"SMOKE TEST FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report["checks"] = checks
    (out_dir / "smoke.json").write_text(json.dumps(report, indent=2))
    print(f"smoke test passed: {len(checks)} checks; report in {out_dir / 'smoke.json'}")
    return 0
