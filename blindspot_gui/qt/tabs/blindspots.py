"""The blind-spot tab: one view for every network — choose a network and an image, search, see and save the result.

The tab is a controller (:class:`TaskController`): every load, decode, classification, search,
transfer check, noise test, export and training run is a function of ``blindspot_jobs`` started
on the task runner, and its progress, partial results, result or exception come back to the
``_progress_/_partial_/_done_/_failed_<slot>`` methods here. The network list (every zoo,
catalogue and user's network) and the image source (the MNIST browser for digit networks, the
sample photos and any image for the others) live in the window's docks; the triptych, the
probabilities, the search controls and the transfer table are the same widgets for every network.
"""

from __future__ import annotations

import dataclasses
import random
import time

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from blindspot_gui.core.attack.search import AttackResult, SearchProgress, config_for
from blindspot_gui.core.data import Dataset
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.qt.blindspot_view import BlindspotView
from blindspot_gui.qt.compare_view import CompareView
from blindspot_gui.qt.image_source import ImageChoice, ImageSource
from blindspot_gui.qt.model_panel import ModelPanel
from blindspot_gui.qt.widgets.camera_source import CameraSource, link_camera
from blindspot_gui.qt.widgets.photo_source import PhotoSource, network_geometry
from blindspot_gui.qt.search_panel import DEFAULT_PHOTO_TARGET, SearchPanel
from blindspot_gui.qt.widgets.pictures_first import PicturesFirst, scrolling
from blindspot_gui.qt.settings import read_int, read_text
from blindspot_gui.qt.tabs import blindspot_jobs as jobs
from blindspot_gui.qt.tabs.controller import TaskController
from blindspot_gui.qt.tabs.goal_results import GoalResults, failure_advice
from blindspot_gui.qt.tabs.networks import NetworkActions
from blindspot_gui.qt.tabs.result_readout import ResultReadout
from blindspot_gui.qt.tabs.results import ResultActions
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.transfer_view import TransferView

DIGIT_ANIMATION_INTERVAL = 0.02
"""Seconds between two frames of a digit search's animation (and points of its distortion curve)."""
PHOTO_ANIMATION_INTERVAL = 0.2
"""A photo search's best photo so far is redrawn five times a second."""
WHAT = {"network": "Loading the network", "classify": "Classifying the image", "search": "The search",
        "transfer": "Transfer check", "noise": "Noise test", "catalogue": "Looking for the photo networks' weights"}


class BlindspotsTab(QWidget, TaskController, NetworkActions, ResultActions, ResultReadout):
    """The "Blind spots" tab (see the module docstring); ``network_panel`` and ``image_sources`` go in docks."""

    sig_search_finished = Signal(object)
    """An AttackResult, once a search has ended (completed or cancelled)."""
    sig_answer_shown = Signal(str)
    """The image's name, once the network's answer for it is shown."""
    sig_transfer_shown = Signal()
    sig_noise_shown = Signal(float)
    sig_training_finished = Signal(str)
    sig_exported = Signal(str)
    """The path of an adversarial image saved (and checked) in the background."""
    sig_network_added = Signal(str)
    """The name under which a user's network joined the list."""
    sig_networks_changed = Signal()
    """Networks gained or lost weights, or the device changed (the unit explorer lists them)."""
    sig_error = Signal(str)
    sig_status = Signal(str, int)

    def __init__(self, runner, settings: QSettings, test_set: Dataset, show_dialogs: bool = True, parent=None):
        super().__init__(parent)
        self.runner, self.settings, self.test_set, self.show_dialogs = runner, settings, test_set, show_dialogs
        self.models = ModelCache()
        self.classifier: Classifier | None = None
        self.network_name: str | None = None
        self.choice: ImageChoice | None = None
        self.original_probabilities: np.ndarray | None = None
        self.result: AttackResult | None = None
        self.result_model: str | None = None
        self.search_started = 0.0
        self._run_when_ready = False
        self.compare_view: CompareView | None = None
        """The "Compare methods" dialog, made when first asked for."""
        self._build()
        self._connect()
        QTimer.singleShot(0, lambda: self.start("catalogue", jobs.look_around))  # nothing of it delays start-up

    def _build(self) -> None:
        self.viewer = BlindspotView()
        self.search_panel = SearchPanel(read_text(self.settings, "photos/target", DEFAULT_PHOTO_TARGET))
        self.search_panel.remember_goal(self.settings)
        self._add_compare_button()
        self.goal_results = GoalResults()
        self.transfer_view = TransferView()
        lower = QWidget()
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.search_panel, stretch=3)
        lower_layout.addWidget(self.transfer_view, stretch=2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.viewer)
        splitter.addWidget(scrolling(lower, "details"))
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 260])
        self.pictures_first = PicturesFirst(splitter, self.viewer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self.network_panel = ModelPanel()
        self.image_source = ImageSource(self.test_set, self.runner)
        self.photo_source = PhotoSource(self.runner)
        self.camera = CameraSource(self.runner, lambda: self.classifier, self)
        self.image_sources = QStackedWidget()
        self.image_sources.addWidget(self.image_source)
        self.image_sources.addWidget(self.photo_source)

    def _add_compare_button(self) -> None:
        """"Compare methods…" in the row of Run, Cancel and Save."""
        self.compare_button = QPushButton("Compare methods…")
        self.compare_button.setObjectName("compare_methods")
        self.compare_button.setToolTip("This image attacked by ours and by FGSM, DeepFool, DDN and C&W: the size of "
                                       "each change and its time (Ctrl+M)")
        panel = self.search_panel
        row = next(layout for layout in panel.findChildren(QHBoxLayout) if layout.indexOf(panel.save_button) >= 0)
        row.insertWidget(row.indexOf(panel.save_button) + 1, self.compare_button)

    def _connect(self) -> None:
        panel = self.network_panel
        panel.sig_model_selected.connect(self.select_network)
        panel.sig_train_requested.connect(self.start_training)
        panel.sig_cancel_training_requested.connect(lambda: self.cancel_task("training"))
        panel.sig_load_weights_requested.connect(self.ask_own_network)
        panel.sig_download_requested.connect(self.download)
        panel.sig_weights_file_requested.connect(self.ask_weights_file)
        panel.sig_device_changed.connect(self.change_device)
        for source in (self.image_source, self.photo_source):
            source.sig_image_chosen.connect(self.use_image)
            source.sig_error.connect(self.sig_error.emit)
        link_camera(self)
        self.search_panel.sig_run_requested.connect(self.run_search)
        self.search_panel.sig_cancel_requested.connect(self.cancel_search)
        self.search_panel.sig_noise_toggled.connect(self._on_noise_toggled)
        self.search_panel.sig_save_requested.connect(self.export_adversarial)
        self.compare_button.clicked.connect(self.compare_methods)
        self.viewer.sig_magnification_changed.connect(self._remember_magnification)
        self.viewer.sig_mode_changed.connect(lambda mode: self.settings.setValue("photos/mode", mode))

    # --- the task hooks: each slot's own method ----------------------------------------------------
    def _hook(self, kind: str, slot: str):
        return getattr(self, f"_{kind}_{slot.replace('-', '_')}", None)

    def _on_task_progress(self, slot: str, fraction: float, message: str) -> None:
        if (hook := self._hook("progress", slot)) is not None:
            hook(fraction, message)

    def _on_task_partial(self, slot: str, partial) -> None:
        if (hook := self._hook("partial", slot)) is not None:
            hook(partial)

    def _on_task_done(self, slot: str, result) -> None:
        if (hook := self._hook("done", slot)) is not None:
            hook(result)

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        if (hook := self._hook("failed", slot)) is not None:
            hook(error)
        else:
            self.sig_error.emit(f"{WHAT.get(slot, slot)} failed: {describe_error(error)}")

    def _on_task_cancelled(self, slot: str) -> None:
        if (hook := self._hook("cancelled", slot)) is not None:
            hook()

    # --- settings ----------------------------------------------------------------------------------------
    def restore_settings(self, default_network: str) -> None:
        """What was remembered (a damaged or out-of-range value gives the default): network, image, display."""
        grey = read_int(self.settings, "view/magnification", 10, 0, 500)
        colour = read_int(self.settings, "photos/magnification", 0, 0, 500)
        self.viewer.set_magnification(grey or None, colour=False)
        self.viewer.set_magnification(colour or None, colour=True)
        self.viewer.mode.setCurrentIndex(read_int(self.settings, "photos/mode", 0, 0, self.viewer.mode.count() - 1))
        self.photo_source.remembered_path = read_text(self.settings, "photos/last", "") or None
        last = read_text(self.settings, "model/last", default_network)
        if not (self.network_panel.kind(last) != "own" and self.network_panel.select(last)):
            self.network_panel.select(default_network)
        self.image_source.choose_index(read_int(self.settings, "image/index", 0, 0, len(self.test_set) - 1))

    def save_settings(self) -> None:
        if self.choice is not None and self.choice.index is not None:
            self.settings.setValue("image/index", self.choice.index)
        photo = self.photo_source.choice
        if photo is not None and photo.path:
            self.settings.setValue("photos/last", photo.path)

    def _remember_magnification(self, colour: bool, factor) -> None:
        self.settings.setValue("photos/magnification" if colour else "view/magnification", factor or 0)

    # --- the image ---------------------------------------------------------------------------------------
    @property
    def active_model_name(self) -> str | None:
        """The network selected in the list (the one in use once it has loaded)."""
        return self.network_panel.selected_name()

    def _choice_for(self, classifier: Classifier) -> ImageChoice | None:
        """The image to show with this network: the one shown if it fits, else its source's (read if need be)."""
        if self.choice is not None and self.choice.fits(classifier.input_shape):
            return self.choice
        if classifier.is_digit_network:
            return self.image_source.current_choice()
        self.photo_source.set_geometry(*network_geometry(classifier))
        return self.photo_source.choice_for(classifier.input_shape)

    def use_image(self, choice: ImageChoice) -> None:
        """Show ``choice`` and ask the network in use for its answer (an image for another network waits for it)."""
        self._abandon_search()
        self.choice = choice
        self._show_original()

    def use_digit(self, choice: ImageChoice) -> None:
        """A test image by its index (the browser follows), or any other digit image."""
        if choice.index is not None:
            self.image_source.choose_index(choice.index)
        else:
            self.use_image(choice)

    def open_path(self, path) -> None:
        """An image file, read the way the network in use reads images (a digit network: converted the MNIST way)."""
        if self.classifier is None or self.classifier.is_digit_network:
            self.image_source.open_path(path)
        else:
            self.photo_source.open_path(path)

    def open_image_dialog(self) -> None:
        if self.classifier is None or self.classifier.is_digit_network:
            self.image_source.open_file.click()
        else:
            self.photo_source.open_dialog()

    def step_image(self, offset: int) -> None:
        """The next or previous test image, or sample photo."""
        if self.image_sources.currentWidget() is self.image_source:
            self.image_source.step(offset)
        elif (count := self.photo_source.sample_list.count()) > 0:
            row = (self.photo_source.sample_list.currentRow() + offset) % count
            self.photo_source.sample_list.setCurrentRow(row)
            self.photo_source.open_path(self.photo_source.sample_list.item(row).data(Qt.ItemDataRole.UserRole))

    def random_image(self) -> None:
        if self.image_sources.currentWidget() is self.image_source:
            self.image_source.choose_random()
        elif (count := self.photo_source.sample_list.count()) > 0:
            self.step_image(random.randrange(1, count + 1))

    def _show_original(self) -> None:
        """Show the chosen image, clear the previous result, and ask the network for its answer (in a worker)."""
        self._forget_result()
        self.original_probabilities = None
        self.runner.replace("classify")
        choice, classifier = self.choice, self.classifier
        if choice is None or classifier is None or not choice.fits(classifier.input_shape):
            return
        self.viewer.show_original(choice.pixels, "…", None, f"Original: {choice.source}")
        self.viewer.show_noise(None)
        self._classifying = (self.network_name, choice)
        self.start("classify", jobs.probabilities_of, classifier, choice.pixels)

    def _done_classify(self, probabilities: np.ndarray) -> None:
        name, choice = self._classifying
        self.original_probabilities = probabilities
        predicted = int(probabilities.argmax())
        answer = self.classifier.class_name(predicted)
        known = choice.label is not None and self.classifier.is_digit_network
        wrong = known and predicted != choice.label
        self.viewer.original_panel.show_answer(f"says {answer}  ({100 * probabilities[predicted]:.0f}%)"
                                               + ("  — wrong!" if wrong else ""), probabilities)
        if not self.is_running("search") and self.result is None:
            self.viewer.show_readout(f"{choice.source}" + (f" (a {choice.label})" if known else "")
                                     + f". {name} says “{answer}”. Press Run to find the smallest change that fools it.")

        self.sig_answer_shown.emit(choice.source)
        if self._run_when_ready:
            self.run_search()

    def clear_result(self) -> None:
        """A clean slate for the image shown: no search under way, no result (the network's answer stays)."""
        self._abandon_search()
        self._forget_result()
        self.viewer.clear_result()
        self.viewer.show_noise(None)

    def _forget_result(self) -> None:
        """No result, transfer table or curve of an earlier search (of another image or network, or cleared)."""
        self.result = None
        self.transfer_view.clear()
        self.search_panel.show_trace([])
        self.search_panel.show_status("ready")
        self.search_panel.save_button.setEnabled(False)

    # --- the search --------------------------------------------------------------------------------------
    def _abandon_search(self) -> None:
        """Drop a running search and what follows from it (it would belong to another image or network)."""
        for slot in ("search", "transfer", "noise"):
            self.runner.replace(slot)
        self.search_panel.set_running(False)

    def run_search(self) -> None:
        """Search for the smallest change that makes the network in use give the chosen answer.

        In Confident mode the smallest change is searched first unless it is known for this image, network and
        target, then the confident one for the same target, so that the readout compares the two.
        """
        classifier, choice = self.classifier, self.choice
        if any(self.is_running(slot) for slot in ("network", "photo-open", "open-image")):
            self._run_when_ready = True  # Run pressed while the network or the image loads: it runs then
            self.sig_status.emit("The search starts once the network and the image are ready.", 5000)
            return
        if classifier is None or choice is None or not choice.fits(classifier.input_shape):
            self.sig_error.emit("Choose a network with weights and an image first.")
            return
        self._run_when_ready = False
        try:
            target = self.search_panel.target_choice()
        except ValueError as error:
            self.sig_error.emit(f"Target: {error}")
            return
        if self.search_panel.photo_target in classifier.class_names and not isinstance(target, str):
            self.settings.setValue("photos/target", self.search_panel.class_field.text())
        pixels = torch.from_numpy(np.ascontiguousarray(choice.pixels)).reshape(1, *classifier.input_shape)
        labels = [choice.label] if choice.label is not None and classifier.is_digit_network else None
        interval = DIGIT_ANIMATION_INTERVAL if classifier.is_digit_network else PHOTO_ANIMATION_INTERVAL
        config = dataclasses.replace(config_for(classifier), seed=random.randrange(2**31), partial_interval=interval)
        self._abandon_search()
        self.result, self.result_model = None, self.network_name
        self._search_for = (self.network_name, choice, target)
        self._search_inputs = (classifier, pixels, labels, config)
        confidence = self.search_panel.goal_confidence()
        minimal = None if confidence is None else self.goal_results.get("minimal", *self._search_for)
        self._confident_next = confidence if minimal is None else None
        if confidence is None or minimal is None:
            self._start_goal_search(target, None)
        elif minimal.success:
            self._start_goal_search("none" if minimal.target is None else minimal.target, confidence)
        else:  # known already: not even the smallest change reached the target
            self.result = minimal
            self._show_result(minimal, 0.0)
            self.sig_search_finished.emit(minimal)

    def compare_methods(self) -> None:
        """Open the comparison of attack methods on the image shown, for the network in use and the target of the
        search shown (else the search panel's); it runs beside a search and keeps its own network and image."""
        classifier, choice = self.classifier, self.choice
        if any(self.is_running(slot) for slot in ("network", "photo-open", "open-image")):
            self.sig_status.emit("Compare once the network and the image are ready.", 5000)
            return
        if classifier is None or choice is None or not choice.fits(classifier.input_shape):
            self.sig_error.emit("Choose a network with weights and an image first.")
            return
        try:
            target = self.search_panel.target_choice()
        except ValueError as error:
            self.sig_error.emit(f"Target: {error}")
            return
        if self.result is not None and self.result_model == self.network_name:
            target = "none" if self.result.target is None else self.result.target
        if self.compare_view is None:
            self.compare_view = CompareView(self.runner, self.window())
        label = choice.label if classifier.is_digit_network else None
        self.compare_view.compare(classifier, choice.pixels.reshape(classifier.input_shape), label, target,
                                  self.network_name, choice.source)

    def _start_goal_search(self, target, confidence: float | None) -> None:
        """Start the search of ``run_search`` for ``target``, for the smallest change or a ``confidence``."""
        classifier, pixels, labels, config = self._search_inputs
        self._goal_running = confidence
        self.search_started = time.perf_counter()
        self.search_panel.set_running(True)
        self.viewer.show_noise(None)
        self.transfer_view.clear()
        self.start("search", jobs.search_with_trace, classifier, pixels, target, labels,
                   dataclasses.replace(config, confidence=confidence))

    def cancel_search(self) -> None:
        """Esc: stop the search (its best so far is shown) and a download under way."""
        if self.is_running("search"):
            self.cancel_task("search")
            self.search_panel.show_status("cancelling…")
        if self.is_running("download"):
            self.cancel_task("download")

    def _progress_search(self, fraction: float, message: str) -> None:
        stage = ("smallest change first: " if self._confident_next is not None else
                 "" if self._goal_running is None else f"confident ({100 * self._goal_running:.0f}%): ")
        self.search_panel.show_progress(fraction, stage + message)

    def _partial_search(self, progress: SearchProgress) -> None:
        distortion = float(progress.best_distortion[0])
        self.search_panel.add_point(progress.total_iterations, distortion)
        if np.isfinite(distortion) and self.choice is not None:
            adversarial = progress.best_adversarial[0]
            self.viewer.show_partial(adversarial, adversarial - self.choice.pixels.reshape(adversarial.shape),
                                     f"searching… RMS {distortion:.4f}")

    def _failed_search(self, error: BaseException) -> None:
        self.search_panel.set_running(False)
        self.search_panel.show_status("failed")
        self.sig_error.emit(f"The search stopped with an error: {describe_error(error)}")

    def _done_search(self, outcome) -> None:
        """Show the result; a confident search that found nothing leaves the smallest change shown (and in use)."""
        result, trace = outcome
        self.search_panel.set_running(False)
        self.goal_results.remember(*self._search_for, result)
        seconds = time.perf_counter() - self.search_started
        self.search_panel.show_progress(1.0, "cancelled" if result.cancelled else "done")
        shown, note = result, ""
        minimal = self.goal_results.get("minimal", *self._search_for)
        if result.goal != "minimal" and not result.success and not result.cancelled and minimal and minimal.success:
            shown = minimal
            note = failure_advice(result, self.classifier.class_name,
                                  "digit" if self.classifier.is_digit_network else "photo")
        self.result = shown
        found = shown.success and shown.distortion > 0
        self.search_panel.show_trace(trace + ([(result.steps, result.distortion)] if result is shown and found else []))
        self.search_panel.save_button.setEnabled(found)
        confident, self._confident_next = self._confident_next, None
        chained = confident is not None and result.success and not result.cancelled
        self._show_result(shown, seconds, pending=chained, note=note)
        if chained:  # the smallest change is shown; now the confident one for the same target
            self._start_goal_search("none" if result.target is None else result.target, confident)
            return
        self.sig_search_finished.emit(result)
        if found:
            self._start_transfer(shown)
            if self.search_panel.noise.isChecked():
                self._start_noise(shown)
