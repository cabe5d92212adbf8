"""Help → About: the version, and the licences of every bundled component and sample."""

from __future__ import annotations

import html
import platform
import sys

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFontDatabase, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rlm_desktop import __version__, about
from rlm_desktop.llm.spec import models_in_use
from rlm_desktop.paths import data_dir, resources_dir
from rlm_desktop.settings import load_settings


class AboutDialog(QDialog):
    """Who made what: one table of components, one list of sample licences, full texts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {about.APP_NAME}")
        self.resize(820, 600)
        self.components = about.components()
        self.samples = about.sample_licences()

        models = "<br>".join(html.escape(line) for line in models_in_use(load_settings()))
        icon = QLabel()
        icon.setPixmap(QIcon(str(resources_dir() / "icons" / "rlm-desktop-256.png")).pixmap(64, 64))
        self.title = QLabel(
            f"<h2 style='margin:0'>{about.APP_NAME} {__version__}</h2>"
            "Ask hard questions of your own documents, offline.<br>"
            f"<small>{about.APP_LICENCE} licence · Python {platform.python_version()} · "
            f"Qt {qVersion()} · {sys.platform}<br>Data folder: {data_dir()}<br>{models}</small>"
        )
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header = QHBoxLayout()
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.title, 1)

        self.table = QTableWidget(len(self.components), 4)
        self.table.setHorizontalHeaderLabels(["Component", "Version", "Licence", "Kind"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for row, component in enumerate(self.components):
            values = (component.name, component.version, component.licence, component.kind)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(row, column, item)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_component)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.licence_text = QPlainTextEdit(readOnly=True)
        self.licence_text.setFont(mono)
        self.licence_text.setPlaceholderText("Select a component to read its licence.")
        components_tab = QSplitter(Qt.Orientation.Vertical)
        components_tab.addWidget(self.table)
        components_tab.addWidget(self.licence_text)
        components_tab.setSizes([330, 200])

        self.sample_list = QListWidget()
        for sample in self.samples:
            self.sample_list.addItem(f"{sample.covers} ({sample.file})")
        self.sample_text = QPlainTextEdit(readOnly=True)
        self.sample_text.setFont(mono)
        self.sample_list.currentRowChanged.connect(self._show_sample)
        samples_tab = QSplitter(Qt.Orientation.Vertical)
        samples_tab.addWidget(self.sample_list)
        samples_tab.addWidget(self.sample_text)
        samples_tab.setSizes([120, 400])

        self.tabs = QTabWidget()
        self.tabs.addTab(components_tab, f"Components ({len(self.components)})")
        self.tabs.addTab(samples_tab, f"Sample documents ({len(self.samples)})")

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        if self.components:
            self.table.selectRow(0)
        if self.samples:
            self.sample_list.setCurrentRow(0)

    def _show_component(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        component = self.components[rows[0].row()]
        if not component.texts:
            self.licence_text.setPlainText(
                f"{component.name}: {component.licence} (no licence text ships with it)"
            )
            return
        self.licence_text.setPlainText(
            "\n\n".join(f"==> {name}\n{text}" for name, text in component.texts.items())
        )

    def _show_sample(self, row: int) -> None:
        if 0 <= row < len(self.samples):
            self.sample_text.setPlainText(self.samples[row].text)

    def select(self, name: str) -> bool:
        """Select the component called ``name`` (for tests and links); False if unknown."""
        for row, component in enumerate(self.components):
            if component.name.lower() == name.lower():
                self.table.selectRow(row)
                return True
        return False
