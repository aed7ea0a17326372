"""Figures for slides: the Figure-5 and Figure-7 sheets at 1920x1080 (PNG, SVG, PDF) and the three-panel export."""

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from blindspot_gui.api import load_model
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.experiments.figures import DIGIT_EXAMPLES, digit_figure_data

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture(scope="module")
def digit_data():
    """Four test digits of FC100-100-10 pushed to (y + 1) mod 10, with noise of stddev 0.1."""
    return digit_figure_data(load_model("FC100-100-10"), load_mnist("test"), first=0, count=4, targets="next")


def test_the_data_pushes_every_image_to_its_target_and_keeps_the_noise_readable(digit_data):
    assert len(digit_data.examples) == 4 and digit_data.target == "(y + 1) mod 10"
    for example in digit_data.examples:
        assert example.success and example.adversarial_prediction == example.target == (example.label + 1) % 10
        assert example.noisy.shape == example.original.shape == (1, 28, 28)
        assert 0 <= example.noisy.min() and example.noisy.max() <= 1
    assert 0 < digit_data.mean_distortion < digit_data.noise_stddev
    assert digit_data.noise_kept >= 3  # the readable noise does not fool it
    assert "FC100-100-10" in digit_data.caption(5) and f"{digit_data.mean_distortion:.4f}" in digit_data.caption(5)
    assert digit_data.made in digit_data.caption(7) and "stddev 0.1" in digit_data.caption(7)


def test_the_sheets_are_written_at_slide_size_as_png_svg_and_pdf(digit_data, tmp_path):
    from PySide6.QtPdf import QPdfDocument

    from blindspot_gui.qt.figures import write_sheets

    written = write_sheets(digit_data, tmp_path / "talk.png")
    assert sorted(path.name for path in written) == sorted(f"talk-figure{figure}.{kind}" for figure in (5, 7)
                                                           for kind in ("png", "svg", "pdf"))
    for figure in (5, 7):
        with Image.open(tmp_path / f"talk-figure{figure}.png") as image:
            assert image.size == (1920, 1080)
            pixels = np.asarray(image.convert("L"))
        assert (pixels < 50).mean() > 0.02 and (pixels > 250).mean() > 0.3  # digits on a white sheet
        svg = ElementTree.parse(tmp_path / f"talk-figure{figure}.svg").getroot()
        assert svg.get("viewBox").split() == ["0", "0", "1920", "1080"]
        text = " ".join(svg.itertext())
        assert "FC100-100-10" in text and digit_data.made in text and f"{digit_data.mean_distortion:.4f}" in text
        document = QPdfDocument()
        assert document.load(str(tmp_path / f"talk-figure{figure}.pdf")) == QPdfDocument.Error.None_
        assert document.pageCount() == 1
        size = document.pagePointSize(0)
        assert (round(size.width()), round(size.height())) == (1440, 810)  # 1920x1080 at 96 dpi
        pdf_text = document.getAllText(0).text()
        assert "FC100-100-10" in pdf_text and digit_data.made in pdf_text
    svg5 = " ".join(ElementTree.parse(tmp_path / "talk-figure5.svg").getroot().itertext())
    svg7 = " ".join(ElementTree.parse(tmp_path / "talk-figure7.svg").getroot().itertext())
    assert "Difference" in svg5 and "×10" in svg5 and "Gaussian" in svg7 and "0.1" in svg7


def _run_search(qtbot, window):
    view = window.blindspots
    view.search_panel.choose(1)
    with qtbot.waitSignal(view.sig_search_finished, timeout=60000) as blocker:
        qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_the_three_panel_export_holds_only_the_images_and_their_captions(qtbot, window, tmp_path):
    from blindspot_gui.qt.figures import TRIPTYCH_SIDE, triptych_size

    view = window.blindspots
    assert _run_search(qtbot, window).success
    path = tmp_path / "three.png"
    assert view.export_triptych(str(path))
    expected = triptych_size(3)
    with Image.open(path) as image:
        size, pixels = image.size, np.asarray(image.convert("RGB"))
    assert size == (expected.width(), expected.height()) == (3 * (TRIPTYCH_SIDE + 32), TRIPTYCH_SIDE + 120)
    assert size != (window.grab().width(), window.grab().height())
    assert size != (view.viewer.grab().width(), view.viewer.grab().height())
    titles = [title for title, _, _, _ in view.triptych_panels()]
    assert titles[0].startswith("Original") and titles[1].startswith("Perturbation ×") and titles[2] == "Adversarial"
    left = pixels[60 + TRIPTYCH_SIDE // 2, 16 + 2:16 + TRIPTYCH_SIDE - 2]
    assert (left.max(axis=1) > 200).any() and (left.max(axis=1) < 30).any()  # the digit, drawn from the data


def test_file_menu_writes_the_figure_sheets_in_the_background(qtbot, window, tmp_path):
    view = window.blindspots
    action = next(action for action in window.menuBar().actions()[0].menu().actions()
                  if action.text().replace("&", "") == "Figure sheet for slides…")
    assert action.objectName() == "action_figure_sheets"
    base = tmp_path / "slides.png"
    with qtbot.waitSignal(view.sig_exported, timeout=120000) as blocker:
        assert view.export_figure_sheets(str(base))
        assert view.sheet_progress is not None and view.sheet_progress.isVisible()
    assert blocker.args[0] == str(tmp_path / "slides-figure5.png")
    for name in ("slides-figure5", "slides-figure7"):
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.size == (1920, 1080)
        assert (tmp_path / f"{name}.svg").stat().st_size > 1000 and (tmp_path / f"{name}.pdf").stat().st_size > 1000
    svg = " ".join(ElementTree.parse(tmp_path / "slides-figure5.svg").getroot().itertext())
    assert view.network_name in svg and "(y + 1) mod 10" in svg and svg.count("says") == 2 * DIGIT_EXAMPLES
    assert view.sheet_progress is None and "Saved the figure sheets" in window.statusBar().currentMessage()


def test_the_figure_sheets_can_be_cancelled(qtbot, window, tmp_path):
    view = window.blindspots
    view.search_panel.choose(3)  # the search panel's target: every image pushed to 3
    folder = tmp_path / "sheets"
    folder.mkdir()
    assert view.export_figure_sheets(str(folder / "slides.png"))
    qtbot.waitUntil(lambda: view.sheet_progress.value() > 0, timeout=30000)
    qtbot.mouseClick(view.sheet_progress.findChild(QPushButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.is_running("sheets"), timeout=30000)
    assert list(folder.iterdir()) == [] and "nothing was saved" in window.statusBar().currentMessage()


@pytest.fixture
def photo_window(qtbot, settings_file):
    """The main window with EfficientNet-Lite0 chosen and its first sample photo shown."""
    from conftest import open_window
    from window_actions import click_model

    main = open_window(qtbot, settings_file)
    qtbot.waitUntil(lambda: not main.runner.is_running("catalogue"), timeout=30000)
    click_model(qtbot, main, "EfficientNet-Lite0")
    qtbot.waitUntil(lambda: main.blindspots.network_name == "EfficientNet-Lite0"
                    and main.blindspots.original_probabilities is not None, timeout=60000)
    yield main
    main.close()
    assert main.runner.running_count == 0, "a test left a task running"


def test_a_photo_networks_sheet_pushes_the_sample_photos_to_ostrich(qtbot, photo_window, tmp_path):
    from blindspot_gui.core.experiments.figures import PHOTO_EXAMPLES, photo_figure_data
    from blindspot_gui.qt.figures import write_sheets

    view = photo_window.blindspots
    function, classifier, paths, resize, crop, target = view._sheet_job(view.classifier)
    assert function is photo_figure_data and len(paths) == PHOTO_EXAMPLES and classifier.class_names[target] == "ostrich"
    data = photo_figure_data(classifier, paths[:1], resize, crop, target)  # one photo keeps the test short
    assert data.target == "“ostrich”" and data.examples[0].original.shape == (3, crop, crop)
    assert data.examples[0].success and data.examples[0].adversarial_prediction == target
    write_sheets(data, tmp_path / "photos.png")
    with Image.open(tmp_path / "photos-figure5.png") as image:
        assert image.size == (1920, 1080) and image.mode == "RGB"
    text = " ".join(ElementTree.parse(tmp_path / "photos-figure5.svg").getroot().itertext())
    assert "EfficientNet-Lite0" in text and "ostrich" in text and "Difference" in text
