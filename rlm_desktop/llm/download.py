"""Download a model into the app's models folder: resumable, checked, cancellable.

A download names a Hugging Face ``org/repo`` and file, a URL, or a recommended model. The
server's headers give the size and, for Hugging Face, the sha256 (``X-Linked-Size``,
``X-Linked-Etag``, on the redirect to the file store). Bytes go to ``NAME.part`` in the
downloads folder, which an interruption or a restart of the app resumes with
``Range``/``If-Range``; only a file whose sha256 matches and whose header is GGUF is moved
into the models folder. Standard library only (urllib).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from rlm_desktop.errors import RlmDesktopError, UsageError
from rlm_desktop.llm.base import ModelError
from rlm_desktop.llm.fit import gib
from rlm_desktop.llm.gguf import SPLIT_PART, read_gguf
from rlm_desktop.llm.model_files import downloads_dir, models_dir
from rlm_desktop.llm.recommended import find_recommended
from rlm_desktop.version import __version__

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 30
_SPARE_DISK = 256 * 2**20  # left free beyond the file
_REPORT_EVERY_S = 0.2
_REDIRECTS = (301, 302, 303, 307, 308)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


class DownloadError(RlmDesktopError):
    """A download that could not be done; the part already downloaded is kept unless said."""


class NoNetworkError(DownloadError):
    """The server could not be reached."""


class ChecksumError(DownloadError):
    """The file's sha256 is not the expected one; nothing was kept (exit code 3)."""

    exit_code = 3


class DownloadCancelled(DownloadError):
    """The user cancelled; the part is kept for a later resume (exit code 130)."""

    exit_code = 130


@dataclass(frozen=True)
class DownloadRequest:
    """What to fetch and what to call it; ``sha256`` is the expected checksum when known."""

    url: str
    filename: str
    sha256: str | None = None


@dataclass(frozen=True)
class DownloadProgress:
    """How far a download is: ``stage`` is checking (a resumed part), downloading or
    verifying."""

    stage: str
    done: int
    total: int | None
    speed: float = 0.0  # bytes per second, over the last few seconds
    eta_s: float | None = None

    def describe(self) -> str:
        """ "1.2 GB of 4.7 GB · 11 MB/s · 5 min left" """
        text = gib(self.done) + (f" of {gib(self.total)}" if self.total else "")
        if self.stage != "downloading":
            return f"{self.stage} {text}"
        if self.speed:
            text += f" · {gib(int(self.speed))}/s"
        if self.eta_s is not None:
            text += f" · {_duration(self.eta_s)} left"
        return text


@dataclass(frozen=True)
class Downloaded:
    """A finished download."""

    path: str
    sha256: str
    size_bytes: int
    verified: bool  # the sha256 was compared with an expected one
    resumed_from: int  # bytes that were already there
    url: str

    def to_json(self) -> dict:
        """The shape ``models download --json`` ends with."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "verified": self.verified,
            "resumed_from": self.resumed_from,
            "url": self.url,
        }


@dataclass(frozen=True)
class _Remote:
    size: int | None
    sha256: str | None
    validator: str | None  # the ETag or Last-Modified that If-Range sends back


# ------------------------------------------------------------------ what to fetch


def hf_url(repo: str, file: str, revision: str = "main") -> str:
    """A file of a Hugging Face repo (``HF_ENDPOINT`` names a mirror)."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{repo}/resolve/{revision}/{urllib.parse.quote(file)}"


def plan(source: str, file: str | None = None, sha256: str | None = None) -> DownloadRequest:
    """Read SOURCE: a recommended model's id, ``org/repo`` with ``file``, ``org/repo/file``,
    or a URL."""
    if sha256 is not None and not _SHA256.match(sha256.lower()):
        raise UsageError(f"{sha256!r} is not a sha256 (64 hexadecimal digits)")
    expected = sha256.lower() if sha256 else None
    source = source.strip()
    if recommended := find_recommended(source):
        return DownloadRequest(
            hf_url(recommended.repo, recommended.file),
            recommended.file,
            expected or recommended.sha256,
        )
    if source.startswith(("http://", "https://")):
        url = source.replace("/blob/", "/resolve/", 1) if "huggingface.co/" in source else source
        name = file or urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        return DownloadRequest(url, _safe_name(name), expected)
    parts = source.split("/")
    if len(parts) > 2 and not file and parts[-1].lower().endswith(".gguf"):
        source, file = "/".join(parts[:2]), "/".join(parts[2:])
    if _REPO.match(source):
        if not file:
            raise UsageError(
                f"name the file of {source} to download with --file "
                "(e.g. --file model-Q4_K_M.gguf; the repo's 'Files' page lists them)"
            )
        return DownloadRequest(hf_url(source, file), _safe_name(file), expected)
    raise UsageError(
        f"cannot download {source!r}: give a Hugging Face repo (org/name) with --file, a URL, "
        "or a recommended model's id (`rlm-desktop models list` shows them)"
    )


def _safe_name(name: str) -> str:
    """A file name for the models folder: no folders, no leading dot, ending in .gguf."""
    name = re.sub(r"[^\w.+-]", "_", name.rsplit("/", 1)[-1]).lstrip(".") or "model"
    return name if name.lower().endswith(".gguf") else name + ".gguf"


# ------------------------------------------------------------------ the download


def download(
    request: DownloadRequest,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    retries: int = 3,
    retry_wait_s: float = 1.0,
) -> Downloaded:
    """Fetch ``request`` into the models folder, resuming its part; raise DownloadError."""
    report = on_progress or (lambda _progress: None)
    target = models_dir() / request.filename
    remote = _probe(request.url)
    expected = request.sha256 or remote.sha256
    if target.exists():
        return _already_there(target, request, expected)
    folder = downloads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = folder / f"{request.filename}.part.json"
    meta = {"url": request.url, "size": remote.size, "sha256": expected, "validator": None}
    path = folder / f"{request.filename}.part"
    if path.exists() and not _same_download(sidecar, meta):
        path.unlink()
    with open(path, "a+b") as handle, _locked(handle, request.filename):
        part = _Part(handle, sidecar, meta)
        part.hash_existing(remote.size, report, cancel)
        resumed_from = part.have
        _check_disk(folder, (remote.size or 0) - part.have, request.filename)
        for attempt in range(1, retries + 2):
            try:
                _fetch(request, remote, part, report, cancel)
                break
            except _Interrupted as exc:
                if attempt > retries:
                    raise NoNetworkError(
                        f"the download of {request.filename} was interrupted ({exc}); the "
                        f"{gib(part.have)} downloaded are kept: run the same download again "
                        "to resume"
                    ) from exc
                log.info("download interrupted (%s): resuming at %d bytes", exc, part.have)
                time.sleep(retry_wait_s * attempt)
    report(DownloadProgress("verifying", part.have, remote.size))
    digest = part.hasher.hexdigest()
    if expected and digest != expected:
        _discard(path, sidecar)
        raise ChecksumError(
            f"the downloaded {request.filename} has sha256 {digest[:12]}…, not the expected "
            f"{expected[:12]}…: it was damaged or changed on the way and was deleted; "
            "try the download again"
        )
    _check_model(path, sidecar, request.filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    sidecar.unlink(missing_ok=True)
    return Downloaded(str(target), digest, part.have, bool(expected), resumed_from, request.url)


class _Interrupted(Exception):
    """The connection broke mid-file: resume."""


class _Part:
    """The ``.part`` file being written, the sha256 of its bytes, and its sidecar record."""

    def __init__(self, handle: BinaryIO, sidecar: Path, meta: dict) -> None:
        self.handle = handle
        self.sidecar = sidecar
        self.meta = meta
        self.hasher = hashlib.sha256()
        self.have = 0

    def restart(self) -> None:
        """Drop what the part holds."""
        self.handle.truncate(0)
        self.hasher = hashlib.sha256()
        self.have = 0

    def hash_existing(
        self,
        size: int | None,
        report: Callable[[DownloadProgress], None],
        cancel: threading.Event | None,
    ) -> None:
        """Hash the bytes already there (read again: a hash cannot be saved); drop them when
        they cannot be the start of this file."""
        self.handle.seek(0)
        head = b""
        while block := self.handle.read(_CHUNK * 8):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("the download was cancelled while checking its part")
            head = head or block[:4]
            self.hasher.update(block)
            self.have += len(block)
            report(DownloadProgress("checking", self.have, size))
        if self.have and (head != b"GGUF" or (size is not None and self.have > size)):
            self.restart()

    def append(self, chunk: bytes) -> None:
        """Write and hash the next bytes."""
        self.handle.write(chunk)
        self.hasher.update(chunk)
        self.have += len(chunk)

    def save_record(self) -> None:
        """Write the sidecar that lets a later start resume this part."""
        self.handle.flush()
        self.sidecar.write_text(json.dumps(self.meta), encoding="utf-8")


def _fetch(
    request: DownloadRequest,
    remote: _Remote,
    part: _Part,
    report: Callable[[DownloadProgress], None],
    cancel: threading.Event | None,
) -> None:
    """One GET from where the part ends to the end of the file; raise _Interrupted."""
    headers = {}
    if part.have:
        headers["Range"] = f"bytes={part.have}-"
        if part.meta.get("validator"):
            headers["If-Range"] = part.meta["validator"]
    try:
        response, _hops = _open(request.url, "GET", headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and remote.size == part.have:  # the part was already complete
            return
        raise _http_error(exc, request.url) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _Interrupted(_reason(exc)) from exc
    with response:
        resumed = response.status == 206 and str(
            response.headers.get("Content-Range", "")
        ).startswith(f"bytes {part.have}-")
        if part.have and not resumed:  # the server sent the whole file again: start over
            part.restart()
        part.meta["validator"] = _validator(response.headers) or part.meta.get("validator")
        part.save_record()
        length = str(response.headers.get("Content-Length", ""))
        end = part.have + int(length) if length.isdigit() else remote.size
        speed = _Speed()
        last_report = 0.0
        try:
            while chunk := response.read(_CHUNK):
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled(
                        f"the download of {request.filename} was cancelled; the "
                        f"{gib(part.have)} downloaded are kept and the next download resumes "
                        "there"
                    )
                if part.have == 0 and not chunk.startswith(b"GGUF"):
                    _discard(Path(part.handle.name), part.sidecar)
                    raise DownloadError(
                        f"{request.url} is not a GGUF model file (it starts with "
                        f"{chunk[:16]!r}): nothing was kept; check the address or the file name"
                    )
                part.append(chunk)
                now = time.monotonic()
                speed.add(now, part.have)
                if now - last_report >= _REPORT_EVERY_S:
                    last_report = now
                    report(speed.progress(part.have, remote.size))
        except (http.client.IncompleteRead, OSError) as exc:
            part.save_record()
            raise _Interrupted(_reason(exc)) from exc
    part.save_record()
    if end is not None and part.have < end:
        raise _Interrupted(f"the server stopped after {gib(part.have)} of {gib(end)}")
    report(speed.progress(part.have, remote.size))


class _Speed:
    """Bytes per second over the last five seconds, and the time left at that rate."""

    def __init__(self) -> None:
        self.points: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> None:
        self.points.append((now, done))
        while len(self.points) > 2 and now - self.points[0][0] > 5:
            self.points.popleft()

    def progress(self, done: int, total: int | None) -> DownloadProgress:
        rate = 0.0
        if len(self.points) > 1:
            (t0, d0), (t1, d1) = self.points[0], self.points[-1]
            rate = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        eta = (total - done) / rate if total and rate else None
        return DownloadProgress("downloading", done, total, rate, eta)


def _same_download(sidecar: Path, meta: dict) -> bool:
    """True when a part on disk belongs to this very file (same URL, size and checksum)."""
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if all(saved.get(key) == meta[key] for key in ("url", "size", "sha256")):
        meta["validator"] = saved.get("validator")
        return True
    return False


def _already_there(target: Path, request: DownloadRequest, expected: str | None) -> Downloaded:
    digest = _sha256_of(target)
    if expected and digest != expected:
        raise DownloadError(
            f"a different {target.name} is already in {target.parent}: remove it first "
            f"(`rlm-desktop models remove {target.name}`), then download again"
        )
    size = target.stat().st_size
    return Downloaded(str(target), digest, size, bool(expected), size, request.url)


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK * 8):
            hasher.update(block)
    return hasher.hexdigest()


def _check_disk(folder: Path, needed: int, name: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed > 0 and free < needed + _SPARE_DISK:
        raise DownloadError(
            f"{name} needs {gib(needed)} more disk space and {folder} has only {gib(free)} "
            "free: free some space and try again"
        )


def _check_model(part: Path, sidecar: Path, name: str) -> None:
    """Keep a finished file only when llama.cpp can read its header."""
    if SPLIT_PART.search(name):  # one part of several: its header is read with the others
        return
    try:
        read_gguf(part)
    except ModelError as exc:
        _discard(part, sidecar)
        raise DownloadError(
            f"{name} was downloaded but is not a usable GGUF model, so it was deleted "
            f"({exc.message})"
        ) from exc


def _discard(part: Path, sidecar: Path) -> None:
    part.unlink(missing_ok=True)
    sidecar.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(handle: BinaryIO, name: str) -> Iterator[None]:
    """Only one download of a file at a time (the window and the CLI may both try)."""
    try:
        import fcntl
    except ImportError:  # Windows: the part is opened exclusively enough by the OS
        yield
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise DownloadError(
            f"{name} is already being downloaded (by the window or another command): "
            "wait for that download, or cancel it"
        ) from exc
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------ HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by ``_open``, which keeps each hop's headers."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _open(
    url: str, method: str, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, list[Message]]:
    """Send a request, following redirects; return the response and the redirects' headers.

    A Hugging Face token (``HF_TOKEN``) goes to the Hugging Face host only, never to the
    file store it redirects to.
    """
    origin = urllib.parse.urlsplit(url).netloc
    token = os.environ.get("HF_TOKEN")
    hops: list[Message] = []
    for _ in range(10):
        sent = {"User-Agent": f"rlm-desktop/{__version__}", "Accept-Encoding": "identity"}
        sent.update(headers)
        if token and urllib.parse.urlsplit(url).netloc == origin and "huggingface" in origin:
            sent["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, method=method, headers=sent)
        try:
            response = _OPENER.open(request, timeout=_TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location")
            if exc.code in _REDIRECTS and location:
                hops.append(exc.headers)
                exc.close()
                url = urllib.parse.urljoin(url, location)
                continue
            raise
        return response, hops
    raise DownloadError(f"{url} redirects too many times")


def _probe(url: str) -> _Remote:
    """The size, sha256 and validator the server announces (HEAD)."""
    try:
        response, hops = _open(url, "HEAD", {})
    except urllib.error.HTTPError as exc:
        if exc.code in (405, 501):  # no HEAD: learn it from the GET
            return _Remote(None, None, None)
        raise _http_error(exc, url) from exc
    except (urllib.error.URLError, OSError) as exc:
        host = urllib.parse.urlsplit(url).netloc
        raise NoNetworkError(
            f"there is no network connection to {host} ({_reason(exc)}): connect to the "
            "internet and try again (the models already on this computer still work)"
        ) from exc
    with response:
        every = [*hops, response.headers]
    size = _first(every, "X-Linked-Size") or response.headers.get("Content-Length")
    etag = (_first(every, "X-Linked-Etag") or "").removeprefix("W/").strip('"').lower()
    return _Remote(
        int(size) if size and size.isdigit() else None,
        etag if _SHA256.match(etag) else None,
        _validator(response.headers),
    )


def _first(headers: list[Message], name: str) -> str | None:
    for message in headers:
        if value := message.get(name):
            return str(value)
    return None


def _validator(headers: Message) -> str | None:
    """A strong ETag, else Last-Modified: what If-Range may send back."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return str(etag)
    modified = headers.get("Last-Modified")
    return str(modified) if modified else None


def _http_error(exc: urllib.error.HTTPError, url: str) -> DownloadError:
    if exc.code == 404:
        return DownloadError(
            f"{url} does not exist (HTTP 404): check the repo and file name (case matters)"
        )
    if exc.code in (401, 403):
        return DownloadError(
            f"{url} needs permission (HTTP {exc.code}): accept the model's licence on its "
            "Hugging Face page and set HF_TOKEN, or choose another model"
        )
    return DownloadError(f"{url} answered HTTP {exc.code} ({exc.reason}): try again later")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.gaierror):
        return "the name could not be looked up"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer in time"
    return str(reason) or type(reason).__name__


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
