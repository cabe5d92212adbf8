"""PDF exports with Qt's own PDF writer (no external converter): the HTML export, paginated."""

from __future__ import annotations

import os
from pathlib import Path

from rlm_desktop.gui.app import has_display


def html_to_pdf(html: str, path: Path) -> None:
    """Render an HTML export to an A4 PDF; links inside the page stay links."""
    if not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QMarginsF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
    from PySide6.QtWidgets import QApplication

    # Fonts need an application; a widgets one, so that the window can still open later in
    # the same process (a plain QGuiApplication would forbid it).
    _app = QApplication.instance() or QApplication([])
    writer = QPdfWriter(str(path))
    writer.setTitle("RLM Desktop — answers")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(15, 15, 15, 15),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setResolution(150)
    document = QTextDocument()
    # Qt's rich text has no CSS pre-wrap: long snippets wrap through the document's own
    # wrap mode and the page width.
    document.setHtml(html)
    document.print_(writer)
