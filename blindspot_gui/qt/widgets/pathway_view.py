"""The Layers view: where the blind spot's change takes hold, layer by layer, beside noise of the same size.

A compact chart of each layer's gain (log scale): the blind spot's in red, random noise's in grey
with its 10-90% band, and where Table 5 gives them the bound on the gain (the product of the steps'
bounds so far) dashed. Under it, the reading in one line and the units the change moved most in
the layer where the two part; a click on a unit asks for it in the unit explorer.
"""

from __future__ import annotations

from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from blindspot_gui.core.pathway import Pathway
from blindspot_gui.qt.widgets.plot_style import style_plot

CHANGE_PEN = pg.mkPen((200, 40, 40), width=2)
NOISE_PEN = pg.mkPen((110, 110, 110), width=2)
BOUND_PEN = pg.mkPen((60, 60, 160), width=1, style=Qt.PenStyle.DashLine)
NOISE_BAND = (150, 150, 150, 70)
MOVED_SHOWN = 3
"""Units named under the chart."""
MOST_TICKS = 4
"""Layers named under the chart: all of a network with this many, else the first, the parting and the last."""


class PathwayView(QWidget):
    """The chart, the reading and the moved units of one pathway (empty until one is shown)."""

    sig_unit_requested = Signal(str, int)
    """(layer, unit): open this unit in the unit explorer."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pathway: Pathway | None = None
        self.shows = None
        """the result whose figures are shown or being computed (the blind-spot tab computes a view once per result)."""
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("pathway_chart")
        self.plot.setLogMode(y=True)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(90)
        self.plot.getPlotItem().setLabel("left", "gain")
        self.reading = QLabel("Run a search: this shows where its change grows, layer by layer, and where noise of "
                              "the same size fades.")
        self.reading.setObjectName("pathway_reading")
        self.reading.setWordWrap(True)
        self.units = QLabel("")
        self.units.setObjectName("pathway_units")
        self.units.setWordWrap(True)
        self.units.setTextFormat(Qt.TextFormat.RichText)
        self.units.setToolTip("A unit's change under the blind spot, and noise's on average; click one to see the "
                              "images that excite it most")
        self.units.linkActivated.connect(self._open_unit)
        self.explorable = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, stretch=1)
        layout.addWidget(self.reading)
        layout.addWidget(self.units)
        style_plot(self.plot, self.font())

    def clear(self) -> None:
        self.pathway = self.shows = None
        self.plot.clear()
        self.reading.setText("")
        self._show_units(None, explorable=False)

    def show_pathway(self, found: Pathway, explorable: bool) -> None:
        """Draw ``found``; ``explorable``: the unit explorer can show the parting layer's units."""
        self.pathway = found
        self.plot.clear()
        positions = np.arange(len(found.layers))
        gains = np.array([layer.gain for layer in found.layers])
        low = np.array([layer.noise_gain_low for layer in found.layers])
        high = np.array([layer.noise_gain_high for layer in found.layers])
        edges = [self.plot.plot(positions, edge, pen=None) for edge in (low, high)]  # in the plot: its log scale applies
        self.plot.addItem(pg.FillBetweenItem(*edges, brush=NOISE_BAND))
        self.plot.plot(positions, [layer.noise_gain for layer in found.layers], pen=NOISE_PEN, name="noise")
        self.plot.plot(positions, gains, pen=CHANGE_PEN, symbol="o", symbolSize=6, symbolBrush=CHANGE_PEN.color(),
                       name="blind spot")
        bounds = [layer.bound for layer in found.layers]
        if all(bound is not None for bound in bounds):
            self.plot.plot(positions, np.cumprod(bounds), pen=BOUND_PEN, name="Table 5 bound")
        names = [layer.name for layer in found.layers]
        shown = range(len(names)) if len(names) <= MOST_TICKS else sorted(
            {0, names.index(found.parting), len(names) - 1})
        self.plot.getPlotItem().getAxis("bottom").setTicks([[(index, names[index].lstrip("_")) for index in shown]])
        self.plot.getPlotItem().setXRange(-0.3, len(positions) - 0.7, padding=0)
        bound_words = " Dashed: Table 5's upper bound on the gain." if all(b is not None for b in bounds) else (
            f" {found.bound_note[0].upper()}{found.bound_note[1:]}." if found.bound_note else "")
        legend = (f"Gain of each layer, ||change of its output|| / ||change of the image||. Red: the blind spot; grey: "
                  f"{found.draws} draws of random noise of the same size (band: 10-90%).{bound_words}")
        self.reading.setText(found.reading)
        for widget in (self.plot, self.reading):
            widget.setToolTip(legend)
        self._show_units(found, explorable)

    def _show_units(self, found: Pathway | None, explorable: bool) -> None:
        """The units moved most in the parting layer as one wrapping line, each a link to the unit explorer."""
        self.explorable = explorable
        if found is None:
            self.units.setText("")
            return
        words = []
        for moved in found.moved[:MOVED_SHOWN]:
            where = (f"unit {moved.unit}" if len(moved.position) == 1 else
                     f"channel {moved.position[0]} at ({', '.join(map(str, moved.position[1:]))})")
            change = f" ({moved.change:.2g} vs noise {moved.noise_change:.2g})"
            words.append((f'<a href="{moved.unit}">{where}</a>' if explorable else where) + change)
        ending = "" if explorable else " — the unit explorer lists single layers, not this block"
        self.units.setText(f"Moved most in {escape(found.parting)}: " + ", ".join(words) + ending)

    def _open_unit(self, link: str) -> None:
        if self.pathway is not None and self.explorable:
            self.sig_unit_requested.emit(self.pathway.parting, int(link))
