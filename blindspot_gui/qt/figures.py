"""Figures for slides, painted from the data with QPainter: the Figure-5 and Figure-7 sheets and the three-panel export.

A sheet is a titled grid (one row per kind of image, one column per example, the network's answer
under each image) with a caption holding the network, the mean distortion and the date. It is
written at slide resolution, 1920x1080, as a PNG, and as vector SVG (QSvgGenerator) and PDF
(QPdfWriter) whose text and lines stay sharp at any size. The three-panel export paints only the
images and their captions, never the window's controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QMarginsF, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator

from blindspot_gui.core.experiments.figures import FigureData
from blindspot_gui.qt.widgets.change_picture import change_rgb, magnification_for, picture_of

SLIDE = QSize(1920, 1080)
DPI = 96
MARGIN = 48
FOOLED = QColor("#b2182b")
KEPT = QColor("#1a7f37")
INK = QColor("#202020")
PAPER_MAGNIFICATION = 10
"""The paper's Figure 5 magnified the difference ten times; photos' far smaller changes are stretched so that all
but the largest 0.5% of the changes fit the picture (the factor is printed)."""
TRIPTYCH_SIDE = 336
"""Pixels per image of the three-panel export (a 28x28 digit drawn 12 times larger)."""


@dataclass(frozen=True)
class Tile:
    """One image of a figure with the line under it and that line's colour."""

    picture: QImage
    label: str
    colour: QColor = field(default_factory=lambda: QColor(INK))


def qimage_of(pixels: np.ndarray) -> QImage:
    """A grey (H, W) / (1, H, W) or colour (3, H, W) image in [0, 1], or an (H, W, 3) RGB picture, as a QImage."""
    picture = picture_of(pixels)
    if picture.ndim == 3 and picture.shape[0] == 3:
        picture = picture.transpose(1, 2, 0)
    data = np.ascontiguousarray(np.clip(picture * 255.0 + 0.5, 0, 255).astype(np.uint8))
    height, width = data.shape[:2]
    if data.ndim == 2:
        return QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def change_picture(change: np.ndarray, factor: float, mode: int = 1) -> QImage:
    """A perturbation as drawn in the window (``change_rgb``), as a QImage."""
    return qimage_of(change_rgb(change, factor, mode))


def _font(pixels: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(pixels)
    font.setBold(bold)
    return font


def _fitting_font(painter: QPainter, text: str, pixels: int, width: float) -> QFont:
    """A bold font of at most ``pixels`` in which ``text`` fits ``width``."""
    font = _font(pixels, bold=True)
    painter.setFont(font)
    wide = painter.fontMetrics().horizontalAdvance(text)
    if wide > width:
        font.setPixelSize(max(12, int(pixels * width / wide)))
    return font


def _draw_picture(painter: QPainter, rect: QRectF, picture: QImage) -> None:
    """The picture as large as fits ``rect``, centred; small (digit) pictures stay sharp-edged."""
    scale = min(rect.width() / picture.width(), rect.height() / picture.height())
    width, height = picture.width() * scale, picture.height() * scale
    target = QRectF(rect.center().x() - width / 2, rect.center().y() - height / 2, width, height)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, picture.width() > 64)
    painter.drawImage(target, picture)


def paint_sheet(painter: QPainter, size: QSize, title: str, rows: list[tuple[str, list[Tile]]], caption: str) -> None:
    """A titled grid: one row per (row name, tiles), a line under each tile, the caption at the bottom."""
    width, height = size.width(), size.height()
    painter.fillRect(QRectF(0, 0, width, height), QColor("white"))
    painter.setPen(INK)
    painter.setFont(_fitting_font(painter, title, 44, width - 2 * MARGIN))
    painter.drawText(QRectF(MARGIN, MARGIN / 2, width - 2 * MARGIN, 64), Qt.AlignmentFlag.AlignCenter, title)
    caption_height = 96
    top, bottom = MARGIN / 2 + 84, height - caption_height - MARGIN / 2
    row_name_width, label_height, columns = 230, 40, max(len(tiles) for _, tiles in rows)
    row_height = (bottom - top) / len(rows)
    side = min((width - 2 * MARGIN - row_name_width) / columns - 12, row_height - label_height - 10)
    step = (width - 2 * MARGIN - row_name_width) / columns
    for row, (name, tiles) in enumerate(rows):
        y = top + row * row_height
        painter.setPen(INK)
        painter.setFont(_font(28, bold=True))
        painter.drawText(QRectF(MARGIN, y, row_name_width - 16, side), Qt.AlignmentFlag.AlignVCenter
                         | Qt.AlignmentFlag.AlignRight | Qt.TextFlag.TextWordWrap, name)
        for column, tile in enumerate(tiles):
            x = MARGIN + row_name_width + column * step + (step - side) / 2
            _draw_picture(painter, QRectF(x, y, side, side), tile.picture)
            painter.setPen(tile.colour)
            painter.setFont(_font(24, bold=True))
            painter.drawText(QRectF(x - 6, y + side + 2, side + 12, label_height), Qt.AlignmentFlag.AlignHCenter
                             | Qt.AlignmentFlag.AlignTop, tile.label)
    painter.setPen(INK)
    painter.setFont(_font(26))
    painter.drawText(QRectF(MARGIN, height - caption_height - MARGIN / 4, width - 2 * MARGIN, caption_height),
                     Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, caption)


def _says(data: FigureData, label: int) -> str:
    return f"says {data.name(label)}"


def difference_factor(data: FigureData) -> float:
    """The magnification of the sheet's differences: ×10 for digits (the paper's), full range for photos."""
    if data.examples and data.examples[0].original.shape[0] == 1:
        return float(PAPER_MAGNIFICATION)
    changes = np.abs(np.stack([example.perturbation for example in data.examples]))
    typical = float(np.percentile(changes, 99.5))  # a photo's peak change is rare: scaled to it, the rest is grey
    return 0.5 / typical if typical > 0 else magnification_for(changes, None, 1)


def figure5_rows(data: FigureData) -> list[tuple[str, list[Tile]]]:
    """Original, magnified difference and adversarial example of every image."""
    factor = difference_factor(data)
    originals, differences, adversarials = [], [], []
    for example in data.examples:
        originals.append(Tile(qimage_of(example.original), _says(data, example.original_prediction)))
        differences.append(Tile(change_picture(example.perturbation, factor), f"RMS {example.distortion:.4f}"))
        adversarials.append(Tile(qimage_of(example.adversarial), _says(data, example.adversarial_prediction),
                                 FOOLED if example.adversarial_prediction != example.original_prediction else KEPT))
    return [("Original", originals), (f"Difference ×{factor:.0f}", differences), ("Adversarial", adversarials)]


def figure7_rows(data: FigureData) -> list[tuple[str, list[Tile]]]:
    """Original, adversarial example and Gaussian noise of every image, each with the network's answer."""
    def coloured(label: int, original: int) -> QColor:
        return KEPT if label == original else FOOLED

    rows = [("Original", []), ("Adversarial", []), (f"Gaussian noise, stddev {data.noise_stddev:g}", [])]
    for example in data.examples:
        answers = (example.original_prediction, example.adversarial_prediction, example.noisy_prediction)
        for (_, tiles), pixels, answer in zip(rows, (example.original, example.adversarial, example.noisy), answers):
            tiles.append(Tile(qimage_of(pixels), _says(data, answer), coloured(answer, example.original_prediction)))
    return rows


def paint_figure(figure: int, data: FigureData) -> Callable[[QPainter, QSize], None]:
    """A painter of the Figure-5 (``figure`` 5) or Figure-7 (7) sheet of ``data``."""
    if figure == 5:
        title, rows = f"Blind spots of {data.network}: every image pushed to {data.target}", figure5_rows(data)
    else:
        title, rows = f"{data.network}: adversarial examples beside larger random noise", figure7_rows(data)
    return lambda painter, size: paint_sheet(painter, size, title, rows, data.caption(figure))


def write_png(paint: Callable[[QPainter, QSize], None], path, size: QSize = SLIDE, title: str = "") -> None:
    image = QImage(size, QImage.Format.Format_RGB32)
    image.setDotsPerMeterX(round(DPI / 0.0254))
    image.setDotsPerMeterY(round(DPI / 0.0254))
    _paint_on(image, paint, size)
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write {path}: check that its folder exists and is writable")


def write_svg(paint: Callable[[QPainter, QSize], None], path, size: QSize = SLIDE, title: str = "") -> None:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setResolution(DPI)
    generator.setTitle(title)
    _paint_on(generator, paint, size)
    if not Path(path).is_file():
        raise OSError(f"could not write {path}: check that its folder exists and is writable")


def write_pdf(paint: Callable[[QPainter, QSize], None], path, size: QSize = SLIDE, title: str = "") -> None:
    writer = QPdfWriter(str(path))
    writer.setResolution(DPI)
    points = QSizeF(size.width() * 72 / DPI, size.height() * 72 / DPI)
    writer.setPageSize(QPageSize(points, QPageSize.Unit.Point, "slide"))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    writer.setTitle(title)
    _paint_on(writer, paint, size)
    if not Path(path).is_file():
        raise OSError(f"could not write {path}: check that its folder exists and is writable")


def _paint_on(device, paint: Callable[[QPainter, QSize], None], size: QSize) -> None:
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("could not start drawing the figure (is the file's folder writable?)")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        paint(painter, size)
    finally:
        painter.end()


def sheet_paths(base) -> dict[str, Path]:
    """The files of the sheets for ``base`` (say slides.png): slides-figure5.png, .svg, .pdf and the same for 7."""
    base = Path(base)
    stem = base.with_suffix("") if base.suffix.lower() in (".png", ".svg", ".pdf") else base
    return {f"figure{figure}{suffix}": stem.with_name(f"{stem.name}-figure{figure}{suffix}")
            for figure in (5, 7) for suffix in (".png", ".svg", ".pdf")}


def write_sheets(data: FigureData, base) -> list[Path]:
    """Both sheets as 1920x1080 PNG, SVG and PDF next to ``base``; the files written."""
    written = []
    for key, path in sheet_paths(base).items():
        figure = int(key[6])
        paint = paint_figure(figure, data)
        writer = {".png": write_png, ".svg": write_svg, ".pdf": write_pdf}[path.suffix]
        writer(paint, path, SLIDE, f"{data.network} — Figure {figure} layout")
        written.append(path)
    return written


# --- the three-panel export --------------------------------------------------------------------------------------
def triptych_size(panels: int) -> QSize:
    """The size of the three-panel export (four with noise): the images and their captions, nothing else."""
    return QSize(panels * (TRIPTYCH_SIDE + 2 * 16), TRIPTYCH_SIDE + 2 * 16 + 2 * 44)


def paint_triptych(painter: QPainter, size: QSize, panels: list[tuple[str, QImage, str, QColor]]) -> None:
    """Each (title, picture, answer, answer's colour) as a column: title above, image, answer below."""
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor("white"))
    column = size.width() / len(panels)
    for index, (title, picture, answer, colour) in enumerate(panels):
        x = index * column
        painter.setPen(INK)
        painter.setFont(_font(22, bold=True))
        painter.drawText(QRectF(x + 4, 8, column - 8, 40), Qt.AlignmentFlag.AlignCenter, _elided(painter, title, column - 8))
        _draw_picture(painter, QRectF(x + 16, 60, TRIPTYCH_SIDE, TRIPTYCH_SIDE), picture)
        painter.setPen(colour)
        painter.setFont(_font(24, bold=True))
        painter.drawText(QRectF(x + 4, 60 + TRIPTYCH_SIDE + 6, column - 8, 40), Qt.AlignmentFlag.AlignCenter,
                         _elided(painter, answer, column - 8))


def _elided(painter: QPainter, text: str, width: float) -> str:
    return painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, int(width))


def write_triptych(panels: list[tuple[str, QImage, str, QColor]], path) -> QSize:
    """The panels as one PNG of ``triptych_size``; its size."""
    size = triptych_size(len(panels))
    write_png(lambda painter, area: paint_triptych(painter, area, panels), path, size)
    return size
