"""Render the application's icon (resources/icons/blindspot-gui.svg) to the PNG sizes desktops ask for.

The SVG is the source, drawn by hand for this project: an eye whose iris carries a small patch of
changed pixels (red brighter, blue darker, as the window draws a change). Run after editing it:

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn on a transparent square of ``size`` pixels."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (QPainter needs one)
    svg = ICONS / "blindspot-gui.svg"
    for size in SIZES:
        render(svg, size).save(str(ICONS / f"blindspot-gui-{size}.png"))
    print(f"wrote {len(SIZES)} PNGs beside {svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
