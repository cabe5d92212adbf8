"""The wire between the app and the REPL child: length-prefixed JSON frames on a socket.

Each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON holding
one object with a ``type`` field. Nothing is ever pickled; the parent validates every frame
the child sends before using it, because the child runs untrusted code.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from rlm_desktop.errors import RlmDesktopError

HEADER = struct.Struct(">I")
# Frames carry printed output (capped per cell) and sub-call prompts (64 of 20,000 characters
# are under 4 MB); a larger frame is refused from its header, before it is read.
MAX_FRAME = 16 * 1024 * 1024


class ProtocolError(RlmDesktopError):
    """A frame was malformed, too large, or of an unexpected shape."""


class ChannelClosed(ProtocolError):
    """The other end went away."""


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    """Send one message."""
    payload = json.dumps(message, ensure_ascii=False).encode("utf-8")
    if len(payload) > MAX_FRAME:
        raise ProtocolError(
            f"a message of {len(payload):,} bytes is more than the sandbox channel carries "
            f"({MAX_FRAME // 2**20} MB): send less at a time"
        )
    sock.sendall(HEADER.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1024 * 1024))
        if not chunk:
            raise ChannelClosed("the sandbox channel closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(sock: socket.socket) -> dict[str, Any]:
    """Receive one message; raise ProtocolError for anything but a JSON object with a type."""
    (size,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size:,} bytes exceeds the limit")
    try:
        message = json.loads(_recv_exact(sock, size).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("a frame must be a JSON object with a 'type'")
    return message


def field(message: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """Return ``message[name]`` if it has the expected type, else raise ProtocolError."""
    value = message.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"'{message.get('type')}' frame: field '{name}' is missing or invalid")
    return value
