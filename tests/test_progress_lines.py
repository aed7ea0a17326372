"""The command line's progress (cli/common.py TerminalProgress): a tqdm bar on a terminal, plain lines elsewhere."""

import io

from blindspot_gui.cli.common import TerminalProgress
from blindspot_gui.cli.reproduce import _advtrain_line
from blindspot_gui.core.experiments import AdvTrainBaseline
from blindspot_gui.core.training.adversarial import AdvTrainReport


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(progress: TerminalProgress, steps: int = 2000) -> None:
    for step in range(steps + 1):
        progress(step / steps, f"part {step // 200} of 10")
        if step == steps // 2:
            progress.write("a line of its own")
    progress.finish()


def test_a_log_gets_plain_lines_one_per_tenth_not_redrawn_frames():
    log = io.StringIO()
    run(TerminalProgress("reproduce table2", log))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 11 <= len(lines) <= 13, lines
    assert lines[0].startswith("reproduce table2:   0% after 0 s") and lines[-1].startswith("reproduce table2: 100%")
    assert "a line of its own" in lines


def test_a_terminal_gets_a_tqdm_bar_redrawn_in_place():
    terminal = FakeTerminal()
    run(TerminalProgress("reproduce table2", terminal))
    text = terminal.getvalue()
    assert "\r" in text and "reproduce table2" in text and "100.0%" in text and "a line of its own" in text
    assert text.count("\n") <= 3  # the bar, the line written between, and the bar's last state


def test_adversarial_training_prints_its_baseline_then_each_epoch():
    assert _advtrain_line(AdvTrainBaseline("FC100-100-10", 0.0137, 0.0517)) == (
        "before: FC100-100-10 test error 1.37%, av. min. distortion 0.0517")
    report = AdvTrainReport(3, 100, 0.4, 0.0205, None, {}, 12.0)
    assert _advtrain_line(report) == "epoch 3/100: test error 2.05%"
