"""API keys live in the OS keychain (an in-memory keyring here) or in memory for the session."""

from __future__ import annotations

import logging
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import chainer, fail, null

from rlm_desktop.llm import keys
from rlm_desktop.llm.base import ModelError

KEY = "sk-keys-test-8d1e-secret"
PROVIDER = "api.example.com"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keychain in a dict, so tests never touch the real one."""

    priority = 1
    # Not viable: keyring's own discovery (the chainer) must never pick this test class up.
    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError(username)
        del self.store[(service, username)]


class LockedKeyring(keyring.backend.KeyringBackend):
    """A keychain that refuses everything, as a locked one does."""

    priority = 1
    viable = False

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")


@pytest.fixture
def memory_keyring():
    """Install an in-memory keyring; restore the previous one and forget session keys after."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    keys.forget_session_keys()
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
        keys.forget_session_keys()


def _files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("http://127.0.0.1:8080/v1", "127.0.0.1:8080"),
        ("https://API.OpenAI.com/v1/", "api.openai.com"),
        ("https://user:pw@Example.com:8443/v1", "example.com:8443"),
        ("localhost:8080", "localhost:8080"),
        ("http://[::1]:8080/v1", "[::1]:8080"),
    ],
)
def test_provider_for_is_host_and_port_lower_cased(url: str, provider: str) -> None:
    assert keys.provider_for(url) == provider


def test_set_get_delete_round_trip(memory_keyring: MemoryKeyring, isolated_home: Path) -> None:
    keys.set_key(PROVIDER, KEY)
    assert memory_keyring.store == {(keys.KEYRING_SERVICE, PROVIDER): KEY}
    assert keys.KEYRING_SERVICE == "rlm-desktop"
    assert keys.get_key(PROVIDER) == KEY
    assert keys.get_key("other.example.com") is None
    assert keys.delete_key(PROVIDER) is True
    assert keys.get_key(PROVIDER) is None
    assert keys.delete_key(PROVIDER) is False
    keys.set_key(PROVIDER, KEY)
    assert _files_containing(isolated_home, KEY) == []


def test_keys_are_never_logged(
    memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keys.set_key(PROVIDER, KEY)
    keys.get_key(PROVIDER)
    keys.remember_for_session("localhost:8080", KEY)
    keys.delete_key(PROVIDER)
    assert KEY not in caplog.text


def test_without_a_keychain_keys_are_session_only(
    memory_keyring: MemoryKeyring, isolated_home: Path
) -> None:
    keyring.set_keyring(fail.Keyring())
    assert keys.keychain_available() is False
    with pytest.raises(keys.KeychainUnavailableError) as info:
        keys.set_key(PROVIDER, KEY)
    assert isinstance(info.value, ModelError)
    assert "no keychain" in info.value.message and "session only" in info.value.message
    assert KEY not in info.value.message
    assert keys.get_key(PROVIDER) is None  # no keychain is not an error when reading

    keys.remember_for_session(PROVIDER, KEY)
    assert keys.get_key(PROVIDER) == KEY
    assert _files_containing(isolated_home, KEY) == []
    keys.forget_session_keys()
    assert keys.get_key(PROVIDER) is None

    keys.remember_for_session(PROVIDER, KEY)
    assert keys.delete_key(PROVIDER) is True and keys.get_key(PROVIDER) is None


def test_the_session_key_comes_before_the_keychain(memory_keyring: MemoryKeyring) -> None:
    keys.set_key(PROVIDER, "stored-key")
    keys.remember_for_session(PROVIDER, KEY)
    assert keys.get_key(PROVIDER) == KEY
    keys.forget_session_keys()
    assert keys.get_key(PROVIDER) == "stored-key"


def test_backends_that_store_nothing_are_not_a_keychain(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert keys.keychain_available() is True
    keyring.set_keyring(null.Keyring())
    assert keys.keychain_available() is False

    # The chainer forwards to whatever it discovered: nothing, only fail backends, or a real one.
    for chained, expected in [([], False), ([fail.Keyring()], False), ([MemoryKeyring()], True)]:
        monkeypatch.setattr(chainer.ChainerBackend, "backends", chained)
        keyring.set_keyring(chainer.ChainerBackend())
        assert keys.keychain_available() is expected, chained


def test_a_broken_keyring_setup_means_no_keychain(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> keyring.backend.KeyringBackend:
        raise keyring.errors.InitError("bad keyringrc.cfg")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    assert keys.keychain_available() is False


def test_keyring_errors_become_readable_model_errors(memory_keyring: MemoryKeyring) -> None:
    keyring.set_keyring(LockedKeyring())
    for call in (
        lambda: keys.set_key(PROVIDER, KEY),
        lambda: keys.get_key(PROVIDER),
        lambda: keys.delete_key(PROVIDER),
    ):
        with pytest.raises(ModelError) as info:
            call()
        assert not isinstance(info.value, keys.KeychainUnavailableError)
        assert "keychain" in info.value.message and "locked" in info.value.message
        assert PROVIDER in info.value.message and KEY not in info.value.message
