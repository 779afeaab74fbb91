"""Shared test settings: GPAW runs serially with one BLAS thread, results go to tmp dirs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / "workflows"


@pytest.fixture
def perovcalc_cli():
    """Command prefix that runs the perovcalc CLI with this interpreter."""
    return [sys.executable, "-m", "perovcalc.cli.main"]


TINY = """
[campaign]
name = "tiny_vacancy"
preset = "demo"

[structures.cs]
builder = "phase"
phase = "Cs"
[structures.pb]
builder = "phase"
phase = "Pb"
[structures.br2]
builder = "phase"
phase = "Br2"
box = 9.0
[structures.csbr]
builder = "phase"
phase = "CsBr"
[structures.pbbr2]
builder = "phase"
phase = "PbBr2"
[structures.cspbbr3]
builder = "perovskite"
halide = "Br"
a = 5.874

[tasks.cs]
kind = "competing_phase"
structure = "cs"
params = { mode = { name = "pw", ecut = 250 } }
options = { cell = "fixed" }
[tasks.pb]
kind = "competing_phase"
structure = "pb"
params = { mode = { name = "pw", ecut = 250 } }
options = { cell = "fixed" }
[tasks.br2]
kind = "competing_phase"
structure = "br2"
params = { mode = { name = "pw", ecut = 250 } }
options = { steps = 5 }
[tasks.csbr]
kind = "competing_phase"
structure = "csbr"
params = { mode = { name = "pw", ecut = 250 } }
options = { cell = "fixed" }
[tasks.pbbr2]
kind = "competing_phase"
structure = "pbbr2"
params = { mode = { name = "pw", ecut = 250 }, kpts = { size = [1, 2, 1], gamma = true } }
options = { cell = "fixed", steps = 0 }
[tasks.host]
kind = "defect_host"
structure = "cspbbr3"
params = { mode = { name = "pw", ecut = 250 }, kpts = { size = [2, 2, 2], gamma = true } }
[tasks.mu]
kind = "chemical_potentials"
structure = "task:host"
needs = ["cs", "pb", "br2", "csbr", "pbbr2"]
options = { host_on_hull = true }
[tasks.vacancy]
kind = "vacancy_formation"
structure = "task:host"
needs = ["mu"]
params = { mode = { name = "pw", ecut = 250 }, kpts = { size = [2, 2, 2], gamma = true } }
options = { charges = [0, 1], steps = 3 }
"""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny vacancy campaign run once per session through the CLI (about 30 s on one core):
    CsPbBr3 primitive cell, V_Br (q = 0, +1). Returns (folder, campaign file, rows by task)."""
    from perovcalc.store import Store

    folder = tmp_path_factory.mktemp("tiny")
    campaign = folder / "tiny.toml"
    campaign.write_text(TINY)
    command = [
        sys.executable, "-m", "perovcalc.cli.main", "run", str(campaign), "--db",
        str(folder / "r.db"), "--workdir", str(folder / "w"), "--ranks", "1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row.task: row for row in Store(folder / "r.db").rows()}
    return folder, campaign, rows
