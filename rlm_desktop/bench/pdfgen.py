"""A tiny writer of real PDF files (text pages, Helvetica 10pt), for benchmarks and tests.

Page text is drawn with the standard Helvetica font in WinAnsiEncoding, so it must be
encodable in Windows-1252: all printable Latin-1 characters plus € and typographic quotes
and dashes; anything else raises ``UnicodeEncodeError``. A ``None`` page has no text layer at
all, like a scanned page. The title may be any Unicode text (written as UTF-16).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_LINE_HEIGHT = 12
_TOP = 800
_ESCAPES = {ord("\\"): "\\\\", ord("("): "\\(", ord(")"): "\\)", ord("\r"): "\\r"}


def _pdf_string(text: str) -> bytes:
    """A PDF literal string for ``text`` in WinAnsiEncoding."""
    return b"(" + text.translate(_ESCAPES).encode("cp1252") + b")"


def _content(text: str | None) -> bytes:
    """The content stream of one page: each line of ``text`` below the previous one."""
    if text is None:
        return b""
    ops = [b"BT /F1 10 Tf", f"40 {_TOP} Td {_LINE_HEIGHT} TL".encode()]
    for line in text.split("\n"):
        # Words in a TJ array with explicit spacing, as TeX and word processors write them.
        words = b" -250 ".join(_pdf_string(word) for word in line.split(" "))
        ops.append(b"T* [" + words + b"] TJ")
    ops.append(b"ET")
    return b"\n".join(ops)


def write_text_pdf(path: Path, pages: Sequence[str | None], title: str | None = None) -> None:
    """Write a PDF with one page per item; each string is drawn line by line."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{n} 0 R" for n in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    for page_id, text in zip(page_ids, pages, strict=True):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        stream = _content(text)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info = None
    if title:
        objects.append(f"<< /Title <FEFF{title.encode('utf-16-be').hex().upper()}> >>".encode())
        info = len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R"
    trailer += f" /Info {info} 0 R >>" if info else " >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    Path(path).write_bytes(bytes(out))
