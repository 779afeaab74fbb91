"""Campaign files: validation errors are one clear paragraph and touch nothing."""

import subprocess

import pytest

from perovcalc.campaign import Campaign, load_campaign
from perovcalc.errors import PerovcalcError
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
    "bad preset": (GOOD.replace('preset = "demo"', 'preset = "quick"'), "preset.*'quick'.*demo"),
}


def test_smoke_campaign_graph():
    campaign = load_campaign(WORKFLOWS / "smoke.toml")
    order = [t.name for t in campaign.order()]
    assert order.index("lattice") < order.index("stress") < order.index("relax")
    assert campaign.dependencies(campaign.tasks["stress"]) == ["lattice"]
    ids = campaign.task_ids()
    assert len(set(ids.values())) == 3 and all(len(i) == 17 and i[0] == "t" for i in ids.values())


def test_task_ids_are_content_hashes():
    a, b = (load_campaign(WORKFLOWS / "smoke.toml") for _ in range(2))
    assert a.task_ids() == b.task_ids()
    b.tasks["lattice"].options["points"] = 6
    changed = b.task_ids()
    # changing a task changes its id and the ids of everything downstream of it
    assert all(changed[n] != a.task_ids()[n] for n in ("lattice", "stress", "relax"))


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
    environments = {
        t.labels.get("environment") for t in campaign.tasks.values() if t.kind == "core_levels"
    }
    assert environments == {"bare_surface", "kbr_passivated"}
    # slabs are built at the computed lattice constant, and core levels use the relaxed slabs
    assert campaign.dependencies(campaign.tasks["relax_kbr"]) == ["lattice_x3"]
    assert campaign.dependencies(campaign.tasks["core_levels_kbr"]) == ["relax_kbr"]
    order = [t.name for t in campaign.order()]
    assert order.index("lattice_x3") < order.index("relax_bare") < order.index("core_levels_bare")


def test_production_campaign_mirrors_the_demo():
    demo = load_campaign(WORKFLOWS / "kbr_passivation_demo.toml")
    production = load_campaign(WORKFLOWS / "kbr_passivation_production.toml")
    assert set(production.tasks) == set(demo.tasks)
    assert {t.preset for t in production.tasks.values()} == {"production"}
    assert production.structures["slab_kbr"].args["repeat"] == [2, 2]
