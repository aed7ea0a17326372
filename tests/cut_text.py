"""Finds text the window shows cut: elided with "…", or clipped by a widget narrower than its words (test helper).

Looks at what a person sees: visible labels (a FittedLabel may draw smaller, never elided), buttons,
check boxes, combo boxes, group box titles, tab titles and the cells of visible item views. A word-
wrapped label, rich text and widgets inside a scroll area's viewport scrolled out of sight are left
alone (they are read by scrolling or wrap by design).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QCheckBox, QComboBox, QGroupBox, QLabel,
                               QListView, QPushButton, QRadioButton, QStyle, QStyleOptionComboBox, QTabBar, QWidget)

from blindspot_gui.qt.widgets.fitted_label import FittedLabel

SLACK = 2
"""Pixels of rounding allowed between a text's width and the room it has."""


def cut_texts(window: QWidget, skip: tuple[QWidget, ...] = ()) -> list[str]:
    """A line for every text ``window`` shows cut; ``skip``: widgets (and what they hold) not to look at."""
    found: list[str] = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or any(widget is held or held.isAncestorOf(widget) for held in skip):
            continue
        for check in (_label, _button, _combo, _group, _tabs, _cells):
            found.extend(check(widget))
    return found


def _advance(widget: QWidget, text: str) -> int:
    return widget.fontMetrics().horizontalAdvance(text.replace("&&", "\0").replace("&", "").replace("\0", "&"))


def _label(widget: QWidget) -> list[str]:
    if isinstance(widget, FittedLabel):
        drawn = widget.fitted_font()[1]
        return [f"label {drawn!r} (of {widget.text()!r})"] if drawn != widget.text() else []
    if not isinstance(widget, QLabel) or widget.wordWrap() or not widget.text() or "<" in widget.text():
        return []
    lines = widget.text().splitlines()
    room = widget.contentsRect().width() - 2 * max(widget.margin(), 0) - max(widget.indent(), 0) * 0
    needed = max(_advance(widget, line) for line in lines)
    return [f"label {widget.text()!r}: {needed} px in {room}"] if needed > room + SLACK else []


def _button(widget: QWidget) -> list[str]:
    if not isinstance(widget, QAbstractButton) or not widget.text():
        return []
    if isinstance(widget, (QCheckBox, QRadioButton)):
        needed = widget.sizeHint().width()
    elif isinstance(widget, QPushButton):
        needed = _advance(widget, widget.text()) + (widget.iconSize().width() + 4 if not widget.icon().isNull() else 0)
    else:
        return []
    return [f"button {widget.text()!r}: {needed} px in {widget.width()}"] if needed > widget.width() + SLACK else []


def _combo(widget: QWidget) -> list[str]:
    if not isinstance(widget, QComboBox) or widget.isEditable() or not widget.currentText():
        return []
    option = QStyleOptionComboBox()
    widget.initStyleOption(option)
    field = widget.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                          QStyle.SubControl.SC_ComboBoxEditField, widget)
    needed = _advance(widget, widget.currentText())
    return [f"choice {widget.currentText()!r}: {needed} px in {field.width()}"] if needed > field.width() + SLACK else []


def _group(widget: QWidget) -> list[str]:
    if not isinstance(widget, QGroupBox) or not widget.title():
        return []
    needed = _advance(widget, widget.title()) + (20 if widget.isCheckable() else 0)
    return [f"group {widget.title()!r}: {needed} px in {widget.width()}"] if needed > widget.width() else []


def _tabs(widget: QWidget) -> list[str]:
    if not isinstance(widget, QTabBar):
        return []
    return [f"tab {widget.tabText(index)!r}: {widget.tabSizeHint(index).width()} px in {widget.tabRect(index).width()}"
            for index in range(widget.count())
            if widget.isTabVisible(index) and widget.tabRect(index).width() < widget.tabSizeHint(index).width()]


def _cells(widget: QWidget) -> list[str]:
    """Cells of an item view whose text is wider than the cell (the view elides it)."""
    if not isinstance(widget, QAbstractItemView) or widget.model() is None:
        return []
    model, viewport, found = widget.model(), widget.viewport().rect(), []
    beside = not (isinstance(widget, QListView) and widget.viewMode() == QListView.ViewMode.IconMode)
    columns = 1 if isinstance(widget, QListView) else model.columnCount(QModelIndex())
    for row in range(model.rowCount(QModelIndex())):
        for column in range(columns):
            index = model.index(row, column)
            text, rect = index.data(), widget.visualRect(index)
            if not isinstance(text, str) or not text or rect.isEmpty() or not viewport.intersects(rect):
                continue
            needed = widget.fontMetrics().horizontalAdvance(text) + 8  # the cell's text margins
            if beside and index.data(1) is not None:  # a decoration (icon) beside the text
                needed += widget.iconSize().width() if widget.iconSize().isValid() else 16
            if needed > rect.width() + SLACK:
                found.append(f"cell {text!r} of {type(widget).__name__}: {needed} px in {rect.width()}")
    return found
