"""Hardening by class of input: no password on disk or screen, no result lost, no nonsense
accepted, no traceback. Each class is checked with several inputs; every refusal is a message
with exit status 2 that writes nothing."""

import copy
import json
import math
import os
import random
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.calculators.singlepoint import SinglePointCalculator

from perovcalc.calculate import read_checkpoint, read_frames, write_checkpoint, write_frames
from perovcalc.campaign import Campaign, campaign_from_dict, load_campaign
from perovcalc.cli.main import main
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.hpc import profile_from_dict
from perovcalc.runner import default_store, run_campaign
from perovcalc.store import Store, parse_location
from tests.conftest import ROOT, WORKFLOWS

SMOKE = WORKFLOWS / "smoke.toml"
SECRET = "hunter2"


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit status, stdout, stderr); a traceback fails the test."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *args, names: str = "") -> str:
    """The CLI refuses ``args`` with status 2 and one message (naming ``names``)."""
    code, out, err = cli(capsys, *args)
    assert code == 2, out + err
    assert err.startswith(f"perovcalc {args[0]}: error: "), err
    assert "Traceback" not in err and names in err, err
    return err


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def xrd_campaign(tmp_path: Path, name: str = "quick") -> Path:
    """A campaign of one quick non-DFT task (an XRD pattern of the cubic cell)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[campaign]\nname = "{name}"\n[structures.c]\nbuilder = "perovskite"\na = 5.874\n'
        '[tasks.xrd]\nkind = "xrd"\nstructure = "c"\n'
    )
    return path


# ------------------------------------------------------------------ secrets in store URLs
URLS_WITH_PASSWORDS = [  # (URL, the password libpq must get, the URL that may be written)
    (f"postgresql://me:{SECRET}@db.example:5432/perov", SECRET, "postgresql://me@db.example:5432/perov"),
    (f"postgres://me:{SECRET}@db.example/perov", SECRET, "postgresql://me@db.example/perov"),
    (f"postgresql://me@db.example/perov?password={SECRET}&sslmode=require", SECRET,
     "postgresql://me@db.example/perov?sslmode=require"),
    (f"postgresql://db.example/perov?user=me&password={SECRET}", SECRET,
     "postgresql://db.example/perov?user=me"),
    (f"postgresql://me:{SECRET}#1@db.example/perov", f"{SECRET}#1", "postgresql://me@db.example/perov"),
    (f"postgresql://me:{SECRET}/x@db.example/perov", f"{SECRET}/x", "postgresql://me@db.example/perov"),
    (f"postgresql://me:{SECRET}?y@db.example/perov", f"{SECRET}?y", "postgresql://me@db.example/perov"),
    (f"postgresql://me:{SECRET}@z@db.example/perov", f"{SECRET}@z", "postgresql://me@db.example/perov"),
    (f"postgresql://me:{SECRET}%23%2F@db.example/perov", f"{SECRET}#/", "postgresql://me@db.example/perov"),
    (f"postgresql://me@db.example/perov?sslmode=require&password={SECRET}+%26%3D", f"{SECRET}+&=",
     "postgresql://me@db.example/perov?sslmode=require"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "password", "public"), URLS_WITH_PASSWORDS)
def test_store_url_keeps_its_password_apart(url, password, public):
    location = parse_location(url)
    assert location.password == password and location.url == public
    for shown in (location.url, str(location), repr(location)):
        assert SECRET not in shown
    assert SECRET in location.connection()  # the in-memory form libpq gets


@pytest.mark.parametrize(("url", "password", "public"), URLS_WITH_PASSWORDS)
def test_submit_writes_and_prints_no_password(capsys, tmp_path, url, password, public):
    workdir = tmp_path / "w"
    code, out, err = cli(
        capsys, "submit", SMOKE, "--profile", WORKFLOWS / "profiles" / "slurm-example.toml",
        "--workdir", workdir, "--db", url, "--dry-run",
    )  # fmt: skip
    assert code == 0, err
    assert SECRET not in out + err
    assert f"--db {public}" in out.replace("'", "")
    assert not workdir.exists()


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://user:{SECRET}@127.0.0.1:1/db",
        f"mariadb://user:{SECRET}@127.0.0.1/db",
        f"http://user:{SECRET}@example.org/db",
        f"postgresql:/user:{SECRET}@host/db",  # one slash: no URL, and no file name either
        f"postgresql://user:{SECRET}@host:5432#frag/db",
        f"postgresql://user:{SECRET}@ho st/db",
        f"sqlite://host/{SECRET}.db",
        "sqlite:///",
        "",
    ],
)
def test_unsupported_store_urls_are_refused_without_echo(capsys, tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    campaign = xrd_campaign(tmp_path)
    for command in (["status", campaign], ["run", campaign, "--workdir", tmp_path / "w"]):
        err = refused(capsys, *command, "--db", url, names="--db")
        assert SECRET not in err
    assert files_under(tmp_path) == ["quick.toml"]  # no folder named after the URL


@pytest.mark.parametrize(
    "table", ["../../pyproject", "/etc/passwd", "../README", "lattice_constants.csv", "x/../y"]
)
def test_reference_reads_only_its_own_tables(capsys, table):
    refused(capsys, "reference", table, names="reference table")


@pytest.mark.parametrize(
    ("scheduler", "option"),
    [
        ("slurm", "--output=/tmp/elsewhere.out"),
        ("slurm", "-o /tmp/elsewhere.out"),
        ("slurm", "-e/tmp/err"),
        ("slurm", "--error /tmp/err"),
        ("slurm", "--chdir=/"),
        ("slurm", "-D /"),
        ("pbs", "-o /tmp/elsewhere.out"),
        ("pbs", "-e /tmp/err"),
        ("pbs", "-j eo"),
    ],
)
def test_profile_options_cannot_send_job_output_elsewhere(scheduler, option):
    data = {
        "profile": {"name": "p", "scheduler": scheduler},
        "job": {"walltime": "01:00:00", "options": [option]},
    }
    with pytest.raises(InputError, match="job.options"):
        profile_from_dict(data, "p.toml")


# ------------------------------------------------------------------ no result lost
def test_every_form_of_a_store_path_is_one_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    target = str(tmp_path / "r.db")
    for form in ("r.db", "./r.db", "sub/../r.db", "sqlite:///r.db", f"sqlite:///{target}",
                 "~/r.db", tmp_path / "r.db"):  # fmt: skip
        assert parse_location(form).url == target, form
    campaign = load_campaign(SMOKE)
    assert default_store(campaign) == tmp_path / "results" / "smoke" / "results.db"
    assert default_store(campaign, "w") == tmp_path / "w" / "results.db"


@pytest.mark.parametrize("form", ["sqlite:///{rel}", "~/{rel}"])
def test_runner_and_worker_use_the_same_store(capsys, tmp_path, monkeypatch, form):
    """The worker runs in its task folder: a relative store must still be the runner's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    db = form.format(rel="store/r.db")
    code, out, err = cli(capsys, "run", xrd_campaign(tmp_path), "--db", db, "--workdir", "w")
    assert code == 0, out + err
    (row,) = Store(tmp_path / "store" / "r.db").rows()
    assert row.status == "done" and row.task == "xrd"
    assert "store" not in os.listdir(tmp_path / "w")


def _frames(n: int) -> list[Atoms]:
    frames = []
    for i in range(n):
        atoms = ase_bulk("Cu", cubic=True)
        atoms.positions[0, 0] += 0.01 * i
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0 - i, forces=np.zeros((4, 3)))
        frames.append(atoms)
    return frames


def _write_many(path: str, tag: int) -> None:
    for i in range(300):
        write_checkpoint(Path(path), {"writer": tag, "i": i})


def test_processes_sharing_a_checkpoint_never_trip_over_each_other(tmp_path):
    # two benchmark stages in one work directory replay and save the same log at once: with
    # one temporary name for both, one renamed the other's file away and crashed
    import multiprocessing

    path = tmp_path / "surrogate.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(path), k)) for k in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [w.exitcode for w in workers] == [0, 0]
    assert read_checkpoint(path)["i"] == 299
    assert list(tmp_path.iterdir()) == [path]


def test_a_cut_trajectory_checkpoint_keeps_its_whole_frames(tmp_path):
    path = tmp_path / "relax.traj"
    write_frames(path, _frames(5))
    assert [f.get_potential_energy() for f in read_frames(path)] == [-1, -2, -3, -4, -5]
    assert not (tmp_path / "relax.traj.tmp").exists()
    whole = path.read_bytes()
    kept = set()
    for cut in (len(whole) - 1, len(whole) - 100, len(whole) * 3 // 4, len(whole) // 2):
        path.write_bytes(whole[:cut])
        frames = read_frames(path)
        assert 1 <= len(frames) < 5
        assert [f.get_potential_energy() for f in frames] == [-1 - i for i in range(len(frames))]
        kept.add(len(frames))
    assert len(kept) > 1
    for cut in (10, 60):  # not one frame left: the error names the file
        path.write_bytes(whole[:cut])
        with pytest.raises(PerovcalcError, match=str(path)):
            read_frames(path)
    path.write_bytes(os.urandom(400))
    with pytest.raises(PerovcalcError, match="relax.traj"):
        read_frames(path)


@pytest.mark.parametrize(
    ("table", "name"),
    [("tasks", "t" * 300), ("tasks", "t" * 101), ("tasks", "a\nb"), ("tasks", "tab\there"),
     ("structures", "s" * 300), ("structures", "")],
)  # fmt: skip
def test_names_that_cannot_name_a_folder_are_refused(table, name):
    data = tomllib.loads(xrd_campaign_text())
    if table == "tasks":
        data["tasks"] = {name: data["tasks"]["xrd"]}
    else:
        data["structures"] = {name: data["structures"]["c"]}
        data["tasks"]["xrd"]["structure"] = name
    with pytest.raises(InputError, match=table):
        campaign_from_dict(data, "c.toml")


@pytest.mark.parametrize("name", ["c" * 300, "two\nlines", ""])
def test_campaign_names_that_cannot_name_a_folder_are_refused(name):
    data = tomllib.loads(xrd_campaign_text())
    data["campaign"]["name"] = name
    with pytest.raises(InputError, match="campaign.name"):
        campaign_from_dict(data, "c.toml")


def xrd_campaign_text() -> str:
    return (
        '[campaign]\nname = "quick"\n[structures.c]\nbuilder = "perovskite"\na = 5.874\n'
        '[tasks.xrd]\nkind = "xrd"\nstructure = "c"\n'
    )


def test_a_task_folder_that_cannot_be_made_fails_the_task_not_the_run(tmp_path):
    """The claim must not stay 'running' with no worker: the task fails with the reason, and
    a rerun (also with retry) says so again instead of crashing."""
    campaign = campaign_from_dict(tomllib.loads(xrd_campaign_text()), "c.toml")
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / "tasks").write_text("a file where the task folders go\n")
    for retry in (False, True):
        summary = run_campaign(campaign, tmp_path / "r.db", 1, workdir, retry_failed=retry)
        assert "cannot write the task folder" in summary.failed["xrd"]
    (row,) = Store(tmp_path / "r.db").rows()
    assert row.status == "failed"


@pytest.mark.parametrize("db", [None, "missing.db", "sub/missing.db"])
def test_status_of_a_store_not_made_yet_creates_none(capsys, tmp_path, monkeypatch, db):
    """Every task pending, a note on stderr that the store does not exist, nothing created."""
    monkeypatch.chdir(tmp_path)
    campaign = xrd_campaign(tmp_path)
    code, out, err = cli(capsys, "status", campaign, *(["--db", db] if db else []))
    assert code == 0 and re.search(r"xrd\s+xrd\s+pending", out), out + err
    assert "no results store at" in err
    assert files_under(tmp_path) == ["quick.toml"]


@pytest.mark.parametrize(
    "command",
    [
        ["report", "-o", "out"],
        ["vacancy", "table"],
        ["barrier", "table"],
    ],
)
@pytest.mark.parametrize("db", [None, "missing.db", "sub/missing.db"])
def test_read_only_commands_create_no_store(capsys, tmp_path, monkeypatch, command, db):
    monkeypatch.chdir(tmp_path)
    campaign = xrd_campaign(tmp_path)
    args = [command[0], *command[1:], campaign] + (["--db", db] if db else [])
    refused(capsys, *args, names="no results store")
    assert files_under(tmp_path) == ["quick.toml"]


# ------------------------------------------------------------------ nonsense refused
def _with_structure(**args) -> dict:
    data = tomllib.loads(xrd_campaign_text())
    data["structures"]["c"] = args
    return data


@pytest.mark.parametrize(
    "args",
    [
        {"builder": "perovskite", "a": math.inf},
        {"builder": "perovskite", "a": math.nan},
        {"builder": "slab", "vacuum": math.inf},
        {"builder": "slab", "x": math.nan},
        {"builder": "nanocrystal", "edge_nm": math.inf},
        {"builder": "bulk", "x": 1.0, "a": -math.inf},
    ],
)
def test_builder_values_that_are_not_finite_are_refused(args):
    with pytest.raises(InputError, match="structures.c"):
        campaign_from_dict(_with_structure(**args), "c.toml")


@pytest.mark.parametrize(
    "params",
    [{"ecutt": 300}, {"txt": "elsewhere.txt"}, {"communicator": 1}, {"maxiter": math.inf},
     {"kpts": {"size": [2, 2, math.nan]}}],
)  # fmt: skip
def test_gpaw_parameters_that_gpaw_does_not_take_are_refused(params):
    data = tomllib.loads(SMOKE.read_text())
    data["tasks"]["stress"]["params"] = params
    with pytest.raises(InputError, match="tasks.stress.params"):
        campaign_from_dict(data, "smoke.toml")


def test_known_gpaw_parameters_still_load():
    data = tomllib.loads(SMOKE.read_text())
    data["tasks"]["stress"]["params"] = {"maxiter": 80, "mixer": {"beta": 0.05}, "h": 0.2}
    assert campaign_from_dict(data, "smoke.toml").tasks["stress"].params["maxiter"] == 80


@pytest.mark.parametrize("walltime", ["0:00:00", "00:00:00", "000:00:00"])
def test_a_walltime_of_nothing_is_refused(walltime):
    data = {"profile": {"name": "p", "scheduler": "slurm"}, "job": {"walltime": walltime}}
    with pytest.raises(InputError, match="job.walltime"):
        profile_from_dict(data, "p.toml")
    data["job"]["walltime"] = "0:00:30"
    assert profile_from_dict(data, "p.toml").walltime == "0:00:30"


@pytest.mark.parametrize(
    "args",
    [
        {"builder": "bulk", "x": 3.0, "supercell": [120, 120, 120]},
        {"builder": "nanocrystal", "edge_nm": 200.0},
        {"builder": "slab", "repeat": [300, 300], "layers": 7},
    ],
)
def test_structures_too_big_to_build_are_refused_before_building(capsys, tmp_path, args):
    path = tmp_path / "big.toml"
    data = _with_structure(**args)
    path.write_text(toml_text(data))
    err = refused(capsys, "status", path, names="PEROVCALC_MAX_ATOMS")
    assert "limit" in err


def test_dft_tasks_have_their_own_size_limit(monkeypatch):
    data = tomllib.loads(SMOKE.read_text())
    data["structures"]["cspbbr3"] = {"builder": "bulk", "x": 3.0, "supercell": [50, 50, 50]}
    with pytest.raises(PerovcalcError, match="625,000 atoms.*PEROVCALC_MAX_DFT_ATOMS"):
        campaign_from_dict(copy.deepcopy(data), "smoke.toml")
    data["structures"]["cspbbr3"] = {"builder": "bulk", "x": 3.0, "supercell": [8, 8, 8]}
    with pytest.raises(PerovcalcError, match="PEROVCALC_MAX_DFT_ATOMS"):
        campaign_from_dict(copy.deepcopy(data), "smoke.toml")
    monkeypatch.setenv("PEROVCALC_MAX_DFT_ATOMS", "3000")  # 2560 atoms: allowed when raised
    assert len(campaign_from_dict(data, "smoke.toml").tasks) == 3
    monkeypatch.setenv("PEROVCALC_MAX_DFT_ATOMS", "many")
    with pytest.raises(InputError, match="PEROVCALC_MAX_DFT_ATOMS"):
        campaign_from_dict(data, "smoke.toml")


def test_dft_cells_too_big_for_the_grid_are_refused(monkeypatch):
    data = tomllib.loads(SMOKE.read_text())
    data["structures"]["slab"] = {"builder": "slab", "layers": 3, "vacuum": 1e5}
    data["tasks"]["stress"]["structure"] = "slab"
    with pytest.raises(PerovcalcError, match="PEROVCALC_MAX_DFT_VOLUME"):
        campaign_from_dict(copy.deepcopy(data), "smoke.toml")
    monkeypatch.setenv("PEROVCALC_MAX_DFT_VOLUME", str(10**8))
    assert campaign_from_dict(data, "smoke.toml").tasks["stress"].structure == "slab"


def test_a_file_structure_is_one_frame(tmp_path):
    from ase.io import write

    write(tmp_path / "two.extxyz", _frames(2))
    data = _with_structure(builder="file", filename=str(tmp_path / "two.extxyz"), index=":")
    with pytest.raises(InputError, match="index"):
        campaign_from_dict(data, "c.toml")


@pytest.mark.parametrize(
    "args",
    [
        ["bulk", "--supercell", "120", "120", "120"],
        ["nanocrystal", "--edge-nm", "200"],
        ["slab", "--repeat", "400", "400"],
    ],
)
def test_build_refuses_what_is_too_big_before_building(capsys, tmp_path, args):
    out = tmp_path / "big.extxyz"
    refused(capsys, "build", *args, "-o", out, names="PEROVCALC_MAX_ATOMS")
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["bulk", "--a", "inf"],
        ["slab", "--vacuum", "inf"],
        ["slab", "--a", "nan"],
        ["nanocrystal", "--edge-nm", "nan"],
    ],
)
def test_build_refuses_numbers_that_are_not_finite(capsys, tmp_path, args):
    with pytest.raises(SystemExit) as exit_:
        main(["build", *args, "-o", str(tmp_path / "x.extxyz")])
    assert exit_.value.code == 2 and "finite" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [["slab", "--layers", "3"], ["nanocrystal", "--edge-nm", "2"]])
def test_build_refuses_a_cif_that_would_make_a_crystal_of_the_model(capsys, tmp_path, args):
    out = tmp_path / "model.cif"
    refused(capsys, "build", *args, "-o", out, names="extxyz")
    assert not out.exists()
    code, _, err = cli(capsys, "build", *args, "-o", tmp_path / "model.extxyz")
    assert code == 0, err


def test_unconverged_relaxation_is_not_plain_done(capsys, tmp_path):
    from perovcalc.results import print_results, print_status

    campaign = load_campaign(SMOKE)
    ids = campaign.task_ids()
    store = Store(tmp_path / "r.db")
    for name, converged in (("relax", False), ("lattice", True)):
        store.claim(ids[name], {"campaign": "smoke", "task": name, "kind": "relax_positions"})
        atoms = ase_bulk("Cu", cubic=True)
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
        result = {"converged": converged, "max_force": 0.3, "steps": 3}
        store.finish(ids[name], atoms, {}, {"result": result, "params": {}})
    print_status(campaign, tmp_path / "r.db")
    print_results(campaign, tmp_path / "r.db")
    out = capsys.readouterr().out
    lines = {line.split()[0].rstrip(":"): line for line in out.splitlines() if line}
    assert "UNCONVERGED" in lines["relax"] and "UNCONVERGED" not in lines["lattice"]
    assert out.count("UNCONVERGED") == 2  # the status row and the result line of "relax"


def test_xps_names_the_geometry_it_assumes_for_a_bulk_cell(capsys, tmp_path):
    from ase.io import write

    from perovcalc.bulk import cubic_perovskite

    model = tmp_path / "bulk.extxyz"
    write(model, cubic_perovskite(5.874))
    refused(capsys, "xps", model, names="periodic in all three directions")
    code, out, err = cli(capsys, "xps", model, "--geometry", "slab", "--levels", "Br3d", "Pb4f")
    assert code == 0, err
    assert "treated as a slab" in out


# ------------------------------------------------------------------ no traceback
BAD_TEXT = {
    "latin-1": "name = 'caf\xe9'\n".encode("latin-1"),
    "utf-16": "[campaign]\n".encode("utf-16"),
    "binary": bytes(range(256)),
    "not toml": b"[campaign\nname = \n",
    "empty": b"",
}


@pytest.mark.parametrize("content", BAD_TEXT.values(), ids=BAD_TEXT)
@pytest.mark.parametrize("command", ["status", "run", "report"])
def test_unreadable_campaign_files(capsys, tmp_path, content, command):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    refused(capsys, command, path, names=str(path))
    assert files_under(tmp_path) == ["bad.toml"]


@pytest.mark.parametrize("content", BAD_TEXT.values(), ids=BAD_TEXT)
def test_unreadable_profiles(capsys, tmp_path, content):
    profile = tmp_path / "p.toml"
    profile.write_bytes(content)
    refused(capsys, "submit", SMOKE, "--profile", profile, "--dry-run", names=str(profile))


@pytest.mark.parametrize("what", ["folder", "missing"])
def test_campaign_paths_that_are_no_file(capsys, tmp_path, what):
    path = tmp_path / "c.toml"
    if what == "folder":
        path.mkdir()
    refused(capsys, "status", path, names=str(path))


BAD_STRUCTURES = {
    "empty": b"",
    "garbage": b"this is not a structure\n",
    "binary": bytes(range(256)) * 4,
    "latin-1": "1\ncaf\xe9\nCs 0 0 0\n".encode("latin-1"),
    "no atoms": b"0\n\n",
    "cut extxyz": b"5\nLattice=\"5.8 0 0 0 5.8 0 0 0 5.8\" Properties=species:S:1:pos:R:3\nCs 0 0",
}  # fmt: skip


@pytest.mark.parametrize("content", BAD_STRUCTURES.values(), ids=BAD_STRUCTURES)
def test_unreadable_structure_files(capsys, tmp_path, content):
    model = tmp_path / "model.extxyz"
    model.write_bytes(content)
    refused(capsys, "xps", model, names=str(model))
    refused(capsys, "build", "vacancy", model, names=str(model))
    campaign = tmp_path / "c.toml"
    campaign.write_text(
        '[campaign]\nname = "f"\n[structures.m]\nbuilder = "file"\nfilename = "model.extxyz"\n'
        '[tasks.xrd]\nkind = "xrd"\nstructure = "m"\n'
    )
    refused(capsys, "status", campaign, names=str(model))


@pytest.mark.parametrize("what", ["folder", "missing"])
def test_structure_paths_that_are_no_file(capsys, tmp_path, what):
    model = tmp_path / "m.extxyz"
    if what == "folder":
        model.mkdir()
    refused(capsys, "xps", model, names=str(model))
    refused(capsys, "build", "vacancy", model, names=str(model))


def _good_store(path: Path) -> None:
    Store(path).claim("t0000000000000000", {"campaign": "quick", "task": "xrd"})


def _broken_store(kind: str, path: Path) -> None:
    if kind == "truncated":
        _good_store(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "random bytes":
        path.write_bytes(random.Random(1).randbytes(8192))
    elif kind == "a folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("task,status\nxrd,done\n")
    elif kind == "ase json":
        path.write_text(json.dumps({"1": {"numbers": [1]}, "ids": [1], "nextid": 2}))
    elif kind == "other sqlite":
        with sqlite3.connect(path) as con:
            con.execute("CREATE TABLE accounts (name TEXT)")
        con.close()


BROKEN_STORES = ["truncated", "random bytes", "a folder", "text", "ase json", "other sqlite"]


@pytest.mark.parametrize("kind", BROKEN_STORES)
def test_broken_stores(capsys, tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    campaign = xrd_campaign(tmp_path)
    db = tmp_path / "r.db"
    _broken_store(kind, db)
    before = db.read_bytes() if db.is_file() else None
    for command in (["status"], ["report", "-o", "rep"], ["run", "--workdir", "w"]):
        refused(capsys, command[0], campaign, *command[1:], "--db", db, names=str(db))
    assert (db.read_bytes() if db.is_file() else None) == before  # nothing written into it
    assert not (tmp_path / "rep").exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize("command", ["status", "run"])
def test_an_unreachable_postgresql_store(capsys, tmp_path, command):
    pytest.importorskip("psycopg2")
    url = f"postgresql://me:{SECRET}@127.0.0.1:1/perov?connect_timeout=2"
    err = refused(capsys, command, xrd_campaign(tmp_path), "--db", url, names="results store")
    assert SECRET not in err and "PostgreSQL" in err


def test_a_store_whose_lock_file_cannot_be_made(capsys, tmp_path):
    """The store can be read (status works) but not locked for writing (run refuses)."""
    campaign = xrd_campaign(tmp_path)
    db = tmp_path / "r.db"
    _good_store(db)
    (tmp_path / "r.db.claim").unlink()
    (tmp_path / "r.db.claim").mkdir()
    code, out, err = cli(capsys, "status", campaign, "--db", db)
    assert code == 0 and "pending" in out, err
    refused(capsys, "run", campaign, "--db", db, "--workdir", tmp_path / "w", names=str(db))
    assert not (tmp_path / "w").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_store(capsys, tmp_path):
    campaign = xrd_campaign(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "r.db"
    _good_store(db)
    folder.chmod(0o555)
    db.chmod(0o444)
    try:
        refused(capsys, "run", campaign, "--db", db, "--workdir", tmp_path / "w", names=str(db))
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["build", "bulk", "-o", "{tmp}/missing/x.extxyz"], "does not exist"),
        (["build", "bulk", "-o", "{tmp}/x.pdb"], ".cif, .extxyz or .xyz"),
        (["build", "bulk", "-o", "{tmp}"], "{tmp}"),
        (["build", "slab", "-o", "{tmp}/missing/deeper/x.xyz"], "does not exist"),
        (["xps", "{model}", "--plot", "{tmp}/missing/x.png"], "does not exist"),
        (["xps", "{model}", "--spectrum", "Br3d", "--plot", "{tmp}/x.unknown"], "--plot"),
        (["barrier", "plot", "{smoke}", "-o", "{tmp}/x.unknown"], "--output"),
        (["barrier", "plot", "{smoke}", "-o", "{tmp}/missing/x.png"], "does not exist"),
        (["barrier", "csv", "{smoke}", "-o", "{tmp}/missing/x.csv"], "does not exist"),
    ],
)
def test_outputs_that_cannot_be_written(capsys, tmp_path, args, names):
    from ase.io import write

    from perovcalc.slab import perovskite_slab

    model = tmp_path / "m.extxyz"
    write(model, perovskite_slab(layers=3))
    fill = {"tmp": tmp_path, "model": model, "smoke": SMOKE}
    refused(capsys, *(a.format(**fill) for a in args), names=names.format(**fill))
    assert files_under(tmp_path) == ["m.extxyz"]


# ------------------------------------------------------------------ fuzzed campaigns
def toml_text(data: dict) -> str:
    """A small TOML writer for the test campaigns (tables of scalars, lists, inline tables)."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return (
                "nan"
                if math.isnan(v)
                else ("inf" if v > 0 else "-inf")
                if math.isinf(v)
                else repr(v)
            )
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(map(value, v)) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"

    lines = []
    for top, table in data.items():
        if (
            top == "campaign"
            or not isinstance(table, dict)
            or not all(isinstance(t, dict) for t in table.values())
        ):
            lines.append(f"[{json.dumps(top)}]")
            items = table.items() if isinstance(table, dict) else [("value", table)]
            lines += [f"{json.dumps(k)} = {value(v)}" for k, v in items]
            continue
        for name, sub in table.items():
            lines.append(f"[{json.dumps(top)}.{json.dumps(name)}]")
            lines += [f"{json.dumps(k)} = {value(v)}" for k, v in sub.items()]
    return "\n".join(lines) + "\n"


ODD_VALUES = [
    None, 0, -1, 1, 10**9, 2**63 - 1, 0.0, -0.0, 1e308, math.inf, -math.inf, math.nan, True,
    False, "", " ", "x" * 300, "task:", "task:nowhere", "task:lattice", "../../etc", "\n",
    "perovskite", "relax_positions", [], [1, 2, 3], [50, 50, 50], ["x"], [[1]], {}, {"a": 1},
    {"name": "pw"}, {"size": [2, 2]},
]  # fmt: skip


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def mutate(data: dict, rng: random.Random) -> dict:
    """``data`` with one to three random changes: a value replaced (any type), a key renamed,
    deleted or added."""
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p in _paths(data) if p])
        *head, last = path
        parent = data
        for key in head:
            parent = parent[key]
        action = rng.choice(["value", "value", "rename", "delete", "add"])
        if action == "value":
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action == "rename" and isinstance(parent, dict):
            parent[rng.choice(["kind", "builder", "x" * 200, "a", "tasks", "Name"])] = parent.pop(
                last
            )
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(["supercell", "edge_nm", "params", "needs", "zzz"])] = copy.deepcopy(
                rng.choice(ODD_VALUES)
            )
    return data


def test_fuzzed_campaigns_are_loaded_or_refused_never_crash():
    """Seeded mutations of the smoke campaign plus structures of every builder: each loads, or
    raises a PerovcalcError (which the CLI shows as one message, status 2)."""
    base = tomllib.loads(SMOKE.read_text())
    base["structures"]["slab"] = {"builder": "slab", "layers": 3, "repeat": [1, 1]}
    base["structures"]["bulk"] = {"builder": "bulk", "x": 1.5, "supercell": [1, 1, 2]}
    base["structures"]["nc"] = {"builder": "nanocrystal", "edge_nm": 2.0}
    base["tasks"]["slab_energy"] = {"kind": "single_point", "structure": "slab"}
    base["tasks"]["xrd"] = {"kind": "xrd", "structure": "nc", "options": {}}
    rng = random.Random(2026)
    loaded = refused_count = 0
    for _ in range(300):
        data = mutate(base, rng)
        try:
            campaign = campaign_from_dict(data, "fuzz.toml")
        except PerovcalcError:
            refused_count += 1
            continue
        assert isinstance(campaign, Campaign)
        campaign.task_ids()
        loaded += 1
    assert loaded > 10 and refused_count > 100  # both outcomes were exercised


def test_fuzzed_campaign_files_through_the_cli(capsys, tmp_path):
    """A few mutated campaigns written as TOML and given to `status`: status 0 or 2, never a
    traceback, and no store created."""
    base = tomllib.loads(xrd_campaign_text())
    rng = random.Random(7)
    for n in range(25):
        path = tmp_path / f"f{n}.toml"
        try:
            path.write_text(toml_text(mutate(base, rng)))
        except (TypeError, AttributeError):  # a shape this little writer cannot express
            continue
        code, out, err = cli(capsys, "status", path, "--db", tmp_path / "none.db")
        assert code in (0, 2) and "Traceback" not in err, out + err
    assert not (tmp_path / "none.db").exists()


def test_no_traceback_reaches_the_user_of_the_program(tmp_path):
    """One real process per class, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    commands = [
        ["status", str(bad)],
        ["status", str(SMOKE), f"--db=mysql://u:{SECRET}@h/db"],
        ["report", str(SMOKE), "--db=~/nowhere/x.db"],
        ["build", "bulk", "-o", str(tmp_path / "no" / "x.cif")],
    ]
    for args in commands:
        done = subprocess.run(
            [sys.executable, "-m", "perovcalc.cli.main", *args],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert SECRET not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


# ------------------------------------------------------------------ a real PostgreSQL store
@pytest.fixture(scope="module")
def postgres():
    from tests.services import is_root
    from tests.services import postgres as pg

    if pg.bin_dir() is None:
        if not is_root():
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql as root)")
        pytest.fail("PostgreSQL server binaries not installed: run `make setup` as root")
    server = pg.PostgresServer.start()
    yield server
    server.stop()


@pytest.mark.services
def test_passwords_in_every_url_form_reach_the_worker_and_no_file(postgres, tmp_path):
    """`perovcalc run` with the password as a query parameter, and with #, / and ? in it
    unencoded: the runner and its worker reach the database; no file and no output holds it."""
    from tests.services import postgres as pg

    secret = f"{SECRET}#/?x"
    postgres._execute("postgres", f"ALTER ROLE {pg.USER} PASSWORD '{secret}'")
    postgres.password = secret
    host = f"127.0.0.1:{postgres.port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    quoted = secret.replace("#", "%23").replace("/", "%2F").replace("?", "%3F")
    for n, url in enumerate(
        [
            f"postgresql://{pg.USER}:{secret}@{host}/db{{n}}",
            f"postgresql://{pg.USER}@{host}/db{{n}}?password={quoted}",
        ]
    ):
        postgres.create_database(f"db{n}")
        url = url.format(n=n)
        done = subprocess.run(
            [sys.executable, "-m", "perovcalc.cli.main", "run", str(xrd_campaign(tmp_path)),
             "--db", url, "--workdir", str(tmp_path / f"w{n}")],
            env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr
        (row,) = Store(url).rows()
        assert row.status == "done"
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert not leaks
