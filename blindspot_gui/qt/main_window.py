"""The main window: models on the left, images on top, the blind-spot viewer in the middle, search and transfer below.

It owns no computation: every search, training run, noise test and transfer check is a core
function started through the TaskRunner, and the window only shows what comes back.
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from blindspot_gui.core.attack.noise import gaussian_noise_error
from blindspot_gui.core.attack.search import AttackConfig, AttackResult, SearchProgress, blindspot_search
from blindspot_gui.core.data import MNIST_CLASS_NAMES, load_mnist
from blindspot_gui.core.files import atomic_write, atomic_write_json
from blindspot_gui.core.images import save_grey_png
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.core.monitor import Monitor, ScaledMonitor
from blindspot_gui.core.training.loop import warm_up
from blindspot_gui.core.training.plain import train_model
from blindspot_gui.core.attack.transfer import transfer_predictions
from blindspot_gui.core.models.weights_io import UntrustedCodeError
from blindspot_gui.core.models.zoo_weights import save_model, user_models_dir
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.mnist_zoo import DEFAULT_MODEL, find_spec
from blindspot_gui.qt.blindspot_view import BlindspotView
from blindspot_gui.qt.tabs.experiments import ExperimentsView
from blindspot_gui.qt.image_source import ImageChoice, ImageSource
from blindspot_gui.qt.model_panel import ModelPanel
from blindspot_gui.qt.photo_view import PhotoView
from blindspot_gui.qt.search_panel import SearchPanel
from blindspot_gui.qt.settings import read_bytes, read_int, read_text, user_settings
from blindspot_gui.qt.task_runner import TaskRunner, describe_error
from blindspot_gui.qt.transfer_view import TransferView
from blindspot_gui.qt.trust import ask_trust
from blindspot_gui.qt.tabs.unit_explorer import UnitExplorer

WINDOW_TITLE = "Blind spots of neural networks"
NOISE_DRAWS = 100
SEARCH_ANIMATION_INTERVAL = 0.02
"""Seconds between two frames of the search's animation (and points of its distortion curve)."""
FONT_RANGE = (8, 32)
CLOSE_WAIT_MS = 700
"""How long closing waits for workers to honour Cancel (a stuck one is left behind: see app.main)."""
GOOD, BAD = "#1a7f37", "#c0392b"


class MainWindow(QMainWindow):
    """Top-level window of blindspot-gui."""

    sig_search_finished = Signal(object)
    """An AttackResult, once a search has ended (completed or cancelled)."""
    sig_transfer_shown = Signal()
    sig_noise_shown = Signal(float)
    sig_training_finished = Signal(str)
    sig_message = Signal(str)
    """A message shown to the user in a dialog (errors and warnings)."""
    sig_exported = Signal(str)
    """The path of an adversarial image saved (and checked) in the background."""
    sig_network_added = Signal(str)
    """The name under which a user's weights file joined the Networks panel."""

    def __init__(self, settings: QSettings | None = None, parent=None, show_dialogs: bool = True):
        super().__init__(parent)
        self.settings = settings if settings is not None else user_settings()
        self.show_dialogs = show_dialogs
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(1500, 950)
        self.setAcceptDrops(True)
        self.runner = TaskRunner(self)
        self.models = ModelCache()
        self.test_set = load_mnist("test")
        self.choice: ImageChoice | None = None
        self.original_probabilities: np.ndarray | None = None
        self.result: AttackResult | None = None
        self.result_model: str | None = None
        self.search_started = 0.0
        self._state_before_full_screen = None
        self.demo = None
        """The talk demo (app.DemoLoop) while one runs: Space pauses it, Esc stops it."""

        self._build_widgets()
        self._build_actions()
        self._remember_font_factors()
        self._default_state = self.saveState()
        self._restore_settings()
        self.image_source.choose_index(read_int(self.settings, "image/index", 0, 0, len(self.test_set) - 1))
        self.runner.start("warm-up", warm_up)

    # --- construction ----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.viewer = BlindspotView(MNIST_CLASS_NAMES)
        self.search_panel = SearchPanel(MNIST_CLASS_NAMES)
        self.transfer_view = TransferView(MNIST_CLASS_NAMES)
        lower = QWidget()
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.search_panel, stretch=3)
        lower_layout.addWidget(self.transfer_view, stretch=2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.viewer)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 260])
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.tabs.addTab(splitter, "Blind spots: digits")
        self.setCentralWidget(self.tabs)

        self.model_panel = ModelPanel()
        self.model_dock = self._dock("Networks", "model_dock", self.model_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.image_source = ImageSource(self.test_set, self.runner)
        self.image_dock = self._dock("Image", "image_dock", self.image_source, Qt.DockWidgetArea.TopDockWidgetArea)
        self.resizeDocks([self.model_dock], [400], Qt.Orientation.Horizontal)

        self.model_panel.sig_model_selected.connect(self._on_model_panel_selected)
        self.model_panel.sig_train_requested.connect(self.start_training)
        self.model_panel.sig_cancel_training_requested.connect(lambda: self.runner.cancel("training"))
        self.model_panel.sig_load_weights_requested.connect(self._on_load_weights_requested)
        self.model_panel.sig_device_changed.connect(self._on_device_changed)
        self.photo_view = PhotoView(self.runner, self.settings, self.show_dialogs)
        self.photo_view.sig_error.connect(self.show_message)
        self.photo_view.sig_model_ready.connect(self._on_photo_model_ready)
        self.photo_view.sig_weights_checked.connect(   # more networks to list; the one shown is unchanged
            lambda: self.unit_explorer.set_model_names(self._explorer_model_names(), reload=False))
        self.unit_explorer = UnitExplorer(self.runner, self.models, self.test_set, self._explorer_model_names())
        self.tabs.addTab(self.photo_view, "Blind spots: photos")
        self.tabs.addTab(self.unit_explorer, "Unit explorer")
        self.unit_explorer.sig_image_requested.connect(self._on_unit_image_requested)
        self.unit_explorer.sig_photo_requested.connect(self._on_unit_photo_requested)
        self.experiments_view = ExperimentsView(self.runner)
        self.tabs.addTab(self.experiments_view, "Experiments")
        self.experiments_view.sig_model_trained.connect(self._on_model_trained)
        self.experiments_view.sig_error.connect(self.show_message)
        self._docks_hidden_for_tab: list[QDockWidget] = []
        self.tabs.currentChanged.connect(lambda _: self._fit_docks_to_tab())
        self.tabs.currentChanged.connect(lambda _: self._show_network_of_tab())
        self.image_source.sig_image_chosen.connect(self._on_image_chosen)
        self.image_source.sig_error.connect(self.show_message)
        self.search_panel.sig_run_requested.connect(self.run_search)
        self.search_panel.sig_cancel_requested.connect(self.cancel_search)
        self.search_panel.sig_noise_toggled.connect(self._on_noise_toggled)
        self.viewer.sig_magnification_changed.connect(
            lambda factor: self.settings.setValue("view/magnification", 0 if factor is None else factor))

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)  # View brings a closed panel back
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
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open image…", QKeySequence.StandardKey.Open, self._open_image)
        self._action(file_menu, "&Load weights…", "Ctrl+L", self._on_load_weights_requested)
        file_menu.addSeparator()
        self._action(file_menu, "Save the three &images as PNG…", "Ctrl+S", self.export_triptych)
        self._action(file_menu, "Save the &adversarial image (8-bit PNG)…", "Ctrl+Shift+S", self.export_adversarial)
        self._action(file_menu, "Save the search &record (JSON)…", "Ctrl+J", self.export_record)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        search_menu = bar.addMenu("&Search")
        self._action(search_menu, "&Run", "Space", self._run_on_tab, "action_run")
        self._action(search_menu, "&Cancel", "Esc", self._cancel_on_tab, "action_cancel")
        self._action(search_menu, "&Next image", "Right", self._on_blindspot_tab(lambda: self.image_source.step(1)),
                     "action_next")
        self._action(search_menu, "&Previous image", "Left",
                     self._on_blindspot_tab(lambda: self.image_source.step(-1)), "action_previous")
        self._action(search_menu, "R&andom image", "R", self._on_blindspot_tab(self.image_source.choose_random))
        experiment_menu = bar.addMenu("E&xperiments")
        self._action(experiment_menu, "&Run the chosen experiment", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
                     self._run_experiment, "action_run_experiment")
        self._action(experiment_menu, "&Cancel the experiment", "Ctrl+.", self.experiments_view.cancel)
        view_menu = bar.addMenu("&View")
        self._action(view_menu, "&Full screen", "F11", self.toggle_full_screen)
        self._action(view_menu, "&Larger text", [QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")],
                     lambda: self.change_font_size(+1), "action_larger")
        self._action(view_menu, "&Smaller text", "Ctrl+-", lambda: self.change_font_size(-1), "action_smaller")
        view_menu.addSeparator()
        view_menu.addAction(self.model_dock.toggleViewAction())
        view_menu.addAction(self.image_dock.toggleViewAction())
        self._action(view_menu, "&Reset layout", "Ctrl+Shift+R", self.reset_layout, "action_reset_layout")

    def _on_blindspot_tab(self, handler):
        """The keys for searching act only while the blind-spot tab is shown."""
        def act(*_):
            if self.tabs.currentIndex() == 0:
                handler()
        return act

    def _run_on_tab(self) -> None:
        """Space: pause or resume a running demo, else search on whichever blind-spot tab is shown."""
        if self.demo is not None and self.demo.active:
            self.demo.toggle_pause()
        elif self.tabs.currentIndex() == 0:
            self.run_search()
        elif self.tabs.currentWidget() is self.photo_view:
            self.photo_view.run()

    def _cancel_on_tab(self) -> None:
        """Esc: stop a running demo, and cancel the search of the tab shown."""
        if self.demo is not None and self.demo.active:
            self.demo.stop()
        self.cancel_search()
        if self.tabs.currentWidget() is self.photo_view:
            self.photo_view.cancel()

    def _open_image(self) -> None:
        if self.tabs.currentWidget() is self.photo_view:
            self.photo_view.open_photo_dialog()
        else:
            self.image_source.open_file.click()

    def _fit_docks_to_tab(self) -> None:
        """The image and network docks serve the digits tab; the photo and Experiments tabs get the whole window."""
        if self.tabs.currentWidget() in (self.experiments_view, self.photo_view):
            self._docks_hidden_for_tab = self._docks_hidden_for_tab or [
                dock for dock in (self.model_dock, self.image_dock) if dock.isVisible()]
            for dock in self._docks_hidden_for_tab:
                dock.hide()
        else:
            for dock in self._docks_hidden_for_tab:
                dock.show()
            self._docks_hidden_for_tab = []

    def _run_experiment(self) -> None:
        self.tabs.setCurrentWidget(self.experiments_view)
        self.experiments_view.run()

    def _on_unit_image_requested(self, choice: ImageChoice) -> None:
        self.tabs.setCurrentIndex(0)
        if choice.index is not None:
            self.image_source.choose_index(choice.index)
        else:
            self._on_image_chosen(choice)

    # --- settings --------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        """Restore what was remembered; any value that is damaged or out of range is ignored for the default."""
        geometry, state = read_bytes(self.settings, "window/geometry"), read_bytes(self.settings, "window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._fit_on_screen()
        if state is not None and not self.restoreState(state):
            self.restoreState(self._default_state)
        self._make_docks_reachable()
        magnification = read_int(self.settings, "view/magnification", 10, 0, 100)
        self.viewer.set_magnification(None if magnification == 0 else magnification)
        size = read_int(self.settings, "view/font_size", 0, *FONT_RANGE)
        if size:
            self.set_font_size(size)
        last = read_text(self.settings, "model/last", DEFAULT_MODEL)
        if not (self.model_panel.is_available(last) and self.model_panel.select(last)):
            self.model_panel.select(DEFAULT_MODEL)

    def _fit_on_screen(self) -> None:
        """Keep the window inside the screen it opens on (a geometry saved on a larger screen is shrunk and moved)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        available = screen.availableGeometry()
        frame = self.frameGeometry()
        if available.contains(frame):
            return
        self.resize(min(self.width(), available.width()), min(self.height(), available.height()))
        frame = self.frameGeometry()
        frame.moveCenter(available.center())
        self.move(max(frame.left(), available.left()), max(frame.top(), available.top()))

    def _make_docks_reachable(self) -> None:
        """Whatever the saved state says, every panel can be brought back from the View menu, docked and on screen."""
        screen = self.screen() or QApplication.primaryScreen()
        for dock in (self.model_dock, self.image_dock):
            if dock.isFloating() and screen is not None and not screen.availableGeometry().intersects(dock.geometry()):
                dock.setFloating(False)

    def reset_layout(self) -> None:
        """Every panel back where it was on first start, shown, and the window fitted to the screen."""
        if self.isFullScreen():
            self.toggle_full_screen()
        self._docks_hidden_for_tab = []
        self.restoreState(self._default_state)
        for dock in (self.model_dock, self.image_dock):
            dock.setFloating(False)
            dock.show()
        self._make_docks_reachable()
        self._fit_docks_to_tab()
        self.statusBar().showMessage("Layout reset: every panel is back in its place.", 5000)

    def save_settings(self) -> None:
        if self.isFullScreen():
            self.toggle_full_screen()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self._user_state())
        self.settings.setValue("view/font_size", QApplication.font().pointSize())
        if self.choice is not None and self.choice.index is not None:
            self.settings.setValue("image/index", self.choice.index)
        self.settings.sync()

    def _user_state(self):
        """The dock layout as the user chose it: panels hidden only because of the tab shown count as shown."""
        hidden = [dock for dock in self._docks_hidden_for_tab if dock.isHidden()]
        for dock in hidden:
            dock.show()
        state = self.saveState()
        for dock in hidden:
            dock.hide()
        return state

    # --- fonts and full screen ---------------------------------------------------------------------
    def _remember_font_factors(self) -> None:
        """Note each widget's font size relative to the application's, so big labels stay big when scaling."""
        base = max(QApplication.font().pointSizeF(), 1.0)
        for widget in self.findChildren(QWidget):
            size = widget.font().pointSizeF()
            widget.setProperty("font_factor", size / base if size > 0 else 1.0)

    def set_font_size(self, points: int) -> None:
        points = min(max(points, FONT_RANGE[0]), FONT_RANGE[1])
        font = QFont(QApplication.font())
        font.setPointSize(points)
        QApplication.setFont(font)
        for widget in self.findChildren(QWidget):
            factor = widget.property("font_factor")
            scaled = QFont(widget.font())
            scaled.setPointSizeF(points * (float(factor) if factor is not None else 1.0))
            widget.setFont(scaled)
        self.settings.setValue("view/font_size", points)

    def change_font_size(self, step: int) -> None:
        self.set_font_size(QApplication.font().pointSize() + step)

    def toggle_full_screen(self) -> None:
        """Full screen for talks: the docks step aside so the images get the room (View menu brings them back)."""
        if self.isFullScreen():
            self.showNormal()
            if self._state_before_full_screen is not None:
                self.restoreState(self._state_before_full_screen)
        else:
            self._state_before_full_screen = self.saveState()
            self.model_dock.hide()
            self.image_dock.hide()
            self.showFullScreen()

    # --- the active model and image ------------------------------------------------------------------
    @property
    def active_model_name(self) -> str | None:
        return self.model_panel.selected_name()

    def _usable_model_name(self) -> str | None:
        """The selected network's name if it has weights (it is loaded in a worker when first used)."""
        name = self.active_model_name
        return name if name is not None and self.model_panel.is_available(name) else None

    def _abandon_search(self) -> None:
        """Drop a running search and what follows from it (it would belong to another image or network)."""
        for slot in ("search", "transfer", "noise"):
            self.runner.replace(slot)
        self.search_panel.set_running(False)

    def _on_model_panel_selected(self, name: str) -> None:
        self._abandon_search()
        self.settings.setValue("model/last", name)
        if not self.model_panel.is_available(name):
            self.statusBar().showMessage(f"{name} has no weights yet: press “Train selected model”.")
        else:
            self.statusBar().showMessage(f"Network: {name}")
        self._show_original()

    def _on_image_chosen(self, choice: ImageChoice) -> None:
        self._abandon_search()
        self.choice = choice
        self._show_original()

    def _show_original(self) -> None:
        """Show the chosen image, clear the previous result, and ask the active network for its answer (in a worker)."""
        self.result = None
        self.original_probabilities = None
        self.transfer_view.clear()
        self.search_panel.show_status("ready")
        self.runner.replace("classify")
        if self.choice is None:
            return
        choice, name, models = self.choice, self._usable_model_name(), self.models
        self.viewer.show_original(choice.pixels, "no network" if name is None else "…", None)
        self.viewer.show_noise(None)
        if name is not None:
            self.runner.start("classify", lambda monitor: models.get(name).probabilities(choice.pixels),
                              on_finished=lambda probabilities: self._show_answer(name, choice, probabilities),
                              on_failed=lambda message: self.show_message(f"{name} could not classify the image: "
                                                                          f"{message}"))

    def _show_answer(self, name: str, choice: ImageChoice, probabilities: np.ndarray) -> None:
        self.original_probabilities = probabilities
        predicted = int(probabilities.argmax())
        text = f"says {predicted}  ({100 * probabilities[predicted]:.0f}%)"
        wrong = choice.label is not None and predicted != choice.label
        self.viewer.original_panel.show_answer(text + ("  — wrong!" if wrong else ""), probabilities)
        if not self.runner.is_running("search") and self.result is None:
            self.viewer.show_readout(
                f"{choice.source}" + (f" (a {choice.label})" if choice.label is not None else "")
                + f". {name} says {predicted}. Press Run to find the smallest change that fools it.")

    # --- the search ------------------------------------------------------------------------------------
    def run_search(self) -> None:
        name, models = self._usable_model_name(), self.models
        if name is None or self.choice is None:
            self.show_message("Choose a network with weights and an image first.")
            return
        target = self.search_panel.target_choice()
        pixels = torch.from_numpy(self.choice.pixels).reshape(1, 1, 28, 28)
        labels = None if self.choice.label is None else [self.choice.label]
        config = AttackConfig(seed=random.randrange(2**31), partial_interval=SEARCH_ANIMATION_INTERVAL)
        self._abandon_search()
        self.result = None
        self.result_model = self.active_model_name
        self.search_started = time.perf_counter()
        self.search_panel.set_running(True)
        self.viewer.show_noise(None)
        self.transfer_view.clear()
        def job(monitor):
            tracing = TracingMonitor(monitor)
            result = blindspot_search(models.get(name), pixels, target, labels, config=config, monitor=tracing)[0]
            return result, tracing.trace

        self.runner.start(
            "search", job,
            on_finished=self._on_search_finished,
            on_progress=self.search_panel.show_progress,
            on_partial=self._on_search_partial,
            on_failed=self._on_search_failed,
        )

    def cancel_search(self) -> None:
        if self.runner.is_running("search"):
            self.runner.cancel("search")
            self.search_panel.show_status("cancelling…")

    def _on_search_partial(self, progress: SearchProgress) -> None:
        distortion = float(progress.best_distortion[0])
        self.search_panel.add_point(progress.total_iterations, distortion)
        if np.isfinite(distortion) and self.choice is not None:
            adversarial = progress.best_adversarial[0, 0]
            self.viewer.show_adversarial(adversarial, adversarial - self.choice.pixels,
                                         f"searching… RMS {distortion:.4f}")

    def _on_search_failed(self, message: str) -> None:
        self.search_panel.set_running(False)
        self.search_panel.show_status("failed")
        self.show_message(f"The search failed: {message}")

    def _on_search_finished(self, outcome) -> None:
        result, trace = outcome
        self.search_panel.set_running(False)
        self.result = result
        seconds = time.perf_counter() - self.search_started
        self.search_panel.show_progress(1.0, "cancelled" if result.cancelled else "done")
        self.search_panel.show_trace(trace + ([(result.steps, result.distortion)]
                                              if result.success and result.distortion > 0 else []))
        self._show_result(result, seconds)
        self.sig_search_finished.emit(result)
        if result.success and result.distortion > 0:
            self._start_transfer(result)
            if self.search_panel.noise.isChecked():
                self._start_noise(result)

    def _show_result(self, result: AttackResult, seconds: float) -> None:
        adversarial, perturbation = result.adversarial[0], result.perturbation[0]
        after = int(result.adversarial_prediction)
        if not result.success:
            self.viewer.show_adversarial(adversarial, perturbation, "not fooled", result.probabilities_after,
                                         result.target, BAD)
            self.viewer.show_readout(f"No blind spot found: {result.message}.")
            return
        text = f"says {after}  ({100 * result.probabilities_after[after]:.0f}%)"
        if result.cancelled:
            text = "cancelled: " + text
        self.viewer.show_adversarial(adversarial, perturbation, text, result.probabilities_after, result.target, BAD)
        if result.distortion == 0:
            self.viewer.show_readout(result.message.capitalize() + ".")
            return
        opening = (f"Cancelled after {seconds:.2f} s: {result.original_prediction} → {after} with the best change so "
                   f"far, not the smallest (Run finishes the search); "
                   if result.cancelled else f"Changed {result.original_prediction} → {after} with ")
        self.viewer.show_readout(
            f"{opening}distortion (RMS) {result.distortion:.4f}, L2 {result.l2:.3f}, L∞ {result.linf:.3f}, "
            f"c = {result.c:.3g}; {result.steps} L-BFGS steps ({result.iterations} iterations in all), "
            f"{result.function_evaluations} evaluations" + ("" if result.cancelled else f", {seconds:.2f} s"))

    # --- transfer and noise -----------------------------------------------------------------------------
    def _start_transfer(self, result: AttackResult) -> None:
        names = [name for name in self.model_panel.names() if self.model_panel.is_available(name)]
        original, adversarial, made_for = result.original[0], result.adversarial[0], self.result_model

        def job(monitor):
            models = {}
            for step, name in enumerate(names):
                monitor.check()
                models[name] = self.models.get(name)
                monitor.progress((step + 1) / len(names), f"loading {name}")
            return transfer_predictions(models, original, adversarial)

        self.runner.start("transfer", job,
                          on_finished=lambda rows: self._on_transfer_finished(rows, made_for),
                          on_failed=lambda message: self.show_message(f"Transfer check failed: {message}"))

    def _on_transfer_finished(self, rows, made_for: str) -> None:
        self.transfer_view.show_rows(rows, made_for)
        self.sig_transfer_shown.emit()

    def _on_noise_toggled(self, enabled: bool) -> None:
        if not enabled:
            self.runner.replace("noise")
            self.viewer.show_noise(None)
        elif self.result is not None and self.result.success and self.result.distortion > 0:
            self._start_noise(self.result)

    def _start_noise(self, result: AttackResult) -> None:
        reference, name = result.label, self.result_model

        def job(monitor):
            return gaussian_noise_error(self.models.get(name), result.original, [reference], result.distortion,
                                        draws=NOISE_DRAWS, seed=random.randrange(2**31), monitor=monitor)

        self.runner.start("noise", job, on_finished=self._on_noise_finished,
                          on_failed=lambda message: self.show_message(f"Noise test failed: {message}"))

    def _on_noise_finished(self, report) -> None:
        predicted = int(report.example_prediction[0])
        self.viewer.show_noise(report.example[0, 0],
                               f"says {predicted}  ({round(report.error_rate * report.draws)}/{report.draws} fooled)",
                               report.example_probabilities[0])
        self.viewer.noise_panel.title.setText(f"Noise, RMS {report.stddev[0]:.3f}")
        self.viewer.noise_panel.title.setToolTip("Gaussian noise with the same RMS as the perturbation")
        self.sig_noise_shown.emit(report.error_rate)

    # --- training and loading -----------------------------------------------------------------------------
    def start_training(self, name: str) -> None:
        try:
            spec = find_spec(name)
        except KeyError:
            self.show_message(f"{name} is not a zoo model; only zoo models can be trained here.")
            return
        self.model_panel.set_training(True)

        def job(monitor):
            result = train_model(spec, monitor, device=self.models.device)
            return save_model(result.model, spec, result.metadata, user_models_dir())

        self.runner.start("training", job,
                          on_progress=self.model_panel.show_training_progress,
                          on_partial=self._on_training_epoch,
                          on_finished=lambda path: self._on_training_finished(spec.name, path),
                          on_failed=self._on_training_failed,
                          on_cancelled=self._on_training_cancelled,
                          throttle_partials=False)

    def _on_training_epoch(self, report) -> None:
        """An EpochReport, or an AdvTrainReport of adversarial training."""
        if getattr(report, "stage", None) != "autoencoder pre-training":
            self.model_panel.add_epoch(report.epoch, report.loss, report.test_error)

    def _on_training_finished(self, name: str, path) -> None:
        self.model_panel.set_training(False)
        self._on_model_trained(name)
        self.statusBar().showMessage(f"Trained {name}; weights saved to {path}")
        self.sig_training_finished.emit(name)

    def _on_model_trained(self, name: str) -> None:
        """New weights for zoo model ``name`` are on disk: drop the old ones everywhere."""
        if name in (self.result_model, self.active_model_name):
            self._abandon_search()
        self.models.forget(name)
        self.model_panel.refresh()
        self._update_explorer_models()
        if self.active_model_name == name:
            self._show_original()

    def _on_training_failed(self, message: str) -> None:
        self.model_panel.set_training(False)
        self.show_message(f"Training failed: {message}")

    def _on_training_cancelled(self) -> None:
        self.model_panel.set_training(False)
        self.statusBar().showMessage("Training stopped; the previous weights are unchanged.")

    def _on_load_weights_requested(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", "", "Weights (*.safetensors *.pt *.pth);;All files (*)")
        if path:
            self.load_weights(path)

    def load_weights(self, path, trust_code: bool = False) -> None:
        """Read a user's weights file in the background; the network joins the panel once it has loaded.

        A TorchScript file is a program: it is loaded only after the user has said, for this file,
        that they trust it (``ask_trust``), and even then the core refuses code that touches files
        or processes. ``sig_network_added`` announces the new network's name; failures go to
        ``show_message``.
        """
        self.statusBar().showMessage(f"Loading {Path(path).name}…")
        self.runner.start("load-weights", lambda monitor: load_own_network(path, trust_code=trust_code, monitor=monitor),
                          on_finished=lambda loaded: self._add_user_network(path, loaded, loaded.description),
                          on_error=lambda error: self._on_weights_failed(path, error))

    def _on_weights_failed(self, path, error: BaseException) -> None:
        if isinstance(error, UntrustedCodeError):
            if self.ask_trust(path):
                self.load_weights(path, trust_code=True)
            else:
                self.statusBar().showMessage(f"Not loaded: {Path(path).name} (TorchScript, not trusted).", 10000)
            return
        self.show_message(describe_error(error))

    def ask_trust(self, path) -> bool:
        """Ask, for this one file, whether the user trusts a TorchScript program enough to run it."""
        return ask_trust(self, path, self.show_dialogs)

    def _add_user_network(self, path, model, kind: str) -> str:
        name, taken = Path(path).name, set(self.model_panel.names())
        for number in range(2, 1000):
            if name not in taken:
                break
            name = f"{Path(path).name} ({number})"
        self.models.put(name, model)
        self.model_panel.add_custom(name, f"Your file ({kind})")
        self.model_panel.select(name)
        self._update_explorer_models()
        self.sig_network_added.emit(name)
        return name

    def _explorer_model_names(self) -> list[str]:
        """Digit networks with weights, then photo networks with weights or loaded in the Photos tab."""
        digits = [name for name in self.model_panel.names() if self.model_panel.is_available(name)]
        statuses = self.photo_view.statuses
        photos = [name for name in self.photo_view.model_names()
                  if name in self.photo_view.loaded or name in statuses and statuses[name].available]
        return digits + photos

    def _update_explorer_models(self) -> None:
        self.unit_explorer.models = self.models
        self.unit_explorer.set_model_names(self._explorer_model_names())

    def _show_network_of_tab(self) -> None:
        """The status bar names the network the shown tab works with."""
        if self.tabs.currentWidget() is self.photo_view:
            self.statusBar().showMessage(f"Photo network: {self.photo_view.model_name or 'none yet'}")
        elif self.tabs.currentIndex() == 0 and self.active_model_name:
            self.statusBar().showMessage(f"Network: {self.active_model_name}")

    def _on_photo_model_ready(self, name: str) -> None:
        self._show_network_of_tab()
        self.models.put(name, self.photo_view.loaded[name])
        self.unit_explorer.set_model_names(self._explorer_model_names(), reload=False)

    def _on_unit_photo_requested(self, path: str) -> None:
        self.tabs.setCurrentWidget(self.photo_view)
        self.photo_view.open_photo(path)

    def _on_device_changed(self, device: str) -> None:
        self._abandon_search()
        previous, self.models = self.models, ModelCache(device)
        for name in self.model_panel.custom:  # the user's own files cannot be reloaded by name
            self.models.put(name, copy.deepcopy(previous.get(name)))
        for name, model in self.photo_view.loaded.items():  # the Photos tab's networks, as it loaded them
            self.models.put(name, model)
        self._update_explorer_models()
        self._show_original()

    # --- export ------------------------------------------------------------------------------------------------
    def _need_result(self) -> bool:
        if self.result is None or not self.result.success:
            self.show_message("Run a successful search first.")
            return False
        return True

    def _ask_path(self, title: str, default: str, pattern: str, given: str | None) -> str | None:
        if given:
            return given
        path, _ = QFileDialog.getSaveFileName(self, title, default, pattern)
        return path or None

    def export_triptych(self, path: str | None = None) -> bool:
        if not self._need_result() or not (path := self._ask_path("Save the images", "blindspot.png", "PNG (*.png)", path)):
            return False
        if not self.viewer.grab().save(path, "PNG"):
            self.show_message(f"Could not write {path}.")
            return False
        self.statusBar().showMessage(f"Saved {path}")
        return True

    def export_adversarial(self, path: str | None = None) -> bool:
        """Save the adversarial image as an 8-bit PNG and check that, rounded to 8 bits, it still fools the model.

        Both run in a worker (the check runs the network); True once started, ``sig_exported`` when done.
        """
        if not self._need_result() or not (path := self._ask_path(
                "Save the adversarial image", "adversarial.png", "PNG (*.png)", path)):
            return False
        result, name, models = self.result, self.result_model, self.models

        def job(monitor):
            rounded = []
            atomic_write(path, lambda stream: rounded.append(save_grey_png(result.adversarial[0], stream)))
            rounded = rounded[0]
            try:
                return int(models.get(name).probabilities(rounded).argmax()), None
            except Exception as error:  # saved; only the check failed
                return None, describe_error(error)

        self.runner.start("export", job, on_finished=lambda outcome: self._on_adversarial_saved(path, name, result,
                                                                                                 *outcome),
                          on_failed=lambda message: self.show_message(f"Could not write {path}: {message}"))
        return True

    def _on_adversarial_saved(self, path: str, name: str, result: AttackResult, answer: int | None,
                              problem: str | None) -> None:
        if answer is None:
            self.show_message(f"Saved {path}, but could not check it against {name}: {problem}")
        elif answer == result.adversarial_prediction:
            self.statusBar().showMessage(f"Saved {path}; rounded to 8 bits it still makes {name} say {answer}.")
        else:
            self.show_message(f"Saved {path}, but rounded to 8 bits the image no longer fools {name}: "
                              f"it says {answer} again. The blind spot is thinner than one grey level.")
        self.sig_exported.emit(path)

    def export_record(self, path: str | None = None) -> bool:
        if not self._need_result() or not (path := self._ask_path(
                "Save the search record", "blindspot.json", "JSON (*.json)", path)):
            return False
        record = {"model": self.result_model, "image": self.choice.source if self.choice else None,
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.result.to_record()}
        try:
            atomic_write_json(path, record, indent=2)
        except OSError as error:
            self.show_message(f"Could not write {path}: {error}")
            return False
        self.statusBar().showMessage(f"Saved {path}")
        return True

    # --- drops, messages, closing ------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [url for url in event.mimeData().urls() if url.isLocalFile()]
        if urls:
            if self.tabs.currentWidget() is self.photo_view:
                self.photo_view.open_photo(urls[0].toLocalFile())
            else:
                self.image_source.open_path(urls[0].toLocalFile())
            event.acceptProposedAction()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)
        self.sig_message.emit(text)
        if self.show_dialogs:
            QMessageBox.warning(self, WINDOW_TITLE, text)

    def closeEvent(self, event) -> None:
        self.save_settings()
        self.runner.shutdown(CLOSE_WAIT_MS)
        super().closeEvent(event)


class TracingMonitor(ScaledMonitor):
    """Passes everything to the task's monitor and keeps (iterations, best distortion) of every partial result."""

    def __init__(self, parent: Monitor):
        super().__init__(parent, 0.0, 1.0)
        self.trace: list[tuple[int, float]] = []

    def partial(self, result) -> None:
        if isinstance(result, SearchProgress):
            self.trace.append((result.total_iterations, float(result.best_distortion[0])))
        super().partial(result)
