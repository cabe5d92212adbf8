"""API keys: in the OS keychain (keyring) or, if there is none, in memory for this session.

Never in settings, logs, trajectories, exports or the REPL child's environment, and never
in a plaintext file as a fallback.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import keyring
import keyring.errors

from rlm_desktop.llm.base import ModelError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "rlm-desktop"
_session: dict[str, str] = {}


class KeychainUnavailableError(ModelError):
    """The OS offers no keychain backend, so a key cannot be stored."""


def provider_for(base_url: str) -> str:
    """The name a server's key is stored under: its ``host[:port]``, lower-cased."""
    parts = urlsplit(base_url if "//" in base_url else f"//{base_url}")
    return (parts.netloc or base_url).lower()


def keychain_available() -> bool:
    """False when keyring has only its 'fail' backend (a headless Linux box, for example)."""
    from keyring.backends import chainer, fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(not isinstance(b, fail.Keyring) for b in backend.backends)
    return True


def set_key(provider: str, key: str) -> None:
    """Store a key in the OS keychain."""
    if not keychain_available():
        raise KeychainUnavailableError(
            "this system offers no keychain (keyring found no backend), so the key cannot be "
            "stored; use it for this session only (kept in memory, never written to disk)"
        )
    try:
        keyring.set_password(KEYRING_SERVICE, provider, key)
    except keyring.errors.KeyringError as exc:
        raise ModelError(f"the keychain refused to store the key for {provider}: {exc}") from exc


def get_key(provider: str) -> str | None:
    """The key for a provider: this session's first, then the keychain's."""
    if provider in _session:
        return _session[provider]
    if not keychain_available():
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, provider)
    except keyring.errors.KeyringError as exc:
        raise ModelError(f"the keychain could not be read for {provider}: {exc}") from exc


def delete_key(provider: str) -> bool:
    """Remove a provider's key (session and keychain); True if one was removed."""
    removed = _session.pop(provider, None) is not None
    if keychain_available():
        try:
            keyring.delete_password(KEYRING_SERVICE, provider)
            removed = True
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as exc:
            raise ModelError(
                f"the keychain could not delete the key for {provider}: {exc}"
            ) from exc
    return removed


def remember_for_session(provider: str, key: str) -> None:
    """Keep a key in memory only, until the app exits."""
    _session[provider] = key


def forget_session_keys() -> None:
    """Drop every session-only key."""
    _session.clear()
