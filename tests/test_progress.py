"""Console progress: an updating line on a terminal, plain log lines otherwise."""

import io

from fake_experiment import fake_experiment
from test_hypervolume import hypervolume
from nas.cli.progress import Progress, format_duration


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_terminal_gets_one_line_redrawn_in_place():
    out, clock = io.StringIO(), Clock()
    p = Progress(total=4, start=clock.t, experiment=fake_experiment([]), stream=out, tty=True,
                 clock=clock)
    p.update(fake_experiment([], running=[0, 1]))
    clock.t += 60
    exp = fake_experiment([(0, 0.99, 20_000, 5), (1, 0.95, 50_000, 6)], running=[2, 3])
    p.update(exp)
    p.close()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # only close() ends the line
    last = text.rstrip("\n").split("\r")[-1].strip()
    assert last.startswith("2/4 completed, 0 failed, 2 running")
    hv = hypervolume([(0.99, 20_000), (0.95, 50_000)])
    assert f"HV {hv:,.0f}" in last
    # 2 trials finished in the 60 s since the search began; 2 to go: 60 s left
    assert "elapsed 1m00s" in last and "ETA 1m00s" in last


def test_not_a_terminal_prints_plain_lines_when_counts_change():
    out, clock = io.StringIO(), Clock()
    p = Progress(total=3, start=clock.t, stream=out, tty=False, clock=clock)
    running = fake_experiment([], running=[0, 1, 2])
    p.update(running)
    clock.t += 5
    p.update(running)  # nothing changed: no new line
    clock.t += 5
    p.update(fake_experiment([(0, 0.96, 30_000, 1)], failed=[1], running=[2]))
    p.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3, lines
    assert "0/3 completed, 0 failed, 3 running" in lines[0] and "ETA ?" in lines[0]
    assert lines[1] == "  trial 1 FAILED: exit code 1: boom 1"
    assert "1/3 completed, 1 failed, 1 running" in lines[2] and "ETA 5s" in lines[2]


def test_failure_reason_on_a_terminal_gets_its_own_line():
    out, clock = io.StringIO(), Clock()
    p = Progress(total=2, start=clock.t, stream=out, tty=True, clock=clock)
    p.update(fake_experiment([], running=[0, 1]))
    p.update(fake_experiment([], failed=[0], running=[1]))
    reason_line = [s for s in out.getvalue().split("\n") if "boom 0" in s][0]
    assert reason_line.split("\r")[-1] == "  trial 0 FAILED: exit code 1: boom 0"


def test_format_duration():
    assert [format_duration(s) for s in (None, 0, 59.6, 61, 3725)] == ["?", "0s", "1m00s", "1m01s",
                                                                     "1h02m05s"]


def test_eta_ignores_trials_finished_before_a_resume():
    out, clock = io.StringIO(), Clock()
    earlier = fake_experiment([(0, 0.96, 30_000, 1), (1, 0.95, 30_000, 2)], running=[2])
    p = Progress(total=6, start=clock.t, experiment=earlier, stream=out, tty=False, clock=clock)
    clock.t += 30
    p.update(fake_experiment([(0, 0.96, 30_000, 1), (1, 0.95, 30_000, 2), (2, 0.9, 1, 3)]))
    # 1 trial in 30 s in this process, 3 to go: 90 s
    assert "3/6 completed" in out.getvalue() and "ETA 1m30s" in out.getvalue()
