import gzip

import pytest

from rlm_desktop.ingest.chunking import chunk_blocks
from rlm_desktop.ingest.detect import detect
from rlm_desktop.ingest.extraction import ExtractionError
from rlm_desktop.ingest.text import extract_text
from tests.conftest import SAMPLES


def _text_of(path, compressed=False):
    extraction = extract_text(path, compressed=compressed)
    return "".join(block.text for block in extraction.blocks), extraction


def test_utf8_log_is_read_exactly(tmp_path):
    path = tmp_path / "app.log"
    content = "2026-11-01 ERROR naïve façade — ünïcode ✓\r\nsecond line\n" * 50
    path.write_text(content, encoding="utf-8", newline="")
    text, extraction = _text_of(path)
    assert text == content
    assert extraction.encoding == "utf-8"
    assert extraction.warnings == []


def test_windows_1252_file_is_decoded_and_the_encoding_is_recorded(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("Café prices rose 5€ in Zürich\n".encode("cp1252"))
    text, extraction = _text_of(path)
    assert text == "Café prices rose 5€ in Zürich\n"
    assert extraction.encoding == "cp1252"
    assert any("cp1252" in w for w in extraction.warnings)


def test_utf16_with_bom_is_text(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("id,name\n1,Ünal\n".encode("utf-16"))
    assert detect(path).kind == "text"
    assert _text_of(path)[0] == "id,name\n1,Ünal\n"


def test_gzip_and_rotated_logs_are_read_like_plain_logs(tmp_path):
    original = (SAMPLES / "OpenSSH_2k.log").read_bytes()
    gz = tmp_path / "auth.log.2.gz"
    gz.write_bytes(gzip.compress(original))
    rotated = tmp_path / "auth.log.1"
    rotated.write_bytes(original)
    assert detect(gz).compressed and detect(gz).kind == "text"
    assert detect(rotated).kind == "text"
    assert _text_of(gz, compressed=True)[0] == original.decode()
    assert _text_of(rotated)[0] == original.decode()


def test_truncated_gzip_fails_with_a_clear_reason(tmp_path):
    data = gzip.compress(("line of text\n" * 200_000).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="corrupt or truncated compressed file"):
        list(extract_text(path, compressed=True).blocks)


def test_nul_characters_are_replaced_without_moving_offsets(tmp_path):
    path = tmp_path / "weird.log"
    content = "a" * 10_000 + "\x00tail\n"
    path.write_text(content)
    text, _ = _text_of(path)
    assert len(text) == len(content)
    assert text[10_000] == "\ufffd" and text.endswith("tail\n")


def test_invalid_utf8_later_in_a_file_is_replaced_and_counted(tmp_path):
    path = tmp_path / "mixed.log"
    path.write_bytes(b"ok line\n" * 700_000 + b"bad \xff\xfe byte\n")
    text, extraction = _text_of(path)
    assert text.endswith("bad \ufffd\ufffd byte\n")
    assert any("2 undecodable" in w for w in extraction.warnings)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("program.log", b"\x7fELF\x02\x01\x01" + bytes(500), "executable"),
        ("dump.log", bytes(range(256)) * 20, "binary file"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
        ("empty.log", b"", "empty file"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "save it as .docx"),
        ("notes.rtf", b"{\\rtf1 hello}", "save it as .docx"),
        ("sheet.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "legacy Microsoft Office"),
        ("bundle.dat", b"PK\x03\x04" + bytes(100), "ZIP archive"),
    ],
)
def test_files_that_are_not_documents_are_skipped_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ExtractionError, match=reason) as info:
        detect(path)
    assert info.value.status == "skipped"


def test_unknown_extension_with_text_content_is_read_as_text(tmp_path):
    path = tmp_path / "server.trace"
    path.write_text("GET /index.html 200\n")
    assert detect(path).kind == "text"


def test_streamed_text_chunks_cover_the_file(tmp_path):
    path = tmp_path / "big.log"
    content = "".join(f"{i:08d} INFO worker started job {i * 7}\n" for i in range(120_000))
    path.write_text(content)
    passages = list(chunk_blocks(extract_text(path).blocks))
    assert "".join(p.text for p in passages) == content
    assert passages[-1].line_end == 120_000
