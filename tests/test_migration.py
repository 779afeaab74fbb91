"""migration_barrier task kind: hop choice, reuse of relaxed vacancies, real GPAW end to end."""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from ase.geometry import find_mic
from ase.io import read

from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError
from perovcalc.kinds.migration import intermediate_relaxer
from perovcalc.mep import validate_endpoints
from perovcalc.slab import perovskite_slab
from perovcalc.store import Store
from perovcalc.vacancy import (
    choose_hop,
    hop_endpoints,
    neighbour_hops,
    remove_atom,
    vacancy_displacements,
)
from tests.conftest import ROOT, WORKFLOWS

A = 5.874  # CsPbBr3, Angstrom


# ----------------------------------------------------------------- geometry (no DFT)
@pytest.mark.parametrize(
    "termination, passivation",
    [("CsX", None), ("PbX2", None), ("CsX", "KBr"), ("PbX2", "KBr_overlayer")],
)
def test_default_hop_of_a_slab_starts_in_the_outer_perovskite_layer(termination, passivation):
    slab = perovskite_slab(3.0, termination, 3, vacuum=10.0, passivation=passivation, a=A)
    outer = (slab.info["layers"] - 1) // 2
    site, to = choose_hop(slab, "Br", outer=outer)
    depth = outer - slab.arrays["layer"]
    assert depth[site] == 0  # outermost perovskite layer, not a KBr overlayer (-1)
    assert depth[to] in (0, 1)
    assert slab.get_distance(site, to, mic=True) == pytest.approx(A / np.sqrt(2))


def test_bad_hops_name_the_option_and_the_allowed_indices():
    host = cubic_perovskite(A, "Br")  # Cs 0, Pb 1, Br 2-4
    assert choose_hop(host, "Br") == (2, 3)
    with pytest.raises(InputError, match=r"options.to = 1 .*site 2: \[3, 4\]"):
        choose_hop(host, "Br", 2, 1)
    with pytest.raises(InputError, match=r"options.site = 0 .*Br atom: 2, 3, 4"):
        choose_hop(host, "Br", 0)
    with pytest.raises(InputError, match=r"options.species = 'I' .*'Br'"):
        choose_hop(host, "I")


def test_relaxation_carried_to_an_equivalent_vacancy_is_congruent():
    """A relaxed V_Br (random displacements) carried by a space-group operation to another Br
    site: same pairwise distances and the same distances to the vacancy, atom by atom."""
    host = cubic_perovskite(A, "Br").repeat(2)
    source, target = 2, neighbour_hops(host, 2)[0]
    rng = np.random.default_rng(1)
    relaxed = remove_atom(host, source)
    relaxed.positions += rng.normal(scale=0.05, size=relaxed.positions.shape)
    moved = vacancy_displacements(host, source, relaxed.positions, target)
    assert moved is not None and not moved[target].any()
    carried = remove_atom(host, target)
    carried.positions += np.delete(moved, target, axis=0)

    def fingerprint(atoms, vacancy):
        delta = atoms.positions - host.positions[vacancy]
        to_vacancy = find_mic(delta, host.cell, host.pbc)[1]
        return sorted(zip(atoms.get_chemical_symbols(), np.round(to_vacancy, 8), strict=True))

    assert np.allclose(
        np.sort(relaxed.get_all_distances(mic=True).ravel()),
        np.sort(carried.get_all_distances(mic=True).ravel()),
        atol=1e-8,
    )
    assert fingerprint(relaxed, source) == fingerprint(carried, target)
    # the same relaxation as the final state of the hop source -> target: a valid band
    initial, final = hop_endpoints(host, source, target)
    initial.positions = relaxed.positions
    final_moved = moved.copy()
    final_moved[target] = moved[source]
    final.positions += np.delete(final_moved, source, axis=0)
    assert validate_endpoints(initial, final).distance == pytest.approx(A / np.sqrt(2), abs=0.2)
    # a Br cannot be carried onto a site of another species
    assert vacancy_displacements(host, source, relaxed.positions, 1) is None


def test_of_several_equivalent_relaxations_the_closest_to_a_reference_is_taken():
    """A distorted vacancy goes onto an equivalent site in several ways (one per operation
    taking source to target): with a reference, the one nearest to it; without, the first."""
    from perovcalc.vacancy import _symmetry_operations

    host = cubic_perovskite(A, "Br")
    source, target = 2, 3
    relaxed = remove_atom(host, source)
    relaxed.positions += np.random.default_rng(2).normal(scale=0.1, size=relaxed.positions.shape)
    others = np.delete(np.arange(len(host)), source)
    moved = relaxed.positions - host.positions[others]
    variants = []
    for matrix, permutation in _symmetry_operations(host, source, target):
        field = np.zeros((len(host), 3))
        field[permutation[others]] = moved @ matrix
        variants.append(field)
    assert len(variants) == 16  # the 4/mmm stabiliser of a Br site in Pm-3m
    first, last = variants[0], variants[-1]
    assert np.abs(first - last).max() > 0.05
    plain = vacancy_displacements(host, source, relaxed.positions, target)
    assert np.allclose(plain, first)
    nearest = vacancy_displacements(host, source, relaxed.positions, target, last + 0.01)
    assert np.allclose(nearest, last)


def test_an_intermediate_is_relaxed_once_and_carries_its_energy(tmp_path):
    """The relaxation run_path asks the barrier task for, with real GPAW (4 atoms, Gamma):
    the primitive-cell V_Br with the hopping Br half-way to the vacancy, three BFGS steps."""
    from perovcalc.kinds import resolve_options
    from perovcalc.presets import gpaw_parameters
    from perovcalc.tasks import TaskContext

    host = cubic_perovskite(A, "Br")
    initial, final = hop_endpoints(host, 2, 3)
    image = initial.copy()
    image.positions[2] = (initial.positions[2] + final.positions[2]) / 2
    params = {**gpaw_parameters(image, "demo"), "kpts": {"size": [1, 1, 1], "gamma": True}}
    overrides = {"rattle": 0.0, "endpoint_steps": 3, "method": "neb"}
    options = resolve_options("migration_barrier", overrides)
    ctx = TaskContext("hop", None, params, options, tmp_path, "demo", {})
    relax = intermediate_relaxer(ctx, params, 0.05)
    state, record = relax(image, "intermediate1")
    frames = read(tmp_path / "intermediate1" / "relax.traj", ":")
    assert record["evaluations"] == len(frames) == 4 and not record["converged"]
    assert state.get_potential_energy() == pytest.approx(frames[-1].get_potential_energy())
    assert state.get_potential_energy() < frames[0].get_potential_energy()
    assert np.allclose(state.positions, frames[-1].positions)
    assert np.allclose(state.get_forces(), frames[-1].get_forces())
    assert "positions" not in record and "forces" not in record
    again, same = relax(image, "intermediate1")  # from endpoints.json: no new evaluation
    assert len(read(tmp_path / "intermediate1" / "relax.traj", ":")) == 4
    assert same == record and again.get_potential_energy() == state.get_potential_energy()


# ----------------------------------------------------------------- real GPAW, end to end
PARAMS = (
    'params = { mode = { name = "pw", ecut = 200 }, kpts = { size = [1, 1, 1], gamma = true } }'
)
PHASE_PARAMS = (
    'params = { mode = { name = "pw", ecut = 200 }, kpts = { size = [2, 2, 2], gamma = true } }'
)
HOST = f"""
[structures.cspbbr3]
builder = "perovskite"
halide = "Br"
a = {A}

[tasks.host]
kind = "defect_host"
structure = "cspbbr3"
{PARAMS}
"""
CAMPAIGN = f"""
[campaign]
name = "tiny_migration"
preset = "demo"
{HOST}
[structures.cs]
builder = "phase"
phase = "Cs"
[structures.pb]
builder = "phase"
phase = "Pb"
[structures.br2]
builder = "phase"
phase = "Br2"
box = 8.5

[tasks.cs]
kind = "competing_phase"
structure = "cs"
{PHASE_PARAMS}
options = {{ cell = "fixed", steps = 0 }}
[tasks.pb]
kind = "competing_phase"
structure = "pb"
{PHASE_PARAMS}
options = {{ cell = "fixed", steps = 0 }}
[tasks.br2]
kind = "competing_phase"
structure = "br2"
{PARAMS}
options = {{ steps = 0 }}
[tasks.mu]
kind = "chemical_potentials"
structure = "task:host"
needs = ["cs", "pb", "br2"]
options = {{ host_on_hull = true }}
[tasks.vacancy]
kind = "vacancy_formation"
structure = "task:host"
needs = ["mu"]
{PARAMS}
options = {{ sites = [2], fmax = 0.05, steps = 5 }}

# primitive CsPbBr3 without the Br at (1/2, 1/2, 0); the Br at (1/2, 0, 1/2) hops into it
[tasks.barrier]
kind = "migration_barrier"
structure = "task:host"
{PARAMS}
options = {{ n_images = 1, fmax = 0.1, max_steps = 20, endpoint_steps = 5, method = "neb" }}
[tasks.surrogate]
kind = "migration_barrier"
structure = "task:host"
{PARAMS}
options = {{ n_images = 1, fmax = 0.1, max_steps = 20, endpoint_steps = 5 }}
[tasks.reused]
kind = "migration_barrier"
structure = "task:host"
needs = ["vacancy"]
{PARAMS}
options = {{ n_images = 1, fmax = 0.1, max_steps = 0, method = "neb" }}
"""
BAD_TO = f"""
[campaign]
name = "bad_hop"
{HOST}
[tasks.bad]
kind = "migration_barrier"
structure = "task:host"
{PARAMS}
options = {{ to = 1 }}
"""
RATTLED = f"""
[campaign]
name = "rattled"
preset = "demo"
{HOST}
[tasks.rattled]
kind = "migration_barrier"
structure = "task:host"
{PARAMS}
[tasks.rattled.options]
n_images = 1
fmax = 0.1
max_steps = 0
endpoint_steps = 40
rattle = 0.05
method = "neb"
[tasks.rattled_unrelaxed]
kind = "migration_barrier"
structure = "task:host"
{PARAMS}
options = {{ n_images = 1, fmax = 0.1, endpoint_steps = 0, rattle = 0.05, method = "neb" }}
"""


def _run(folder, campaign):
    command = [
        sys.executable, "-m", "perovcalc.cli.main", "run", str(campaign), "--db",
        str(folder / "r.db"), "--workdir", str(folder / "w"), "--ranks", "1",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)


@pytest.fixture(scope="module")
def migration(tmp_path_factory):
    """The campaign run once through the CLI (about 65 s on one core): CsPbBr3 primitive-cell
    host, V_Br formation at site 2, and the hop 3 -> 2 with and without reuse of it."""
    folder = tmp_path_factory.mktemp("migration")
    campaign = folder / "migration.toml"
    campaign.write_text(CAMPAIGN)
    done = _run(folder, campaign)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, campaign


def _rows(folder):
    return {row.task: row for row in Store(folder / "r.db").rows()}


def test_the_surrogate_task_gives_the_dft_band_barrier(migration):
    """The same hop through the task's default method: band and endpoints on the Gaussian-process
    surrogate, the barrier from DFT energies, as converged as the DFT band and at its barrier."""
    folder, _ = migration
    rows = _rows(folder)
    band, surrogate = rows["barrier"].data["result"], rows["surrogate"].data["result"]
    assert surrogate["settings"]["method"] == "surrogate" and surrogate["converged"]
    assert surrogate["endpoints"]["initial"]["method"] == "surrogate"
    assert surrogate["forward_barrier"] == pytest.approx(band["forward_barrier"], abs=0.03)
    assert surrogate["saddle_energy"] == rows["surrogate"].energy  # a DFT energy, stored


def test_barrier_is_consistent_with_the_stored_energies(migration):
    folder, _ = migration
    rows = _rows(folder)
    row = rows["barrier"]
    result = row.data["result"]
    energies = result["energies"]
    saddle = result["saddle_index"]
    assert len(energies) == 3 and saddle == 1
    # the stored structure is the saddle image, with its energy
    assert row.energy == energies[saddle] == result["saddle_energy"]
    assert result["forward_barrier"] == pytest.approx(energies[saddle] - energies[0], abs=1e-12)
    assert result["reverse_barrier"] == pytest.approx(energies[saddle] - energies[-1], abs=1e-12)
    assert result["reaction_energy"] == pytest.approx(energies[-1] - energies[0], abs=1e-12)
    # a mirror plane maps initial onto final: a symmetric profile with a real barrier
    assert abs(result["reaction_energy"]) < 1e-3 and result["forward_barrier"] > 0.1
    assert result["converged"] and result["residual"] <= 0.1
    assert result["cost"]["evaluations"] >= 2 + 1 + result["cost"]["steps"]
    assert result["total_cost"] == result["cost"]
    assert (result["species"], result["site"], result["to"]) == ("Br", 2, 3)
    assert result["environment"] == "bulk" and result["layer_from_surface"] is None
    assert result["settings"]["spinpol"]  # 37 valence electrons
    assert result["hop"]["symbol"] == "Br"
    # the path: cumulative distance along the band, no shorter than the straight hop of a/sqrt(2)
    # (only the hopping atom moves; a curved path around the Pb is longer)
    hop = result["hop"]["distance"]
    assert hop == pytest.approx(A / np.sqrt(2), abs=1e-6)
    assert result["path"][0] == 0.0 and np.all(np.diff(result["path"]) > 0)
    assert hop - 1e-9 <= result["path"][-1] < 1.2 * hop
    assert abs(result["tangential_forces"][saddle]) < 0.1  # the climbing image sits on the top
    initial, final = result["endpoints"]["initial"], result["endpoints"]["final"]
    assert initial["source"] == "relaxed" and initial["converged"] and initial["evaluations"] >= 1
    assert final["source"] == "reused" and final["reused_from"]["task"] == "initial endpoint"
    assert result["endpoint_evaluations"] == initial["evaluations"]
    # one GPAW log per endpoint and image
    task_dir = next((folder / "w" / "tasks").glob("barrier-*"))
    logs = sorted(p.name for p in (task_dir / "neb").glob("gpaw-*.txt"))
    assert logs == ["gpaw-final.txt", "gpaw-image1.txt", "gpaw-initial.txt"]


def test_relaxed_vacancies_of_a_vacancy_task_are_reused(migration):
    """The vacancy task relaxed V_Br at site 2 only; the final state (vacancy at 3) comes from
    it by a symmetry operation. No endpoint relaxation, and the same endpoint energies."""
    folder, _ = migration
    rows = _rows(folder)
    relaxed, reused = rows["barrier"].data["result"], rows["reused"].data["result"]
    assert reused["endpoint_evaluations"] == 0 < relaxed["endpoint_evaluations"]
    sources = {k: e["reused_from"] for k, e in reused["endpoints"].items()}
    assert {k: e["source"] for k, e in reused["endpoints"].items()} == {
        "initial": "reused",
        "final": "reused",
    }
    assert sources["initial"]["mapping"] == "identity"
    assert sources["final"]["mapping"] == "space-group operation"
    assert sources["initial"]["task"] == sources["final"]["task"] == "vacancy"
    assert sources["final"]["site"] == 2
    assert reused["energies"][0] == pytest.approx(relaxed["energies"][0], abs=1e-4)
    assert reused["energies"][-1] == pytest.approx(relaxed["energies"][-1], abs=1e-4)
    assert not reused["converged"] and reused["cost"]["steps"] == 0  # max_steps = 0
    entry = rows["vacancy"].data["result"]["entries"][0]
    assert (entry["site"], entry["charge"]) == (2, 0)


def test_barrier_table_csv_and_profiles_from_the_store(migration, tmp_path):
    folder, campaign = migration
    rows = _rows(folder)
    command = [sys.executable, "-m", "perovcalc.cli.main", "barrier"]
    db = ["--db", str(folder / "r.db")]
    out = tmp_path / "barriers.csv"
    done = subprocess.run([*command, "csv", str(campaign), *db, "-o", str(out)], cwd=ROOT)
    assert done.returncode == 0
    table = {r["task"]: r for r in csv.DictReader(out.open())}
    assert sorted(table) == ["barrier", "reused", "surrogate"]
    for name, r in table.items():
        result = rows[name].data["result"]
        assert float(r["forward_eV"]) == pytest.approx(result["forward_barrier"], abs=1e-4)
        assert float(r["reaction_eV"]) == pytest.approx(result["reaction_energy"], abs=1e-4)
        assert int(r["band_evaluations"]) == result["total_cost"]["evaluations"]
        moved = result["hop"]["max_other_displacement"]
        assert float(r["other_moved_A"]) == pytest.approx(moved, abs=0.005) and moved < 1.0
        assert (r["species"], r["site"], r["to"], r["host_atoms"]) == ("Br", "2", "3", "5")
        assert (r["environment"], r["preset"], r["kpts"], r["tag"]) == (
            "bulk",
            "demo",
            "1x1x1",
            "C",
        )
    assert table["barrier"]["converged"] == "yes" and table["reused"]["converged"] == "no"
    text = subprocess.run([*command, "table", str(campaign), *db], cwd=ROOT,
                          capture_output=True, text=True).stdout  # fmt: skip
    forward = rows["barrier"].data["result"]["forward_barrier"]
    assert re.search(rf"\n  barrier +bulk +Br +{forward:.3f} ", text) and "Biega" in text
    png = tmp_path / "profiles.png"
    subprocess.run([*command, "plot", str(campaign), *db, "-o", str(png)], cwd=ROOT, check=True)
    assert png.read_bytes()[:4] == b"\x89PNG"
    empty = subprocess.run([*command, "table", str(campaign), "--db", str(tmp_path / "none.db")],
                           cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert empty.returncode == 2 and "no finished migration_barrier task" in empty.stderr


def test_rerun_does_no_new_work_and_an_interrupted_task_resumes_free(migration):
    folder, campaign = migration
    before = _rows(folder)
    again = _run(folder, campaign)
    assert again.returncode == 0, again.stdout + again.stderr
    after = _rows(folder)
    assert {n: r.finished for n, r in after.items()} == {n: r.finished for n, r in before.items()}
    r = before["barrier"].data["result"]  # the run prints the barriers, not a total energy
    assert (
        f"barrier: V_Br hop (vacancy 2 -> 3): forward {r['forward_barrier']:.3f} eV, reverse "
        f"{r['reverse_barrier']:.3f} eV, reaction {r['reaction_energy']:+.3f} eV; converged"
    ) in again.stdout

    # as if killed after the band was saved: endpoints and band come from the checkpoints
    Store(folder / "r.db").mark(before["barrier"].task_id, "interrupted", "test")
    resumed = _run(folder, campaign)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    first = before["barrier"].data["result"]
    result = _rows(folder)["barrier"].data["result"]
    assert result["cost"]["evaluations"] == 0 and result["converged"]
    assert result["total_cost"]["evaluations"] == first["total_cost"]["evaluations"]
    assert result["energies"] == first["energies"] and result["endpoints"] == first["endpoints"]


def test_a_bad_hop_fails_before_any_dft(migration):
    folder, _ = migration
    campaign = folder / "bad.toml"
    campaign.write_text(BAD_TO)
    done = _run(folder, campaign)
    assert done.returncode == 1
    row = _rows(folder)["bad"]
    assert row.status == "failed"
    assert "options.to = 1 is not allowed" in row.reason and "site 2: [3, 4]" in row.reason
    task_dir = next((folder / "w" / "tasks").glob("bad-*"))
    assert not list(task_dir.rglob("gpaw*.txt")) and not (task_dir / "endpoints.json").exists()
    assert json.loads((task_dir / "task.json").read_text())["recipe"]["options"]["to"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "migration_barriers.toml",
        "surface_barriers.toml",
        "kbr_passivation_more.toml",
        "kbr_passivation_production.toml",
    ],
)
def test_workflow_hops_are_valid_before_anything_runs(name):
    """Every migration_barrier task of the shipped campaigns names a hop along an octahedron
    edge of its (unrelaxed) host; the slab hops start in the outer layer or just below it."""
    from perovcalc.campaign import load_campaign
    from perovcalc.tasks import TASK_REF
    from perovcalc.worker import build_structure

    campaign = load_campaign(WORKFLOWS / name)
    barriers = [t for t in campaign.tasks.values() if t.kind == "migration_barrier"]
    assert barriers
    for task in barriers:
        host_task = campaign.tasks[task.structure[len(TASK_REF) :]]
        recipe = campaign.recipe(host_task)["structure"]
        args = {k: 6.0 if str(v).startswith(TASK_REF) else v for k, v in recipe["args"].items()}
        host = build_structure({**recipe, "args": args}, store=None)
        options = task.options
        layers = args.get("layers")
        outer = None if layers is None else (layers - 1) // 2
        site, to = choose_hop(host, options["species"], options["site"], options["to"], outer)
        assert to in neighbour_hops(host, site)
        if outer is not None:
            assert outer - host.arrays["layer"][site] in (0, 1)


def test_rattled_endpoints_relax_back_and_unrelaxed_ones_are_refused(migration):
    """An endpoint relaxed from a rattled start (0.05 A, seeded with the vacancy's host index)
    ends no higher than the symmetric start (lower where that is a saddle); the equivalent final
    vacancy is the relaxed initial one carried over by symmetry, so the hop stays symmetric. A
    rattle without endpoint relaxation is refused before any DFT."""
    folder, _ = migration
    campaign = folder / "rattled.toml"
    campaign.write_text(RATTLED)
    done = _run(folder, campaign)
    assert done.returncode == 1
    rows = _rows(folder)
    refused = rows["rattled_unrelaxed"]
    assert refused.status == "failed"
    assert "options.rattle = 0.05 is not allowed" in refused.reason
    assert "0 with options.endpoint_steps = 0" in refused.reason
    task_dir = next((folder / "w" / "tasks").glob("rattled_unrelaxed-*"))
    assert not list(task_dir.rglob("gpaw*.txt"))

    rattled, plain = rows["rattled"].data["result"], rows["barrier"].data["result"]
    initial = rattled["endpoints"]["initial"]
    assert initial["source"] == "relaxed" and initial["rattle"] == 0.05
    assert initial["converged"] and initial["max_force"] <= 0.1
    start = hop_endpoints(rows["host"].toatoms(), 2, 3)[0]
    symmetric = start.positions.copy()
    start.rattle(0.05, seed=2)
    task_dir = next((folder / "w" / "tasks").glob("rattled-*"))
    first = read(task_dir / "initial" / "relax.traj", 0)
    assert np.allclose(first.positions, start.positions)
    assert not np.allclose(first.positions, symmetric, atol=0.01)
    assert rattled["energies"][0] < plain["energies"][0] + 0.005  # eV
    # sites 2 and 3 are equivalent: the final vacancy is the initial one, carried over
    final = rattled["endpoints"]["final"]
    assert final["source"] == "reused" and final["evaluations"] == 0
    assert final["reused_from"]["task"] == "initial endpoint"
    assert final["reused_from"]["mapping"] == "space-group operation"
    assert not (task_dir / "final").exists()
    assert rattled["reaction_energy"] == pytest.approx(0.0, abs=2e-3)
