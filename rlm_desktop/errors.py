"""The base of every exception that carries a message a user can act on."""

from __future__ import annotations


class RlmDesktopError(Exception):
    """An error with a one-line, user-facing message and the CLI exit code it maps to."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(RlmDesktopError):
    """The user asked for something that cannot be done as asked (exit code 2)."""

    exit_code = 2
