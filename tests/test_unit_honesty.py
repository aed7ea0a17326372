"""The unit explorer argues honestly: a hidden layer first, a shuffled quiz with hidden labels, intervals and an untrained baseline."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from blindspot_gui.api import load_model
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.units import (
    COMPARED_DIRECTIONS,
    capture_activations,
    compare_with_untrained,
    comparison_text,
    default_layer,
    default_network,
    layer_names,
    mean_interval,
    purity_comparison,
    randomly_initialised,
)
from blindspot_gui.qt.tabs.unit_grid import ImageTile


def test_the_default_is_a_hidden_layer_of_a_network_with_hidden_layers():
    names = ["FC10(1e-4)", "FC10(1e-2)", "FC100-100-10", "ConvNet"]
    network = default_network(names)
    layers = layer_names(load_model(network))
    assert network == "FC100-100-10" and default_layer(layers, photos=False) == "sigmoid2" != layers[-1]
    assert default_layer(["conv1", "relu1", "fc1", "relu3", "fc2"], photos=False) == "relu3"
    assert default_layer(["encoder", "code", "classifier"], photos=False) == "code"
    assert default_layer(["fc1", "fc2"], photos=False) == "fc1"  # hidden, even without a named nonlinearity


def test_mean_interval_is_the_normal_approximation():
    values = np.array([0.5, 0.75, 1.0, 0.625])
    mean, low, high = mean_interval(values)
    error = values.std(ddof=1) / 2
    assert mean == pytest.approx(0.71875) and (low, high) == pytest.approx((mean - 1.96 * error, mean + 1.96 * error),
                                                                          rel=1e-4)


def test_comparison_has_intervals_and_a_random_initialisation_baseline():
    model, data = load_model("FC100-100-10"), load_mnist("test").subset(range(2000))
    comparison = compare_with_untrained(model, data, "sigmoid2", k=8, count=30, seed=3)
    trained, untrained = comparison.trained, comparison.untrained
    for summary in (trained, untrained):
        assert summary["units"] == 30 and summary["random_directions"] == 30
        for key in ("unit", "random"):
            low, high = summary[f"{key}_interval"]
            assert low < summary[f"{key}_purity"] < high
        assert summary["difference_interval"][0] < summary["difference"] < summary["difference_interval"][1]
    assert trained["unit_purity"] != untrained["unit_purity"]
    fresh = randomly_initialised(model, seed=3)
    assert fresh.fingerprint != model.fingerprint == load_model("FC100-100-10").fingerprint  # the model is untouched
    assert fresh.fingerprint == randomly_initialised(model, seed=3).fingerprint  # seeded
    assert [name for name, _ in fresh.network.named_modules()] == [name for name, _ in model.network.named_modules()]
    text = comparison_text(comparison.summary)
    assert "95% interval" in text and "randomly initialised copy" in text and "Network Dissection" in text


def test_the_text_says_what_the_numbers_show_whichever_way_it_goes():
    activations = capture_activations(load_model("FC100-100-10"), load_mnist("test").subset(range(2000)), "fc3")
    summary = {**purity_comparison(activations, count=10, k=8), "output": True}
    summary["difference_interval"] = (0.05, 0.2)
    assert "units are purer than random directions" in comparison_text(summary)
    assert "output layer" in comparison_text(summary)
    summary["difference_interval"] = (-0.2, -0.05)
    assert "random directions are purer than single units" in comparison_text(summary)
    summary["difference_interval"] = (-0.05, 0.05)
    assert "no purer than random directions" in comparison_text(summary)


def _tiles(grid):
    return [widget for widget in grid.widgets() if isinstance(widget, ImageTile)]


def test_the_window_opens_on_a_hidden_layer_quizzes_shuffled_and_compares(qtbot, window):
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(explorer)
    qtbot.waitUntil(lambda: explorer.rows_of is not None, timeout=20000)
    assert explorer.model.currentText() == "FC100-100-10" and explorer.layer.currentText() == "sigmoid2"
    assert explorer.compared_directions >= 100 and f"{COMPARED_DIRECTIONS} units" in explorer.compare.text()

    orders = []
    for _ in range(3):
        with qtbot.waitSignal(explorer.sig_rows_shown, timeout=10000):
            qtbot.mouseClick(explorer.quiz, Qt.MouseButton.LeftButton)
        kinds = list(explorer.grids.quiz_kinds)
        assert sorted(kinds) == ["random"] * 4 + ["unit"] * 4 and explorer.right.isHidden()
        captions = explorer.left.captions()
        assert captions == [f"Row {row}" for row in range(1, 9)]  # no title, no purity
        assert all("score" not in tile.toolTip() for tile in _tiles(explorer.left))
        assert "unit" not in explorer.left.title().replace("single units", "")
        orders.append(kinds)
        qtbot.mouseClick(explorer.reveal_button, Qt.MouseButton.LeftButton)
        revealed = explorer.left.captions()
        unit_rows = [row + 1 for row, kind in enumerate(kinds) if kind == "unit"]
        assert all(revealed[row - 1].startswith(f"Row {row}: unit ") for row in unit_rows)
        assert all("random direction" in revealed[row] for row, kind in enumerate(kinds) if kind == "random")
        assert "purity" in revealed[0] and "score" in _tiles(explorer.left)[0].toolTip()
        assert f"Rows {', '.join(map(str, unit_rows))} were single units" in explorer.statistics.text()
    assert any(kinds != ["unit"] * 4 + ["random"] * 4 for kinds in orders)  # mixed, not units first
    assert len({tuple(kinds) for kinds in orders}) > 1  # a new order each quiz

    explorer.compared_directions = 20  # small in the test; the window's default is COMPARED_DIRECTIONS
    with qtbot.waitSignal(explorer.sig_statistics_shown, timeout=30000) as blocker:
        qtbot.mouseClick(explorer.compare, Qt.MouseButton.LeftButton)
    summary = blocker.args[0]
    assert summary["units"] == 20 and summary["untrained"]["random_directions"] == 20
    assert summary["unit_interval"][0] < summary["unit_purity"] < summary["unit_interval"][1]
    text = explorer.statistics.text()
    assert "sigmoid2" in text and "randomly initialised copy" in text and "Bau et al." in text


def test_compare_can_be_cancelled(qtbot, window):
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(explorer)
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=30000):
        explorer.model.setCurrentText("ConvNet")
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=60000):
        explorer.layer.setCurrentText("relu1")  # 9,216 dimensions: the untrained copy's activations take seconds
    explorer.cache = type(explorer.cache)(explorer.cache.directory / "fresh")  # nothing cached: it takes a while
    qtbot.mouseClick(explorer.compare, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: explorer.cancel.isEnabled(), timeout=5000)
    qtbot.mouseClick(explorer.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.is_running("unit-statistics"), timeout=10000)
    assert explorer.statistics.text() == "The comparison was cancelled." and explorer.compare.isEnabled()
    assert torch.is_grad_enabled()


def test_a_quiz_hides_the_rows_it_replaces_at_once_not_when_the_event_loop_gets_round_to_it(qtbot):
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication, QLabel

    from blindspot_gui.qt.tabs.unit_grid import GridPair

    dataset = load_mnist("test")
    grids = GridPair()
    qtbot.addWidget(grids)
    grids.show()

    def rows(kind):
        return [SimpleNamespace(title=f"{kind} {i}", purity=0.5, indices=[i, i + 1], scores=[1.0, 0.5], labels=[0, 1])
                for i in range(3)]

    grids.show_rows(rows("unit"), rows("random"), dataset)
    grids.start_quiz(seed=1)
    grids.show_rows(rows("unit"), rows("random"), dataset)
    QApplication.processEvents()  # shows the new rows; the old ones' deleteLater waits for the event loop proper
    shown = [label.text() for label in grids.findChildren(QLabel, "row_title") if label.isVisible()]
    assert len(shown) == 6 and all(text.startswith("Row ") for text in shown), shown
