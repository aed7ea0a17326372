"""The "Compare methods" dialog: one image attacked by ours and by well-known attacks, one card per method, filled in as each finishes.

Each card shows the method and its budget, its adversarial image, its change magnified on one
scale common to every card (so a bigger change looks bigger), the network's answer, the paper's
distortion (RMS) and its ratio to ours with a bar, the largest change and the time. The work is
``core.attack.compare.compare_methods`` on the task runner; the dialog keeps the network and image
it was given, so switching either in the window neither stops nor mixes up a comparison. Close
or Esc cancels what is still running; asking again for the same network, image and target shows
the cards kept and runs only the methods that did not finish.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.attack.compare import METHODS, NAMES, Budgets, MethodResult, compare_methods
from blindspot_gui.qt.widgets.change_picture import SIZE_PER_PIXEL, change_size
from blindspot_gui.qt.figures import change_picture, qimage_of
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.widgets.fitted_label import FittedLabel
from blindspot_gui.qt.window_layout import FONT_FACTOR, SizesOwnText

OURS_COLOUR, FOOLED, MUTED, BAR = "#1a7f37", "#b2182b", "#6a6a6a", "#4a6fa5"
TIE = 0.01
"""Distortions within 1% of each other count as the same size in the verdict line."""
DESIGN_SIZE = QSize(1240, 680)
LARGEST_TEXT = 1.6
"""The dialog's text is the window's at DESIGN_SIZE and grows with the dialog up to this factor, so the numbers
stay readable from the back of a room however large the dialog is shown."""


class Picture(QWidget):
    """An image drawn as large as fits, centred (small digit images stay sharp-edged), or a line of text instead."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.picture: QImage | None = None
        self.text = ""
        self.setMinimumSize(64, 64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_picture(self, picture: QImage | None, text: str = "") -> None:
        self.picture, self.text = picture, text
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        if self.picture is None:
            painter.fillRect(self.rect(), QColor("#202020"))
            painter.setPen(QColor("#d0d0d0"))
            painter.drawText(self.rect().adjusted(6, 6, -6, -6), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.text)
            return
        scale = min(self.width() / self.picture.width(), self.height() / self.picture.height())
        width, height = self.picture.width() * scale, self.picture.height() * scale
        target = QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.picture.width() > 64)
        painter.drawImage(target, self.picture)


class DistortionBar(QWidget):
    """A horizontal bar whose length is a distortion over the largest of the comparison."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.fraction, self.colour = 0.0, QColor(BAR)
        self.setFixedHeight(max(10, self.fontMetrics().height() // 2))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.setFixedHeight(max(10, self.fontMetrics().height() // 2))

    def show_fraction(self, fraction: float, colour: str) -> None:
        self.fraction, self.colour = min(max(fraction, 0.0), 1.0), QColor(colour)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#e4e4e4"))
        painter.fillRect(QRectF(0, 0, self.width() * self.fraction, self.height()), self.colour)


def _label(text: str = "", scale: float = 1.0, bold: bool = False, colour: str | None = None) -> FittedLabel:
    """A one-line label whose text is ``scale`` times the dialog's (see ``CompareView.fit_text``)."""
    label = FittedLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setProperty(FONT_FACTOR, scale)
    font = QFont(label.font())
    font.setPointSizeF(font.pointSizeF() * scale)
    font.setBold(bold)
    label.setFont(font)
    if colour:
        label.setStyleSheet(f"color: {colour}")
    return label


class MethodCard(QFrame):
    """One method: name, budget, adversarial image, change, answer, distortion beside ours, largest change and time."""

    def __init__(self, method: str, parent=None):
        super().__init__(parent)
        self.method = method
        self.setObjectName(f"card_{method}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        if method == "ours":
            self.setStyleSheet(f"#card_ours {{ border: 3px solid {OURS_COLOUR}; border-radius: 4px; }}")
        self.title = _label(NAMES[method], 1.2, bold=True, colour=OURS_COLOUR if method == "ours" else None)
        self.budget = _label("", 0.9, colour=MUTED)
        self.adversarial, self.change = Picture(), Picture()
        self.answer = _label("—", 1.15, bold=True)
        self.distortion = _label("", 1.35, bold=True)
        self.ratio = _label("", 1.15, bold=True)
        self.bar = DistortionBar()
        self.details = _label("", 0.95)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(3)
        for widget in (self.title, self.budget):
            layout.addWidget(widget)
        layout.addWidget(self.adversarial, stretch=1)
        layout.addWidget(self.change, stretch=1)
        for widget in (self.answer, self.distortion, self.ratio, self.bar, self.details):
            layout.addWidget(widget)
        self.show_state("waiting…")

    def show_state(self, text: str, budget: str = "") -> None:
        """No result (yet): ``text`` where the pictures go."""
        if budget:
            self.budget.setText(budget)
        self.adversarial.show_picture(None, text)
        self.change.show_picture(None, "")
        for label in (self.answer, self.distortion, self.ratio, self.details):
            label.setText("")
        self.answer.setText("—")
        self.answer.setStyleSheet("")
        self.bar.show_fraction(0.0, BAR)

    def show_result(self, result: MethodResult, ours: float | None, largest: float, factor: float, class_name) -> None:
        """A finished method, its change drawn ×``factor`` and its bar as a share of the ``largest`` distortion."""
        self.budget.setText(result.budget)
        if not result.success:
            self.show_state(result.message or "did not fool the network")
            self.answer.setText("not run" if not result.ran else "not fooled" if result.confidence is None else
                                f"not {100 * result.confidence:.0f}% sure")
            self.details.setText(f"{result.seconds:.2f} s" if result.ran else "")
            return
        self.adversarial.show_picture(qimage_of(result.adversarial))
        self.change.show_picture(change_picture(result.perturbation, factor, SIZE_PER_PIXEL))
        self.answer.setText(f"says {class_name(result.prediction)}  ({100 * result.probability:.0f}%)")
        self.answer.setStyleSheet(f"color: {FOOLED}")
        self.distortion.setText(f"RMS {result.distortion:.4f}")
        self.ratio.setText(ratio_text(result, ours))
        self.ratio.setStyleSheet(f"color: {OURS_COLOUR if result.method == 'ours' else '#202020'}")
        self.bar.show_fraction(result.distortion / largest if largest > 0 else 0.0,
                               OURS_COLOUR if result.method == "ours" else BAR)
        self.details.setText(f"largest change {255 * result.linf:.1f}/255 · {seconds_text(result.seconds)}")


def ratio_text(result: MethodResult, ours: float | None) -> str:
    """"ours" on our card; elsewhere the distortion over ours, e.g. "2.31× ours"."""
    if result.method == "ours":
        return "ours"
    if not ours:
        return ""
    return f"{result.distortion / ours:.2f}× ours"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{1000 * seconds:.0f} ms"


def verdict(results: dict[str, MethodResult]) -> str:
    """One line a speaker can point at: which change is smallest, and how much more the others need."""
    found = {method: result.distortion for method, result in results.items() if result.success}
    ours = found.get("ours")
    if ours is None or len(found) < 2:
        return ""
    others = {method: distortion for method, distortion in found.items() if method != "ours"}
    best = min(others, key=others.get)
    if others[best] < ours * (1 - TIE):
        return (f"{NAMES[best]} found a change {100 * (1 - others[best] / ours):.0f}% smaller than ours "
                f"(RMS {others[best]:.4g} against {ours:.4g}).")
    close = [NAMES[method] for method, distortion in others.items() if distortion <= ours * (1 + TIE)]
    worst = max(others, key=others.get)
    line = f"Ours finds the smallest change: RMS {ours:.4g}."
    if close:
        line += f" {' and '.join(close)} come{'s' if len(close) == 1 else ''} within 1%."
    if others[worst] > ours * (1 + TIE):
        line += f" {NAMES[worst]} needs {others[worst] / ours:.1f}× as much."
    return line


def common_factor(results) -> float:
    """The magnification of every card's change: the largest change of any method just fills the picture's range."""
    largest = max((float(change_size(result.perturbation).max()) for result in results if result.success), default=0.0)
    return 1.0 / largest if largest > 0 else 1.0


class CompareView(SizesOwnText, QDialog, TaskController):
    """The non-modal comparison dialog (see the module docstring); ``compare`` starts or shows a comparison."""

    sig_comparison_finished = Signal(object)
    """The MethodResults by method, once a comparison has ended (finished or cancelled)."""
    budgets: Budgets | None = None
    """The attacks' budgets; None: ``budgets_for`` the network (tests set small ones)."""

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.setWindowTitle("Compare methods on one image")
        self.setModal(False)
        self.results: dict[str, MethodResult] = {}
        self._key: tuple | None = None
        self._inputs: tuple | None = None
        self._class_name = str
        self._names = ("", "")
        self._started = 0.0
        self._build()

    def _build(self) -> None:
        self.heading = _label("", 1.3, bold=True)
        self.explanation = QLabel("")
        self.explanation.setWordWrap(True)
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict = _label("", 1.25, bold=True, colour=OURS_COLOUR)
        self.cards = {method: MethodCard(method) for method in METHODS}
        row = QHBoxLayout()
        for card in self.cards.values():
            row.addWidget(card, stretch=1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel  (Esc)")
        self.cancel_button.setObjectName("compare_cancel")
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("compare_close")
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, stretch=1)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        for widget in (self.heading, self.explanation, self.verdict):
            layout.addWidget(widget)
        layout.addLayout(row, stretch=1)
        layout.addLayout(bottom)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)

    def sizeHint(self) -> QSize:
        """As large as the screen allows, up to 1500x900: the cards are for a room to read."""
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is None:
            return DESIGN_SIZE
        return QSize(min(1500, screen.width() - 40), min(900, screen.height() - 40))

    def text_factor(self) -> float:
        """How much larger than the window's the dialog's text is: 1 up to DESIGN_SIZE, then with the dialog."""
        grown = min(self.width() / DESIGN_SIZE.width(), self.height() / DESIGN_SIZE.height())
        return min(max(grown, 1.0), LARGEST_TEXT)


    # --- starting ----------------------------------------------------------------------------------------
    def compare(self, classifier, pixels: np.ndarray, label: int | None, target, network: str, image: str,
                confidence: float | None = None) -> None:
        """Compare the methods on ``pixels`` (shaped as ``classifier`` takes them) for ``target`` (a label, a rule or
        "none") and the goal (``confidence``: the Confident goal's p); the same network, image, target and goal again
        shows the cards kept and finishes what did not finish."""
        key = (network, id(classifier), hashlib.sha1(np.ascontiguousarray(pixels).tobytes()).hexdigest(), label,
               str(target), confidence)
        if key != self._key:
            self.runner.replace("compare")  # a comparison of another image, network or target is dropped
            self._key, self.results = key, {}
            self._inputs = (classifier, np.ascontiguousarray(pixels, dtype=np.float32), label, target, confidence)
            self._class_name = classifier.class_name
            self._names = (network, image)
            self._describe(target)
            for card in self.cards.values():
                card.show_state("waiting…")
            self.verdict.setText("")
        missing = [method for method in METHODS if method not in self.results or self.results[method].cancelled]
        if missing and not self.is_running("compare"):
            self._start(missing)
        self.show()
        self.raise_()
        self.activateWindow()

    def _describe(self, target) -> None:
        """The heading: network, image and target (a rule such as "random" until the first result names its class)."""
        network, image = self._names
        wanted = ("the nearest wrong class" if target in (None, "none") else
                  f"“{self._class_name(target)}”" if isinstance(target, int) else f"a class chosen by the rule “{target}”")
        confidence = self._inputs[4]
        sure = "" if confidence is None else f", at least {100 * confidence:.0f}% sure"
        self.heading.setText(f"{network} on {image}: the smallest change that makes it answer {wanted}{sure}")
        self.setWindowTitle(f"Compare methods — {network}, {image}")

    def _start(self, methods: list[str]) -> None:
        classifier, pixels, label, target, confidence = self._inputs
        for method in methods:
            self.cards[method].show_state("waiting…")
        self._started = time.perf_counter()
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat(f"{NAMES[methods[0]]}  %p%")
        self.start("compare", compare_methods, classifier, pixels, label, target, methods=tuple(methods),
                   budgets=self.budgets, confidence=confidence, throttle_partials=False)  # every finished method must arrive

    def cancel(self) -> None:
        """Stop the comparison; the methods that finished stay shown."""
        if self.is_running("compare"):
            self.cancel_task("compare")
            self.progress.setFormat("cancelling…")

    def done(self, code: int) -> None:
        """Close, Esc or the window's close button: what still runs is cancelled, the cards are kept."""
        self.cancel()
        super().done(code)

    def closeEvent(self, event) -> None:
        self.cancel()
        super().closeEvent(event)

    # --- what the task sends back ------------------------------------------------------------------------
    def _on_task_progress(self, slot: str, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{message}  %p%" if message else "%p%")
        for method in METHODS:  # the card of the method running says so
            if message.startswith(NAMES[method]) and (method not in self.results or self.results[method].cancelled):
                self.cards[method].adversarial.show_picture(None, "running…")

    def _on_task_partial(self, slot: str, result: MethodResult) -> None:
        if result.target is not None:
            self._describe(result.target)
        self.results[result.method] = result
        self._redraw()

    def _on_task_done(self, slot: str, results: list[MethodResult]) -> None:
        for result in results:
            if result.cancelled:
                self.results.setdefault(result.method, result)
                self.cards[result.method].show_state("cancelled: ask again to finish", result.budget)
            else:
                self.results[result.method] = result
        self._redraw()
        cancelled = any(result.cancelled for result in results)
        self.cancel_button.setEnabled(False)
        self.progress.setValue(1000)
        self.progress.setFormat("cancelled: Compare methods again finishes the rest" if cancelled else
                                f"done in {time.perf_counter() - self._started:.1f} s")
        self.sig_comparison_finished.emit(dict(self.results))

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setFormat(f"failed: {describe_error(error)}")
        self.sig_comparison_finished.emit(dict(self.results))

    def _on_task_cancelled(self, slot: str) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelled")

    def _redraw(self) -> None:
        """Every finished card again: the common scale and the largest distortion change as results arrive."""
        finished = [result for result in self.results.values() if not result.cancelled]
        ours = next((result.distortion for result in finished if result.method == "ours" and result.success), None)
        largest = max((result.distortion for result in finished if result.success), default=0.0)
        factor = common_factor(finished)
        for result in finished:
            self.cards[result.method].show_result(result, ours, largest, factor, self._class_name)
        if any(result.success for result in finished):
            grey = self._inputs[1].shape[0] == 1
            drawn = "blue: darker, red: brighter" if grey else "its size per pixel, dark: unchanged"
            self.explanation.setText(f"Below each image its change ({drawn}), magnified ×{factor:.3g}, the same for "
                                     "every method, so a bigger change looks bigger. RMS: the paper's distortion.")
        line = verdict({result.method: result for result in finished})
        self.verdict.setText(line)
        self.verdict.setStyleSheet(f"color: {OURS_COLOUR if line.startswith('Ours') else '#202020'}")
