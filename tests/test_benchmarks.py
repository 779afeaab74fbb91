"""Behaviour of the benchmark scripts that is not a figure (benchmarks/ is not a package)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_neb_cost_refuses_a_work_directory_saved_with_other_settings(tmp_path):
    # a 2x2x2 work directory is continued over sessions: a rerun with another endpoint
    # criterion would not replay its evaluations and would count them in the wrong row
    neb_cost = _script("neb_cost")
    parse = neb_cost.parser().parse_args
    run = ["--supercell", "2", "2", "2", "--relax-fmax", "0.02"]
    neb_cost.same_run(parse(run), tmp_path)
    assert (tmp_path / "args.json").exists()
    # stages, outputs and the step cap are not settings of the run: it continues
    neb_cost.same_run(parse([*run, "--only", "ase", "--max-steps", "9"]), tmp_path)
    with pytest.raises(SystemExit, match=r"--relax-fmax 0.02 \(now 0.05\)"):
        neb_cost.same_run(parse([*run[:4], "--relax-fmax", "0.05"]), tmp_path)
    with pytest.raises(SystemExit, match=r"--supercell \[2, 2, 2\] \(now \[2, 1, 1\]\)"):
        neb_cost.same_run(parse(run[4:]), tmp_path)


def test_replayed_relaxation_takes_a_saved_point_that_differs_by_rounding(tmp_path):
    # a rerun's BFGS can reach a saved point to 1e-14 A only; ASE's calculators take any change
    # above 1e-15 A for a new point, so the replayed calculator must leave its atoms alone
    from ase.build import bulk
    from ase.calculators.emt import EMT

    neb_cost = _script("neb_cost")
    atoms = bulk("Cu", cubic=True)
    atoms.positions[0] += 0.05
    calls = []

    def factory():
        calls.append(1)
        return EMT()

    relaxed, first = neb_cost.relax(atoms, factory, 0.01, tmp_path)
    log = tmp_path / "surrogate.json"
    data = json.loads(log.read_text())
    for entry in data["evaluations"]:
        entry["positions"] = (np.array(entry["positions"]) + 5e-15).tolist()
    log.write_text(json.dumps(data))
    calls.clear()
    again, second = neb_cost.relax(atoms, factory, 0.01, tmp_path)
    assert not calls and second.evaluations == first.evaluations > 1
    assert np.allclose(again.positions, relaxed.positions, atol=1e-10)


def test_neb_cost_reads_a_setting_added_later_as_its_default(tmp_path):
    # benchmarks/neb_cost_222/args.json predates --calculator: it was run with GPAW
    neb_cost = _script("neb_cost")
    parse = neb_cost.parser().parse_args
    neb_cost.same_run(parse([]), tmp_path)
    saved = json.loads((tmp_path / "args.json").read_text())
    del saved["calculator"]
    (tmp_path / "args.json").write_text(json.dumps(saved))
    neb_cost.same_run(parse([]), tmp_path)
    with pytest.raises(SystemExit, match=r"--calculator gpaw \(now chgnet\)"):
        neb_cost.same_run(parse(["--calculator", "chgnet"]), tmp_path)


def test_plain_band_converges_on_a_hop_and_stops_once_it_climbs_out(tmp_path, monkeypatch):
    from test_surrogate import EMTFactory, adatom_hop

    neb_cost = _script("neb_cost")
    initial, final = adatom_hop.__wrapped__()
    args = neb_cost.parser().parse_args(["--fmax", "0.05"])
    row = neb_cost.plain_ase_neb(initial, final, EMTFactory(), args, tmp_path / "hop")
    assert row["converged"] and row["status"] == "converged"
    assert 0.3 < row["forward_barrier"] < 0.45  # the Au hop over a bridge site
    # a ceiling below the starting band: the first step that leaves the band highest stops it
    monkeypatch.setattr(neb_cost, "LEFT_HOP", -1.0)
    row = neb_cost.plain_ase_neb(initial, final, EMTFactory(), args, tmp_path / "out")
    assert not row["converged"] and "out of the hop" in row["status"]
    assert row["evaluations"] <= 2 + 3 * 2  # the starting band and one step


def test_neb_cost_table_shows_no_barrier_for_a_band_that_did_not_converge():
    # the 2x2x2 ASE band stopped with its climbing image 1.58 eV up, out of the hop: that is no
    # barrier, and the differences are taken from the first band that converged
    neb_cost = _script("neb_cost")
    row = {"steps": 10, "wall_time": 1.0, "reverse_barrier": 0.1}
    rows = {
        "ASE CI-NEB (IDPP, FIRE)": {**row, "evaluations": 349, "forward_barrier": 1.576,
                                    "converged": False},
        "perovcalc (ode)": {**row, "evaluations": 98, "forward_barrier": 0.1462,
                            "converged": True},
        "surrogate (GP)": {**row, "evaluations": 74, "forward_barrier": 0.1405,
                           "converged": True},
    }  # fmt: skip
    lines = neb_cost.table(rows).splitlines()
    assert "1.576" not in lines[2] and lines[2].split()[-3:] == ["-", "-", "False"]
    assert lines[-1].startswith("  - perovcalc: surrogate")
    assert lines[-1].split()[-5:-2] == ["-24", "+0", "+0.0"]
    assert lines[-1].split()[-2] == "-0.0057"
    assert lines[-2].split()[-2:] == ["-", "-"]  # ASE's difference: no barrier to compare
