"""Campaign files: validation errors are one clear paragraph and touch nothing."""

import subprocess

import pytest

from perovcalc.campaign import Campaign, load_campaign
from perovcalc.errors import PerovcalcError
from perovcalc.runner import task_ranks
from tests.conftest import WORKFLOWS

GOOD = """
[campaign]
name = "t"
preset = "demo"
[structures.s]
builder = "perovskite"
halide = "Br"
a = 5.874
[tasks.a]
kind = "relax_lattice"
structure = "s"
[tasks.b]
kind = "single_point"
structure = "task:a"
"""

BAD = {
    "wrong type": (GOOD.replace('structure = "task:a"', "structure = 3"), "tasks.b.structure"),
    "unknown kind": (
        GOOD.replace('"single_point"', '"singlepoint"'),
        "kind = 'singlepoint'.*relax_lattice",
    ),
    "cycle": (
        GOOD.replace('kind = "relax_lattice"', 'kind = "relax_lattice"\nneeds = ["b"]'),
        "cycle",
    ),
    "missing field": (GOOD.replace('name = "t"\n', ""), "campaign.name"),
    "unknown option": (
        GOOD.replace('structure = "s"', 'structure = "s"\noptions = {pts = 3}'),
        "options.pts.*points",
    ),
    "bad builder arg": (
        GOOD.replace('halide = "Br"', 'halide = "Cl"'),
        "structures.s.halide = 'Cl'.*'I', 'Br'",
    ),
    "unknown builder key": (
        GOOD.replace("a = 5.874", "lattice = 5.874"),
        "structures.s.lattice.*allowed",
    ),
    "bad max_ranks": (
        GOOD.replace('structure = "task:a"', 'structure = "task:a"\nmax_ranks = 0'),
        "tasks.b.max_ranks = 0.*positive integer",
    ),
    "bad preset": (GOOD.replace('preset = "demo"', 'preset = "quick"'), "preset.*'quick'.*demo"),
    "sweep lists of two lengths": (
        GOOD.replace("[tasks.b]", '[tasks."b{i}"]\nsweep = { i = [1, 2], j = [3] }'),
        r"tasks.b\{i\}.sweep.j = \[3\].*2 values",
    ),
    "unknown placeholder": (
        GOOD.replace("[tasks.b]", '[tasks."b{i}"]\nsweep = { i = [1, 2] }\nneeds = ["a{k}"]'),
        r"tasks.b\{i\}.needs = 'a\{k\}'.*placeholders of the sweep: \{i\}",
    ),
    "sweep name without placeholder": (
        GOOD.replace("[tasks.b]", "[tasks.b]\nsweep = { i = [1, 2] }"),
        r"tasks.b = 'b'.*\{VAR\}",
    ),
    "sweep not lists": (
        GOOD.replace("[tasks.b]", '[tasks."b{i}"]\nsweep = { i = 1 }'),
        r"tasks.b\{i\}.sweep.i = 1.*non-empty list",
    ),
}


def test_smoke_campaign_graph():
    campaign = load_campaign(WORKFLOWS / "smoke.toml")
    order = [t.name for t in campaign.order()]
    assert order.index("lattice") < order.index("stress") < order.index("relax")
    assert campaign.dependencies(campaign.tasks["stress"]) == ["lattice"]
    ids = campaign.task_ids()
    assert len(set(ids.values())) == 3 and all(len(i) == 17 and i[0] == "t" for i in ids.values())


SWEPT = """
[campaign]
name = "sweep"
[structures."bulk_x{x}"]
sweep = { x = [0, 1, 3] }
builder = "bulk"
x = "{x}"
[tasks."lattice_x{x}"]
sweep = { x = [0, 1, 3] }
kind = "relax_lattice"
structure = "bulk_x{x}"
[structures."slab_{env}"]
builder = "slab"
x = "{x}"
layers = 3
vacuum = "{v}"
a = "{a}"
[structures."slab_{env}".sweep]
env = ["x0", "x3"]
a = ["task:lattice_x0", "task:lattice_x3"]
x = [0, 3]
v = [8.5, 10]
[tasks."host_{env}"]
sweep = { env = ["x0", "x3"], environment = ["iodide", "bromide"] }
kind = "defect_host"
structure = "slab_{env}"
needs = ["lattice_x1"]
options = { steps = 2 }
labels = { environment = "{environment}", model = "slab of {env}" }
"""

WRITTEN_OUT = """
[campaign]
name = "sweep"
[structures.bulk_x0]
builder = "bulk"
x = 0
[structures.bulk_x1]
builder = "bulk"
x = 1
[structures.bulk_x3]
builder = "bulk"
x = 3
[tasks.lattice_x0]
kind = "relax_lattice"
structure = "bulk_x0"
[tasks.lattice_x1]
kind = "relax_lattice"
structure = "bulk_x1"
[tasks.lattice_x3]
kind = "relax_lattice"
structure = "bulk_x3"
[structures.slab_x0]
builder = "slab"
x = 0
layers = 3
vacuum = 8.5
a = "task:lattice_x0"
[structures.slab_x3]
builder = "slab"
x = 3
layers = 3
vacuum = 10
a = "task:lattice_x3"
[tasks.host_x0]
kind = "defect_host"
structure = "slab_x0"
needs = ["lattice_x1"]
options = { steps = 2 }
labels = { environment = "iodide", model = "slab of x0" }
[tasks.host_x3]
kind = "defect_host"
structure = "slab_x3"
needs = ["lattice_x1"]
options = { steps = 2 }
labels = { environment = "bromide", model = "slab of x3" }
"""


def test_a_sweep_is_the_blocks_it_stands_for(tmp_path, perovcalc_cli):
    """One block with ``sweep`` gives the tasks, structures, labels and ids of the blocks
    written out by hand, in the same order; ``"{x}"`` keeps a number a number."""
    swept, written = tmp_path / "swept.toml", tmp_path / "written.toml"
    swept.write_text(SWEPT)
    written.write_text(WRITTEN_OUT)
    a, b = load_campaign(swept), load_campaign(written)
    assert list(a.tasks) == list(b.tasks) == [
        "lattice_x0", "lattice_x1", "lattice_x3", "host_x0", "host_x3"
    ]  # fmt: skip
    assert a.task_ids() == b.task_ids()
    assert len(set(a.task_ids().values())) == 5
    assert {n: s.recipe() for n, s in a.structures.items()} == {
        n: s.recipe() for n, s in b.structures.items()
    }
    args = a.structures["slab_x0"].args
    assert (args["x"], args["vacuum"], args["a"]) == (0, 8.5, "task:lattice_x0")
    assert isinstance(args["x"], int) and isinstance(a.structures["slab_x3"].args["vacuum"], int)
    assert a.tasks["host_x3"].labels == {"environment": "bromide", "model": "slab of x3"}
    assert [t.name for t in a.order()] == [t.name for t in b.order()]
    # perovcalc status lists the expanded tasks
    status = subprocess.run(
        [*perovcalc_cli, "status", str(swept), "--db", str(tmp_path / "r.db")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    listed = [line.split()[0] for line in status.stdout.splitlines()[2:]]
    assert listed == list(b.tasks)


def test_task_ids_are_content_hashes():
    a, b = (load_campaign(WORKFLOWS / "smoke.toml") for _ in range(2))
    scripted = Campaign("smoke")  # the same task built in Python: defaults filled in or not
    scripted.add_structure("cspbbr3", "perovskite", halide="Br", a=5.874)
    scripted.add_task("lattice", "relax_lattice", "cspbbr3", options={"points": 5, "strain": 0.04})
    before = scripted.task_ids()["lattice"]
    scripted.validate()
    assert before == scripted.task_ids()["lattice"] == a.task_ids()["lattice"]
    assert a.task_ids() == b.task_ids()
    b.tasks["lattice"].options["points"] = 6
    changed = b.task_ids()
    # changing a task changes its id and the ids of everything downstream of it
    assert all(changed[n] != a.task_ids()[n] for n in ("lattice", "stress", "relax"))
    a.tasks["relax"].max_ranks = 1  # how a task runs is not what it computes
    assert a.task_ids() == load_campaign(WORKFLOWS / "smoke.toml").task_ids()


def test_ids_follow_needs_and_options_added_later_keep_them():
    """A task's id changes with the tasks in its needs (perovcalc 0.1 named them, and kept
    its id: its legacy id, pinned here as 0.1 computed it). ``rattle`` came after stores held
    vacancy and barrier results: at its default it leaves ids alone; set, it changes them. A
    keyed option (steps) enters the id even at its default."""
    from perovcalc.kinds import keyed_options

    campaign = Campaign("ids")
    campaign.add_structure("cspbbr3", "perovskite", halide="Br", a=5.874)
    campaign.add_task("host", "defect_host", "cspbbr3")
    campaign.add_task("vacancy", "vacancy_formation", "task:host")
    # fmax = 0.05: the barrier default of perovcalc 0.1 and 0.2 (now: the preset's)
    campaign.add_task(
        "barrier", "migration_barrier", "task:host", needs=["vacancy"], options={"fmax": 0.05}
    )
    of_01 = {"vacancy": "t8cca8f9e388ae1ac", "barrier": "td6fa3607155709e9"}
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    assert {n: legacy[n] for n in of_01} == of_01
    assert ids["vacancy"] == of_01["vacancy"] and ids["barrier"] != of_01["barrier"]
    campaign.tasks["vacancy"].options["rattle"] = 0.0  # the default, given
    assert campaign.task_ids() == ids
    campaign.tasks["vacancy"].options["rattle"] = 0.05
    changed = campaign.task_ids()
    assert changed["vacancy"] != ids["vacancy"] and changed["barrier"] != ids["barrier"]
    assert campaign.task_ids(legacy=True)["barrier"] == of_01["barrier"]  # 0.1's flaw
    options = keyed_options("vacancy_formation", {})
    assert "rattle" not in options and options["steps"] == 100


def test_max_ranks_caps_the_ranks_of_dft_tasks(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(GOOD.replace('structure = "task:a"', 'structure = "task:a"\nmax_ranks = 1'))
    campaign = load_campaign(path)
    assert [task_ranks(campaign.tasks[n], 4) for n in ("a", "b")] == [4, 1]
    campaign.add_task("xrd", "xrd", "s", max_ranks=2)
    assert task_ranks(campaign.tasks["xrd"], 4) == 1  # no MPI for a kind without DFT


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_campaign_gives_clear_error_and_writes_nothing(case, tmp_path, perovcalc_cli):
    text, pattern = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PerovcalcError, match=pattern):
        load_campaign(path)
    db = tmp_path / "store.db"
    proc = subprocess.run(
        [*perovcalc_cli, "run", str(path), "--db", str(db), "--workdir", str(tmp_path / "w")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    message = proc.stderr.strip()
    assert "\n\n" not in message and str(path) in message
    assert not db.exists() and not (tmp_path / "w").exists()


def test_scripted_campaign_validates_like_a_file():
    campaign = Campaign("scripted")
    campaign.add_structure("s", "perovskite", halide="Br", a=5.9)
    campaign.add_task("e", "single_point", "s", options={"stress": "yes"})
    with pytest.raises(PerovcalcError, match="options.stress.*bool"):
        campaign.validate()


def test_scripted_example_builds_a_valid_campaign():
    import runpy

    build = runpy.run_path(str(WORKFLOWS / "scripted_campaign.py"))["build"]
    campaign = build()
    campaign.validate()
    assert campaign.dependencies(campaign.tasks["energy_I"]) == ["lattice_I"]
    assert len(campaign.task_ids()) == 4


def test_demo_campaign_task_graph():
    campaign = load_campaign(WORKFLOWS / "kbr_passivation_demo.toml")
    kinds = {name: t.kind for name, t in campaign.tasks.items()}
    assert [n for n, k in kinds.items() if k == "relax_lattice"] == [
        f"lattice_x{i}" for i in range(4)
    ]
    assert {"xrd_x0", "xrd_x3", "xrd_nanocrystal", "photoemission"} <= set(kinds)
    pairs = {
        (t.labels["model"], t.labels["environment"])
        for t in campaign.tasks.values()
        if t.kind == "core_levels"
    }
    assert pairs == {
        ("CsPbBr3 slab", "bare_surface"),
        ("CsPbBr3 slab", "kbr_passivated"),
        ("CsPbBr3 slab, K at two depths", "kbr_passivated"),
    }
    # K at two depths: surface K and K one CsX layer below, in one slab
    deep = campaign.structures["slab_kbr_deep"].args
    assert deep["k_subsurface"] == 1.0 and deep["passivation"] == "KBr"
    # slabs are built at the computed lattice constant; core levels, vacancies and the hop use
    # the relaxed slabs; the Br chemical potential comes from the relaxed bulk and the phases
    assert campaign.dependencies(campaign.tasks["host_kbr"]) == ["lattice_x3"]
    assert campaign.dependencies(campaign.tasks["core_levels_kbr"]) == ["host_kbr"]
    assert campaign.dependencies(campaign.tasks["mu"]) == [
        "br2", "cs", "csbr", "lattice_x3", "pb", "pbbr2"
    ]  # fmt: skip
    assert campaign.dependencies(campaign.tasks["vacancy_kbr"]) == ["mu", "thin_host_kbr"]
    # V_I in the mixed-halide slabs (the extended demo): mu_I from CsPbI2Br against every phase
    more = load_campaign(WORKFLOWS / "kbr_passivation_more.toml")
    assert more.dependencies(more.tasks["vacancy_mixed_kbr"]) == ["host_mixed_kbr", "mu_mixed"]
    assert len(more.dependencies(more.tasks["mu_mixed"])) == 11
    assert not {"mu_mixed", "i2", "host_mixed_bare"} & set(kinds)
    # slab hosts and vacancies relax on the surrogate; the bulk cell (one evaluation) by BFGS
    surrogate = {
        n
        for n, t in campaign.tasks.items()
        if t.kind in ("defect_host", "vacancy_formation") and t.options.get("method") == "surrogate"
    }
    assert surrogate == {
        "thin_host_bare", "thin_host_kbr", "vacancy_bare", "vacancy_kbr",
        "host_bare", "host_kbr", "host_kbr_deep",
    }  # fmt: skip
    deps = campaign.dependencies(campaign.tasks["barrier_kbr"])
    assert deps == ["thin_host_kbr", "vacancy_kbr"]
    assert kinds["barrier_bare"] == kinds["barrier_kbr"] == "migration_barrier"
    # the third environment: bulk V_Br and its hop at the same preset and chemical potentials
    assert campaign.dependencies(campaign.tasks["bulk_host"]) == ["lattice_x3"]
    assert campaign.dependencies(campaign.tasks["vacancy_bulk"]) == ["bulk_host", "mu"]
    assert campaign.dependencies(campaign.tasks["barrier_bulk"]) == ["bulk_host", "vacancy_bulk"]
    environments = {
        campaign.tasks[name].labels["environment"]
        for name, kind in kinds.items()
        if kind in ("vacancy_formation", "migration_barrier")
    }
    assert environments == {"bulk", "bare_surface", "kbr_passivated"}
    assert campaign.tasks["br2"].max_ranks == 1  # Gamma-only plane waves: one rank
    order = [t.name for t in campaign.order()]
    assert order.index("lattice_x3") < order.index("host_bare") < order.index("core_levels_bare")
    assert order.index("vacancy_bare") < order.index("barrier_bare")
    # two cores kept busy: the longest chain (thin host -> vacancy -> hop) is queued first
    assert order.index("thin_host_bare") < order.index("pbbr2") < order.index("host_bare")
    assert order.index("barrier_kbr") < order.index("host_bare") < order.index("xrd_x0")


def test_production_campaign_mirrors_the_demo():
    demo = load_campaign(WORKFLOWS / "kbr_passivation_demo.toml")
    more = load_campaign(WORKFLOWS / "kbr_passivation_more.toml")
    production = load_campaign(WORKFLOWS / "kbr_passivation_production.toml")
    assert set(demo.tasks) < set(more.tasks)
    ids = more.task_ids()  # the extended demo keeps the ids of the tasks it includes
    assert all(ids[name] == task_id for name, task_id in demo.task_ids().items())
    assert more.name == demo.name  # one store: the demo's finished tasks are reused
    assert set(production.tasks) == set(more.tasks)
    assert {t.preset for t in production.tasks.values()} == {"production"}
    assert production.structures["slab_kbr"].args["repeat"] == [2, 2]


def test_campaign_of_an_atoms_object_runs_and_is_stored(tmp_path):
    from ase.build import bulk

    from perovcalc.runner import run_campaign
    from perovcalc.store import Store

    campaign = Campaign("scripted_atoms")
    campaign.add_structure("nacl", bulk("NaCl", "rocksalt", a=5.64))
    campaign.add_task("xrd", "xrd", "nacl")
    campaign.validate()
    summary = run_campaign(campaign, tmp_path / "r.db", 1, tmp_path / "w")
    assert summary.ok and summary.done == ["xrd"]
    row = Store(tmp_path / "r.db").get(campaign.task_ids()["xrd"])
    assert row.status == "done" and row.formula == "NaCl"
    assert row.data["recipe"]["structure"]["builder"] == "atoms"  # readable again


def test_runner_does_not_poll_the_store_for_tasks_it_runs_or_saw_done(tmp_path, monkeypatch):
    """A chain of four quick tasks: the store is asked about each task a bounded number of
    times, however many polls the run takes (a PostgreSQL store is a network round trip)."""
    from ase.build import bulk

    from perovcalc.runner import run_campaign
    from perovcalc.store import Store

    campaign = Campaign("chain")
    campaign.add_structure("nacl", bulk("NaCl", "rocksalt", a=5.64))
    for n in range(4):
        campaign.add_task(f"x{n}", "xrd", "nacl", needs=[f"x{n - 1}"] if n else [])
    calls = []
    get = Store.get
    monkeypatch.setattr(
        Store, "get", lambda self, task_id: calls.append(task_id) or get(self, task_id)
    )
    summary = run_campaign(campaign, tmp_path / "r.db", 1, tmp_path / "w")
    assert summary.ok and summary.done == ["x0", "x1", "x2", "x3"]
    # its own row before the claim, in the claim, after its worker ends; once more, with its
    # perovcalc 0.1 id, for a task with needs (no row of 0.1 to adopt)
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    assert [calls.count(ids[f"x{n}"]) for n in range(4)] == [3, 4, 4, 4], calls
    assert [calls.count(legacy[f"x{n}"]) for n in range(1, 4)] == [1, 1, 1]
    calls.clear()
    assert run_campaign(campaign, tmp_path / "r.db", 1, tmp_path / "w").skipped == summary.done
    assert len(calls) == 4 + 3  # a rerun: one look per task, and one per task with needs


def test_progress_counts_scf_iterations_of_the_newest_gpaw_log(tmp_path):
    """A task with logs in subdirectories (a vacancy per site): its progress line counts the SCF
    iterations of the calculation running now, in GPAW's new and old log formats."""
    import os

    from perovcalc.runner import scf_iterations

    table = "|  0 |     Cs | -0.018484 | 0.006622 |\n"  # an atom table row: not an iteration
    old = tmp_path / "Br3_q+0" / "gpaw.txt"
    new = tmp_path / "Br6_q+0" / "gpaw.txt"
    for log, rows in ((old, ["iter:   1 12:00:00  -12.3", "iter:   2 12:00:01  -12.4"]),
                      (new, ["|iter:   1| 12:00:02 | -12.5 |"])):  # fmt: skip
        log.parent.mkdir()
        log.write_text(table + "\n".join(rows) + "\n")
    os.utime(old, (1e9, 1e9))
    assert scf_iterations(tmp_path) == 1
    assert scf_iterations(tmp_path / "empty") == 0
    image = tmp_path / "neb" / "gpaw-image1.txt"  # a band logs one file per image
    image.parent.mkdir()
    image.write_text("\n".join(f"|iter: {i:3d}| 12:01:00 | -12.5 |" for i in (1, 2, 3)) + "\n")
    assert scf_iterations(tmp_path) == 3


def test_order_is_declaration_order_with_dependencies_first():
    campaign = Campaign("order")
    campaign.add_structure("s", "perovskite", halide="Br", a=5.9)
    campaign.add_task("late", "single_point", "task:early")  # declared first, needs "early"
    campaign.add_task("free", "xrd", "s")
    campaign.add_task("early", "relax_lattice", "s")
    campaign.validate()
    assert [t.name for t in campaign.order()] == ["free", "early", "late"]


def run_as_01(campaign: Campaign, db, work, monkeypatch):
    """Run ``campaign`` as perovcalc 0.1 did: task ids that hash the names in needs."""
    from perovcalc.runner import run_campaign

    ids_now = Campaign.task_ids
    with monkeypatch.context() as patch:
        patch.setattr(Campaign, "task_ids", lambda self, legacy=False: ids_now(self, True))
        return run_campaign(campaign, db, 1, work)


def test_results_of_perovcalc_01_are_adopted_unless_a_dependency_changed(tmp_path, monkeypatch):
    """A store written with 0.1's ids: rerun, its finished results move to the current ids
    (nothing recomputed), an interrupted task resumes in its own folder; a task whose
    dependency was changed since is computed again, as 0.1 would not have."""
    import io

    from ase.build import bulk

    from perovcalc.runner import run_campaign, task_directory
    from perovcalc.store import Store

    campaign = Campaign("chain")
    campaign.add_structure("nacl", bulk("NaCl", "rocksalt", a=5.64))
    for n in range(3):
        campaign.add_task(f"x{n}", "xrd", "nacl", needs=[f"x{n - 1}"] if n else [])
    db, work = tmp_path / "r.db", tmp_path / "w"
    assert run_as_01(campaign, db, work, monkeypatch).done == ["x0", "x1", "x2"]
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    store = Store(db)
    store.mark(legacy["x2"], "interrupted", "test")
    out = io.StringIO()
    summary = run_campaign(campaign, db, 1, work, stream=out)
    assert summary.skipped == ["x0", "x1"] and summary.done == ["x2"]
    assert "x1: result of perovcalc 0.1 adopted" in out.getvalue()
    assert {r.task_id for r in store.rows()} == set(ids.values())
    assert task_directory(work, "x2", ids["x2"]).is_dir()
    assert not task_directory(work, "x2", legacy["x2"]).exists()

    # 0.1 again, then x0 changes: 0.1 kept x1 and x2 (same ids); now they are recomputed
    db2 = tmp_path / "r2.db"
    run_as_01(campaign, db2, work, monkeypatch)
    campaign.tasks["x0"].options["two_theta_max"] = 50.0
    assert run_as_01(campaign, db2, work, monkeypatch).done == ["x0"]  # 0.1's stale reuse
    assert run_campaign(campaign, db2, 1, work).done == ["x1", "x2"]


def test_status_leaves_a_store_of_perovcalc_01_alone_and_migrate_adopts_it(
    tmp_path, monkeypatch, capsys
):
    """Reading (status, report) writes nothing: the 0.1 rows stay under their old ids and
    status says how to adopt them; `perovcalc migrate` adopts them, once."""
    from perovcalc.cli.main import main
    from perovcalc.store import Store

    text = '[campaign]\nname = "chain"\n[structures.c]\nbuilder = "perovskite"\na = 5.874\n'
    for n in range(3):
        text += f'[tasks.x{n}]\nkind = "xrd"\nstructure = "c"\n'
        text += f'needs = ["x{n - 1}"]\n' if n else ""
    path = tmp_path / "chain.toml"
    path.write_text(text)
    campaign = load_campaign(path)
    db, work = tmp_path / "r.db", tmp_path / "w"
    assert run_as_01(campaign, db, work, monkeypatch).done == ["x0", "x1", "x2"]
    ids, legacy = campaign.task_ids(), campaign.task_ids(legacy=True)
    before = {r.task_id for r in Store(db).rows()}
    assert before == {legacy[n] for n in ("x0", "x1", "x2")} and ids["x1"] != legacy["x1"]
    capsys.readouterr()
    assert main(["status", str(path), "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "x1, x2" in err and f"perovcalc migrate {path}" in err
    assert {r.task_id for r in Store(db).rows()} == before  # nothing adopted by reading
    args = ["migrate", str(path), "--db", str(db), "--workdir", str(work)]
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert "x1: result of perovcalc 0.1 adopted" in out and "x2: result" in out
    assert {r.task_id for r in Store(db).rows()} == set(ids.values())
    assert main(args) == 0 and "nothing adopted" in capsys.readouterr().out
    assert main(["status", str(path), "--db", str(db)]) == 0
    assert "migrate" not in capsys.readouterr().err


def test_a_subset_keeps_its_dependencies_and_their_ids(tmp_path, perovcalc_cli):
    campaign = load_campaign(WORKFLOWS / "vacancy_convergence.toml")
    part = campaign.subset(["vac_slab21"])
    assert sorted(part.tasks) == [
        "br2", "cs", "csbr", "cspbbr3", "host_slab21", "mu", "pb", "pbbr2", "vac_slab21",
    ]  # fmt: skip
    ids = campaign.task_ids()
    assert part.task_ids() == {name: ids[name] for name in part.tasks}
    assert sorted(part.structures) == ["br2", "cs", "csbr", "cspbbr3", "pb", "pbbr2", "slab21"]
    # structures of the left-out tasks go too: the demo's XRD cells name lattice tasks
    demo = load_campaign(WORKFLOWS / "kbr_passivation_more.toml")
    part = demo.subset(["barrier_mixed_sqs_i"])
    part.validate()
    assert "xrd_x2" not in part.structures and "lattice_x2" not in part.tasks
    assert part.task_ids()["barrier_mixed_sqs_i"] == demo.task_ids()["barrier_mixed_sqs_i"]
    with pytest.raises(PerovcalcError, match="task = 'vac_slab33'.*'vac_slab22'"):
        campaign.subset(["vac_slab21", "vac_slab33"])
    done = subprocess.run(
        [*perovcalc_cli, "run", str(WORKFLOWS / "smoke.toml"), "--only", "lattcie",
         "--db", str(tmp_path / "r.db"), "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "task = 'lattcie' is not allowed" in done.stderr
    assert not (tmp_path / "r.db").exists()


def test_an_included_campaign_keeps_its_tasks_and_ids(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(
        '[campaign]\nname = "base"\npreset = "demo"\n'
        '[structures.b]\nbuilder = "bulk"\nx = 3\n'
        '[tasks.lat]\nkind = "relax_lattice"\nstructure = "b"\n'
    )
    more = tmp_path / "more.toml"
    more.write_text(
        '[campaign]\nname = "more"\npreset = "standard"\ninclude = "base.toml"\n'
        '[tasks.host]\nkind = "defect_host"\nstructure = "b"\nneeds = ["lat"]\n'
    )
    small, large = load_campaign(base), load_campaign(more)
    assert list(large.tasks) == ["lat", "host"]
    assert large.task_ids()["lat"] == small.task_ids()["lat"]  # the included task is unchanged
    assert large.tasks["lat"].preset == "demo" and large.tasks["host"].preset == "standard"
    clash = tmp_path / "clash.toml"
    clash.write_text(more.read_text().replace("tasks.host", "tasks.lat"))
    with pytest.raises(PerovcalcError, match="tasks.lat = 'lat'.*included files do not define"):
        load_campaign(clash)
    loop = tmp_path / "loop.toml"
    loop.write_text('[campaign]\nname = "loop"\ninclude = ["loop.toml"]\n')
    with pytest.raises(PerovcalcError, match="campaign.include = 'loop.toml'.*do not include it"):
        load_campaign(loop)
