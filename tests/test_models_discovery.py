"""Finding the models other apps downloaded, and whether each fits: fake LM Studio, GPT4All,
Ollama, Jan, Hugging Face and llama.cpp layouts in a temporary HOME."""

import json
import os

import pytest
from click.testing import CliRunner

from rlm_desktop.cli import cli
from rlm_desktop.llm import fit
from rlm_desktop.llm.base import ContextOverflowError, ModelError
from rlm_desktop.llm.catalog import DOWNLOAD, best_choice, picker
from rlm_desktop.llm.discovery import scan
from rlm_desktop.llm.fit import Memory, estimate_memory, judge, system_memory
from rlm_desktop.llm.gguf import read_gguf
from rlm_desktop.llm.spec import ModelPool, demo_model_path
from rlm_desktop.settings import Settings, load_settings, save_settings
from tests.model_layouts import empty_home, fake_home, header_copy, tiny_gguf

PLENTY = Memory(ram_total=64 * 2**30, ram_free=48 * 2**30)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty HOME: no model of the developer's machine is found."""
    return empty_home(tmp_path / "home", monkeypatch)


def by_source(result):
    found = {}
    for model in result.models:
        found.setdefault(model.source, []).append(model)
    return found


def test_models_of_every_app_are_found_once_with_their_names(home):
    files = fake_home(home)
    result = scan(Settings())
    found = by_source(result)
    assert set(found) == {
        "demo",
        "lmstudio",
        "gpt4all",
        "ollama",
        "jan",
        "huggingface",
        "llama.cpp",
    }
    assert len(found["lmstudio"]) == 2  # ~/.lmstudio and the older ~/.cache/lm-studio
    # Ollama: the model layer of the manifest, named name:tag; its second tag is the same blob.
    (ollama,) = found["ollama"]
    assert ollama.name == "smollm2:135m" and ollama.path == str(files["ollama"])
    (jan,) = found["jan"]
    assert jan.name == "SmolLM2 135M (Jan)" and jan.path.endswith("model.gguf")
    (hf,) = found["huggingface"]
    assert hf.name == "bartowski/SmolLM2-GGUF/SmolLM2-Q8_0.gguf"
    assert hf.label == "SmolLM2-Q8_0"
    for model in result.models:
        assert model.info.architecture == "llama" and model.info.parameters == 134_515_008
    # Vision projectors and files that are not GGUF are never offered, and say why.
    assert not any("mmproj" in m.path or "projector" in m.path for m in result.models)
    reasons = {os.path.basename(s.path): s.reason for s in result.skipped}
    assert "a vision projector" in reasons["mmproj-SmolLM2-f16.gguf"]
    assert "is not a GGUF model file" in reasons["broken.gguf"]


def test_a_split_model_appears_once_with_all_its_parts(home, tmp_path):
    folder = tmp_path / "mine"
    first = tiny_gguf(folder / "big-00001-of-00002.gguf", extra={"split.count": 2})
    tiny_gguf(folder / "big-00002-of-00002.gguf", extra={"split.count": 2})
    tiny_gguf(folder / "half-00001-of-00002.gguf", extra={"split.count": 2})  # part 2 missing
    result = scan(Settings(model_folders=[str(folder)]), include_demo=False)
    (model,) = result.models
    assert model.path == str(first) and model.label == "big" and model.source == "folder"
    assert model.info.split_count == 2 and model.info.parameters == 2 * 64_000
    assert model.info.file_size == 2 * first.stat().st_size
    (skipped,) = result.skipped
    assert "half-00002-of-00002.gguf is missing" in skipped.reason


def test_the_same_file_linked_from_two_apps_is_listed_once(home, tmp_path):
    original = header_copy(home / ".lmstudio/models/a/b/model.gguf")
    linked = home / ".cache/llama.cpp/model.gguf"
    linked.parent.mkdir(parents=True)
    os.link(original, linked)
    os.symlink(original, tmp_path / "link.gguf")
    settings = Settings(model_folders=[str(tmp_path)])
    assert [m.source for m in scan(settings, include_demo=False).models] == ["lmstudio"]


def test_environment_variables_move_the_ollama_hf_and_llama_cpp_folders(
    home, tmp_path, monkeypatch
):
    header_copy(tmp_path / "llama-cache" / "x.gguf")
    header_copy(tmp_path / "hub" / "models--o--r" / "snapshots" / "1" / "y.gguf")
    ollama = tmp_path / "ollama"
    header_copy(ollama / "blobs" / "sha256-abc")
    manifest = ollama / "manifests" / "hf.co" / "org" / "repo" / "Q4_K_M"
    manifest.parent.mkdir(parents=True)
    layer = {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:abc"}
    manifest.write_text(json.dumps({"layers": [layer]}))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    names = {m.source: m.name for m in scan(Settings(), include_demo=False).models}
    assert names == {
        "llama.cpp": "x.gguf",
        "huggingface": "o/r/y.gguf",
        "ollama": "hf.co/org/repo:Q4_K_M",
    }


def test_the_kv_cache_follows_the_formula_and_llama_cpp(home):
    info = read_gguf(demo_model_path())
    estimate = estimate_memory(info, 8192, contexts=1)
    # 30 layers × 8,192 tokens × 3 KV heads × (64 + 64) × 2 bytes: llama.cpp reports 180 MiB.
    assert estimate.kv_cache == 30 * 8192 * 3 * 128 * 2 == 180 * 2**20
    assert estimate.total == info.file_size + estimate.kv_cache + estimate.compute
    assert estimate_memory(info, 8192, kv_type="q8_0").kv_cache < estimate.kv_cache
    assert not estimate.rough
    # A 7B model with grouped-query attention, as Qwen2.5-7B is shaped.
    qwen = read_gguf(tiny_gguf(home / "qwen.gguf"))
    assert estimate_memory(qwen, 8192).kv_cache == 28 * 8192 * 4 * 256 * 2


def test_fits_tight_and_too_big_against_free_memory(home):
    info = read_gguf(demo_model_path())
    need = estimate_memory(info).total
    assert judge(estimate_memory(info), Memory(need * 4, need * 2)).verdict == "fits"
    assert judge(estimate_memory(info), Memory(need * 4, int(need * 1.1))).verdict == "tight"
    too_big = judge(estimate_memory(info), Memory(need * 4, need // 2))
    assert too_big.verdict == "too big"
    assert "KV cache 2 × 180 MB" in too_big.explain() and "Free now" in too_big.explain()
    assert Memory(8, 4, 16, 10).free == 14  # VRAM counts when there is a GPU


def test_sliding_window_and_hybrid_models_say_the_estimate_is_rough(home):
    gemma = read_gguf(
        tiny_gguf(home / "g.gguf", "gemma3", extra={"gemma3.attention.sliding_window": 1024})
    )
    assert "sliding window" in estimate_memory(gemma).rough
    hybrid = read_gguf(
        tiny_gguf(home / "h.gguf", "granitehybrid", extra={"granitehybrid.ssm.state_size": 128})
    )
    assert "hybrid" in estimate_memory(hybrid).rough
    per_layer = read_gguf(tiny_gguf(home / "p.gguf", "qwen3next", layers=4, kv_heads=[0, 0, 0, 2]))
    assert per_layer.kv_heads_all_layers == 2 and per_layer.head_count_kv == 2


def test_gpu_memory_is_read_from_nvidia_smi(monkeypatch):
    text = "81559, 80000\n81559, 1000\n"
    assert fit.parse_nvidia_smi(text) == (2 * 81559 * 2**20, 81000 * 2**20)
    monkeypatch.setattr(fit, "gpu_offload", lambda: True)
    monkeypatch.setattr(fit, "nvidia_vram", lambda: (16 * 2**30, 12 * 2**30))
    memory = system_memory()
    assert memory.vram_free == 12 * 2**30 and memory.ram_total > 0
    assert system_memory(gpu_layers=0).vram_total == 0  # no layers on the GPU: RAM only


def test_a_model_too_big_for_this_computer_is_refused_before_loading(monkeypatch):
    from rlm_desktop.llm import llama

    monkeypatch.setattr(llama, "system_memory", lambda _layers: Memory(2**20, 2**20))
    with pytest.raises(ModelError, match=r"needs about .* more than this computer's 1 MB: choose"):
        ModelPool().get("demo")


def test_plain_sentences_for_a_window_too_small_a_projector_and_an_overflow(home):
    short = tiny_gguf(home / "old-2k.gguf", "llama", context=2048)
    with pytest.raises(ModelError, match=r"too small for the RLM method.*longer context"):
        ModelPool().get(str(short), "root")
    with pytest.raises(ModelError, match="raise the context size in Settings to at least 4,096"):
        ModelPool(Settings(n_ctx=2048)).get("demo", "root")
    projector = tiny_gguf(home / "mmproj.gguf", "clip", general_type="mmproj")
    with pytest.raises(ModelError, match=r"vision projector .* choose the model's own"):
        ModelPool().get(str(projector), "sub")
    text = ContextOverflowError(9863, 768, 8192).message
    assert "its context holds 8,192" in text and "raise the context size" in text
    assert "prompt" not in text


def test_the_picker_groups_models_by_app_then_offers_downloads(home):
    fake_home(home)
    settings = Settings()
    choices = picker(settings, scan(settings), PLENTY)
    groups = list(dict.fromkeys(c.group for c in choices))
    assert groups == [
        "Built-in demo",
        "LM Studio",
        "GPT4All",
        "Ollama",
        "Jan",
        "Hugging Face cache",
        "llama.cpp cache",
        "Recommended downloads",
    ]
    demo = choices[0]
    assert demo.spec == "demo" and "too small to write good code" in demo.note
    assert not demo.capable and best_choice(choices) is None  # only tiny models here
    downloads = [c for c in choices if c.spec.startswith(DOWNLOAD)]
    assert (
        downloads[0].recommended_id == "qwen2.5-coder-7b" and "GB download" in downloads[0].detail
    )
    assert all(c.fit for c in choices)


def test_scan_json_has_the_promised_fields_and_folders_can_be_added(home, tmp_path):
    fake_home(home)
    mine = tmp_path / "my-models"
    header_copy(mine / "nested" / "mine.gguf")
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "scan", "--add-folder", str(mine), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    keys = {"path", "source", "name", "architecture", "quantization", "context_length"}
    keys |= {"size_bytes", "ram_estimate_bytes", "fit"}
    assert all(keys <= set(row) for row in rows)
    assert {r["source"] for r in rows} == {
        "demo",
        "lmstudio",
        "gpt4all",
        "ollama",
        "jan",
        "huggingface",
        "llama.cpp",
        "folder",
    }
    assert next(r for r in rows if r["source"] == "ollama")["name"] == "smollm2:135m"
    assert all(r["fit"] in ("fits", "tight", "too big") for r in rows)
    assert load_settings().model_folders == [str(mine.resolve())]
    text = runner.invoke(cli, ["models", "scan"]).output
    assert "LM Studio" in text and "smollm2:135m" in text and "skipped" in text


def test_models_info_and_list_speak_for_the_cli(home):
    fake_home(home)
    runner = CliRunner()
    info = json.loads(runner.invoke(cli, ["models", "info", "smollm2:135m", "--json"]).output)
    assert info["source"] == "ollama" and info["layers"] == 30 and info["kv_heads"] == 3
    text = runner.invoke(cli, ["models", "info", "demo"]).output
    assert "KV cache 2 × 180 MB" in text and "too small to write good code" in text
    listed = json.loads(runner.invoke(cli, ["models", "list", "--json"]).output)
    assert listed["models"][0]["spec"] == "demo"  # the listing of before is kept
    assert {c["group"] for c in listed["choices"]} >= {"Ollama", "Recommended downloads"}
    text = runner.invoke(cli, ["models"]).output
    assert "Recommended downloads" in text and "qwen2.5-coder-7b" in text
    missing = runner.invoke(cli, ["models", "info", str(home / "nothing.gguf")])
    assert missing.exit_code == 1 and "cannot open the model file" in missing.output


def test_other_apps_models_are_never_deleted(home):
    files = fake_home(home)
    save_settings(Settings(recent_models=[str(files["lmstudio"])]))
    result = CliRunner().invoke(cli, ["models", "remove", "SmolLM2-Q4_1"])
    assert result.exit_code == 2 and "belongs to LM Studio" in result.output
    assert files["lmstudio"].exists()


@pytest.mark.slow
def test_a_discovered_model_answers(home):
    link = home / ".lmstudio/models/HuggingFaceTB/SmolLM2-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"
    link.parent.mkdir(parents=True)
    os.symlink(demo_model_path(), link)
    found = next(m for m in scan(Settings(), include_demo=False).models if m.source == "lmstudio")
    pool = ModelPool()
    try:
        answer = pool.get(found.path).complete([{"role": "user", "content": "Say hi."}])
        assert answer.text.strip()
    finally:
        pool.close()
