"""The main window: the shell around the tabs — menus and their shortcuts, docks, settings, fonts, full screen, drops.

It owns no computation and no tab's state: the "Blind spots" tab (one view for every network),
the unit explorer and the experiments tab are controllers that start core functions through the
shared TaskRunner. The window places their panels, routes the keys and the menus to the tab
shown, shows their messages, and remembers the layout.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox,
                               QDockWidget, QMainWindow, QMessageBox, QTabWidget, QWidget)

from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.models.mnist_zoo import DEFAULT_MODEL
from blindspot_gui.core.training.loop import warm_up
from blindspot_gui.launcher import change_launcher
from blindspot_gui.session.image import ImageChoice
from blindspot_gui.qt.pixel_inspector import PixelInspector
from blindspot_gui.qt.settings import user_settings
from blindspot_gui.qt.tabs.blindspots import BlindspotsTab
from blindspot_gui.qt.tabs.experiments import ExperimentsView
from blindspot_gui.qt.tabs.unit_explorer import UnitExplorer
from blindspot_gui.qt.task_runner import TaskRunner
from blindspot_gui.qt.tour import install_tour
from blindspot_gui.qt.widgets.blank_screen import BlankScreen
from blindspot_gui.qt.widgets.pictures_first import scrolling
from blindspot_gui.qt.window_layout import WindowLayout
from blindspot_gui.session.presentation import Presentation

WINDOW_TITLE = "Blind spots of neural networks"
CLOSE_WAIT_MS = 700
"""How long closing waits for workers to honour Cancel (a stuck one is left behind: see app.main)."""
DOCK_WIDTH = 400
"""Width of the panels' column on first start (the network list above the image source)."""


class MainWindow(WindowLayout, QMainWindow):
    """Top-level window of blindspot-gui."""

    sig_message = Signal(str)
    """A message shown to the user in a dialog (errors and warnings)."""

    def __init__(self, settings: QSettings | None = None, parent=None, show_dialogs: bool = True):
        super().__init__(parent)
        self.settings = settings if settings is not None else user_settings()
        self.show_dialogs = show_dialogs
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1500, 950)
        self.setAcceptDrops(True)
        self.runner = TaskRunner(self)
        self.test_set = load_mnist("test")
        self.demo = None
        """The talk demo (app.DemoLoop) while one runs: Space pauses it, Esc stops it."""
        self.tour = None
        """The guided tour, if one is installed: while its ``active`` is true, Page Down / Page Up call its
        ``next()`` / ``back()`` (a presenter remote's buttons) instead of stepping the image."""
        self.presentation = Presentation(QApplication.font().pointSize())
        """Window, full screen or presenting; blanked; touring; text size: what the window shows, one state."""
        self.blank = BlankScreen(self)
        self.blank.sig_lift_requested.connect(self.presentation.lift_blank)
        self._build_tabs()
        self.inspector = PixelInspector(self.blindspots.viewer)
        self.inspector.sig_pixel.connect(self._show_pixel)
        install_tour(self)
        self.presentation.changed.connect(self.show_presentation)
        self._build_actions()
        self._remember_font_factors()
        self._size_window_for_tab()
        self._default_state = self.saveState()
        self._restore_layout()
        self.blindspots.restore_settings(DEFAULT_MODEL)
        self.runner.start("warm-up", warm_up)

    # --- construction ----------------------------------------------------------------------------
    def _build_tabs(self) -> None:
        self.blindspots = BlindspotsTab(self.runner, self.settings, self.test_set, self.show_dialogs)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.tabs.addTab(self.blindspots, "Blind spots")
        self.setCentralWidget(self.tabs)
        self.model_dock = self._dock("Networks", "model_dock", self.blindspots.network_panel,
                                     Qt.DockWidgetArea.LeftDockWidgetArea)
        self.image_dock = self._dock("Image", "image_dock", self.blindspots.image_sources,
                                     Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.model_dock, self.image_dock, Qt.Orientation.Vertical)  # the images get the height
        self.resizeDocks([self.model_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.unit_explorer = UnitExplorer(self.runner, self.blindspots.models, self.test_set,
                                          self.blindspots.network_names_with_weights())
        self.tabs.addTab(self.unit_explorer, "Unit explorer")
        self.experiments_view = ExperimentsView(self.runner, lambda: self.blindspots.models.device)
        self.experiments_view.controls.remember_where(self.settings)
        self.tabs.addTab(self.experiments_view, "Experiments")
        self.blindspots.sig_error.connect(self.show_message)
        self.blindspots.sig_status.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.blindspots.sig_networks_changed.connect(self._update_explorer_networks)
        self.unit_explorer.sig_image_requested.connect(self._attack_digit)
        self.blindspots.pathway_view.sig_unit_requested.connect(self._show_unit)
        self.unit_explorer.sig_photo_requested.connect(self._attack_photo)
        self.experiments_view.sig_model_trained.connect(self.blindspots.on_model_trained)
        self.experiments_view.sig_error.connect(self.show_message)
        self.tabs.currentChanged.connect(lambda _: self.show_panels())

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(scrolling(widget, f"{name}_area"))  # larger text scrolls in the panel, never widens the window
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # View brings a closed panel back
        dock.visibilityChanged.connect(lambda _: self.fit_images_soon())
        dock.topLevelChanged.connect(lambda _: self.fit_images_soon())
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, shortcut, slot, name: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        if name:
            action.setObjectName(name)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar, view = self.menuBar(), self.blindspots
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open image…", QKeySequence.StandardKey.Open, self._on_tab(view.open_image_dialog))
        self._action(file_menu, "&Your own network…", "Ctrl+L", view.ask_own_network)
        file_menu.addSeparator()
        self._action(file_menu, "Save the three &images as PNG…", "Ctrl+S", lambda: view.export_triptych())
        self._action(file_menu, "Save the &adversarial image (8-bit PNG)…", "Ctrl+Shift+S",
                     lambda: view.export_adversarial())
        self._action(file_menu, "Save the search &record (JSON)…", "Ctrl+J", lambda: view.export_record())
        self._action(file_menu, "&Figure sheet for slides…", "Ctrl+Shift+F", lambda: view.export_figure_sheets(),
                     "action_figure_sheets")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "Ctrl+Q", self.close, "action_quit")  # Qt's standard Quit key is none on Windows
        search_menu = bar.addMenu("&Search")
        self._action(search_menu, "&Run", "Space", self._run_on_tab, "action_run")
        self._action(search_menu, "&Cancel", "Esc", self._cancel_on_tab, "action_cancel")
        self._action(search_menu, "Co&mpare methods…", "Ctrl+M", self._on_tab(view.compare_methods), "action_compare")
        self._action(search_menu, "&Next image", "Right", self._on_tab(lambda: view.step_image(1)), "action_next")
        self._action(search_menu, "&Previous image", "Left", self._on_tab(lambda: view.step_image(-1)),
                     "action_previous")
        self._action(search_menu, "R&andom image", "R", self._on_tab(view.random_image))
        self.strength_actions = (
            self._action(search_menu, "&Stronger change (Strength)", "Up", lambda: self._step_strength(1),
                         "action_stronger"),
            self._action(search_menu, "&Weaker change (Strength)", "Down", lambda: self._step_strength(-1),
                         "action_weaker"))
        QApplication.instance().focusChanged.connect(self._arrows_follow_focus)
        search_menu.addSeparator()
        self._action(search_menu, "Step &forward (presenter remote)", "PgDown", lambda: self.presenter_step(1),
                     "action_page_down")
        self._action(search_menu, "Step &back (presenter remote)", "PgUp", lambda: self.presenter_step(-1),
                     "action_page_up")
        experiment_menu = bar.addMenu("E&xperiments")
        self._action(experiment_menu, "&Run the chosen experiment", [QKeySequence("Ctrl+Return"),
                                                                     QKeySequence("Ctrl+Enter")],
                     self._run_experiment, "action_run_experiment")
        self._action(experiment_menu, "&Cancel the experiment", "Ctrl+.", self.experiments_view.cancel)
        view_menu = bar.addMenu("&View")
        presentation = self.presentation
        self._action(view_menu, "&Full screen", "F11", presentation.toggle_full_screen, "action_full_screen")
        self._action(view_menu, "Start &presenting (full screen, big pictures)", "F5", presentation.toggle_presenting,
                     "action_present")
        self.stop_presenting_action = self._action(view_menu, "S&top presenting", None, presentation.stop_presenting,
                                                   "action_stop_presenting")
        self.stop_presenting_action.setEnabled(False)
        self._action(view_menu, "&Blank the screen", "B", presentation.toggle_blank, "action_blank")
        self._action(view_menu, "F&it images", "Ctrl+0", self.fit_images, "action_fit_images")
        self._action(view_menu, "&Actual pixels (1:1)", "Ctrl+1", self._on_tab(self.inspector.actual_pixels),
                     "action_actual_pixels")
        viewer = self.blindspots.viewer
        self._action(view_menu, "Fl&icker: original in the adversarial's place", "F",
                     self._on_tab(lambda: viewer.set_flicker(not viewer.flickering)), "action_flicker")
        self._action(view_menu, "&Larger text", [QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")],
                     lambda: self.change_font_size(+1), "action_larger")
        self._action(view_menu, "&Smaller text", "Ctrl+-", lambda: self.change_font_size(-1), "action_smaller")
        view_menu.addSeparator()
        view_menu.addAction(self.model_dock.toggleViewAction())
        view_menu.addAction(self.image_dock.toggleViewAction())
        self._action(view_menu, "&Reset layout", "Ctrl+Shift+R", self.reset_layout, "action_reset_layout")
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Tour: the paper in nine live steps", "F1", lambda: self.tour.start(), "action_tour")
        if sys.platform.startswith("linux"):  # a freedesktop launcher (launcher.py); other systems make shortcuts
            help_menu.addSeparator()
            self._action(help_menu, "&Add to the applications menu", None, lambda: self.put_in_applications_menu(True),
                         "action_install_launcher")
            self._action(help_menu, "&Remove from the applications menu", None, lambda: self.put_in_applications_menu(False),
                         "action_uninstall_launcher")

    def put_in_applications_menu(self, install: bool) -> None:
        """Put this installation in the desktop's applications menu, or take it out (a few small files)."""
        done, message = change_launcher(install)
        text = message[0].upper() + message[1:] + "."
        if done:
            self.statusBar().showMessage(text, 10000)
        else:
            self.show_message(text)

    # --- routing keys and requests to the tabs ---------------------------------------------------------
    def _on_tab(self, handler):
        """The keys for images and searching act only while the blind-spot tab is shown."""
        def act(*_):
            if self.tabs.currentWidget() is self.blindspots:
                handler()
        return act

    def presenter_step(self, offset: int) -> None:
        """Page Down / Page Up (a presenter remote): the tour's next or previous step while a tour runs, else the
        next or previous image on the blind-spot tab."""
        tour = self.tour
        if tour is not None and getattr(tour, "active", False):
            tour.next() if offset > 0 else tour.back()
        elif self.tabs.currentWidget() is self.blindspots:
            self.blindspots.step_image(offset)

    def _run_on_tab(self) -> None:
        """Space: pause or resume a running demo, else search on the blind-spot tab."""
        if self.demo is not None and self.demo.active:
            self.demo.toggle_pause()
        elif self.tabs.currentWidget() is self.blindspots:
            self.blindspots.run_search()

    def _cancel_on_tab(self) -> None:
        """Esc: stop a running demo and cancel the search (or a download); with nothing to cancel, stop presenting."""
        if self.demo is not None and self.demo.active:
            self.demo.stop()
        if not any(self.blindspots.is_running(slot) for slot in ("search", "download")):
            self.presentation.escape()
        self.blindspots.cancel_search()

    def _run_experiment(self) -> None:
        self.tabs.setCurrentWidget(self.experiments_view)
        self.experiments_view.run()

    def _explorer_network(self) -> str | None:
        return self.unit_explorer.model.currentText() or None

    def _arrows_follow_focus(self, _old, new) -> None:
        """Up / Down belong to a focused list, choice, number or slider; elsewhere they step the strength."""
        own = isinstance(new, (QComboBox, QAbstractSpinBox, QAbstractItemView, QAbstractSlider))
        for action in self.strength_actions:
            action.setEnabled(not own)

    def _step_strength(self, steps: int) -> None:
        """Up / Down: the Strength tab comes forward and its slider moves one step."""
        view = self.blindspots
        if self.tabs.currentWidget() is view and view.strength_view.slider.isEnabled():
            view.result_views.setCurrentWidget(view.strength_view)
            view.strength_view.step(steps)

    def _show_unit(self, layer: str, unit: int) -> None:
        """A unit of the Layers view, in the unit explorer: the images that excite it most."""
        if self.unit_explorer.show_unit(self.blindspots.network_name, layer, unit):
            self.tabs.setCurrentWidget(self.unit_explorer)

    def _attack_digit(self, choice: ImageChoice) -> None:
        """A double-clicked digit of the unit explorer, attacked with a digit network (the explorer's, if need be)."""
        self.tabs.setCurrentWidget(self.blindspots)
        classifier = self.blindspots.classifier
        if (classifier is None or not classifier.is_digit_network) and self._explorer_network():
            self.blindspots.network_panel.select(self._explorer_network())
        self.blindspots.use_digit(choice)

    def _attack_photo(self, path: str) -> None:
        """A double-clicked photo of the unit explorer, attacked with the explorer's photo network."""
        self.tabs.setCurrentWidget(self.blindspots)
        name = self._explorer_network()
        if name and name != self.blindspots.network_name:
            self.blindspots.network_panel.select(name)
        self.blindspots.photo_source.open_path(path)

    def _update_explorer_networks(self) -> None:
        self.unit_explorer.models = self.blindspots.models
        self.unit_explorer.set_model_names(self.blindspots.network_names_with_weights(), reload=False)

    # --- drops, messages, closing ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [url for url in event.mimeData().urls() if url.isLocalFile()]
        if urls:
            self.tabs.setCurrentWidget(self.blindspots)
            self.blindspots.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def _show_pixel(self, text: str) -> None:
        """The pixel under the pointer in the status bar (while it is over a picture)."""
        bar = self.statusBar()
        if text:
            bar.showMessage(text)
        elif bar.currentMessage().startswith("Pixel ("):
            bar.clearMessage()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)
        self.sig_message.emit(text)
        if self.show_dialogs:
            QMessageBox.warning(self, WINDOW_TITLE, text)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.blank.cover()
        self.fit_images_soon()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            self.fit_images_soon()

    def closeEvent(self, event) -> None:
        before = self.tour.before if self.tour.active else None
        self.tour.leave()  # the user's own choices are what is remembered, never the tour's
        self.save_settings()
        if before is not None:
            before.remember(self.settings)
        self.runner.shutdown(CLOSE_WAIT_MS)
        super().closeEvent(event)
