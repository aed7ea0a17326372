"""The floating-window vote (core/defence.py), its experiment, and the Robust goal and the vote in the window."""

import numpy as np
import torch

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.robust import RobustCopies
from blindspot_gui.core.defence import FloatingWindow, adaptive_config, vote, window_for
from blindspot_gui.core.experiments import REGISTRY, VoteSettings, comparison_table
from blindspot_gui.core.experiments.vote_defence import vote_defence


def test_without_jitter_the_vote_is_the_network(fc100, blind_spot):
    still = FloatingWindow(copies=5, max_shift=0.0, noise_rms=0.0)
    ballot = vote(fc100, np.stack([blind_spot.original, blind_spot.adversarial]), still)
    assert ballot.answers.tolist() == [blind_spot.original_prediction, blind_spot.adversarial_prediction]
    assert ballot.votes.tolist() == [5, 5] and ballot.ballots.shape == (5, 2)


def test_the_vote_counts_its_copies_answers(fc100, blind_spot):
    window = window_for(fc100)
    images = np.stack([blind_spot.original, blind_spot.adversarial])
    ballot = vote(fc100, images, window)
    copies = RobustCopies(images.shape[1:], window.copies, window.seed, window.noise_rms, window.changes)
    with torch.inference_mode():
        answers = fc100(copies(torch.from_numpy(images))).argmax(1).view(window.copies, 2).numpy()
    assert np.array_equal(ballot.ballots, answers)
    for column in range(2):
        counts = np.bincount(answers[:, column], minlength=10)
        assert counts[ballot.answers[column]] == counts.max() == ballot.votes[column]
        if (counts == counts.max()).sum() > 1:  # a tie: the image's own answer, if it is among the most voted
            assert ballot.answers[column] == answers[0, column] or counts[answers[0, column]] < counts.max()


def test_the_attack_on_the_vote_averages_over_other_draws_of_the_same_jitter(fc100):
    window = window_for(fc100)
    config = adaptive_config(fc100, window)
    assert config.goal == Goal(robust=0.9) and config.robust_copies == 16 and config.seed != window.seed
    assert config.robust_changes == window.changes and config.robust_noise == window.noise_rms
    assert window.changes.max_degrees == 0 and window.changes.scales == (1.0, 1.0)


def test_the_vote_stops_most_smallest_blind_spots_and_the_attack_aimed_at_it_gets_through(capsys):
    result = vote_defence("FC100-100-10", n=40)
    clean, smallest, aimed = result["rows"]
    assert clean["network_error"] <= 0.05 and clean["vote_error"] <= 0.1
    assert smallest["network_error"] == 1.0 and smallest["vote_error"] < 0.5  # the vote stops most of them
    assert aimed["count"] >= 0.8 * smallest["count"] and aimed["vote_error"] >= 0.8  # aimed at it, most get through
    assert aimed["distortion"] > smallest["distortion"]
    assert vote_defence("FC100-100-10", n=40)["rows"] == result["rows"]  # the parts are stored and reused
    table = comparison_table(result)
    assert len(table.rows) == 3 and table.columns[1] == "the vote errs"
    assert REGISTRY["vote"].problem(VoteSettings("EfficientNet-Lite0", 10)) is not None

    from blindspot_gui.cli import main

    assert main(["reproduce", "vote", "--n", "40"]) == 0
    assert "aimed at the vote" in capsys.readouterr().out


def test_the_robust_goal_and_the_vote_in_the_window(qtbot, window):
    from PySide6.QtCore import Qt

    from window_actions import run_and_wait

    view = window.blindspots
    panel = view.search_panel
    view.result_views.setCurrentWidget(view.survival_view)
    qtbot.mouseClick(view.survival_view.vote, Qt.MouseButton.LeftButton)
    assert view.session.vote
    panel.goal.setCurrentIndex(panel.goal.findData("robust"))
    assert panel.goal_choice() == Goal(robust=0.9) and view.session.goal == Goal(robust=0.9)
    assert panel.goal.currentText() == "Robust (on 90% of copies)" and panel.confidence.isEnabled()
    with qtbot.waitSignal(view.sig_vote_shown, timeout=60000):
        result = run_and_wait(qtbot, window, timeout=60000)
    assert result.goal == "robust" and result.success
    readout = view.viewer.readout.text()
    assert readout.startswith("minimal: ") and " · robust: " in readout
    assert view.survival_view.survival.shares()["all"] > 0.5  # a robust blind spot survives most changes
    line = view.survival_view.vote_line.text()
    assert line.startswith("Vote: ") and "/9) on the blind spot: " in line and "stopped" in line
    assert window.settings.value("search/goal") == "robust"
    panel.confidence.setValue(80)  # the robust share; the confident p keeps its own
    assert panel.goal_choice() == Goal(robust=0.8) and panel.levels["confident"] == 90
    assert int(window.settings.value("search/robust_share")) == 80
    view.step_image(1)
    qtbot.waitUntil(lambda: view.survival_view.vote_line.text() == "", timeout=5000)
