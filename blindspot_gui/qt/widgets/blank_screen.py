"""The presenter's blank screen: a black cover over the whole window (B), lifted by B or any other key or a click."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget


class BlankScreen(QWidget):
    """A black widget over all of its parent window; while shown it takes every key, so none reaches the window."""

    sig_blanked = Signal(bool)

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.setObjectName("blank_screen")
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("black"))
        self.setPalette(palette)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.BlankCursor)
        self._focus_before: QWidget | None = None
        self.hide()

    @property
    def blanked(self) -> bool:
        return self.isVisible()

    def cover(self) -> None:
        """Cover the whole window (called when the window changes size)."""
        self.setGeometry(self.parentWidget().rect())

    def toggle(self) -> None:
        self.lift() if self.isVisible() else self.blank()

    def blank(self) -> None:
        self._focus_before = self.window().focusWidget()
        self.cover()
        self.show()
        self.raise_()
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.sig_blanked.emit(True)

    def lift(self) -> None:
        self.hide()
        if self._focus_before is not None:
            self._focus_before.setFocus(Qt.FocusReason.OtherFocusReason)
        self.sig_blanked.emit(False)

    def event(self, event) -> bool:
        """Any key lifts the cover: shortcuts of the window (Space runs a search…) must not act while it is down."""
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            self.lift()
            return True
        return super().event(event)
