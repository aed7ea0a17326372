"""The window's layout for the main window's shell: settings of the layout, fonts, full screen, docks per tab.

A mixin of :class:`blindspot_gui.qt.main_window.MainWindow`: it restores the geometry and the
dock layout (a damaged or off-screen value is ignored for the default), lets the docks step aside
for the tabs that do not use them (and come back), scales every widget's font for projectors,
and toggles full screen for talks.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QDialog, QDockWidget, QSizePolicy, QTableView, QWidget

from blindspot_gui.qt.settings import read_bytes, read_int
from blindspot_gui.qt.widgets.plot_style import style_plots

FONT_FACTOR = "font_factor"
"""A widget property: its text's size over the base text size (the window's, or a dialog's that sizes its own)."""

FONT_RANGE = (8, 32)
FRAME_ALLOWANCE = (8, 38)
"""Window borders and title bar assumed before the window is shown (pixels at each side, and on top)."""
ROW_PADDING = 8
"""Pixels of a table row beyond its line of text."""


class WindowLayout:
    """Layout, fonts and full screen of the main window (which has ``model_dock``, ``image_dock``, ``tabs``)."""

    _state_before_full_screen = None
    _docks_hidden_for_tab: list[QDockWidget] = []

    def _docks(self) -> tuple[QDockWidget, ...]:
        return (self.model_dock, self.image_dock)

    def _restore_layout(self) -> None:
        """Restore geometry, dock layout and text size; any value that is damaged or out of range is ignored."""
        self._docks_hidden_for_tab = []
        geometry, state = read_bytes(self.settings, "window/geometry"), read_bytes(self.settings, "window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._fit_on_screen()
        if state is not None and not self.restoreState(state):
            self.restoreState(self._default_state)
        self._make_docks_reachable()
        size = read_int(self.settings, "view/font_size", 0, *FONT_RANGE)
        self.set_font_size(size or QApplication.font().pointSize())

    def _fit_on_screen(self) -> None:
        """Keep the window inside the screen it opens on (a geometry saved on a larger screen is shrunk and moved)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        available = screen.availableGeometry()
        frame = self.frameGeometry()
        if not self.isVisible():  # the title bar and borders are not known yet: leave room for typical ones
            frame = frame.adjusted(-FRAME_ALLOWANCE[0], -FRAME_ALLOWANCE[1], FRAME_ALLOWANCE[0], FRAME_ALLOWANCE[0])
        if available.contains(frame):
            return
        extra_width, extra_height = frame.width() - self.width(), frame.height() - self.height()
        self.resize(min(self.width(), available.width() - extra_width),
                    min(self.height(), available.height() - extra_height))
        frame = self.frameGeometry()
        frame.moveCenter(available.center())
        self.move(max(frame.left(), available.left()), max(frame.top(), available.top()))

    def _make_docks_reachable(self) -> None:
        """Whatever the saved state says, every panel can be brought back from the View menu, docked and on screen."""
        screen = self.screen() or QApplication.primaryScreen()
        for dock in self._docks():
            if dock.isFloating() and screen is not None and not screen.availableGeometry().intersects(dock.geometry()):
                dock.setFloating(False)

    def _fit_docks_to_tab(self) -> None:
        """The network and image docks serve the blind-spot tab; the other tabs (which choose their own network)
        get the whole window."""
        self._size_window_for_tab()
        if self.tabs.currentWidget() is not self.blindspots:
            self._docks_hidden_for_tab = self._docks_hidden_for_tab or [
                dock for dock in self._docks() if dock.isVisible()]
            for dock in self._docks_hidden_for_tab:
                dock.hide()
        else:
            for dock in self._docks_hidden_for_tab:
                dock.show()
            self._docks_hidden_for_tab = []

    def _size_window_for_tab(self) -> None:
        """The window's minimum is the tab shown's (with its panels), not the largest of all tabs: a tab not shown
        asks for no room, so the blind-spot tab and its panels fit a projector's screen."""
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            policy = QSizePolicy.Policy.Preferred if page is self.tabs.currentWidget() else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)

    def reset_layout(self) -> None:
        """Every panel back where it was on first start, shown, and the window fitted to the screen."""
        if self.isFullScreen():
            self.toggle_full_screen()
        self._docks_hidden_for_tab = []
        self.restoreState(self._default_state)
        for dock in self._docks():
            dock.setFloating(False)
            dock.show()
        self._make_docks_reachable()
        self._fit_docks_to_tab()
        self.statusBar().showMessage("Layout reset: every panel is back in its place.", 5000)

    def save_settings(self) -> None:
        if self.isFullScreen():
            self.toggle_full_screen()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self._user_state())
        self.settings.setValue("view/font_size", QApplication.font().pointSize())
        self.blindspots.save_settings()
        self.settings.sync()

    def _user_state(self):
        """The dock layout as the user chose it: panels hidden only because of the tab shown count as shown."""
        hidden = [dock for dock in self._docks_hidden_for_tab if dock.isHidden()]
        for dock in hidden:
            dock.show()
        state = self.saveState()
        for dock in hidden:
            dock.hide()
        return state

    # --- fonts and full screen ---------------------------------------------------------------------
    def _remember_font_factors(self) -> None:
        """Note each widget's font size relative to the application's, so big labels stay big when scaling."""
        base = max(QApplication.font().pointSizeF(), 1.0)
        for widget in self.findChildren(QWidget):
            size = widget.font().pointSizeF()
            widget.setProperty(FONT_FACTOR, size / base if size > 0 else 1.0)

    def set_font_size(self, points: int) -> None:
        points = min(max(points, FONT_RANGE[0]), FONT_RANGE[1])
        font = QFont(QApplication.font())
        font.setPointSize(points)
        QApplication.setFont(font)
        for widget in self.findChildren(QWidget):
            if isinstance(widget.window(), QDialog) or _sizes_own_text(widget):  # a dialog keeps its proportions
                continue
            factor = widget.property(FONT_FACTOR)
            scaled = QFont(widget.font())
            scaled.setPointSizeF(points * (float(factor) if factor is not None else 1.0))
            widget.setFont(scaled)
        self._fit_tables_and_charts(font)
        self.settings.setValue("view/font_size", points)
        self.fit_images_soon()

    def _fit_tables_and_charts(self, font: QFont) -> None:
        """Table rows as tall as their text, chart axes and tick labels in the window's text size."""
        height = QFontMetrics(font).height() + ROW_PADDING
        for table in self.findChildren(QTableView):
            table.verticalHeader().setMinimumSectionSize(QFontMetrics(font).height())
            table.verticalHeader().setDefaultSectionSize(height)
        style_plots(self, font)

    def fit_images(self) -> None:
        """Every image as large as its panel allows, the whole image shown (View ▸ Fit images)."""
        self.blindspots.viewer.fit_images()

    def fit_images_soon(self) -> None:
        """Fit the images once the layout has settled (after a resize, full screen, a text size, a panel)."""
        QTimer.singleShot(0, self.fit_images)
        QTimer.singleShot(50, self.fit_images)

    def change_font_size(self, step: int) -> None:
        self.set_font_size(QApplication.font().pointSize() + step)

    def toggle_full_screen(self) -> None:
        """Full screen for talks: the docks step aside so the images get the room (View menu brings them back)."""
        if self.isFullScreen():
            self.showNormal()
            if self._state_before_full_screen is not None:
                self.restoreState(self._state_before_full_screen)
        else:
            self._state_before_full_screen = self.saveState()
            for dock in self._docks():
                dock.hide()
            self.showFullScreen()


def _sizes_own_text(widget: QWidget) -> bool:
    """Whether ``widget`` or a widget it lies in sizes its own text (a SizesOwnText)."""
    while widget is not None:
        if isinstance(widget, SizesOwnText):
            return True
        widget = widget.parentWidget()
    return False


class SizesOwnText:
    """A widget (put this first among its bases) whose texts are the window's text size × its ``text_factor()`` ×
    each text's own FONT_FACTOR, fitted again when it is resized or shown and when the window's text size changes;
    the window's text-size loop leaves it and its children alone."""

    _fitting = False

    def text_factor(self) -> float:
        return 1.0

    def write_text_at(self, factor: float) -> None:
        """Every text of the widget at the window's text size × ``factor`` × its own scale."""
        base = QApplication.font().pointSizeF() * factor
        for widget in [self, *self.findChildren(QWidget)]:
            font = QFont(widget.font())
            font.setPointSizeF(base * float(widget.property(FONT_FACTOR) or 1.0))
            widget.setFont(font)

    def fit_text(self) -> None:
        if self._fitting:  # text_factor may write the texts to measure them
            return
        self._fitting = True
        try:
            self.write_text_at(self.text_factor())
        finally:
            self._fitting = False

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_text()

    def showEvent(self, event) -> None:  # fitted to the size it is seen at
        super().showEvent(event)
        self.fit_text()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ApplicationFontChange:  # the window's text size changed (Ctrl+= / Ctrl+-)
            self.fit_text()
        return super().event(event)
