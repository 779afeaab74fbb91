"""The campaign runner with real GPAW: crash and resume, concurrent runners, SCF failures."""

import os
import re
import signal
import subprocess
import time

import pytest

from perovcalc.campaign import load_campaign
from perovcalc.store import Store
from tests.conftest import WORKFLOWS

SMOKE = WORKFLOWS / "smoke.toml"


def start(cli, campaign, tmp_path, *extra):
    return subprocess.Popen(
        [*cli, "run", str(campaign), "--db", str(tmp_path / "r.db"), "--ranks", "1",
         "--workdir", str(tmp_path / "w"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def wait_for(condition, timeout=180.0):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not reached")


def rows_by_task(db):
    return {row.task: row for row in Store(db).rows()}


def test_sigkill_then_rerun_finishes_without_recomputing(tmp_path, perovcalc_cli):
    ids = load_campaign(SMOKE).task_ids()
    db = tmp_path / "r.db"
    proc = start(perovcalc_cli, SMOKE, tmp_path)

    def lattice_done():
        row = Store(db).get(ids["lattice"]) if db.exists() else None
        return row is not None and row.status == "done"

    wait_for(lattice_done)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows_by_task(db)
    assert before["lattice"].status == "done"
    assert not all(r.status == "done" for r in before.values()) or len(before) < 3

    rerun = start(perovcalc_cli, SMOKE, tmp_path)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    after = rows_by_task(db)
    assert sorted(after) == ["lattice", "relax", "stress"]
    assert len(Store(db).rows()) == 3  # exactly one row per task
    assert all(r.status == "done" for r in after.values())
    lattice = after["lattice"]
    assert lattice.started == before["lattice"].started  # not recomputed
    assert "lattice:" not in err  # the rerun launched no lattice task
    a = lattice.data["result"]["lattice_constant"]
    assert f"a = {a:.4f} A" in out and "preset=demo" in out and "ecut=300 eV" in out
    # the structure of task "stress" was built from the computed lattice constant
    assert after["stress"].toatoms().cell.lengths() == pytest.approx([a] * 3)


def test_two_runners_at_once_never_run_a_task_twice(tmp_path, perovcalc_cli):
    first = start(perovcalc_cli, SMOKE, tmp_path)
    second = start(perovcalc_cli, SMOKE, tmp_path)
    outputs = [p.communicate(timeout=400) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    ran = [set(re.findall(r"\] (\w+): done in", err)) for _, err in outputs]
    assert ran[0].isdisjoint(ran[1])
    assert ran[0] | ran[1] == {"lattice", "stress", "relax"}
    rows = Store(tmp_path / "r.db").rows()
    assert len(rows) == 3 and {r.status for r in rows} == {"done"}


def test_hopeless_scf_is_retried_and_recorded_as_failed(tmp_path, perovcalc_cli):
    text = SMOKE.read_text().replace(
        "options = { stress = true }", "options = { stress = true }\nparams = { maxiter = 1 }"
    )
    campaign = tmp_path / "failing.toml"
    campaign.write_text(text)
    proc = start(perovcalc_cli, campaign, tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    rows = rows_by_task(tmp_path / "r.db")
    assert rows["lattice"].status == "done"
    assert rows["stress"].status == "failed"
    assert "SCF did not converge in 2 attempts" in rows["stress"].reason
    assert rows["relax"].status == "failed" and "dependency stress" in rows["relax"].reason
    assert "failed: stress: SCF did not converge" in out
    status = subprocess.run(
        [*perovcalc_cli, "status", str(campaign), "--db", str(tmp_path / "r.db")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert re.search(r"stress\s+single_point\s+failed .*SCF did not converge", status.stdout)
    # a rerun does not retry a failed task unless asked
    again = start(perovcalc_cli, campaign, tmp_path)
    again.communicate(timeout=60)
    assert rows_by_task(tmp_path / "r.db")["stress"].started == rows["stress"].started


def test_jobs_run_independent_tasks_at_once(tmp_path, perovcalc_cli):
    tasks = "".join(
        f'[tasks.e{i}]\nkind = "single_point"\nstructure = "s{i}"\n'
        'params = { mode = { name = "pw", ecut = 200 }, kpts = { size = [2, 2, 2] } }\n'
        f'[structures.s{i}]\nbuilder = "perovskite"\nhalide = "Br"\na = {a}\n'
        for i, a in enumerate((5.87, 5.95))
    )
    campaign = tmp_path / "pair.toml"
    campaign.write_text(f'[campaign]\nname = "pair"\npreset = "demo"\n{tasks}')
    proc = start(perovcalc_cli, campaign, tmp_path, "--jobs", "2")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    rows = rows_by_task(tmp_path / "r.db").values()
    assert {r.status for r in rows} == {"done"} and len(rows) == 2
    assert max(r.started for r in rows) < min(r.finished for r in rows)  # they overlapped
    # progress into a pipe: plain lines, the overall one and one per running task
    assert "\r" not in err and "\x1b[" not in err
    lines = err.splitlines()
    first = lines.index(next(line for line in lines if line.startswith("0/2 done")))
    assert [line.split()[:3] for line in lines[first + 1 : first + 3]] == [
        ["[1/2]", "e0", "(single_point)"],
        ["[2/2]", "e1", "(single_point)"],
    ]
    bad = start(perovcalc_cli, campaign, tmp_path, "--jobs", "0")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and "--jobs = '0'" in err and "positive integer" in err
