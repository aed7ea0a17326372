"""The Experiments tab: run any of the paper's experiments, watch it, and read ours beside the paper's.

Every experiment is ``experiments.run_experiment`` of its registry name and settings, started
through the task runner as a TaskController; its progress, partial results (adversarial training's
baseline, then one report per epoch), result and exception come back to the ``_on_task_*`` hooks.
Finished parts are kept on disk by the core, so Run after Cancel (or after a crash) resumes.
Tables 2 and 4 are drawn as heat maps of error rates with the numbers written in; adversarial
training draws its test error and average minimum distortion epoch by epoch.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHeaderView, QLabel, QSplitter, QVBoxLayout, QWidget

from blindspot_gui.core import experiments
from blindspot_gui.core.experiments import comparison_table, table_as_csv_text
from blindspot_gui.core.experiments.backends import INSTALL_HINT, ray_installed
from blindspot_gui.core.files import atomic_write_json, atomic_write_text
from blindspot_gui.core.training.adversarial import AdvTrainReport
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.tabs.experiment_controls import ExperimentControls
from blindspot_gui.qt.tabs.experiment_results import AdvTrainCurves, ResultTable
from blindspot_gui.qt.task_runner import describe_error

EXPERIMENT = "experiment"
"""The runner slot of this tab."""
QWIDGETSIZE_MAX = (1 << 24) - 1
"""Qt's largest widget size: no maximum."""


class ExperimentsView(QWidget, TaskController):
    """Controls on the left; the result (title, table or heat map, curves, notes) on the right."""

    sig_finished = Signal(str)
    """The experiment's name, once its result is shown."""
    sig_model_trained = Signal(str)
    """A zoo model's name, after adversarial training saved its weights."""
    sig_error = Signal(str)

    def __init__(self, runner, device=lambda: "cpu", parent=None):
        super().__init__(parent)
        self.runner = runner
        self.device = device
        """The torch device the window's networks run on (the Networks panel's choice); experiments run there too."""
        self.result: dict | None = None
        self.controls = ExperimentControls()
        self.title = QLabel("Choose an experiment and press Run.")
        self.title.setObjectName("experiment_title")
        title_font = self.title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.4)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.table = ResultTable()
        self.table.setObjectName("experiment_table")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.curves = AdvTrainCurves()
        self.curves.hide()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_area = QWidget()
        result_layout = QVBoxLayout(self.result_area)
        result_layout.addWidget(self.title)
        result_layout.addWidget(self.legend)
        result_layout.addWidget(self.table, stretch=1)
        result_layout.addWidget(self.notes)
        result_layout.addWidget(self.curves, stretch=2)
        splitter = QSplitter()
        splitter.addWidget(self.controls)
        splitter.addWidget(self.result_area)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1100])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.controls.run_button.clicked.connect(self.run)
        self.controls.cancel_button.clicked.connect(self.cancel)
        self.controls.export_csv.clicked.connect(lambda: self.export_csv())
        self.controls.export_json.clicked.connect(lambda: self.export_json())
        self.controls.export_png.clicked.connect(lambda: self.export_png())

    # --- running -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Run the chosen experiment with its settings; finished parts on disk are reused."""
        if self.is_running(EXPERIMENT):
            return
        key = self.controls.experiment()
        problem = self.controls.problem()
        if problem is not None:
            self.controls.status.setText(problem)
            return
        cluster = self.controls.cluster()
        if cluster is not None and not ray_installed():
            self.controls.status.setText(f"Cannot run on a cluster: {INSTALL_HINT}.")
            return
        settings = self.controls.settings()
        if "device" in {field.name for field in fields(settings)}:
            settings = replace(settings, device=self.device())
        self.controls.set_running(True)
        self._clear_result()
        on = "" if getattr(settings, "device", "cpu") == "cpu" else f" on {settings.device}"
        self.controls.status.setText(f"Running {experiments.REGISTRY[key].title}{on}…")
        self.curves.setVisible(key == "advtrain")
        if key == "advtrain":
            self.curves.clear()
        # every epoch's report must arrive: partials are not throttled
        self.start(EXPERIMENT, experiments.run_experiment, key, settings, cluster=cluster,
                   throttle_partials=False)

    def cancel(self) -> None:
        """Stop the experiment (this tab's one slot); its finished parts are kept, and Run resumes from them."""
        self.runner.cancel(EXPERIMENT)
        self.controls.status.setText("Cancelling… (finished parts are kept)")

    def _on_task_progress(self, slot: str, fraction: float, message: str) -> None:
        self.controls.show_progress(fraction, message)

    def _on_task_partial(self, slot: str, partial) -> None:
        """Adversarial training's baseline before its first epoch, then each epoch's report."""
        if isinstance(partial, AdvTrainReport):
            self.curves.add(partial)
        elif isinstance(partial, experiments.AdvTrainBaseline):
            self.curves.show_baseline(asdict(partial))

    def _on_task_done(self, slot: str, result: dict) -> None:
        self.controls.set_running(False)
        self.controls.progress.setValue(self.controls.progress.maximum())  # the last progress may be throttled away
        self.controls.progress.setFormat("done")
        self.show_result(result)
        seconds = result.get("seconds")
        self.controls.status.setText("Done." + (f" Training took {seconds:.0f} s." if seconds else "")
                                     + " Run again to reuse the finished parts.")
        if result["experiment"] == "advtrain" and result["saved_to_zoo"]:
            self.sig_model_trained.emit(result["model"])
        self.sig_finished.emit(result["experiment"])

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        message = describe_error(error)
        self.controls.set_running(False)
        self.controls.progress.setFormat("failed")
        self.controls.status.setText(f"Failed: {message}")
        self.sig_error.emit(f"The experiment failed: {message}")

    def _on_task_cancelled(self, slot: str) -> None:
        self.controls.set_running(False)
        self.controls.progress.setFormat("cancelled")
        self.controls.status.setText("Cancelled. Finished parts are kept on disk: Run resumes where it stopped.")

    # --- showing -------------------------------------------------------------------------------------------------
    def _clear_result(self) -> None:
        """A run starts: the previous table (perhaps another experiment's) is gone, and nothing offers to save it."""
        self.result = None
        self.title.setText("")
        self.legend.setText("")
        self.notes.setText("")
        self.table.clearContents()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        for button in (self.controls.export_csv, self.controls.export_json, self.controls.export_png):
            button.setEnabled(False)

    def show_result(self, result: dict) -> None:
        self.result = result
        table = comparison_table(result)
        self.title.setText(table.title)
        self.legend.setText(("Each cell: our figure, then the paper's and the difference." if table.has_paper else
                             "Each cell: our figure (the paper has none for this table; see the notes below).")
                            + ("  Colour: error rate, white 0% to red 100%." if table.heat_map else ""))
        self.table.show_table(table)
        self.notes.setText("\n".join(table.notes))
        with_curves = result["experiment"] == "advtrain"
        self.curves.setVisible(with_curves)
        if with_curves:
            self.table.fit_height()
        else:  # a matrix such as Table 2 needs every pixel of the tab
            self.table.setMaximumHeight(QWIDGETSIZE_MAX)
        if result["experiment"] == "advtrain" and not self.curves.points:
            self.curves.show_baseline(result["baseline"])
            for point in result["curve"]:
                self.curves.add(AdvTrainReport(**point))
        for button in (self.controls.export_csv, self.controls.export_json, self.controls.export_png):
            button.setEnabled(True)

    # --- export ----------------------------------------------------------------------------------------------------
    def _path(self, title: str, suffix: str, given: str | None) -> str | None:
        if self.result is None:
            self.sig_error.emit("Run an experiment first.")
            return None
        if given:
            return given
        default = f"{self.result['experiment']}{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, title, default, f"*{suffix}")
        return path or None

    def _write(self, path: str, write) -> bool:
        try:
            write(Path(path))
        except OSError as error:
            self.sig_error.emit(f"Could not write {path}: {error}")
            return False
        self.controls.status.setText(f"Saved {path}")
        return True

    def export_csv(self, path: str | None = None) -> bool:
        if not (path := self._path("Save the table", ".csv", path)):
            return False
        text = table_as_csv_text(comparison_table(self.result))
        return self._write(path, lambda target: atomic_write_text(target, text))

    def export_json(self, path: str | None = None) -> bool:
        if not (path := self._path("Save the result", ".json", path)):
            return False
        return self._write(path, lambda target: atomic_write_json(target, self.result))

    def export_png(self, path: str | None = None) -> bool:
        if not (path := self._path("Save a picture of the result", ".png", path)):
            return False

        def write(target: Path) -> None:
            if not self.result_area.grab().save(str(target), "PNG"):
                raise OSError("the image could not be written")
        return self._write(path, write)
