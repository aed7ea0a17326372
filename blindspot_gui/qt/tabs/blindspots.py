"""The blind-spot tab: one view for every network — choose a network and an image, search, see and save the result.

The tab is a controller (:class:`TaskController`): every load, decode, classification, search,
transfer check, noise test, export and training run is a function of ``blindspot_jobs`` started
on the task runner with the methods that take its progress, partial results, result or exception. The network list (every zoo,
catalogue and user's network) and the image source (the MNIST browser for digit networks, the
sample photos and any image for the others) live in the window's docks; the triptych, the
probabilities, the search controls and the transfer table are the same widgets for every network.
"""

from __future__ import annotations

import random
import time

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from blindspot_gui.core.attack.request import SearchRequest
from blindspot_gui.core.attack.search import AttackResult, SearchProgress
from blindspot_gui.core.data import Dataset
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.qt.blindspot_view import BlindspotView
from blindspot_gui.qt.compare_view import CompareView
from blindspot_gui.qt.image_source import ImageSource
from blindspot_gui.qt.model_panel import ModelPanel
from blindspot_gui.qt.widgets.camera_source import CameraSource, link_camera
from blindspot_gui.qt.widgets.photo_source import PhotoSource, network_geometry
from blindspot_gui.qt.search_panel import DEFAULT_PHOTO_TARGET, SearchPanel
from blindspot_gui.qt.widgets.pictures_first import PicturesFirst, scrolling
from blindspot_gui.qt.settings import read_int, read_text
from blindspot_gui.qt.tabs import blindspot_jobs as jobs
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.tabs.networks import NetworkActions
from blindspot_gui.qt.tabs.result_readout import ResultReadout
from blindspot_gui.qt.tabs.results import ResultActions
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.transfer_view import TransferView
from blindspot_gui.qt.widgets.pathway_view import PathwayView
from blindspot_gui.qt.widgets.strength_view import StrengthView
from blindspot_gui.qt.widgets.survival_view import SurvivalView
from blindspot_gui.session.blindspots import BlindspotSession
from blindspot_gui.session.image import ImageChoice

DIGIT_ANIMATION_INTERVAL = 0.02
"""Seconds between two frames of a digit search's animation (and points of its distortion curve)."""
PHOTO_ANIMATION_INTERVAL = 0.2
"""A photo search's best photo so far is redrawn five times a second."""
WHAT = {"network": "Loading the network", "classify": "Classifying the image", "search": "The search",
        "transfer": "Transfer check", "pathway": "Following the change through the layers",
        "strength-sweep": "Sweeping the strength of the change", "strength": "The answer at this strength",
        "survival": "Trying natural changes", "noise": "Noise test", "catalogue": "Looking for the photo networks' weights"}


class BlindspotsTab(QWidget, TaskController, NetworkActions, ResultActions, ResultReadout):
    """The "Blind spots" tab (see the module docstring); ``network_panel`` and ``image_sources`` go in docks."""

    sig_search_finished = Signal(object)
    """An AttackResult, once a search has ended (completed or cancelled)."""
    sig_answer_shown = Signal(str)
    """The image's name, once the network's answer for it is shown."""
    sig_transfer_shown = Signal()
    sig_pathway_shown = Signal()
    sig_strength_shown = Signal(float)
    sig_survival_shown = Signal()
    sig_vote_shown = Signal()
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
        self.session = BlindspotSession()
        """what the tab shows: network, image, answer, goal, results (the tab renders it and sends it requests)."""
        self.search_started = 0.0
        self._run_when_ready = False
        self.compare_view: CompareView | None = None
        """The "Compare methods" dialog, made when first asked for."""
        self._build()
        self._connect()
        QTimer.singleShot(0, lambda: self.start("catalogue", jobs.look_around, on_done=self._done_catalogue))  # nothing of it delays start-up

    def _build(self) -> None:
        self.viewer = BlindspotView()
        self.search_panel = SearchPanel(read_text(self.settings, "photos/target", DEFAULT_PHOTO_TARGET))
        self.search_panel.remember_goal(self.settings)
        self._add_compare_button()
        self.transfer_view = TransferView()
        self.pathway_view = PathwayView()
        self.result_views = QTabWidget()
        self.result_views.setObjectName("result_views")
        self.result_views.addTab(self.transfer_view, "Networks")
        self.result_views.setTabToolTip(0, "Does the same adversarial image fool the other networks?")
        self.result_views.addTab(self.pathway_view, "Layers")
        self.strength_view = StrengthView()
        self.result_views.addTab(self.strength_view, "Strength")
        self.result_views.setTabToolTip(2, "Scale the change from nothing to twice its size and watch the answer")
        self.survival_view = SurvivalView()
        self.result_views.addTab(self.survival_view, "Survival")
        self.result_views.setTabToolTip(3, "Does the blind spot still fool the network after it is saved as JPEG, "
                                           "shifted, rotated, rescaled, brightened or noised?")
        self.result_views.setTabToolTip(1, "Where the change takes hold: each layer's gain for the blind spot and for "
                                           "random noise of the same size")
        self.result_views.currentChanged.connect(lambda _: self._start_shown_view())
        lower = QWidget()
        lower_layout = QHBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.search_panel, stretch=3)
        lower_layout.addWidget(self.result_views, stretch=2)
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
        self.strength_view.sig_strength_changed.connect(self._start_strength)
        self.survival_view.vote.toggled.connect(self._on_vote_toggled)
        self.search_panel.sig_save_requested.connect(self.export_adversarial)
        self.compare_button.clicked.connect(self.compare_methods)
        self.search_panel.sig_goal_changed.connect(self.session.set_goal)
        self.session.set_goal(self.search_panel.goal_choice())
        self.session.result_changed.connect(self._render_result_state)
        self.viewer.sig_magnification_changed.connect(self._remember_magnification)
        self.viewer.sig_mode_changed.connect(lambda mode: self.settings.setValue("photos/mode", mode))

    # --- the session's state, as the tab's (read-only: changes go through the session) -------------
    classifier = property(lambda self: self.session.classifier)
    network_name = property(lambda self: self.session.network_name)
    choice = property(lambda self: self.session.image)
    """the image shown (an ImageChoice)."""
    original_probabilities = property(lambda self: self.session.answer)
    result = property(lambda self: self.session.result)
    """the search result on screen."""
    result_model = property(lambda self: self.session.result_network)
    """the network the result on screen was found for."""

    # --- tasks without a failure handler of their own ------------------------------------------------
    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        self.sig_error.emit(f"{WHAT.get(slot, slot)} failed: {describe_error(error)}")

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
        self.session.use_image(choice)
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
        """Show the chosen image (its result is gone with the change) and ask the network for its answer (in a worker)."""
        self.session.show_answer(None)
        self.runner.replace("classify")
        choice, classifier = self.choice, self.classifier
        if not self.session.ready():
            return
        self.viewer.show_original(choice.pixels, "…", None, f"Original: {choice.source}")
        self.viewer.show_noise(None)
        self._classifying = (self.network_name, choice)
        self.start("classify", jobs.probabilities_of, classifier, choice.pixels, on_done=self._done_classify)

    def _done_classify(self, probabilities: np.ndarray) -> None:
        name, choice = self._classifying
        self.session.show_answer(probabilities)
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
        self.session.clear_result()
        self.viewer.clear_result()
        self.viewer.show_noise(None)

    def _render_result_state(self, result: AttackResult | None) -> None:
        """Save follows the result on screen; without one, no transfer table or curve of an earlier search stays."""
        self.search_panel.save_button.setEnabled(result is not None and result.success and result.distortion > 0)
        if result is None:
            self.transfer_view.clear()
            self.pathway_view.clear()
            self.strength_view.clear()
            self.survival_view.clear()
            self.search_panel.show_trace([])
            self.search_panel.show_status("ready")

    # --- the search --------------------------------------------------------------------------------------
    def _abandon_search(self) -> None:
        """Drop a running search and what follows from it (it would belong to another image or network)."""
        for slot in ("search", "transfer", "pathway", "strength-sweep", "strength", "survival", "vote", "noise"):
            self.runner.replace(slot)
        self.session.abandon_search()
        self.search_panel.set_running(False)

    def run_search(self, compare_goals: bool = True) -> None:
        """Search for the smallest change that makes the network in use give the chosen answer.

        In Confident mode the smallest change is searched first unless it is known for this image, network and
        target (or ``compare_goals`` is off), then the confident one for the same target, so that the readout
        compares the two.
        """
        classifier = self.classifier
        if any(self.is_running(slot) for slot in ("network", "photo-open", "open-image")):
            self._run_when_ready = True  # Run pressed while the network or the image loads: it runs then
            self.sig_status.emit("The search starts once the network and the image are ready.", 5000)
            return
        if not self.session.ready():
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
        self._abandon_search()
        planned = self.session.begin_search(target, compare_goals)
        if isinstance(planned, AttackResult):  # known already: not even the smallest change reached the target
            self._show_result(planned, 0.0)
            self.sig_search_finished.emit(planned)
            return
        self._start_stage(planned)

    def compare_methods(self) -> None:
        """Open the comparison of attack methods on the image shown, for the network in use and the target of the
        search shown (else the search panel's); it runs beside a search and keeps its own network and image."""
        classifier, choice = self.classifier, self.choice
        if any(self.is_running(slot) for slot in ("network", "photo-open", "open-image")):
            self.sig_status.emit("Compare once the network and the image are ready.", 5000)
            return
        if not self.session.ready():
            self.sig_error.emit("Choose a network with weights and an image first.")
            return
        try:
            target = self.search_panel.target_choice()
        except ValueError as error:
            self.sig_error.emit(f"Target: {error}")
            return
        target = self.session.compare_target(target)
        if self.compare_view is None:
            self.compare_view = CompareView(self.runner, self.window())
        label = choice.label if classifier.is_digit_network else None
        self.compare_view.compare(classifier, choice.pixels.reshape(classifier.input_shape), label, target,
                                  self.network_name, choice.source, self.session.goal.confidence)

    def _start_stage(self, request: SearchRequest) -> None:
        """Start one search of the session's plan (the smallest change, or the confident one after it)."""
        session = self.session
        classifier, choice = session.classifier, session.image
        pixels = torch.from_numpy(np.ascontiguousarray(choice.pixels)).reshape(1, *classifier.input_shape)
        interval = DIGIT_ANIMATION_INTERVAL if classifier.is_digit_network else PHOTO_ANIMATION_INTERVAL
        self._stage_words = ("smallest change first: " if session.confident_next is not None else
                             f"confident ({100 * request.confidence:.0f}%): " if request.confidence is not None else
                             f"robust (on {100 * request.robust:.0f}% of copies): " if request.robust is not None else
                             "")
        self.search_started = time.perf_counter()
        self.search_panel.set_running(True)
        self.viewer.show_noise(None)
        self.start("search", jobs.search_with_trace, classifier, pixels, request.target, session.labels(),
                   request.config(classifier, partial_interval=interval), on_progress=self._progress_search,
                   on_partial=self._partial_search, on_done=self._done_search, on_failed=self._failed_search)

    def cancel_search(self) -> None:
        """Esc: stop the search (its best so far is shown) and a download under way."""
        if self.is_running("search"):
            self.cancel_task("search")
            self.search_panel.show_status("cancelling…")
        if self.is_running("download"):
            self.cancel_task("download")

    def _progress_search(self, fraction: float, message: str) -> None:
        self.search_panel.show_progress(fraction, self._stage_words + message)

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
        seconds = time.perf_counter() - self.search_started
        self.search_panel.show_progress(1.0, "cancelled" if result.cancelled else "done")
        shown, note, following = self.session.finish_search(result)
        found = shown.success and shown.distortion > 0
        self.search_panel.show_trace(trace + ([(result.steps, result.distortion)] if result is shown and found else []))
        self._show_result(shown, seconds, pending=following is not None, note=note)
        if following is not None:  # the smallest change is shown; now the confident one for the same answer
            self._start_stage(following)
            return
        self.sig_search_finished.emit(result)
        if found:
            self._start_transfer(shown)
            self._start_shown_view()
            if self.session.noise:
                self._start_noise(shown)
