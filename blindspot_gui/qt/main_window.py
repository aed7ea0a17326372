"""The main window: the model panel as a dock beside the selected model's card."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow

from blindspot_gui.core.zoo import DEFAULT_MODEL
from blindspot_gui.qt.model_card import ModelCard
from blindspot_gui.qt.model_panel import ModelPanel

WINDOW_TITLE = "Blind spots of neural networks"


class MainWindow(QMainWindow):
    """Top-level window of blindspot-gui."""

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings("blindspot_gui", "blindspot_gui")
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1200, 720)

        self.model_card = ModelCard()
        self.setCentralWidget(self.model_card)

        self.model_panel = ModelPanel()
        self.model_dock = QDockWidget("Models", self)
        self.model_dock.setObjectName("model_dock")
        self.model_dock.setWidget(self.model_panel)
        self.model_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.model_dock)
        self.resizeDocks([self.model_dock], [620], Qt.Orientation.Horizontal)
        self.model_panel.sig_model_selected.connect(self._on_model_panel_selected)

        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.menuBar().addMenu("&File").addAction(quit_action)

        last_model = str(self.settings.value("model/last", DEFAULT_MODEL))
        if not self.model_panel.select(last_model):
            self.model_panel.select(DEFAULT_MODEL)

    @property
    def active_model_name(self) -> str | None:
        status = self.model_panel.selected_status()
        return status.spec.name if status else None

    def _on_model_panel_selected(self, name: str) -> None:
        status = self.model_panel.selected_status()
        self.model_card.show_status(status)
        self.statusBar().showMessage(f"Active model: {name}")
        self.settings.setValue("model/last", name)
