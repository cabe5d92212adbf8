"""Model specs, GGUF metadata, the replay backend, settings and the model CLI commands."""

import json
import struct

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.llm.base import ModelError, OfflineError
from rlm_desktop.llm.gguf import read_gguf
from rlm_desktop.llm.replay import ReplayBackend, ReplayScript
from rlm_desktop.llm.spec import ModelPool, demo_model_path, parse_spec
from rlm_desktop.settings import Settings, load_settings, save_settings, settings_path


def test_specs_name_demo_files_servers_and_scripts(tmp_path):
    assert parse_spec("demo").kind == "demo"
    assert parse_spec("openai:gpt-4o-mini").value == "gpt-4o-mini"
    assert parse_spec("replay:script.json").kind == "replay"
    model = tmp_path / "m.gguf"
    assert parse_spec(str(model)).value == str(model.resolve())
    with pytest.raises(ModelError, match="unknown model 'llama3'"):
        parse_spec("llama3")
    with pytest.raises(ModelError, match="names no model"):
        parse_spec("openai:")


def test_files_that_are_not_gguf_get_a_clear_error(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(ModelError, match="is not a GGUF model file"):
        read_gguf(fake)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(demo_model_path().read_bytes()[:2000])
    with pytest.raises(ModelError, match="damaged GGUF"):
        read_gguf(truncated)
    with pytest.raises(ModelError, match="cannot open the model file"):
        read_gguf(tmp_path / "missing.gguf")


def test_a_minimal_gguf_header_is_read(tmp_path):
    def string(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    kvs = [
        (string("general.architecture"), 8, string("qwen2")),
        (string("general.file_type"), 4, struct.pack("<I", 15)),
        (string("qwen2.context_length"), 4, struct.pack("<I", 32768)),
    ]
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs))
    for key, kind, value in kvs:
        body += key + struct.pack("<I", kind) + value
    body += string("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 1000, 64)
    body += struct.pack("<IQ", 0, 0)
    path = tmp_path / "tiny-model.gguf"
    path.write_bytes(body)
    info = read_gguf(path)
    assert (info.architecture, info.quantization, info.context_length) == ("qwen2", "Q4_K_M", 32768)
    assert info.parameters == 64_000 and info.name == "tiny-model" and info.chat_template is None


def test_replay_serves_root_and_sub_replies_in_order_and_says_when_it_runs_out(tmp_path):
    script_file = tmp_path / "script.json"
    script_file.write_text(json.dumps({"root": ["first turn", "second turn"], "sub": ["s1"]}))
    pool = ModelPool()
    root = pool.get(f"replay:{script_file}", "root")
    sub = pool.get(f"replay:{script_file}", "sub")
    assert root.complete([{"role": "user", "content": "q"}]).text == "first turn"
    assert sub.complete([{"role": "user", "content": "sub q"}]).text == "s1"
    assert root.complete([{"role": "user", "content": "q2"}]).text == "second turn"
    with pytest.raises(ModelError, match="no more 'root' replies \\(all 2 were used\\)"):
        root.complete([{"role": "user", "content": "q3"}])
    assert [c[0]["content"] for c in root.calls] == ["q", "q2", "q3"]


def test_replay_batch_and_cancel():
    backend = ReplayBackend(ReplayScript({"root": [], "sub": ["a b c", "d e f"]}), "sub")
    answers = backend.batch(
        [[{"role": "user", "content": "1"}], [{"role": "user", "content": "2"}]]
    )
    assert [a.text for a in answers] == ["a b c", "d e f"]
    with pytest.raises(ModelError, match="not valid JSON"):
        ReplayScript.from_file(__file__)


def test_offline_mode_refuses_network_models_until_turned_off():
    with pytest.raises(OfflineError, match="offline mode is on"):
        ModelPool(Settings(offline=True)).get("openai:gpt-4o-mini")


def test_settings_round_trip_and_never_hold_unknown_keys(isolated_home):
    settings = load_settings()
    assert settings.offline is True and settings.model == "demo"
    settings.remember_model("/models/a.gguf")
    settings.remember_model("/models/b.gguf")
    settings.remember_model("/models/a.gguf")
    save_settings(settings)
    assert load_settings().recent_models == ["/models/a.gguf", "/models/b.gguf"]
    data = json.loads(settings_path().read_text())
    data["api_key"] = "should-be-dropped"
    settings_path().write_text(json.dumps(data))
    assert not hasattr(load_settings(), "api_key")


def test_config_command_shows_and_sets_settings():
    runner = CliRunner()
    assert runner.invoke(cli, ["config", "offline"]).output.strip() == "True"
    assert runner.invoke(cli, ["config", "offline", "off"]).exit_code == 0
    assert load_settings().offline is False
    bad = runner.invoke(cli, ["config", "n_ctx", "lots"])
    assert bad.exit_code == 2 and "needs a int" in bad.output
    assert runner.invoke(cli, ["config", "colour", "x"]).exit_code == 2
    # A list setting takes its items separated like PATH, not one character each.
    assert runner.invoke(cli, ["config", "model_folders", "/models/a:/models/b"]).exit_code == 0
    assert load_settings().model_folders == ["/models/a", "/models/b"]
    wrong = runner.invoke(cli, ["config", "ocr", "banana"])
    assert wrong.exit_code == 2 and "ocr is one of off, auto, force" in wrong.output


def test_models_command_lists_the_demo_model_with_metadata():
    result = CliRunner().invoke(cli, ["models", "--json"])
    data = json.loads(result.output)
    demo = next(m for m in data["models"] if m["spec"] == "demo")
    assert demo["status"] == "ok" and demo["quantization"] == "Q4_1"
    assert data["offline"] is True


def test_generate_streams_from_the_demo_model_and_replays(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["generate", "Say hi.", "--max-tokens", "8"])
    assert result.exit_code == 0 and result.output.strip()
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"root": ["scripted answer"], "sub": []}))
    result = runner.invoke(cli, ["generate", "x", "--model", f"replay:{script}"])
    assert result.output.startswith("scripted answer")
    offline = runner.invoke(cli, ["generate", "x", "--model", "openai:gpt-4o-mini"])
    assert offline.exit_code == 1 and "offline mode is on" in offline.output
