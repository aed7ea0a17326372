"""The blind-spot tab's work on a result: transfer to the other networks, noise of the same size, and exports.

A mixin of :class:`blindspot_gui.qt.tabs.blindspots.BlindspotsTab`. Transfer asks every other
network of the same input (digit networks are loaded for it; photo networks only when already
loaded); the noise control draws Gaussian noise of the adversarial change's RMS, 100 times; the
exports are the three panels as a PNG painted from the images and their captions (no controls), the
adversarial image as an 8-bit PNG that still fools the network (``quantise_result``, for every
network), the search record as JSON, and the figure sheets for slides (Figures 5 and 7 of the paper,
1920x1080 PNG, SVG and PDF), computed and written in the background with progress and Cancel.
"""

from __future__ import annotations

import random
import time

import numpy as np

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from blindspot_gui.core.attack.noise import gaussian_noise_error
from blindspot_gui.core.activations import layer_names
from blindspot_gui.core.attack.search import AttackResult
from blindspot_gui.core.defence import vote, window_for
from blindspot_gui.core.experiments.figures import DIGIT_EXAMPLES, PHOTO_EXAMPLES, digit_figure_data, photo_figure_data
from blindspot_gui.core.files import atomic_write_json
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.pathway import pathway
from blindspot_gui.core.strength import answer_at, strength_sweep
from blindspot_gui.core.survival import survival
from blindspot_gui.core.photos import sample_photos
from blindspot_gui.qt import figures
from blindspot_gui.qt.widgets.change_picture import magnification_for, picture_of
from blindspot_gui.qt.model_panel import ZOO_KIND
from blindspot_gui.qt.widgets.probabilities import BAD, GOOD
from blindspot_gui.qt.tabs import blindspot_jobs as jobs
from blindspot_gui.qt.search_panel import DEFAULT_PHOTO_TARGET, RANDOM, UNTARGETED
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.widgets.photo_source import network_geometry

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
                   result.adversarial, on_done=self._done_transfer)

    def _done_transfer(self, rows) -> None:
        self.transfer_view.show_rows(rows, self._transfer_for)
        self.sig_transfer_shown.emit()

    def _start_shown_view(self) -> None:
        """Compute the result view on show (Layers, Strength, Survival) for the result on screen, once per result:
        each costs tens to hundreds of passes through the network, and only the view in sight needs them."""
        result, view = self.result, self.result_views.currentWidget()
        starts = {self.pathway_view: self._start_pathway, self.strength_view: self._start_strength_sweep,
                  self.survival_view: self._start_survival}
        if result is None or not result.success or result.distortion == 0 or view not in starts:
            return
        if view.shows is not result:
            starts[view](result)  # clears the view first
            view.shows = result

    def _start_pathway(self, result: AttackResult) -> None:
        self.pathway_view.clear()
        self.start("pathway", pathway, self.classifier, result.original, result.adversarial,
                   on_done=lambda found, classifier=self.classifier: self._done_pathway(found, classifier))

    def _done_pathway(self, found, classifier) -> None:
        explorable = found.parting in layer_names(classifier)
        self.pathway_view.show_pathway(found, explorable)
        self.sig_pathway_shown.emit()

    def _start_strength_sweep(self, result: AttackResult) -> None:
        self.strength_view.clear()
        self.start("strength-sweep", strength_sweep, self.classifier, result.original, result.adversarial,
                   on_done=lambda sweep, name=self.classifier.class_name: self.strength_view.show_sweep(sweep, name))

    def _start_strength(self, strength: float) -> None:
        """The image at ``strength`` times the change, in the adversarial panel (the newest request wins)."""
        result = self.result
        if result is None or not result.success:
            return
        self.strength_view.marker.setValue(strength)
        self.start("strength", answer_at, self.classifier, result.original, result.adversarial, strength,
                   on_done=lambda answer: self._show_strength(strength, *answer))

    def _show_strength(self, strength: float, image, probabilities) -> None:
        result, name = self.result, self.classifier.class_name
        answer = int(probabilities.argmax())
        words = f"says {name(answer)}  ({100 * probabilities[answer]:.0f}%)" + (
            "" if strength == 1.0 else f" at {strength:.2f}×")
        fooled = answer != result.original_prediction
        self.viewer.show_adversarial(image, image - result.original, words, probabilities, result.target,
                                     BAD if fooled else GOOD)
        self.strength_view.show_answer(strength, probabilities)
        self.sig_strength_shown.emit(strength)

    def _start_survival(self, result: AttackResult) -> None:
        self.survival_view.clear()
        self.start("survival", survival, self.classifier, result.original, result.adversarial,
                   on_done=self._done_survival)

    def _done_survival(self, found) -> None:
        self.survival_view.show_survival(found)
        self.sig_survival_shown.emit()
        if self.survival_view.vote.isChecked():
            self._start_vote()

    def _on_vote_toggled(self, on: bool) -> None:
        self.session.set_vote(on)
        if not on:
            self.runner.replace("vote")
            self.survival_view.show_vote(None)
        elif self.survival_view.survival is not None:
            self._start_vote()

    def _start_vote(self) -> None:
        """The floating-window vote (core/defence.py) on the original and the adversarial image on screen."""
        result, window = self.result, window_for(self.classifier)
        self.start("vote", vote, self.classifier, np.stack([result.original, result.adversarial]), window,
                   on_done=lambda ballot, name=self.classifier.class_name: self._done_vote(ballot, window, name))

    def _done_vote(self, ballot, window, class_name) -> None:
        self.survival_view.show_vote(ballot, window, class_name, int(self.result.original_prediction))
        self.sig_vote_shown.emit()

    def _on_noise_toggled(self, enabled: bool) -> None:
        self.session.set_noise(enabled)
        if not enabled:
            self.runner.replace("noise")
            self.viewer.show_noise(None)
        elif self.result is not None and self.result.success and self.result.distortion > 0:
            self._start_noise(self.result)

    def _start_noise(self, result: AttackResult) -> None:
        self.start("noise", gaussian_noise_error, self.classifier, result.original, [result.label], result.distortion,
                   draws=NOISE_DRAWS, seed=random.randrange(2**31), on_done=self._done_noise)

    def _done_noise(self, report) -> None:
        self.noise_example = report.example[0]
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
        """The panels (original, perturbation, adversarial, and noise when shown) as one PNG: only the images and
        their captions, painted from the result (see ``figures.write_triptych``)."""
        if not self._need_result() or not (path := self._ask_path("Save the images", "blindspot.png", "PNG (*.png)",
                                                                   path)):
            return False
        try:
            figures.write_triptych(self.triptych_panels(), path)
        except OSError as error:
            self.sig_error.emit(f"Could not write {path}: {describe_error(error)}")
            return False
        self.sig_status.emit(f"Saved {path}", 0)
        return True

    def triptych_panels(self) -> list:
        """(title, picture, answer, colour) of each panel shown, as the viewer captions it."""
        viewer, result = self.viewer, self.result
        change = picture_of(result.perturbation)
        mode = viewer.mode.currentIndex()
        factor = magnification_for(change, viewer.magnification_factor, mode)
        fooled = result.adversarial_prediction != result.original_prediction
        panels = [(viewer.original_panel, figures.qimage_of(result.original), figures.INK),
                  (viewer.perturbation_panel, figures.change_picture(change, factor, mode), figures.INK),
                  (viewer.adversarial_panel, figures.qimage_of(result.adversarial),
                   figures.FOOLED if fooled else figures.KEPT)]
        noise = getattr(self, "noise_example", None)
        if viewer.noise_panel.isVisibleTo(viewer) and noise is not None:
            panels.append((viewer.noise_panel, figures.qimage_of(noise), figures.INK))
        return [(panel.title.text(), picture, panel.answer.text(), colour) for panel, picture, colour in panels]

    # --- figure sheets for slides ------------------------------------------------------------------------
    def export_figure_sheets(self, path: str | None = None) -> bool:
        """Figure-5 and Figure-7 sheets of the network in use, 1920x1080 PNG, SVG and PDF, next to ``path`` (computed
        in the background: N blind-spot searches to one target, and noise). True once started; ``sig_exported``
        with the Figure-5 PNG once written."""
        classifier = self.classifier
        if classifier is None:
            self.sig_error.emit("Choose a network with weights first: the sheets show its blind spots.")
            return False
        if not (path := self._ask_path("Save the figure sheets for slides", "slides.png",
                                       "PNG, with SVG and PDF beside it (*.png)", path)):
            return False
        job = self._sheet_job(classifier)
        if job is None:
            return False
        self._sheets_to = path
        self._close_sheet_progress()  # sheets asked for again: the earlier ones are replaced
        self.start("sheets", make_sheets, job, path, on_progress=self._progress_sheets, on_done=self._done_sheets,
                   on_failed=self._failed_sheets, on_cancelled=self._cancelled_sheets)
        self._show_sheet_progress(len(job[2]))
        return True

    def _sheet_job(self, classifier):
        """(function, classifier, images or photo paths, further arguments) of the sheets' search, or None."""
        try:
            chosen = self.search_panel.target_choice()
        except ValueError as error:
            self.sig_error.emit(f"Target: {error}")
            return None
        one_target = chosen not in (UNTARGETED, RANDOM)
        if classifier.is_digit_network:
            first = self.choice.index if self.choice is not None and self.choice.index is not None else 0
            indices = list(range(first, first + DIGIT_EXAMPLES))
            return (digit_figure_data, classifier, indices, self.test_set, chosen if one_target else "next")
        paths = [sample.path for sample in sample_photos()][:PHOTO_EXAMPLES]
        if not paths:
            self.sig_error.emit("The sample photos are missing, so there is nothing to put on the sheet. Reinstall "
                                "blindspot_gui, or use a digit network.")
            return None
        if not one_target:
            try:
                chosen = class_index(DEFAULT_PHOTO_TARGET, classifier.class_names)
            except ValueError:
                chosen = "next"
        resize, crop, _ = network_geometry(classifier)
        return (photo_figure_data, classifier, paths, resize, crop, chosen)

    def _show_sheet_progress(self, count: int) -> None:
        dialog = QProgressDialog(f"Searching the blind spots of {count} images for the sheets…", "Cancel", 0, 1000, self)
        dialog.setObjectName("sheet_progress")
        dialog.setWindowTitle("Figure sheets for slides")
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setMinimumDuration(0)
        dialog.canceled.connect(lambda: self.runner.cancel("sheets"))
        self.sheet_progress = dialog
        dialog.show()

    def _progress_sheets(self, fraction: float, message: str) -> None:
        if getattr(self, "sheet_progress", None) is not None:
            self.sheet_progress.setValue(int(1000 * fraction))

    def _close_sheet_progress(self) -> None:
        dialog, self.sheet_progress = getattr(self, "sheet_progress", None), None
        if dialog is not None:
            dialog.canceled.disconnect()
            dialog.close()
            dialog.deleteLater()

    def _done_sheets(self, written) -> None:
        self._close_sheet_progress()
        self.sig_status.emit(f"Saved the figure sheets: {', '.join(path.name for path in written)} "
                             f"in {written[0].parent}", 0)
        self.sig_exported.emit(str(written[0]))

    def _failed_sheets(self, error: BaseException) -> None:
        self._close_sheet_progress()
        self.sig_error.emit(f"The figure sheets were not saved ({self._sheets_to}): {describe_error(error)}")

    def _cancelled_sheets(self) -> None:
        self._close_sheet_progress()
        self.sig_status.emit("Figure sheets cancelled: nothing was saved.", 5000)

    def export_adversarial(self, path: str | None = None) -> bool:
        """Save the adversarial image as an 8-bit PNG that still fools the network once rounded (in a worker).

        Rounding to 8 bits can undo a change of under half a grey level; the fewest, cheapest grey-level
        steps towards the float image that still meet the search's goal are searched for with the network
        (core/attack/quantise.py). True once started; ``sig_exported`` when saved.
        """
        if not self._need_result() or not (path := self._ask_path(
                "Save the adversarial image", "adversarial.png", "PNG (*.png)", path)):
            return False
        self._export = (path, self.result_model)
        self.start("export", jobs.save_adversarial, self.models.get(self.result_model), self.result, path,
                   on_done=self._done_export, on_failed=self._failed_export)
        return True

    def _done_export(self, outcome) -> None:
        kept, (path, name) = outcome, self._export
        said = self.models.get(name).class_name(kept.answer)
        self.sig_status.emit(f"Saved {path}; as 8 bits it still makes {name} say {said} (distortion "
                             f"{kept.distortion:.4f}, float {kept.float_distortion:.4f}).", 0)
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


def make_sheets(job, path, *, monitor):
    """Run the sheets' search ``job`` (see ``ResultActions._sheet_job``) and write both sheets next to ``path``."""
    function, classifier, images, *rest = job
    if function is digit_figure_data:
        dataset, target = rest
        data = function(classifier, dataset, images[0], len(images), target, monitor=monitor)
    else:
        data = function(classifier, images, *rest, monitor=monitor)
    monitor.check()
    return figures.write_sheets(data, path)
