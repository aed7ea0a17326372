"""The Experiments tab of the real window: run, cancel and resume, ours beside the paper's, exports."""

import csv
import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from blindspot_gui.core import experiments
from window_actions import choose, click, open_experiments, run_table3


def test_table3_runs_shows_ours_beside_the_papers_and_exports(qtbot, tmp_path):
    window, view = open_experiments(qtbot, tmp_path)
    assert not window.model_dock.isVisible() and not window.image_dock.isVisible()  # the tab gets the room
    run_table3(qtbot, view)
    table = view.table
    assert table.rowCount() == 3 and table.verticalHeaderItem(0).text() == "FC100-100-10 (P1)"
    assert table.item(0, 2).text().splitlines()[1].startswith("paper 2.00%")  # test error beside the paper's
    assert "12 test images" in view.notes.text()
    assert view.export_csv(str(tmp_path / "t3.csv")) and view.export_json(str(tmp_path / "t3.json"))
    assert view.export_png(str(tmp_path / "t3.png"))
    rows = list(csv.reader((tmp_path / "t3.csv").read_text().splitlines()))
    assert rows[0][:4] == ["model", "error on P1", "error on P1 (paper)", "error on P1 (difference)"]
    assert json.loads((tmp_path / "t3.json").read_text())["experiment"] == "table3"
    assert not QImage(str(tmp_path / "t3.png")).isNull()
    window.tabs.setCurrentIndex(0)
    assert window.model_dock.isVisible() and window.image_dock.isVisible()
    window.close()


def test_table2_is_a_heat_map_and_a_cancelled_run_resumes(qtbot, tmp_path):
    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "table2")
    view.controls.images.setValue(10)
    store = experiments.PartStore.for_run("table1", 10)
    click(qtbot, view.controls.run_button)
    qtbot.waitUntil(lambda: store.path("FC10(1e-4)", ".json").is_file(), timeout=30000)  # the first part is kept
    click(qtbot, view.controls.cancel_button)
    qtbot.waitUntil(lambda: view.controls.progress.format() == "cancelled", timeout=10000)
    assert view.controls.run_button.isEnabled()
    assert store.load_record("FC10(1e-4)") is not None
    assert len(list(store.folder.glob("*.json"))) < len(experiments.TABLE1_MODELS)  # cancelled before the end
    with qtbot.waitSignal(view.sig_finished, timeout=90000):
        click(qtbot, view.controls.run_button)
    assert view.result["experiment"] == "table2"
    assert view.table.rowCount() == 10 and view.table.columnCount() == 7
    diagonal = view.table.item(0, 0)
    assert diagonal.text().startswith("100.0%") and diagonal.background().color().red() == 255
    assert diagonal.background().color().green() < view.table.item(7, 3).background().color().green()
    window.close()


def test_a_short_adversarial_training_run_draws_its_curves(qtbot, tmp_path):
    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "advtrain")
    view.controls.epochs.setValue(2)
    with qtbot.waitSignal(view.sig_finished, timeout=180000):
        click(qtbot, view.controls.run_button)
    assert list(view.curves.error_curve.xData) == [1, 2]
    assert len(view.curves.distortion_curve.xData) == 1  # measured after the last epoch
    assert view.table.rowCount() == 2 and view.table.item(1, 0).text().splitlines()[1].startswith("paper 1.20%")
    assert not view.result["saved_to_zoo"]
    window.close()


def test_a_photo_networks_table1_runs_on_a_chosen_folder_and_offers_only_its_rules(qtbot, tmp_path):
    from experiment_helpers import make_folder

    folder = make_folder(tmp_path / "my photos", {"espresso": ["coffee.png"]})
    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "photo_table1")
    controls = view.controls
    assert controls.photo_model.isVisible() and controls.folder_button.isVisible()
    assert not controls.model.isVisible() and controls.images.isVisible()
    nearest = controls.rule.findData("nearest")
    assert not controls.rule.model().item(nearest).isEnabled() and controls.rule.currentData() in experiments.PHOTO_RULES
    controls.choose_photo_folder(str(folder))  # what the folder dialog's OK does
    assert controls.folder_button.text() == "my photos/"
    with qtbot.waitSignal(view.sig_finished, timeout=60000):
        click(qtbot, controls.run_button)
    assert view.table.rowCount() == 1 and view.table.verticalHeaderItem(0).text() == "EfficientNet-Lite0"
    assert view.table.item(0, 0).text().startswith("0.00%")  # it calls the espresso an espresso
    assert "1 photo of folder" in view.notes.text()
    assert "the paper has none" in view.legend.text()  # no "then the paper's" where it has no figure
    choose(view, "table1")
    assert controls.rule.model().item(nearest).isEnabled()
    window.close()


def test_a_photo_table2_runs_on_the_ticked_networks_and_asks_for_two(qtbot, tmp_path):
    from experiment_helpers import make_folder, put_random_weights_in_the_hub_cache

    put_random_weights_in_the_hub_cache("mobilenet_v3_small")
    folder = make_folder(tmp_path / "my photos", {"espresso": ["coffee.png"]})
    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "photo_table2")
    controls = view.controls
    assert controls.photo_models.isVisible() and not controls.photo_model.isVisible()
    assert controls.photo_models.item(1).text() == "MobileNet V3 (small)"  # the networks with weights come first
    resnet = controls.photo_models.item(3)  # after the two with weights; greyed out, and its tooltip says why
    assert "(no weights here)" in resnet.text() and not resnet.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "torch hub cache" in resnet.toolTip()
    assert controls.chosen_photo_networks() == ["efficientnet-lite0", "mobilenet_v3_small"]
    mobilenet = next(controls.photo_models.item(row) for row in range(controls.photo_models.count())
                     if controls.photo_models.item(row).data(Qt.ItemDataRole.UserRole) == "mobilenet_v3_small")
    mobilenet.setCheckState(Qt.CheckState.Unchecked)
    click(qtbot, controls.run_button)
    assert "Tick two or more networks" in controls.status.text() and not view.is_running("experiment")
    mobilenet.setCheckState(Qt.CheckState.Checked)
    controls.choose_photo_folder(str(folder))
    with qtbot.waitSignal(view.sig_finished, timeout=60000):
        click(qtbot, controls.run_button)
    assert view.table.rowCount() == 4 and view.table.columnCount() == 3
    assert controls.progress.value() == controls.progress.maximum() and controls.progress.format() == "done"
    assert view.table.item(0, 0).text() == "100.0%"  # the espresso made for Lite0 fools Lite0
    assert view.table.verticalHeaderItem(2).text() == "Gaussian noise, stddev 0.01"
    assert view.table.item(2, 0).text() == "0.00%" and "Colour: error rate" in view.legend.text()
    window.close()


def test_where_experiments_run_is_remembered_and_a_damaged_setting_gives_this_computer(qtbot, tmp_path):
    window, view = open_experiments(qtbot, tmp_path)
    controls = view.controls
    assert not controls.on_cluster() and controls.cluster_address.text() == "local"
    controls.where.setCurrentIndex(controls.where.findData("cluster"))
    controls.cluster_address.setText("ray://head:10001")
    controls.cluster_address.editingFinished.emit()
    window.close()
    window, view = open_experiments(qtbot, tmp_path)
    assert view.controls.on_cluster() and view.controls.cluster_address.text() == "ray://head:10001"
    window.settings.setValue("experiments/run_on", "the moon")
    window.settings.setValue("experiments/cluster_address", "a\nb")
    window.close()
    window, view = open_experiments(qtbot, tmp_path)
    assert not view.controls.on_cluster() and view.controls.cluster_address.text() == "local"
    window.close()


def test_a_small_result_grows_to_be_read_by_a_room_and_a_full_matrix_keeps_the_windows_text(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    window, view = open_experiments(qtbot, tmp_path)
    window.show()
    window.resize(1920, 1080)
    view.show_result(experiments.table3(n=6))  # three rows on a large screen: room to spare
    qtbot.wait(50)
    base = QApplication.font().pointSizeF()
    grown = view.table.font().pointSizeF() / base
    assert 1.2 < grown <= 2.4 and view.table.horizontalHeader().font().pointSizeF() == view.table.font().pointSizeF()
    window.set_font_size(round(base) + 4)  # Larger text: the table follows, still within its room
    try:
        qtbot.wait(50)
        assert view.table.font().pointSizeF() >= QApplication.font().pointSizeF()
    finally:
        window.set_font_size(round(base))  # the application's font outlives the window
    window.resize(1280, 720)
    view.show_result(experiments.table2(n=6))  # eight rows, seven columns: the window's text
    qtbot.wait(50)
    assert view.table.font().pointSizeF() == QApplication.font().pointSizeF()
    window.close()


def test_a_new_run_clears_the_previous_table_and_its_save_buttons(qtbot, tmp_path):
    window, view = open_experiments(qtbot, tmp_path)
    run_table3(qtbot, view)
    assert view.table.rowCount() == 3 and view.controls.export_csv.isEnabled()
    choose(view, "table2")
    view.controls.images.setValue(10)
    click(qtbot, view.controls.run_button)  # while it runs, the table 3 result is not shown under its title
    assert view.table.rowCount() == 0 and view.result is None and view.title.text() == ""
    assert not any(button.isEnabled() for button in (view.controls.export_csv, view.controls.export_json,
                                                     view.controls.export_png))
    view.cancel()
    qtbot.waitUntil(lambda: not view.is_running("experiment"), timeout=60000)
    window.close()
