"""The blind-spot tab's work on a result: transfer to the other networks, noise of the same size, and exports.

A mixin of :class:`blindspot_gui.qt.tabs.blindspots.BlindspotsTab`. Transfer asks every other
network of the same input (digit networks are loaded for it; photo networks only when already
loaded); the noise control draws Gaussian noise of the adversarial change's RMS, 100 times; the
exports are the three panels as a PNG, the adversarial image as an 8-bit PNG that still fools the
network (``quantised_adversarial``, for every network), and the search record as JSON.
"""

from __future__ import annotations

import random
import time

from PySide6.QtWidgets import QFileDialog

from blindspot_gui.core.attack.noise import gaussian_noise_error
from blindspot_gui.core.attack.search import AttackResult
from blindspot_gui.core.files import atomic_write_json
from blindspot_gui.qt.model_panel import ZOO_KIND
from blindspot_gui.qt.tabs import blindspot_jobs as jobs
from blindspot_gui.qt.task_runner import describe_error

NOISE_DRAWS = 100


class ResultActions:
    """Transfer, noise and exports of the last search (a mixin of the blind-spot tab)."""

    # --- transfer and noise -----------------------------------------------------------------------
    def transfer_names(self) -> list[str]:
        """The networks that read images like the attacked one: zoo ones with weights, others already loaded."""
        panel, loaded = self.network_panel, self.models.loaded()
        shape = self.classifier.input_shape
        return [name for name in panel.names() if panel.is_available(name) and (
            (name in loaded and loaded[name].input_shape == shape)
            or (name not in loaded and panel.kind(name) == ZOO_KIND and self.classifier.is_digit_network))]

    def _start_transfer(self, result: AttackResult) -> None:
        self._transfer_for = self.result_model
        self.start("transfer", jobs.transfer_to, self.models, self.transfer_names(), result.original,
                   result.adversarial)

    def _done_transfer(self, rows) -> None:
        self.transfer_view.show_rows(rows, self._transfer_for)
        self.sig_transfer_shown.emit()

    def _on_noise_toggled(self, enabled: bool) -> None:
        if not enabled:
            self.runner.replace("noise")
            self.viewer.show_noise(None)
        elif self.result is not None and self.result.success and self.result.distortion > 0:
            self._start_noise(self.result)

    def _start_noise(self, result: AttackResult) -> None:
        self.start("noise", gaussian_noise_error, self.classifier, result.original, [result.label], result.distortion,
                   draws=NOISE_DRAWS, seed=random.randrange(2**31))

    def _done_noise(self, report) -> None:
        predicted = int(report.example_prediction[0])
        fooled = round(report.error_rate * report.draws)
        self.viewer.show_noise(report.example[0], f"says {self.classifier.class_name(predicted)}  "
                               f"({fooled}/{report.draws} fooled)", report.example_probabilities[0])
        self.viewer.noise_panel.title.setText(f"Noise, RMS {report.stddev[0]:.4f}")
        self.viewer.noise_panel.title.setToolTip("Gaussian noise with the same RMS as the perturbation")
        self.sig_noise_shown.emit(report.error_rate)

    # --- exports ---------------------------------------------------------------------------------------
    def _need_result(self) -> bool:
        if self.result is None or not self.result.success or self.result.distortion == 0:
            self.sig_error.emit("Run a successful search first.")
            return False
        return True

    def _ask_path(self, title: str, default: str, pattern: str, given: str | None) -> str | None:
        if given:
            return given
        path, _ = QFileDialog.getSaveFileName(self, title, default, pattern)
        return path or None

    def export_triptych(self, path: str | None = None) -> bool:
        """The panels (original, perturbation, adversarial, and noise when shown) as one PNG."""
        if not self._need_result() or not (path := self._ask_path("Save the images", "blindspot.png", "PNG (*.png)",
                                                                   path)):
            return False
        if not self.viewer.grab().save(path, "PNG"):
            self.sig_error.emit(f"Could not write {path}: check that its folder exists and is writable.")
            return False
        self.sig_status.emit(f"Saved {path}", 0)
        return True

    def export_adversarial(self, path: str | None = None) -> bool:
        """Save the adversarial image as an 8-bit PNG that still fools the network once rounded (in a worker).

        Rounding to 8 bits can undo a change of under half a grey level; the change is scaled up in
        steps of 10% until the rounded image still fools the network. True once started;
        ``sig_exported`` when saved.
        """
        if not self._need_result() or not (path := self._ask_path(
                "Save the adversarial image", "adversarial.png", "PNG (*.png)", path)):
            return False
        self._export = (path, self.result_model)
        self.start("export", jobs.save_adversarial, self.models.get(self.result_model), self.result, path)
        return True

    def _done_export(self, outcome) -> None:
        (scale, answer), (path, name) = outcome, self._export
        said = self.models.get(name).class_name(answer)
        if scale == 1.0:
            self.sig_status.emit(f"Saved {path}; rounded to 8 bits it still makes {name} say {said}.", 0)
        else:
            self.sig_status.emit(f"Saved {path}; its change scaled ×{scale:.2f} so that, rounded to 8 bits, it still "
                                 f"makes {name} say {said}.", 0)
        self.sig_exported.emit(path)

    def _failed_export(self, error: BaseException) -> None:
        self.sig_error.emit(f"Not saved: {self._export[0]}: {describe_error(error)}")

    def export_record(self, path: str | None = None) -> bool:
        """The search's settings and figures as JSON."""
        if not self._need_result() or not (path := self._ask_path(
                "Save the search record", "blindspot.json", "JSON (*.json)", path)):
            return False
        record = {"model": self.result_model, "image": self.choice.source if self.choice else None,
                  "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.result.to_record()}
        try:
            atomic_write_json(path, record, indent=2)
        except OSError as error:
            self.sig_error.emit(f"Could not write {path}: {describe_error(error)}")
            return False
        self.sig_status.emit(f"Saved {path}", 0)
        return True
