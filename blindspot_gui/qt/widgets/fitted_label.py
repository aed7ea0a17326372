"""A one-line label that never widens its panel: too long a text is drawn smaller, then elided (the whole in its tooltip)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy

SMALLEST = 0.6
"""The text shrinks to at most this fraction of its font's size before it is elided."""


class FittedLabel(QLabel):
    """A plain-text, single-line QLabel whose text fits the width it is given (see the module docstring)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 4, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), super().minimumSizeHint().height())

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text if text else "")

    def fitted_font(self) -> tuple[QFont, str]:
        """The font the text is drawn in and the text drawn (elided only when the smallest font is still too wide)."""
        font, width = QFont(self.font()), max(self.contentsRect().width(), 1)
        needed = QFontMetricsF(font).horizontalAdvance(self.text())
        if needed > width:
            font.setPointSizeF(font.pointSizeF() * max(SMALLEST, width / needed * 0.98))
        text = QFontMetricsF(font).elidedText(self.text(), Qt.TextElideMode.ElideRight, width)
        return font, text

    def paintEvent(self, event) -> None:
        font, text = self.fitted_font()
        painter = QPainter(self)
        painter.setFont(font)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), text, QPalette.ColorRole.WindowText)
