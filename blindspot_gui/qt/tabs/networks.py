"""The blind-spot tab's network actions: choosing and loading a network, the catalogue's weights, your own file,
training a zoo model, and the device.

A mixin of :class:`blindspot_gui.qt.tabs.blindspots.BlindspotsTab`: every load, download and
training run is started through its task runner, and the list says what each network's state is.
A network that cannot be loaded leaves the one in use in use, and the message says why and what to do.
"""

from __future__ import annotations

import copy
from pathlib import Path

from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.download import download_weights
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import find_photo_model, photo_model_status
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.qt.model_panel import CATALOGUE_KIND, OWN_KIND, ZOO_KIND
from blindspot_gui.qt.tabs import blindspot_jobs as jobs
from blindspot_gui.qt.tabs.own_network_dialog import OwnNetworkDialog
from blindspot_gui.qt.task_runner import describe_error


class NetworkActions:
    """Choosing, loading, downloading and training networks (a mixin of the blind-spot tab)."""

    _loading: tuple[str, str | None] = ("", None)
    _own_request: tuple = ()

    # --- choosing a network ----------------------------------------------------------------------
    def select_network(self, name: str) -> None:
        """Make ``name`` the network in use, loading it in the background; one without weights is explained."""
        panel = self.network_panel
        self.runner.replace("network")  # a load still under way must not take over later
        if panel.kind(name) != OWN_KIND:  # a user's file cannot be reloaded by name
            self.settings.setValue("model/last", name)
        if panel.kind(name) == OWN_KIND:
            self._use_network(name, self.models.get(name))
            return
        if not panel.is_available(name) and (panel.kind(name) == ZOO_KIND or name in panel.photo_statuses):
            self._explain_missing(name)
            return
        self._load(name)

    def _explain_missing(self, name: str) -> None:
        panel = self.network_panel
        still = f" Still using {self.network_name}." if self.network_name else ""
        if panel.kind(name) == ZOO_KIND:
            reason = "no weights yet: press “Train selected model”"
        else:
            reason = panel.photo_statuses[name].reason
        panel.show_status(f"{name}: {reason}.{still}", good=False)
        self.sig_status.emit(f"{name} has no weights here.{still}", 10000)

    def _load(self, name: str, weights_path: str | None = None) -> None:
        self._loading = (name, weights_path)
        self.network_panel.show_status(f"loading {name}…")
        self.start("network", jobs.load_network, self.models, name, weights_path, on_done=self._done_network,
                   on_failed=self._failed_network)

    def _done_network(self, classifier: Classifier) -> None:
        name, weights_path = self._loading
        if weights_path is not None:
            self.network_panel.loaded_photos.add(name)
            self.network_panel.refresh()
        self._use_network(name, classifier)

    def _failed_network(self, error: BaseException) -> None:
        name, weights_path = self._loading
        thing = f"{Path(weights_path).name} for {name}" if weights_path else name
        self._network_failed(f"{thing} could not be loaded: {describe_error(error)}")

    def _network_failed(self, message: str) -> None:
        """The network in use stays in use (and selected); the message says what went wrong."""
        still = f" Still using {self.network_name}." if self.network_name else ""
        self._run_when_ready = False
        self.network_panel.show_status(message + still, good=False)
        if self.network_name is not None:
            self.network_panel.select(self.network_name, announce=False)
        self.sig_error.emit(message)

    def _use_network(self, name: str, classifier: Classifier) -> None:
        self._abandon_search()
        self.session.use_network(name, classifier)
        panel = self.network_panel
        if panel.kind(name) == CATALOGUE_KIND:
            self.settings.setValue("photos/model", name)
        shape = "×".join(str(size) for size in classifier.input_shape)
        preprocessing = f", preprocessing “{classifier.preprocessing.name}”" if classifier.preprocessing else ""
        panel.show_status(f"{name}: {classifier.num_classes} classes, input {shape}{preprocessing}.", good=True)
        self.viewer.set_colour(classifier.input_shape[0] == 3)
        for widget in (self.viewer, self.search_panel, self.transfer_view):
            widget.set_class_names(classifier.class_names)
        digits = classifier.is_digit_network
        self.image_sources.setCurrentWidget(self.image_source if digits else self.photo_source)
        choice = self._choice_for(classifier)
        if choice is not None and choice is not self.choice:
            self.session.use_image(choice)
        self._show_original()
        self.sig_status.emit(f"Network: {name}", 0)
        self.sig_networks_changed.emit()

    def network_names_with_weights(self) -> list[str]:
        """Every listed network that has weights here (for the unit explorer)."""
        panel = self.network_panel
        return [name for name in panel.names() if panel.is_available(name)]

    def _done_catalogue(self, outcome) -> None:
        statuses, samples = outcome
        self.network_panel.set_photo_statuses(statuses)
        self.photo_source.fill_samples(samples)
        classifier = self.classifier
        if classifier is not None and not classifier.is_digit_network and (
                self.choice is None or not self.choice.fits(classifier.input_shape)):
            self._choice_for(classifier)  # the first sample photo, now that there are samples
        self.sig_networks_changed.emit()

    # --- the catalogue's weights -------------------------------------------------------------------
    def download(self, name: str) -> None:
        """Download a catalogue network's weights, after asking; the list and the status line follow it."""
        entry = find_photo_model(name)
        if entry.url is None:
            return
        if self.show_dialogs and QMessageBox.question(
                self, "Download weights", f"Download {entry.name}'s ImageNet weights from\n{entry.url}\n"
                f"into {entry.cache_path().parent}?") != QMessageBox.StandardButton.Yes:
            return
        self._downloading = name
        self.network_panel.set_downloading(True)
        self.network_panel.show_status(f"downloading {name}'s weights… (Esc cancels)")
        self.start("download", download_weights, name, on_progress=self._progress_download, on_done=self._done_download,
                   on_failed=self._failed_download, on_cancelled=self._cancelled_download)

    def _progress_download(self, fraction: float, message: str) -> None:
        self.network_panel.show_status(f"{message} — {100 * fraction:.0f}% (Esc cancels)")

    def _done_download(self, _path) -> None:
        name = self._downloading
        self.network_panel.set_photo_statuses({name: photo_model_status(find_photo_model(name))})
        self.network_panel.set_downloading(False)
        if self.network_panel.selected_name() == name:
            self.select_network(name)

    def _failed_download(self, error: BaseException) -> None:
        self.network_panel.set_downloading(False)
        self._network_failed(f"Downloading {self._downloading}'s weights failed: {describe_error(error)}")

    def _cancelled_download(self) -> None:
        self.network_panel.set_downloading(False)
        self.network_panel.show_status(f"Download of {self._downloading}'s weights cancelled; nothing was kept.")

    def ask_weights_file(self, name: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Weights file for {name}", "",
                                              "PyTorch weights (*.pth *.pt *.safetensors);;All files (*)")
        if path:
            self.use_weights_file(name, path)

    def use_weights_file(self, name: str, path: str) -> None:
        """A catalogue network with the weights in the user's file (read in the background)."""
        self.network_panel.select(name, announce=False)
        self.runner.replace("network")
        self._load(name, path)

    # --- your own network -----------------------------------------------------------------------------
    def ask_own_network(self) -> None:
        dialog = OwnNetworkDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            path, architecture, preprocessing, classes, input_range = dialog.choice()
            if path:
                self.load_own_network(path, architecture, preprocessing, classes, input_range)

    def load_own_network(self, path, architecture: str | None = None, preprocessing: str | None = None,
                         class_names_file: str | None = None, input_range: str | None = None) -> None:
        """Read a user's network in the background (every file is data: an ONNX graph or weights, never code); it
        joins the list under its file name once it has loaded. ``sig_network_added`` announces its name."""
        self._own_request = (path, architecture, preprocessing, class_names_file)
        self.sig_status.emit(f"Loading {Path(path).name}…", 0)
        self.start("own-network", load_own_network, path, architecture, preprocessing, class_names_file,
                   input_range=input_range, on_done=self._done_own_network, on_failed=self._failed_own_network)

    def _failed_own_network(self, error: BaseException) -> None:
        self.sig_error.emit(f"{Path(self._own_request[0]).name} could not be loaded: {describe_error(error)}")

    def _done_own_network(self, classifier: Classifier) -> None:
        path = Path(self._own_request[0])
        name, taken = path.name, set(self.network_panel.names())
        for number in range(2, 1000):
            if name not in taken:
                break
            name = f"{path.name} ({number})"
        self.models.put(name, classifier)
        self.network_panel.add_custom(name, f"Your file ({classifier.description})")
        self.network_panel.select(name, announce=False)
        self._use_network(name, self.models.get(name))
        self.sig_network_added.emit(name)

    # --- training and the device -----------------------------------------------------------------------
    def start_training(self, name: str) -> None:
        try:
            spec = find_spec(name)
        except KeyError:
            self.sig_error.emit(f"{name} is not a zoo model; only zoo models can be trained here.")
            return
        self._training = spec.name
        self.network_panel.set_training(True)
        self.start("training", jobs.train_and_save, spec, self.models.device, throttle_partials=False,
                   on_progress=self._progress_training, on_partial=self._partial_training, on_done=self._done_training,
                   on_failed=self._failed_training, on_cancelled=self._cancelled_training)

    def _progress_training(self, fraction: float, message: str) -> None:
        self.network_panel.show_training_progress(fraction, message)

    def _partial_training(self, report) -> None:
        """An EpochReport, or an AdvTrainReport of adversarial training."""
        if getattr(report, "stage", None) != "autoencoder pre-training":
            self.network_panel.add_epoch(report.epoch, report.loss, report.test_error)

    def _done_training(self, path) -> None:
        self.network_panel.set_training(False)
        self.on_model_trained(self._training)
        self.sig_status.emit(f"Trained {self._training}; weights saved to {path}", 0)
        self.sig_training_finished.emit(self._training)

    def _failed_training(self, error: BaseException) -> None:
        self.network_panel.set_training(False)
        self.sig_error.emit(f"Training failed: {describe_error(error)}")

    def _cancelled_training(self) -> None:
        self.network_panel.set_training(False)
        self.sig_status.emit("Training stopped; the previous weights are unchanged.", 0)

    def on_model_trained(self, name: str) -> None:
        """New weights for zoo model ``name`` are on disk: drop the old ones everywhere."""
        if name in (self.result_model, self.network_name):
            self._abandon_search()
        self.models.forget(name)
        self.network_panel.refresh()
        self.sig_networks_changed.emit()
        if name in (self.network_name, self.network_panel.selected_name()):
            self.select_network(name)

    def change_device(self, device: str) -> None:
        """Every network moves to ``device``: zoo ones are read again, the others copied over."""
        self._abandon_search()
        self.session.set_device(device)
        previous, self.models = self.models, ModelCache(device)
        for name, classifier in previous.loaded().items():
            if self.network_panel.kind(name) != ZOO_KIND:  # a user's file or a chosen weights file: not by name
                self.models.put(name, copy.deepcopy(classifier))
        self.sig_networks_changed.emit()
        if self.network_name is not None:
            self.select_network(self.network_name)
