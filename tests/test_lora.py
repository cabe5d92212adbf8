"""LoRA adapters attached to a local model's spec: parsed, checked, applied, saved."""

import pytest

from rlm_desktop.llm.base import GenerationSettings, ModelError
from rlm_desktop.llm.spec import ModelPool, demo_model_path, parse_spec
from rlm_desktop.settings import Settings
from tests.gguf_adapter import write_adapter

SMOLLM_LAYERS = {f"blk.{i}.attn_q.weight": (576, 576) for i in range(4)}


def test_a_lora_spec_names_the_model_and_its_adapter(tmp_path):
    adapter = write_adapter(tmp_path / "rlm.gguf", "llama", SMOLLM_LAYERS)
    spec = parse_spec(f"gguf:{demo_model_path()}+lora:{adapter}")
    assert spec.kind == "gguf" and spec.value == str(demo_model_path().resolve())
    assert spec.lora == str(adapter) and str(spec).endswith(f"+lora:{adapter}")
    assert parse_spec(str(spec)) == spec
    assert parse_spec(f"demo+lora:{adapter}").lora == str(adapter)


def test_a_missing_or_wrong_adapter_is_refused_with_a_reason(tmp_path):
    with pytest.raises(ModelError, match="no LoRA adapter file"):
        parse_spec(f"demo+lora:{tmp_path / 'absent.gguf'}")
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF LoRA adapter"):
        parse_spec(f"demo+lora:{text}")
    with pytest.raises(ModelError, match="is a GGUF model, not a LoRA adapter"):
        parse_spec(f"demo+lora:{demo_model_path()}")
    with pytest.raises(ModelError, match="attaches to one local"):
        parse_spec(f"openai:gpt-4o+lora:{text}")


def _answers(spec: str) -> tuple[str, str]:
    pool = ModelPool(Settings(n_ctx=4096, sub_ctx=1024, sub_slots=2))
    try:
        model = pool.get(spec, "root")
        ask = [{"role": "user", "content": "Name a colour."}]
        settings = GenerationSettings(max_tokens=8)
        root = model.complete(ask, settings).text
        (sub,) = model.batch([ask], settings)
        assert model.describe()["lora"] == (spec.split("+lora:")[1] if "+lora:" in spec else "")
        return root, sub.text
    finally:
        pool.close()


def test_an_adapter_applies_to_the_root_and_the_sub_call_contexts(tmp_path):
    plain = _answers("demo")
    silent = write_adapter(tmp_path / "zero.gguf", "llama", SMOLLM_LAYERS)
    loud = write_adapter(tmp_path / "loud.gguf", "llama", SMOLLM_LAYERS, strength=0.5)
    assert _answers(f"demo+lora:{silent}") == plain
    root, sub = _answers(f"demo+lora:{loud}")
    assert root != plain[0] and sub != plain[1]


def test_about_names_the_adapter_in_use(tmp_path):
    from click.testing import CliRunner

    from rlm_desktop.cli import cli
    from rlm_desktop.settings import save_settings

    adapter = write_adapter(tmp_path / "rlm-qwen3.gguf", "llama", SMOLLM_LAYERS)
    save_settings(Settings(model=f"demo+lora:{adapter}"))
    result = CliRunner().invoke(cli, ["about"])
    assert result.exit_code == 0, result.output
    assert f"Model: demo with the LoRA adapter {adapter}" in result.stdout


def test_the_about_window_names_the_adapter_in_use(qtbot, tmp_path):
    from rlm_desktop.gui.about_dialog import AboutDialog
    from rlm_desktop.settings import save_settings

    adapter = write_adapter(tmp_path / "adapter.gguf", "llama", SMOLLM_LAYERS)
    save_settings(Settings(model=f"demo+lora:{adapter}"))
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert f"Model: demo with the LoRA adapter {adapter}" in dialog.title.text()
