"""Text from files shown in Qt as written: escaped controls, and never read as HTML."""

from __future__ import annotations

import html

from rlm_desktop.textsafe import printable


def tooltip(text: str) -> str:
    """A tooltip showing ``text`` as written (Qt renders a tooltip as HTML if it finds a tag)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(printable(text, multiline=True))}</p>"
