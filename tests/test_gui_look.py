"""The window as a person sees it: every pane in the light and the dark theme at a small and a
large size, text that passes WCAG AA contrast, panes that never show the last run while a new
one works, and a UI thread that never stalls."""

import time
from collections import Counter

import pytest
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPalette

from rlm_desktop.gui.answer import STATUS_COLOURS, status_colour
from rlm_desktop.gui.theme import apply_theme
from rlm_desktop.store import Library
from tests import test_gui
from tests.test_export import four_status_run
from tests.test_gui import SHOTS, _script

# The window, the sample documents and a home without models, as test_gui sets them up.
window, docs = test_gui.window, test_gui.docs
no_models_on_this_computer = test_gui.no_models_on_this_computer

SIZES = ((1024, 700), (1600, 1000))
AA = 4.5  # WCAG AA for body text
Role, Group = QPalette.ColorRole, QPalette.ColorGroup


def luminance(colour: QColor) -> float:
    """WCAG relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.red())
        + 0.7152 * channel(colour.green())
        + 0.0722 * channel(colour.blue())
    )


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def ink_contrast(image: QImage) -> float:
    """The contrast of the text drawn on a widget: its commonest colour is the background,
    the pixel farthest from it is the ink (the core of a glyph is drawn in full colour)."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    pixels = [
        image.pixel(x, y) for y in range(0, image.height(), 2) for x in range(0, image.width(), 2)
    ]
    background = QColor.fromRgb(Counter(pixels).most_common(1)[0][0])
    return max(contrast(background, QColor.fromRgb(p)) for p in set(pixels))


def palette_contrasts() -> dict[str, float]:
    """The text colours the theme sets, each against the background it is drawn on."""
    palette = QGuiApplication.palette()
    base, background = palette.color(Role.Base), palette.color(Role.Window)
    disabled = palette.color(Group.Disabled, Role.ButtonText)
    found = {
        "body text": contrast(palette.color(Role.Text), base),
        "window text": contrast(palette.color(Role.WindowText), background),
        "placeholder": contrast(palette.color(Role.PlaceholderText), base),
        "link": contrast(palette.color(Role.Link), base),
        "disabled button": contrast(disabled, palette.color(Group.Disabled, Role.Button)),
    }
    for status in STATUS_COLOURS:
        found[f"status {status}"] = contrast(QColor(status_colour(status)), base)
    return found


def ask(window, qtbot, tmp_path, docs):
    """Ingest the samples and ask a replayed question that cites a PDF and a log."""
    window.ingest([str(docs)])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 10, timeout=30_000)
    line = "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"
    window.conversation.model_box.setEditText(
        _script(
            tmp_path,
            [
                "Looking for the vault.\n```repl\nhits = context.grep('vault was open 3')\n"
                "print(context.grep('Audit page 3')[0].text)\nprint(hits[0].text)\n```",
                "```repl\nFINAL('Open 3 times on page 3 ' + cite('Audit page 3.\\nThe vault was "
                "open 3 times.') + ', webmaster '"
                f" + cite({line!r}))\n```",
            ],
        )
    )
    window.conversation.question.setPlainText("How often was the vault open on page 3?")
    window.conversation.ask()
    qtbot.waitUntil(lambda: window.conversation.last_result is not None, timeout=60_000)


class Heartbeat:
    """The longest the UI thread went without running a 10 ms timer."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now


def test_every_pane_is_readable_in_both_themes_and_at_both_sizes(window, qtbot, docs, tmp_path):
    beat = Heartbeat()
    ask(window, qtbot, tmp_path, docs)
    source, conversation = window.evidence.source, window.conversation
    conversation.answer.open_link(QUrl("cite:2"))
    qtbot.waitUntil(lambda: source.currentWidget() is source.text_view, timeout=10_000)
    conversation.answer.open_link(QUrl("cite:1"))
    qtbot.wait(200)
    # The UI thread kept up through ingest, the run, the evidence and both viewers.
    assert beat.longest < 0.1, f"the UI thread stalled {beat.longest * 1000:.0f} ms"
    low = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for theme in ("light", "dark"):
        window.set_theme(theme)
        low.update({f"{theme} {k}": v for k, v in palette_contrasts().items() if v < AA})
        for width, height in SIZES:
            window.resize(width, height)
            conversation.setCurrentIndex(0)
            conversation.answer.open_link(QUrl("cite:2"))  # the log, at its line
            qtbot.waitUntil(lambda: source.currentWidget() is source.text_view, timeout=10_000)
            qtbot.wait(50)
            name = f"{theme}-{width}x{height}"
            assert window.grab().save(str(SHOTS / f"window-{name}.png"))
            panes = {
                "answer": conversation.answer.viewport(),
                "status": conversation.status,
                "library": window.library_panel.table.viewport(),
                "log viewer": source.text_view.viewport(),
            }
            conversation.setCurrentIndex(1)
            qtbot.wait(20)
            panes["trajectory"] = conversation.trajectory.viewport()
            assert window.grab().save(str(SHOTS / f"trajectory-{name}.png"))
            for pane, widget in panes.items():
                if (ratio := ink_contrast(widget.grab().toImage())) < AA:
                    low[f"{name} {pane}"] = ratio
            conversation.setCurrentIndex(0)
            conversation.answer.open_link(QUrl("cite:1"))  # the PDF, page-true
            qtbot.waitUntil(lambda: source.currentWidget() is source.pdf_pane, timeout=10_000)
            qtbot.wait(200)  # pages render asynchronously
            assert window.grab().save(str(SHOTS / f"pdf-{name}.png"))
            assert len(source.pdf_pane.overlay.rects) == 2  # both lines of the passage
            # Nothing is cut off: the panes keep at least their smallest useful widths.
            assert conversation.ask_button.visibleRegion().boundingRect().width() >= 30
            assert window.library_panel.table.columnWidth(0) >= 120
    apply_theme("light")
    assert not low, f"text below WCAG AA ({AA}:1): {low}"


def test_a_new_run_clears_every_pane_and_a_cancelled_run_is_saved_once(
    window, qtbot, docs, tmp_path
):
    window.ingest([str(docs / "OpenSSH_2k.log")])
    qtbot.waitUntil(lambda: len(window.library_panel.documents.documents) == 1, timeout=30_000)
    with Library(window.library_dir) as library:
        earlier = library.save_run(four_status_run())
    conversation, evidence = window.conversation, window.evidence
    conversation.refresh_history()
    qtbot.waitUntil(lambda: conversation.history.count() == 1, timeout=5_000)
    conversation.history.setCurrentRow(0)
    conversation._reopen(conversation.history.item(0))
    qtbot.waitUntil(lambda: conversation.current_run_id == earlier, timeout=5_000)
    evidence.source.show_text("/docs/web.log", "old text\n", 0, 3, 1)
    conversation.trajectory.append("Turn 9 of the old run")
    assert evidence.tree.topLevelItemCount() > 0

    conversation.model_box.setEditText(_script(tmp_path, ["```repl\nwhile True:\n    pass\n```"]))
    conversation.question.setPlainText("Loop forever")
    conversation.ask()
    # Nothing about the last question is left on screen while the new one runs.
    assert evidence.tree.topLevelItemCount() == 0
    assert evidence.source.currentWidget() is evidence.source.placeholder
    assert not conversation.history.selectedItems()
    assert "Turn 9" not in conversation.trajectory.toPlainText()
    assert "Working" in conversation.answer.toPlainText()
    assert conversation.current_run_id is None

    qtbot.waitUntil(lambda: "Turn 1" in conversation.trajectory.toPlainText(), timeout=20_000)
    conversation.stop()
    qtbot.waitUntil(lambda: conversation.ask_button.isEnabled(), timeout=5_000)
    qtbot.waitUntil(lambda: conversation.history.count() == 2, timeout=5_000)
    qtbot.wait(300)  # a second save would have landed by now
    with Library(window.library_dir) as library:
        runs = library.runs()
    assert len(runs) == 2 and runs[0]["stop_reason"] == "cancelled"
    assert runs[0]["outcome"] == "stopped"
    # The finished run is the one highlighted in the history.
    assert conversation.history.currentRow() == 0 and conversation.history.selectedItems()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_theme_colours_pass_wcag_aa(qapp, theme):
    apply_theme(theme)
    try:
        low = {k: round(v, 2) for k, v in palette_contrasts().items() if v < AA}
    finally:
        apply_theme("light")
    assert not low, low
