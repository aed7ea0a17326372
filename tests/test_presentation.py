"""The presentation state machine: its transitions (Qt-free), and the real window under random key sequences."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from blindspot_gui.session.presentation import TEXT_POINTS, Presentation, Screen

ACTS = ("toggle_full_screen", "toggle_presenting", "stop_presenting", "escape", "toggle_blank", "start_tour",
        "leave_tour", "larger_text", "smaller_text", "leave_full_screen")
HERE = Path(__file__).resolve().parent


def test_f5_is_left_as_slide_software_is_left_back_where_it_was_pressed():
    presentation = Presentation()
    seen = []
    presentation.changed.connect(lambda new, old: seen.append((old.screen, new.screen)))
    presentation.toggle_presenting()
    presentation.toggle_presenting()
    presentation.toggle_full_screen()
    presentation.toggle_presenting()
    assert presentation.escape() and presentation.state.screen is Screen.FULL_SCREEN
    assert not presentation.escape()  # nothing left for Esc to end
    assert seen == [(Screen.WINDOW, Screen.PRESENTING), (Screen.PRESENTING, Screen.WINDOW),
                    (Screen.WINDOW, Screen.FULL_SCREEN), (Screen.FULL_SCREEN, Screen.PRESENTING),
                    (Screen.PRESENTING, Screen.FULL_SCREEN)]


def test_esc_lifts_the_blank_before_it_stops_presenting():
    presentation = Presentation()
    presentation.toggle_presenting()
    presentation.toggle_blank()
    assert presentation.escape() and presentation.state.screen is Screen.PRESENTING and not presentation.state.blanked
    assert presentation.escape() and presentation.state.screen is Screen.WINDOW


@settings(max_examples=200, derandomize=True, database=None)
@given(st.lists(st.sampled_from(ACTS), max_size=30), st.integers(-100, 100))
def test_every_sequence_of_keys_ends_in_a_state_escape_and_f11_can_leave(acts, points):
    presentation = Presentation(points)
    changes = []
    presentation.changed.connect(lambda new, old: changes.append((new, old)))
    for act in acts:
        before = presentation.state
        getattr(presentation, act)()
        assert (presentation.state != before) == (len(changes) > 0 and changes[-1][0] is presentation.state
                                                  and changes[-1][1] is before)
        changes.clear()
        assert TEXT_POINTS[0] <= presentation.state.text_points <= TEXT_POINTS[1]
        assert presentation.state.before_presenting is not Screen.PRESENTING
    while presentation.escape():  # Esc, pressed enough, always gives the window (or full screen) back, unblanked
        pass
    assert presentation.state.screen is not Screen.PRESENTING and not presentation.state.blanked
    presentation.leave_full_screen()
    assert presentation.state.screen is Screen.WINDOW


def test_the_window_keeps_its_invariants_under_random_sequences_of_a_speakers_keys(tmp_path):
    """tests/window_states.py in a process whose offscreen screen is 1920×1080 (hypothesis: 20 examples of up to
    15 steps, derandomised, no example database)."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "desktop", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    environment = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                           str(HERE / "window_states.py")], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=environment)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
