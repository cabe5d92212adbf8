"""The model picker in the window (pytest-qt, offscreen): the welcome screen offers the models
found on this computer, a recommended download and the demo; Settings chooses the root and
sub-call models, adds folders, and downloads in the background."""

import pytest

from rlm_desktop.gui.first_launch import FirstLaunchDialog
from rlm_desktop.gui.settings_dialog import SettingsDialog
from rlm_desktop.llm.catalog import DOWNLOAD
from rlm_desktop.llm.model_files import models_dir
from rlm_desktop.settings import Settings
from tests.hf_server import serving
from tests.model_layouts import empty_home, fake_home, header_copy, tiny_gguf

CODER = "Qwen2.5-Coder-7B-Instruct-Q4_K_M"


@pytest.fixture
def home(tmp_path, monkeypatch):
    return empty_home(tmp_path / "home", monkeypatch)


def a_capable_model(home):
    """A 7B-shaped header in LM Studio's folder (the header is all the picker reads)."""
    return tiny_gguf(
        home / f".lmstudio/models/lmstudio-community/{CODER}-GGUF/{CODER}.gguf",
        extra={"tokenizer.chat_template": "{{ messages }}"},
        parameters=7_615_616_000,
    )


def welcome(qtbot, settings=None):
    dialog = FirstLaunchDialog(settings=settings or Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(dialog.picker.choices), timeout=10_000)
    return dialog


def listed(picker):
    return [picker.combo.itemText(row) for row in range(picker.combo.count())]


def test_the_welcome_offers_found_models_first_and_a_download(qtbot, home):
    fake_home(home)
    coder = a_capable_model(home)
    dialog = welcome(qtbot)
    texts = listed(dialog.picker)
    for group in ("Built-in demo", "LM Studio", "Ollama", "Jan", "Recommended downloads"):
        assert group in texts
    assert any(text.startswith("smollm2:135m") for text in texts)
    assert "3 in LM Studio" in dialog.found.text() and "1 in Ollama" in dialog.found.text()
    # The largest model that fits and can write code is suggested; the demo is one click away.
    assert dialog.picker.value() == str(coder)
    assert "7.6B · Q4_K_M" in dialog.picker.info.text()
    assert "✓ fits" in dialog.picker.info.toolTip() or "About" in dialog.picker.info.toolTip()
    assert dialog.download.isVisible() and "Or download" in dialog.suggestion.text()
    dialog.accept()
    assert dialog.model == str(coder)


def test_with_nothing_found_the_welcome_recommends_a_download_and_the_demo(qtbot, home):
    dialog = welcome(qtbot)
    assert dialog.found.text().startswith("No models found in LM Studio")
    assert dialog.suggestion.text().startswith("Recommended for this computer")
    assert dialog.picker.value() == "demo" and dialog.start.isEnabled()
    assert "too small to write good code" in dialog.picker.info.text().lower()
    dialog.picker.set_value(DOWNLOAD + "qwen2.5-coder-7b")
    assert not dialog.start.isEnabled()  # a download is no model yet
    assert dialog.picker.download_button.isVisible()
    dialog.accept()
    assert dialog.model == "demo"


def test_a_file_that_is_not_gguf_gets_one_plain_sentence(qtbot, home, tmp_path):
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"PK\x03\x04 not a model")
    dialog = welcome(qtbot)
    dialog.picker.set_value(str(fake))
    qtbot.waitUntil(lambda: dialog.picker.info.text().startswith("⚠"), timeout=5_000)
    assert "is not a GGUF model file" in dialog.picker.info.text()
    assert "Traceback" not in dialog.picker.info.text()


def test_settings_choose_root_and_sub_models_and_add_a_folder(qtbot, home, tmp_path):
    coder = a_capable_model(home)
    mine = header_copy(tmp_path / "my-models" / "small.gguf")
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(dialog.model.choices), timeout=10_000)
    assert dialog.height() <= 700
    assert listed(dialog.sub_model)[0] == "Same as the root model"
    dialog.folders.addItem(str(mine.parent))
    dialog._scan()
    qtbot.waitUntil(lambda: dialog.model.choice(str(mine)) is not None, timeout=10_000)
    assert "Your folders" in listed(dialog.model)
    dialog.model.set_value(str(coder))
    dialog.sub_model.set_value(str(mine))
    dialog.save()
    saved = dialog.result_settings
    assert (saved.model, saved.sub_model) == (str(coder), str(mine))
    assert saved.model_folders == [str(mine.parent)] and saved.recent_models == [str(coder)]


def test_settings_refuse_to_save_a_model_still_to_download(qtbot, home):
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.model.set_value(DOWNLOAD + "qwen2.5-coder-3b")
    dialog.save()
    assert dialog.result_settings is None
    assert "Download Qwen2.5 Coder 3B Instruct first" in dialog.error.text()
    dialog.reject()


def test_a_recommended_model_downloads_in_the_background_and_is_chosen(qtbot, home, monkeypatch):
    with serving(monkeypatch) as served:
        dialog = welcome(qtbot)
        dialog.picker.start_download("qwen2.5-coder-3b")
        assert dialog.picker.progress.isVisible()  # the UI thread is free while it runs
        stored = models_dir() / "Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf"
        qtbot.waitUntil(lambda: dialog.picker.value() == str(stored), timeout=10_000)
        assert stored.read_bytes() == served.body
        assert dialog.picker.progress_text.text().startswith("Stored")
        qtbot.waitUntil(
            lambda: dialog.picker.choice(str(stored)) is not None, timeout=10_000
        )  # scanned again: listed with its facts under the app's own downloads
        assert dialog.picker.choice(str(stored)).group == "Downloaded with RLM Desktop"
        assert dialog.start.isEnabled()
        dialog.accept()
        assert dialog.model == str(stored)


def test_settings_choose_the_protocol_and_refuse_a_broken_tools_file(qtbot, home, tmp_path):
    broken = tmp_path / "tools.py"
    broken.write_text("def f(:\n")
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.profile.setCurrentText("reference")
    dialog.tools_file.setText(str(broken))
    dialog.save()
    assert dialog.result_settings is None and "syntax error on line 1" in dialog.error.text()
    broken.write_text('def count(text: str) -> int:\n    """Words."""\n    return 1\n')
    dialog.save()
    saved = dialog.result_settings
    assert saved.rlm_profile == "reference" and saved.tools_file == str(broken)
