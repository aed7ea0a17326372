"""The Experiments tab: run any of the paper's experiments, watch it, and read ours beside the paper's.

Every experiment is a core function from core/experiments.py started through the task runner.
Finished parts are kept on disk by the core, so Run after Cancel (or after a crash) resumes.
Tables 2 and 4 are drawn as heat maps of error rates with the numbers written in; adversarial
training draws its test error and average minimum distortion epoch by epoch.
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core import experiments
from blindspot_gui.core.training.adversarial import AdvTrainReport
from blindspot_gui.core.experiments import (
    PAPER_ADVTRAIN,
    TARGET_RULES,
    comparison_table,
    table_as_csv_text,
)
from blindspot_gui.core.files import atomic_write_json, atomic_write_text
from blindspot_gui.core.report import format_value
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS
from blindspot_gui.core.models.mnist_zoo import ZOO, find_spec

DESCRIPTIONS = {
    "table1": ("Table 1 — MNIST models", "Training and test error of the six networks, and the average size of the "
               "smallest change that fools each (attacks on training images)."),
    "table2": ("Table 2 — fooling other networks", "Examples made for one network, fed to every other network: how "
               "often they fool it. Random noise for comparison."),
    "table3": ("Table 3 — two halves of the data", "Three networks trained on disjoint halves P1 and P2 of the "
               "training set: their errors and smallest changes (test images)."),
    "table4": ("Table 4 — across training sets", "Examples made for a net trained on one half fool nets trained on "
               "the other half; amplified, far more so. Noise for comparison."),
    "table5": ("Table 5 — Lipschitz bounds", "An upper bound on how much each layer can stretch a small change "
               "(operator norms)."),
    "advtrain": ("Adversarial training", "Train a 100-100-10 net with a pool of its own adversarial examples "
                 "(section 4.2): a lower test error than weight decay alone, and blind spots further away. "
                 "The full recipe takes about 25 minutes on a 2-core laptop."),
}
ALEXNET = "AlexNet (torchvision architecture)"
QWIDGETSIZE_MAX = (1 << 24) - 1
"""Qt's largest widget size: no maximum."""


def heat_colour(fraction: float) -> QColor:
    """White at 0% to deep red at 100%, readable under black text at every level."""
    fraction = min(max(fraction, 0.0), 1.0)
    return QColor(255, int(255 - 150 * fraction), int(255 - 170 * fraction))


def compact(value, unit: str, signed: bool = False) -> str:
    """A figure as short as it can be read on a projector."""
    if unit == "percent" and value is not None:
        digits = 2 if abs(value) < 0.1 else 1  # small error rates need their second decimal
        return f"{100 * value:+.{digits}f}" if signed else f"{100 * value:.{digits}f}%"
    return format_value(value, unit, signed)


class ExperimentControls(QGroupBox):
    """Which experiment, its settings, Run / Cancel, progress and export."""

    def __init__(self, parent=None):
        super().__init__("Experiment", parent)
        self.list = QListWidget()
        self.list.setObjectName("experiment_list")
        for key in experiments.REGISTRY:
            title, text = DESCRIPTIONS[key]
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(text)
            self.list.addItem(item)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.images = QSpinBox()
        self.images.setObjectName("images")
        self.images.setRange(10, 60000)
        self.images.setSingleStep(100)
        self.images.setValue(1000)
        self.images.setToolTip("How many images each network is attacked on (the paper used all of them)")
        self.all_images = QCheckBox("all")
        self.all_images.setToolTip("Every image of the split: 60,000 training or 10,000 test images (slow)")
        self.rule = QComboBox()
        self.rule.setObjectName("rule")
        for key, text in TARGET_RULES.items():
            self.rule.addItem(text, key)
        self.rule.setToolTip("The paper does not say which wrong label its attacks aimed at")

        self.model = QComboBox()
        self.model.setObjectName("bounds_model")
        self.model.addItem(ALEXNET, None)
        for spec in ZOO:
            self.model.addItem(spec.name, spec.name)
        for entry in PHOTO_MODELS:
            self.model.addItem(f"{entry.name} (photos)", entry.key)
        for combo in (self.rule, self.model):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(18)
        self.per_layer = QCheckBox("per-layer variant")
        self.per_layer.setToolTip("Also make adversarial examples of each hidden layer's output and train the layers "
                                  "above on them (the variant the paper found necessary)")
        self.per_layer.setObjectName("per_layer")
        self.per_layer.toggled.connect(self._fit_epochs_to_recipe)
        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(1, find_spec(experiments.ADVTRAIN_MODELS[False]).recipe.epochs)
        self.epochs.setValue(self.epochs.maximum())
        self.epochs.setToolTip("The full recipe trains the zoo's net; a shorter run is a quick look, kept apart")
        self.run_button = QPushButton("Run experiment  (Ctrl+Enter)")
        self.run_button.setObjectName("run_experiment")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_experiment")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("ready")
        self.status = QLabel("Finished parts are kept on disk: after Cancel, Run resumes where it stopped.")
        self.status.setWordWrap(True)
        self.export_csv = QPushButton("CSV…")
        self.export_json = QPushButton("JSON…")
        self.export_png = QPushButton("PNG…")
        for button, what in ((self.export_csv, "the table (ours, paper, difference)"),
                             (self.export_json, "the full result"), (self.export_png, "a picture of the result")):
            button.setToolTip(f"Save {what}")
            button.setEnabled(False)

        self.form = QFormLayout()
        images_row = QHBoxLayout()
        images_row.addWidget(self.images, stretch=1)
        images_row.addWidget(self.all_images)
        self.form.addRow("Images:", images_row)
        self.form.addRow("Target:", self.rule)
        self.form.addRow("Network:", self.model)
        self.form.addRow(self.per_layer)
        self.form.addRow("Epochs:", self.epochs)
        self.list.setMaximumHeight(self.list.sizeHintForRow(0) * (self.list.count() + 1))
        self.setMaximumWidth(360)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, stretch=1)
        buttons.addWidget(self.cancel_button)
        exports = QHBoxLayout()
        exports.addWidget(QLabel("Save:"))
        for button in (self.export_csv, self.export_json, self.export_png):
            exports.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.description)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(exports)
        layout.addStretch(1)
        self.all_images.toggled.connect(lambda checked: self.images.setEnabled(not checked))
        self.list.currentItemChanged.connect(lambda *_: self._show_settings())
        self.list.setCurrentRow(0)

    def experiment(self) -> str:
        return self.list.currentItem().data(Qt.ItemDataRole.UserRole)

    def _show_settings(self) -> None:
        key = self.experiment()
        self.description.setText(DESCRIPTIONS[key][1])
        attacked = key in ("table1", "table2", "table3", "table4")
        for row, shown in enumerate((attacked, attacked, key == "table5", key == "advtrain", key == "advtrain")):
            self.form.setRowVisible(row, shown)

    def _fit_epochs_to_recipe(self, per_layer: bool) -> None:
        """The epochs box runs up to the chosen net's full recipe (the whole recipe trains the zoo's net)."""
        full = find_spec(experiments.ADVTRAIN_MODELS[per_layer]).recipe.epochs
        was_full = self.epochs.value() == self.epochs.maximum()
        self.epochs.setMaximum(full)
        if was_full:
            self.epochs.setValue(full)

    def image_count(self) -> int | None:
        return None if self.all_images.isChecked() else self.images.value()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.list.setEnabled(not running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(f"{fraction:.0%}  {message}")


class ResultTable(QTableWidget):
    """Ours beside the paper's: each cell our figure, then the paper's and the difference; matrices as heat maps."""

    def show_table(self, table) -> None:
        self.clear()
        self.setRowCount(len(table.rows))
        self.setColumnCount(len(table.columns))
        crowded = len(table.columns) > 4
        self.setHorizontalHeaderLabels([column.replace(" ", "\n", 1) if crowded and len(column) > 14 else column
                                        for column in table.columns])
        self.setVerticalHeaderLabels([label for label, _ in table.rows])
        for row, (label, cells) in enumerate(table.rows):
            for column, cell in enumerate(cells):
                self.setItem(row, column, self._item(table, label, table.columns[column], cell))
        self.resizeRowsToContents()

    def fit_height(self) -> None:
        """No taller than its rows (when curves below need the room)."""
        height = self.horizontalHeader().height() + 2 * self.frameWidth() + sum(
            self.rowHeight(row) for row in range(self.rowCount()))
        self.setMaximumHeight(height + self.horizontalScrollBar().sizeHint().height())

    @staticmethod
    def _item(table, label: str, column: str, cell) -> QTableWidgetItem:
        ours = compact(cell.ours, cell.unit)
        text = ours
        if cell.paper is not None:
            text += f"\npaper {compact(cell.paper, cell.unit)}  ({compact(cell.difference, cell.unit, True)})"
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        item.setToolTip(f"{label} → {column}: ours {ours}"
                        + ("" if cell.paper is None else f", the paper's {format_value(cell.paper, cell.unit)}"))
        if table.heat_map and cell.unit == "percent" and cell.ours is not None:
            item.setBackground(QBrush(heat_colour(cell.ours)))
            item.setForeground(QBrush(QColor("black")))
        return item


class AdvTrainCurves(QWidget):
    """Test error and average minimum distortion of the net being trained, epoch by epoch, against the baseline."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.error_plot = self._plot("test error (%)", "Test error while training with adversarial examples")
        self.distortion_plot = self._plot("av. min. distortion (RMS)", "Distance to its blind spots")
        self.error_curve = self.error_plot.plot([], [], pen=pg.mkPen((200, 50, 40), width=2), symbol="o", symbolSize=4)
        self.distortion_curve = self.distortion_plot.plot([], [], pen=pg.mkPen((40, 90, 200), width=2), symbol="o",
                                                          symbolSize=6)
        self.references: list = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error_plot)
        layout.addWidget(self.distortion_plot)
        self.clear()

    @staticmethod
    def _plot(label: str, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        plot.setTitle(title, color="#333")
        plot.setLabel("left", label)
        plot.setLabel("bottom", "epoch")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setMinimumHeight(160)
        return plot

    def clear(self) -> None:
        self.points: list[AdvTrainReport] = []
        self.error_curve.setData([], [])
        self.distortion_curve.setData([], [])
        for plot, line in self.references:
            plot.removeItem(line)
        self.references = []
        self.baseline_error = None
        self._reference(self.error_plot, 100 * PAPER_ADVTRAIN["test_error"], "paper: below 1.2%", (90, 90, 90), 0.65)

    def _reference(self, plot, value: float, text: str, colour, position: float) -> None:
        line = pg.InfiniteLine(value, angle=0, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                               label=text, labelOpts={"position": position, "color": colour, "anchors": [(0, 1), (0, 1)]})
        plot.addItem(line)
        self.references.append((plot, line))

    def show_baseline(self, baseline: dict) -> None:
        self.baseline_error = 100 * baseline["test_error"]
        self._reference(self.error_plot, self.baseline_error, f"weight decay only: {baseline['test_error']:.2%}",
                        (40, 130, 60), 0.3)
        self._reference(self.distortion_plot, baseline["distortion"],
                        f"weight decay only: {baseline['distortion']:.4f}", (40, 130, 60), 0.3)

    def add(self, report: AdvTrainReport) -> None:
        self.points.append(report)
        errors = [100 * p.test_error for p in self.points]
        self.error_curve.setData([p.epoch for p in self.points], errors)
        # the first epochs' errors are large; keep the region around the targets readable
        ceiling = max(4.0, 2.5 * (self.baseline_error or 1.6))
        self.error_plot.setYRange(0, min(max(errors), ceiling) * 1.05, padding=0)
        measured = [p for p in self.points if p.distortion is not None]
        self.distortion_curve.setData([p.epoch for p in measured], [p.distortion for p in measured])


class ExperimentsView(QWidget):
    """Controls on the left; the result (title, table or heat map, curves, notes) on the right."""

    sig_finished = Signal(str)
    """The experiment's name, once its result is shown."""
    sig_model_trained = Signal(str)
    """A zoo model's name, after adversarial training saved its weights."""
    sig_error = Signal(str)

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
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
    def _job(self):
        key, controls = self.controls.experiment(), self.controls
        if key == "table5":
            settings = experiments.BoundsSettings(controls.model.currentData())
        elif key == "advtrain":
            epochs = controls.epochs.value()
            settings = experiments.AdvTrainSettings(controls.per_layer.isChecked(),
                                                    None if epochs == controls.epochs.maximum() else epochs)
        else:
            settings = experiments.AttackedTableSettings(controls.image_count(), controls.rule.currentData())
        return lambda monitor: experiments.run_experiment(key, settings, monitor)

    def run(self) -> None:
        if self.runner.is_running("experiment"):
            return
        key = self.controls.experiment()
        self.controls.set_running(True)
        self.controls.status.setText(f"Running {DESCRIPTIONS[key][0]}…")
        self.curves.setVisible(key == "advtrain")
        if key == "advtrain":
            self.curves.clear()
            self.table.clear()
            self.table.setRowCount(0)
        self.runner.start("experiment", self._job(), on_progress=self.controls.show_progress,
                          on_partial=self._on_partial, on_finished=self._on_finished, on_failed=self._on_failed,
                          on_cancelled=self._on_cancelled, throttle_partials=False)

    def cancel(self) -> None:
        self.runner.cancel("experiment")
        self.controls.status.setText("Cancelling… (finished parts are kept)")

    def _on_partial(self, report) -> None:
        if isinstance(report, AdvTrainReport):
            self.curves.add(report)
        elif isinstance(report, dict) and "baseline" in report:
            self.curves.show_baseline(report["baseline"])

    def _on_finished(self, result: dict) -> None:
        self.controls.set_running(False)
        self.controls.progress.setFormat("done")
        self.show_result(result)
        seconds = result.get("seconds")
        self.controls.status.setText("Done." + (f" Training took {seconds:.0f} s." if seconds else "")
                                     + " Run again to reuse the finished parts.")
        if result["experiment"] == "advtrain" and result["saved_to_zoo"]:
            self.sig_model_trained.emit(result["model"])
        self.sig_finished.emit(result["experiment"])

    def _on_failed(self, message: str) -> None:
        self.controls.set_running(False)
        self.controls.progress.setFormat("failed")
        self.controls.status.setText(f"Failed: {message}")
        self.sig_error.emit(f"The experiment failed: {message}")

    def _on_cancelled(self) -> None:
        self.controls.set_running(False)
        self.controls.progress.setFormat("cancelled")
        self.controls.status.setText("Cancelled. Finished parts are kept on disk: Run resumes where it stopped.")

    # --- showing -------------------------------------------------------------------------------------------------
    def show_result(self, result: dict) -> None:
        self.result = result
        table = comparison_table(result)
        self.title.setText(table.title)
        self.legend.setText("Each cell: our figure, then the paper's and the difference."
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
