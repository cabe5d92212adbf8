"""Downloads against a local server shaped like Hugging Face (a redirect carrying
X-Linked-Size and X-Linked-Etag, then a file store with Range and If-Range), which can cut a
transfer mid-way, lie about the checksum, or serve something that is not a model."""

from __future__ import annotations

import json
import re
import shutil
import threading

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.errors import UsageError
from rlm_desktop.llm import download as fetch
from rlm_desktop.llm.download import (
    ChecksumError,
    DownloadCancelled,
    DownloadError,
    DownloadRequest,
    NoNetworkError,
    download,
    plan,
)
from rlm_desktop.llm.model_files import downloads_dir, models_dir
from rlm_desktop.llm.recommended import recommended_models
from rlm_desktop.settings import load_settings
from tests.hf_server import Served, serving

REPO, FILE = "bartowski/SmolLM2-GGUF", "SmolLM2-Q4_1.gguf"


@pytest.fixture
def server(monkeypatch):
    with serving(monkeypatch) as served:
        yield served


def gets(served: Served) -> list[dict]:
    return [r for r in served.requests if r["method"] == "GET" and r["path"].startswith("/store")]


def leftovers() -> list[str]:
    found = [p.name for p in models_dir().glob("*")] if models_dir().exists() else []
    if downloads_dir().exists():
        found += [p.name for p in downloads_dir().glob("*")]
    return found


def test_a_hugging_face_file_is_checked_against_x_linked_etag_and_stored(server):
    done = download(plan(REPO, FILE))
    assert done.path == str(models_dir() / FILE) and done.verified
    assert done.sha256 == server.sha() and done.size_bytes == len(server.body)
    assert (models_dir() / FILE).read_bytes() == server.body
    assert leftovers() == [FILE]  # no .part, no record left behind
    again = download(plan(REPO, FILE))  # already there: nothing is fetched again
    assert again.sha256 == server.sha() and len(gets(server)) == 1


def test_an_interrupted_download_resumes_where_it_stopped_after_a_restart(server):
    size, cut = len(server.body), 1_500_000
    server.cut_after = [cut]
    with pytest.raises(NoNetworkError, match=r"interrupted .* run the same download again"):
        download(plan(REPO, FILE), retries=0)
    part = downloads_dir() / f"{FILE}.part"
    assert part.stat().st_size == cut and not (models_dir() / FILE).exists()
    done = download(plan(REPO, FILE), retries=0)  # a new start of the app
    first, second = gets(server)
    assert first["range"] is None
    assert second["range"] == f"bytes={cut}-" and second["if_range"] == '"v1"'
    assert server.sent == size  # continued, not restarted
    assert done.resumed_from == cut and done.sha256 == server.sha()
    assert not part.exists()


def test_a_cut_transfer_is_resumed_within_one_download(server):
    server.cut_after = [1_000_000, 1_000_000]
    done = download(plan(REPO, FILE), retries=3, retry_wait_s=0)
    assert [r["range"] for r in gets(server)] == [None, "bytes=1000000-", "bytes=2000000-"]
    assert server.sent == len(server.body) and done.sha256 == server.sha()


def test_a_changed_file_restarts_instead_of_mixing_versions(server):
    server.cut_after = [1_000_000]
    with pytest.raises(NoNetworkError):
        download(plan(REPO, FILE), retries=0)
    server.etag = '"v2"'  # If-Range no longer matches: the server sends the whole file
    done = download(plan(REPO, FILE), retries=0)
    assert done.sha256 == server.sha() and done.resumed_from == 1_000_000
    assert server.sent == 1_000_000 + len(server.body)


def test_a_lying_checksum_leaves_nothing_behind(server):
    server.linked_sha = "0" * 64
    with pytest.raises(ChecksumError, match=r"not the expected 000000000000…: .* deleted"):
        download(plan(REPO, FILE))
    assert leftovers() == []


def test_a_wrong_expected_sha256_is_refused_too(server):
    with pytest.raises(ChecksumError):
        download(plan(REPO, FILE, sha256="a" * 64))
    assert leftovers() == []


def test_a_file_that_is_not_gguf_is_refused_at_its_first_bytes(server):
    server.body = b"<html>" + b"x" * 3_000_000
    with pytest.raises(DownloadError, match=r"is not a GGUF model file .* nothing was kept"):
        download(plan(REPO, FILE))
    assert leftovers() == [] and server.sent < len(server.body) + 1


def test_cancel_keeps_the_part_for_later(server):
    cancel = threading.Event()
    seen = []

    def progress(event):
        seen.append(event)
        cancel.set()

    with pytest.raises(DownloadCancelled, match="cancelled; the 1 MB downloaded are kept"):
        download(plan(REPO, FILE), progress, cancel)
    assert (downloads_dir() / f"{FILE}.part").stat().st_size == 2**20
    assert seen[0].stage == "downloading" and seen[0].total == len(server.body)
    done = download(plan(REPO, FILE))
    assert done.resumed_from == 2**20 and done.sha256 == server.sha()


def test_progress_says_speed_and_time_left():
    event = fetch.DownloadProgress("downloading", 2**30, 4 * 2**30, 10 * 2**20, 300.0)
    assert event.describe() == "1.0 GB of 4.0 GB · 10 MB/s · 5 min left"


def test_no_network_says_so_plainly(tmp_path):
    request = DownloadRequest("http://127.0.0.1:9/model.gguf", "model.gguf")
    with pytest.raises(NoNetworkError, match=r"there is no network connection to 127.0.0.1:9"):
        download(request)


def test_not_enough_disk_is_said_before_downloading(server, monkeypatch):
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(fetch.shutil, "disk_usage", lambda _p: usage._replace(free=1000))
    with pytest.raises(DownloadError, match=r"needs 4 MB more disk space .* only 0 MB free"):
        download(plan(REPO, FILE))
    assert gets(server) == []


def test_sources_name_a_recommended_model_a_repo_and_file_or_a_url(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hf.example")
    recommended = plan("qwen2.5-coder-7b")
    assert recommended.url == (
        "https://hf.example/bartowski/Qwen2.5-Coder-7B-Instruct-GGUF/resolve/main/"
        "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf"
    )
    assert plan("org/repo/sub/m.gguf").url == "https://hf.example/org/repo/resolve/main/sub/m.gguf"
    web = plan("https://huggingface.co/org/repo/blob/main/m.gguf")
    assert web.url == "https://huggingface.co/org/repo/resolve/main/m.gguf"
    assert plan("https://example.com/files/weights?id=3").filename == "weights.gguf"
    with pytest.raises(UsageError, match="--file"):
        plan("org/repo")
    with pytest.raises(UsageError, match="not a sha256"):
        plan("org/repo", "m.gguf", sha256="abc")
    with pytest.raises(UsageError, match="cannot download"):
        plan("just-a-word")


def test_the_cli_downloads_reports_and_removes(server):
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "download", REPO, "--file", FILE, "--use", "--json"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.output)
    assert done["path"] == str(models_dir() / FILE) and done["sha256"] == server.sha()
    assert load_settings().model == done["path"]
    listed = json.loads(runner.invoke(cli, ["models", "list", "--json"]).output)["choices"]
    mine = next(c for c in listed if c["spec"] == done["path"])
    assert mine["group"] == "Downloaded with RLM Desktop"
    removed = runner.invoke(cli, ["models", "remove", FILE, "--json"])
    assert json.loads(removed.output) == {"removed": [done["path"]], "model": "demo"}
    assert leftovers() == []


def test_the_cli_exits_non_zero_on_a_checksum_mismatch(server):
    result = CliRunner().invoke(
        cli, ["models", "download", REPO, "--file", FILE, "--sha256", "b" * 64, "--json"]
    )
    assert result.exit_code == 3 and "not the expected bbbbbbbbbbbb" in result.output
    assert leftovers() == []


def test_the_recommended_list_is_well_formed_and_shows_offline():
    models = recommended_models()
    assert len(models) >= 4 and len({m.id for m in models}) == len(models)
    for model in models:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", model.repo) and model.file.endswith(".gguf")
        assert model.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", model.sha256)
        assert model.size_gb < model.ram_gb <= 16 and model.role in ("root", "sub")
    assert any(m.role == "sub" for m in models)
