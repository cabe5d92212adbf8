"""API keys: in the OS keychain (keyring) or, if there is none, in memory for this session.

Never in settings, logs, trajectories, exports or the REPL child's environment, and never
in a plaintext file as a fallback.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

import keyring
import keyring.errors

from rlm_desktop.llm.base import ModelError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "rlm-desktop"

# Keys the user chose to use without storing them (no keychain, or by choice): memory only.
_session: dict[str, str] = {}
_session_lock = threading.Lock()


class KeychainUnavailableError(ModelError):
    """The OS offers no keychain backend, so a key cannot be stored."""


def provider_for(base_url: str) -> str:
    """The name a server's key is stored under: its ``host[:port]``, lower-cased."""
    text = base_url.strip()
    parts = urlsplit(text if "//" in text else f"//{text}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number: keep what was written
        host, port = None, None
    if not host:
        return (parts.netloc or text).lower()
    if ":" in host:  # IPv6 literals keep their brackets, or the port would be ambiguous
        host = f"[{host}]"
    # hostname drops any user:password@ part, which must never become a keychain username.
    return f"{host}:{port}".lower() if port is not None else host.lower()


def _is_dead(backend: keyring.backend.KeyringBackend) -> bool:
    """True for the backends that store nothing: 'fail' raises, 'null' silently drops."""
    from keyring.backends import fail, null

    return isinstance(backend, (fail.Keyring, null.Keyring))


def keychain_available() -> bool:
    """False when keyring has no usable backend (a headless Linux box, for example)."""
    from keyring.backends import chainer

    try:
        backend = keyring.get_keyring()
        if isinstance(backend, chainer.ChainerBackend):
            # The chainer only forwards to the backends it found; with none, it stores nothing.
            chained = list(backend.backends)
            return any(not _is_dead(b) for b in chained)
        return not _is_dead(backend)
    except Exception as exc:  # a broken keyring config must not take the app down
        log.warning("the keychain could not be initialised: %s", type(exc).__name__)
        return False


def set_key(provider: str, key: str) -> None:
    """Store a key in the OS keychain (raises KeychainUnavailableError if there is none)."""
    if not keychain_available():
        raise KeychainUnavailableError(
            "this system offers no keychain (keyring found no backend), so the key cannot be "
            "stored; use it for this session only (kept in memory, never written to disk)"
        )
    try:
        keyring.set_password(KEYRING_SERVICE, provider, key)
    except keyring.errors.KeyringError as exc:
        raise ModelError(
            f"the keychain refused to store the key for {provider}: {_describe(exc)}"
        ) from None
    log.info("stored an API key for %s in the keychain", provider)


def get_key(provider: str) -> str | None:
    """The key for a provider: this session's first, then the keychain's (None if neither)."""
    with _session_lock:
        if provider in _session:
            return _session[provider]
    if not keychain_available():
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, provider)
    except keyring.errors.KeyringError as exc:
        raise ModelError(
            f"the keychain could not be read for {provider}: {_describe(exc)}"
        ) from None


def delete_key(provider: str) -> bool:
    """Remove a provider's key (session and keychain); True if one was removed."""
    with _session_lock:
        removed = _session.pop(provider, None) is not None
    if not keychain_available():
        return removed
    try:
        # Deleting a key that is not there raises on some backends and not on others.
        if keyring.get_password(KEYRING_SERVICE, provider) is None:
            return removed
        keyring.delete_password(KEYRING_SERVICE, provider)
    except keyring.errors.PasswordDeleteError:
        return removed
    except keyring.errors.KeyringError as exc:
        raise ModelError(
            f"the keychain could not delete the key for {provider}: {_describe(exc)}"
        ) from None
    log.info("deleted the API key for %s from the keychain", provider)
    return True


def remember_for_session(provider: str, key: str) -> None:
    """Keep a key in memory only, until the app exits or forget_session_keys is called."""
    with _session_lock:
        _session[provider] = key


def forget_session_keys() -> None:
    """Drop every session-only key."""
    with _session_lock:
        _session.clear()


def _describe(exc: Exception) -> str:
    """A readable one-line reason for a keyring failure."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
