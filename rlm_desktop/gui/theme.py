"""Light and dark palettes (or the system's), and the colours that follow them."""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

# Every role a widget draws text or a background with, so nothing keeps a light colour.
_DARK = {
    Role.Window: "#2b2d31",
    Role.WindowText: "#e6e6e6",
    Role.Base: "#1e1f22",
    Role.AlternateBase: "#26282c",
    Role.Text: "#e6e6e6",
    Role.Button: "#35373c",
    Role.ButtonText: "#e6e6e6",
    Role.BrightText: "#ffffff",
    Role.Highlight: "#2f7de1",
    Role.HighlightedText: "#ffffff",
    Role.ToolTipBase: "#35373c",
    Role.ToolTipText: "#e6e6e6",
    Role.Link: "#8cbcff",
    Role.LinkVisited: "#c5a5ff",
    Role.PlaceholderText: "#a0a4ab",
    Role.Light: "#4a4d54",
    Role.Midlight: "#3d4046",
    Role.Mid: "#2f3136",
    Role.Dark: "#1a1b1e",
    Role.Shadow: "#101113",
}
# Disabled text stays readable (4.5:1 on the button and the window), only dimmer.
_DARK_DISABLED = {
    Role.WindowText: "#9a9ea6",
    Role.Text: "#9a9ea6",
    Role.ButtonText: "#9a9ea6",
    Role.Button: "#303236",
}
# Fusion's light palette dims placeholders and disabled text below 4.5:1; these pass.
_LIGHT = {
    Role.PlaceholderText: "#6b6f76",
    Role.Link: "#0b57d0",
    Role.LinkVisited: "#6a3fb5",
}
_LIGHT_DISABLED = {
    Role.WindowText: "#5c6066",
    Role.Text: "#5c6066",
    Role.ButtonText: "#5c6066",
}
_system_palette: QPalette | None = None
# A passage's highlight in the source viewers, with black text on it in either theme.
HIGHLIGHT = "#fff3a3"


def dark_palette() -> QPalette:
    """The dark palette, every group set."""
    palette = QPalette()
    for role, colour in _DARK.items():
        palette.setColor(role, QColor(colour))
    for role, colour in _DARK_DISABLED.items():
        palette.setColor(Group.Disabled, role, QColor(colour))
    return palette


def light_palette(base: QPalette) -> QPalette:
    """Fusion's light palette with readable placeholders, links and disabled text."""
    palette = QPalette(base)
    for role, colour in _LIGHT.items():
        palette.setColor(role, QColor(colour))
    for role, colour in _LIGHT_DISABLED.items():
        palette.setColor(Group.Disabled, role, QColor(colour))
    return palette


def apply_theme(theme: str) -> None:
    """Apply ``system``, ``light`` or ``dark`` to the running application."""
    global _system_palette
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
    if theme == "dark":
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
        # Fusion outlines a check box in the window colour, darkened: invisible on a dark
        # base. A lighter window colour for check boxes alone gives them a visible edge.
        boxes = dark_palette()
        boxes.setColor(Role.Window, QColor("#9a9ea6"))
        _check_boxes(app, boxes)
    elif theme == "light":
        app.setStyle("Fusion")
        app.setPalette(light_palette(app.style().standardPalette()))
        _check_boxes(app, app.palette())
    else:
        app.setPalette(_system_palette)
        _check_boxes(app, _system_palette)


def _check_boxes(app: QApplication, palette: QPalette) -> None:
    """Give check boxes their own palette (PySide's stub wants bytes; only str works)."""
    app.setPalette(palette, "QCheckBox")  # type: ignore[arg-type]


def is_dark() -> bool:
    """Whether the application's palette is a dark one (text lighter than its background)."""
    palette = QGuiApplication.palette()
    return palette.color(Role.Base).lightness() < palette.color(Role.Text).lightness()


def code_background() -> str:
    """The background of code blocks: a shade off the text background, light or dark."""
    return "#16171a" if is_dark() else "#f3f6fb"


def error_colour() -> str:
    """Error text (a REPL's stderr, a failed run), 4.5:1 on either background."""
    return "#ff8a80" if is_dark() else "#b00020"
