"""Progress of a campaign run: a line per running task and an overall line with an estimate of
the time left; plain text when the output is not a terminal."""

import io
import re
import time

from ase.build import bulk

from perovcalc.campaign import Campaign, TaskSpec
from perovcalc.runner import LocalExecutor, Progress, run_campaign

ANSI = re.compile(r"\x1b\[|\r")


def tasks(*kinds):
    return [TaskSpec(f"t{n}", kind, "s", "demo") for n, kind in enumerate(kinds)]


def test_plain_progress_has_a_line_per_running_task_and_estimates_from_stored_times(tmp_path):
    """Two relax_lattice tasks of 100 and 200 s stored: a mean of 150 s. t0 has run 60 s, t1
    waits, t2 (XRD) has no stored time: (150 - 60 + 150) s of work on 2 jobs, 2 min left."""
    out = io.StringIO()
    history = {("relax_lattice", "demo"): [100.0, 200.0], ("relax_lattice", "standard"): [9e9]}
    progress = Progress(tasks("relax_lattice", "relax_lattice", "xrd"), history, 2, out)
    running = {"t0": (time.time() - 60, tmp_path), "t2": (time.time() - 5, tmp_path)}
    progress.show(running, force=True)
    lines = out.getvalue().splitlines()
    assert not ANSI.search(out.getvalue())
    assert lines[0].startswith("0/3 done, elapsed ")
    assert lines[0].endswith("left ~2 min + 1 task of unknown time")  # (90 + 150) s / 2
    assert lines[1] == "  [1/3] t0 (relax_lattice) 1 min of ~2 min, SCF iterations 0"
    assert lines[2] == "  [3/3] t2 (xrd) 5 s, SCF iterations 0"
    assert len(lines) == 3
    progress.show(running)  # within 30 s: nothing more in a log
    assert out.getvalue().splitlines() == lines
    # t0 finishes after 800 s: the mean becomes 1100/3 s = 6 min, for t1 alone on 2 jobs
    progress.settle("t0", "done", 800.0)
    progress.settle("t2", "failed")
    progress.show({}, force=True)
    done, head = out.getvalue().splitlines()[3:]
    assert done == "[1/3] t0: done in 800 s"
    assert re.fullmatch(r"1/3 done, 1 failed or interrupted, elapsed \d+ s, left ~6 min", head)
    # nothing known about a kind: "unknown", not a guess
    alone = Progress(tasks("xrd"), {}, 1, out)
    alone.show({}, force=True)
    assert (
        out.getvalue().splitlines()[-1].endswith("left unknown (none of their kind finished yet)")
    )


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_a_live_display(tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    screen = Terminal()
    with Progress(tasks("relax_lattice", "xrd"), {}, 2, screen) as progress:
        progress.show({"t0": (time.time(), tmp_path), "t1": (time.time(), tmp_path)}, force=True)
        progress.settle("t1", "done", 3.0)
    text = screen.getvalue()
    assert ANSI.search(text)  # redrawn in place
    assert "[1/2] t0 (relax_lattice)" in text and "[2/2] t1 (xrd)" in text
    assert "[2/2] t1: done in 3 s" in text
    assert "\x1b[2K1/2 done, elapsed" in text.rstrip().splitlines()[-1]  # stays: the display goes


def test_a_run_with_two_jobs_shows_both_running_tasks(tmp_path):
    """Two XRD tasks at once into a log: the progress block lists both; a rerun with one more
    XRD task estimates its time from the two stored."""
    campaign = Campaign("pair")
    campaign.add_structure("nacl", bulk("NaCl", "rocksalt", a=5.64))
    for n in range(2):
        campaign.add_task(f"x{n}", "xrd", "nacl", options={"two_theta_max": 60.0 + n})
    out = io.StringIO()
    summary = run_campaign(
        campaign, tmp_path / "r.db", 1, tmp_path / "w", LocalExecutor(2), stream=out
    )
    assert summary.ok
    text = out.getvalue()
    assert not ANSI.search(text)
    lines = text.splitlines()
    assert lines[0].startswith("0/2 done") and "left unknown" in lines[0]
    assert [line.split()[1] for line in lines[1:3]] == ["x0", "x1"]
    assert lines[-1].startswith("2/2 done")
    campaign.add_task("x2", "xrd", "nacl", options={"two_theta_max": 70.0})
    out = io.StringIO()
    assert run_campaign(campaign, tmp_path / "r.db", 1, tmp_path / "w", stream=out).done == ["x2"]
    assert re.match(r"2/3 done, elapsed \d+ s, left ~\d+ s$", out.getvalue().splitlines()[0])
