"""For people inspecting images, on the real window: flicker (F, click-and-hold), actual pixels (Ctrl+1), the pixel
under the pointer."""

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from blindspot_gui.qt.pixel_inspector import pixel_readout


def searched(qtbot, window):
    """The window's default digit and network, searched; the result."""
    view = window.blindspots
    qtbot.waitUntil(lambda: view.original_probabilities is not None, timeout=20000)
    with qtbot.waitSignal(view.sig_search_finished, timeout=60000) as blocker:
        view.run_search()
    qtbot.waitUntil(lambda: not view.is_running("transfer"), timeout=60000)
    return blocker.args[0]


def shown(panel) -> np.ndarray:
    return np.asarray(panel.image.image)


def test_flicker_shows_the_original_in_the_adversarials_place_by_key_and_by_holding_the_mouse(qtbot, window):
    result = searched(qtbot, window)
    viewer = window.blindspots.viewer
    original, adversarial = shown(viewer.original_panel), shown(viewer.adversarial_panel)
    assert result.success and not np.array_equal(original, adversarial)
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert np.array_equal(shown(viewer.adversarial_panel), original) and "Original" in viewer.adversarial_panel.title.text()
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert np.array_equal(shown(viewer.adversarial_panel), adversarial)
    canvas = viewer.adversarial_panel.canvas.viewport()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, canvas.rect().center())
    assert np.array_equal(shown(viewer.adversarial_panel), original)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, canvas.rect().center())
    assert np.array_equal(shown(viewer.adversarial_panel), adversarial)
    window.blindspots.step_image(1)  # a new image ends any flicker and shows no stale adversarial
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert not viewer.flickering and viewer.adversarial_panel.image.image is None


def test_actual_pixels_shows_one_image_pixel_per_screen_pixel(qtbot, window):
    searched(qtbot, window)
    view = window.blindspots.viewer.original_panel.view
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    (left, right), (top, bottom) = view.viewRange()
    assert abs((right - left) - view.width()) < 1.5 and abs((bottom - top) - view.height()) < 1.5
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)  # Fit images: the whole digit again
    qtbot.waitUntil(lambda: view.viewRange()[0][1] - view.viewRange()[0][0] < 40, timeout=2000)


def test_the_pixel_under_the_pointer_reads_before_after_and_change(qtbot, window):
    result = searched(qtbot, window)
    viewer = window.blindspots.viewer
    before, after = viewer.original_pixels, viewer.adversarial_pixels
    change = np.abs(np.round(255 * np.asarray(after).squeeze()) - np.round(255 * np.asarray(before).squeeze()))
    row, column = np.unravel_index(int(change.argmax()), change.shape)
    panel = viewer.perturbation_panel
    scene = panel.image.mapToScene(QPointF(column + 0.5, row + 0.5))
    QTest.mouseMove(panel.canvas.viewport(), panel.canvas.mapFromScene(scene))
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith(f"Pixel ({column}, {row})"), timeout=2000)
    level_before = int(np.round(255 * np.asarray(before).squeeze()[row, column]))
    level_after = int(np.round(255 * np.asarray(after).squeeze()[row, column]))
    assert window.statusBar().currentMessage() == (f"Pixel ({column}, {row}): {level_before} → {level_after}, "
                                                   f"change {level_after - level_before:+d}")
    assert result.success and level_after != level_before


def test_a_colour_pixel_reads_its_three_levels():
    before = np.zeros((3, 4, 4), np.float32)
    after = before.copy()
    after[:, 2, 1] = (1.0, 0.5, 0.0)
    assert pixel_readout(before, after, 1, 2) == "Pixel (1, 2): RGB 0/0/0 → RGB 255/128/0, change +255/+128/+0"
    assert pixel_readout(before, None, 1, 2) == "Pixel (1, 2): RGB 0/0/0"
    assert pixel_readout(before, after, 4, 0) == ""
