"""The window's layout for the main window's shell: settings of the layout, fonts, and the presentation state shown.

A mixin of :class:`blindspot_gui.qt.main_window.MainWindow`: it restores the geometry and the
dock layout (a damaged or off-screen value is ignored for the default), lets the docks step aside
for the tabs that do not use them and while presenting (and come back), scales every widget's font
for projectors, and renders the window's :class:`~blindspot_gui.session.presentation.Presentation`
(window, full screen, presenting, blanked, touring, text size). Every panel's visibility is derived
again from that state after any layout is restored, so no saved layout can bring back a panel of a
state that has ended.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QDialog, QDockWidget, QSizePolicy, QTableView, QWidget

from blindspot_gui.qt.settings import read_bytes, read_int
from blindspot_gui.qt.widgets.plot_style import style_plots
from blindspot_gui.session.presentation import TEXT_POINTS, PresentationState, Screen

FONT_FACTOR = "font_factor"
"""A widget property: its text's size over the base text size (the window's, or a dialog's that sizes its own)."""

FRAME_ALLOWANCE = (8, 38)
"""Window borders and title bar assumed before the window is shown (pixels at each side, and on top)."""
ROW_PADDING = 8
"""Pixels of a table row beyond its line of text."""


class WindowLayout:
    """Layout, fonts and presentation of the main window (which has ``model_dock``, ``image_dock``, ``tabs``,
    ``presentation``, ``blank`` and ``tour``)."""

    _was_maximized = False
    _stepped_aside: list[QDockWidget] = []
    """The side panels hidden for the tab shown or for presenting, which come back when neither holds."""

    def _docks(self) -> tuple[QDockWidget, ...]:
        return (self.model_dock, self.image_dock)

    def _restore_layout(self) -> None:
        """Restore geometry, dock layout and text size; any value that is damaged or out of range is ignored."""
        self._stepped_aside = []
        geometry, state = read_bytes(self.settings, "window/geometry"), read_bytes(self.settings, "window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._fit_on_screen()
        if state is not None and not self.restoreState(state):
            self.restoreState(self._default_state)
        self._make_docks_reachable()
        self._was_maximized = self.isMaximized()
        size = read_int(self.settings, "view/font_size", 0, *TEXT_POINTS) or QApplication.font().pointSize()
        if self.presentation.state.text_points == size:  # unchanged: no event renders it, so render it here
            self._apply_text_size(size)
            self.show_panels()
        self.presentation.set_text_points(size)

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

    def show_panels(self) -> None:
        """Each panel shown as the tab and the presentation state say: the network and image docks serve the
        blind-spot tab and step aside for the other tabs (which choose their own network) and while presenting;
        the tour's panel shows while, and only while, the tour runs."""
        self._size_window_for_tab()
        state = self.presentation.state
        if self.tabs.currentWidget() is not self.blindspots or not state.side_panels_shown:
            self._stepped_aside = self._stepped_aside or [dock for dock in self._docks() if dock.isVisible()]
            for dock in self._stepped_aside:
                dock.hide()
        else:
            for dock in self._stepped_aside:
                dock.show()
            self._stepped_aside = []
        if self.tour is not None:
            self.tour.dock.setVisible(state.touring)

    def _size_window_for_tab(self) -> None:
        """The window's minimum is the tab shown's (with its panels), not the largest of all tabs: a tab not shown
        asks for no room, so the blind-spot tab and its panels fit a projector's screen."""
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            policy = QSizePolicy.Policy.Preferred if page is self.tabs.currentWidget() else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)

    def reset_layout(self) -> None:
        """Every panel back where it was on first start, shown, and the window fitted to the screen."""
        self.presentation.leave_full_screen()
        self._stepped_aside = []
        self.restoreState(self._default_state)
        for dock in self._docks():
            dock.setFloating(False)
            dock.show()
        self._make_docks_reachable()
        self.show_panels()
        self.statusBar().showMessage("Layout reset: every panel is back in its place.", 5000)

    def save_settings(self) -> None:
        self.presentation.leave_full_screen()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self._user_state())
        self.settings.setValue("view/font_size", self.presentation.state.text_points)
        self.blindspots.save_settings()
        self.settings.sync()

    def _user_state(self):
        """The dock layout as the user chose it: panels hidden only because of the tab shown count as shown."""
        hidden = [dock for dock in self._stepped_aside if dock.isHidden()]
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
        """The text size in points (within TEXT_POINTS), through the presentation state."""
        self.presentation.set_text_points(points)

    def change_font_size(self, step: int) -> None:
        self.presentation.set_text_points(self.presentation.state.text_points + step)

    def _apply_text_size(self, points: int) -> None:
        self.blindspots.pictures_first.text_changing()  # the pictures keep their height: the details give way
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
        self.blindspots.pictures_first.text_changed()
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

    # --- the presentation state, rendered -------------------------------------------------------------------
    def show_presentation(self, new: PresentationState, old: PresentationState) -> None:
        """Render a change of the presentation state (connected to ``presentation.changed``)."""
        if new.screen is not old.screen:
            self._show_screen(new.screen, old.screen)
        self.show_panels()
        if new.blanked != self.blank.blanked:
            self.blank.blank() if new.blanked else self.blank.lift()
        if new.text_points != old.text_points:
            self._apply_text_size(new.text_points)
        self.stop_presenting_action.setEnabled(new.screen is Screen.PRESENTING)
        self.fit_images_soon()

    def _show_screen(self, screen: Screen, before: Screen) -> None:
        if before is Screen.WINDOW:
            self._was_maximized = self.isMaximized()
        if screen is Screen.WINDOW:
            self.showMaximized() if self._was_maximized else self.showNormal()
        elif not self.isFullScreen():
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
