"""The presenter's blank screen: a black cover over the whole window (B); any key or a click asks for it to be lifted."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget


class BlankScreen(QWidget):
    """A black widget over all of its parent window; while shown it takes every key, so none reaches the window.

    It shows what the window's presentation state says (``blank`` / ``lift``); a key or a click while it is down
    emits ``sig_lift_requested``, for that state to decide."""

    sig_lift_requested = Signal()

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

    def blank(self) -> None:
        self._focus_before = self.window().focusWidget()
        self.cover()
        self.show()
        self.raise_()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def lift(self) -> None:
        self.hide()
        if self._focus_before is not None:
            self._focus_before.setFocus(Qt.FocusReason.OtherFocusReason)

    def event(self, event) -> bool:
        """Any key lifts the cover: shortcuts of the window (Space runs a search…) must not act while it is down."""
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            self.sig_lift_requested.emit()
            return True
        return super().event(event)
