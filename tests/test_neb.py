"""CI-NEB machinery: symmetric hops, evaluation counting, resuming, endpoint checks, MPI, GPAW."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.lj import LennardJones
from ase.constraints import FixAtoms
from ase.geometry import find_mic
from ase.io import read, write
from ase.optimize import BFGS

from perovcalc import mep, neb
from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.path import intermediate_minimum, path_barriers, plot_profile, run_path
from perovcalc.vacancy import hop_endpoints

# Toy: an fcc lattice of Br atoms bound by a Lennard-Jones pair potential, nearest neighbours
# 4.1 A apart (about the X-X octahedron edge of CsPbBr3). A vacancy hop to a nearest-neighbour
# site is symmetric: the inversion centre at the middle of the hop maps initial onto final.
NN = 4.1
SIGMA = NN / 2 ** (1 / 6)
A = 5.874  # CsPbBr3 lattice constant, Angstrom


class _CountedLJ(LennardJones):
    def __init__(self, owner, **kwargs):
        super().__init__(**kwargs)
        self.owner = owner

    def calculate(self, *args, **kwargs):
        self.owner.calls += 1
        if self.owner.fail_at is not None and self.owner.calls >= self.owner.fail_at:
            raise KeyboardInterrupt("job killed")
        super().calculate(*args, **kwargs)
        self.owner.positions.append(self.atoms.positions.copy())


class ToyFactory:
    """Makes Lennard-Jones calculators and counts, independently of perovcalc, what they do."""

    def __init__(self, fail_at=None):
        self.created = 0
        self.calls = 0
        self.fail_at = fail_at
        self.communicators = []
        self.positions = []  # of every evaluation, in order

    def __call__(self, communicator=None):
        self.created += 1
        self.communicators.append(communicator)
        return _CountedLJ(self, sigma=SIGMA, epsilon=0.1, rc=2.5 * SIGMA, smooth=True)


def _never_called(communicator=None):
    raise AssertionError("a calculator was requested for endpoints that are not a valid hop")


@pytest.fixture(scope="module")
def toy_hop():
    """Relaxed endpoints of the symmetric toy hop and the hop vector (A)."""
    lattice = bulk("Br", "fcc", a=NN * np.sqrt(2), cubic=True).repeat(2)
    j = int(np.argsort(lattice.get_all_distances(mic=True)[0])[1])
    initial = lattice.copy()
    del initial[0]
    final = lattice.copy()
    final.positions[j] = lattice.positions[0]
    del final[0]
    for atoms in (initial, final):
        atoms.calc = ToyFactory()()
        BFGS(atoms, logfile=None).run(fmax=1e-4)
        atoms.calc = None
    return initial, final, j - 1


@pytest.fixture(scope="module")
def toy_saddle(toy_hop):
    """Barrier from an independent route: hopping atom held at the middle of the hop, all
    others relaxed (the saddle of a hop with an inversion centre at its midpoint)."""
    initial, final, k = toy_hop
    step = find_mic(final.positions[k] - initial.positions[k], initial.cell, initial.pbc)[0]
    saddle = initial.copy()
    saddle.positions[k] += step / 2
    saddle.set_constraint(FixAtoms([k]))
    saddle.calc = ToyFactory()()
    BFGS(saddle, logfile=None).run(fmax=1e-4)
    start = initial.copy()
    start.calc = ToyFactory()()
    return saddle.get_potential_energy() - start.get_potential_energy()


@pytest.fixture(scope="module")
def reference(toy_hop, tmp_path_factory):
    """An uninterrupted default run on the toy hop (fmax 0.02 eV/A)."""
    initial, final, _ = toy_hop
    factory = ToyFactory()
    workdir = tmp_path_factory.mktemp("reference")
    return neb.run_neb(initial, final, factory, workdir, fmax=0.02), factory, workdir


def test_symmetric_hop_barrier_matches_the_constrained_saddle(reference, toy_saddle):
    result, factory, workdir = reference
    assert result.converged and result.residual <= 0.02
    assert result.hop.symbol == "Br" and result.hop.distance == pytest.approx(NN, abs=0.05)
    assert abs(result.reaction_energy) < 1e-6
    assert result.forward_barrier == pytest.approx(result.reverse_barrier, abs=1e-6)
    assert result.saddle_index == 3  # the middle of 5 moving images
    relative = np.array(result.energies) - result.energies[0]
    assert relative == pytest.approx(relative[::-1], abs=2e-3)  # symmetric profile
    assert toy_saddle > 0.3
    assert result.forward_barrier == pytest.approx(toy_saddle, abs=5e-3)
    assert result.saddle_energy - result.energies[0] == pytest.approx(result.forward_barrier)
    assert result.unstable_endpoints == []
    # every evaluation the calculators did is counted, and nothing else
    assert result.cost.evaluations == factory.calls == result.total_cost.evaluations
    assert factory.created == 2 + 5  # endpoints, then one calculator per moving image
    saved = json.loads((workdir / neb.RESULT_FILE).read_text())
    assert saved["forward_barrier"] == result.forward_barrier
    assert saved["cost"]["evaluations"] == factory.calls


@pytest.mark.parametrize(
    "energies, unstable",
    [
        ([0.0, 0.2, 0.3, 0.1], []),  # an ordinary hop
        ([0.0, -0.005, 0.3, 0.1], []),  # within the tolerance
        ([0.0, -0.145, 0.0], ["initial", "final"]),  # a symmetric saddle between two of them
        ([0.0, 0.3, 0.05, 0.1], ["final"]),
    ],
)
def test_endpoints_with_a_lower_image_beside_them_are_no_minima(energies, unstable):
    assert mep.unstable_endpoints(energies) == unstable


def test_fire_evaluates_each_moving_image_once_per_step(toy_hop, tmp_path):
    initial, final, _ = toy_hop
    factory = ToyFactory()
    result = neb.run_neb(initial, final, factory, tmp_path, n_images=3, optimizer="FIRE")
    assert result.converged and result.saddle_index == 2
    # 2 endpoints + the starting band + one band per step
    assert result.cost.evaluations == factory.calls == 2 + 3 * (result.cost.steps + 1)
    assert len(read(tmp_path / neb.BAND_FILE, ":")) == 5 * (result.cost.steps + 1)


def test_step_limited_run_resumes_exactly(toy_hop, tmp_path):
    # BFGS keeps its Hessian in the work directory: 4 + the rest steps retrace one run
    initial, final, _ = toy_hop
    whole = neb.run_neb(initial, final, ToyFactory(), tmp_path / "whole", 3, optimizer="BFGS")
    first_factory, second_factory = ToyFactory(), ToyFactory()
    first = neb.run_neb(
        initial, final, first_factory, tmp_path / "split", 3, optimizer="BFGS", max_steps=4
    )
    assert not first.converged and first.cost.steps == 4
    second = neb.run_neb(initial, final, second_factory, tmp_path / "split", 3, optimizer="BFGS")
    assert second.converged
    assert second_factory.created == 3  # image calculators only: endpoints come from the file
    assert second.cost.evaluations == second_factory.calls == 3 * second.cost.steps
    assert second.energies[0] == first.energies[0] and second.energies[-1] == first.energies[-1]
    assert first.cost.steps + second.cost.steps == whole.cost.steps
    assert second.total_cost.evaluations == first.cost.evaluations + second.cost.evaluations
    assert second.total_cost.evaluations == whole.cost.evaluations
    assert second.forward_barrier == pytest.approx(whole.forward_barrier, abs=1e-8)


def test_killed_run_continues_from_the_saved_band(toy_hop, reference, tmp_path):
    initial, final, _ = toy_hop
    ref, ref_factory, _ = reference
    killed = ToyFactory(fail_at=25)  # dies inside the 4th band evaluation
    with pytest.raises(KeyboardInterrupt):
        neb.run_neb(initial, final, killed, tmp_path, fmax=0.02)
    saved_bands = len(read(tmp_path / neb.BAND_FILE, ":")) // 7
    assert saved_bands >= 2 and killed.calls < ref_factory.calls
    state = json.loads((tmp_path / neb.STATE_FILE).read_text())
    assert 0 < state["total_cost"]["evaluations"] < killed.calls

    factory = ToyFactory()
    result = neb.run_neb(initial, final, factory, tmp_path, fmax=0.02)
    assert result.converged
    assert factory.created == 5 and result.cost.evaluations == factory.calls
    assert factory.calls < ref_factory.calls
    # the rerun's first evaluation is one ODE step from the last saved band, not the IDPP band
    start = read(tmp_path / neb.BAND_FILE, 1)
    last_saved = read(tmp_path / neb.BAND_FILE, 7 * saved_bands - 6)
    from_saved = np.abs(factory.positions[0] - last_saved.positions).max()
    from_start = np.abs(factory.positions[0] - start.positions).max()
    assert 0 < from_saved < from_start
    assert result.forward_barrier == pytest.approx(ref.forward_barrier, abs=5e-3)
    assert result.total_cost.evaluations == state["total_cost"]["evaluations"] + factory.calls


def test_converged_band_is_returned_at_no_cost(toy_hop, reference, tmp_path):
    initial, final, _ = toy_hop
    ref, _, workdir = reference
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    factory = ToyFactory()
    again = neb.run_neb(initial, final, factory, copy, fmax=0.02)
    assert again.converged and factory.calls == 0 and again.cost.evaluations == 0
    assert again.energies == ref.energies
    assert again.total_cost.evaluations == ref.total_cost.evaluations


@pytest.mark.parametrize("optimizer", ["ode", "FIRE"])
def test_step_limit_is_not_reported_as_converged(toy_hop, tmp_path, optimizer):
    initial, final, _ = toy_hop
    result = neb.run_neb(initial, final, ToyFactory(), tmp_path, optimizer=optimizer, max_steps=2)
    assert not result.converged and result.residual > 0.05 and result.cost.steps <= 2


def test_work_directory_of_another_band_is_refused(toy_hop, reference, tmp_path):
    initial, final, _ = toy_hop
    _, _, workdir = reference
    copy = tmp_path / "copy"
    shutil.copytree(workdir, copy)
    with pytest.raises(InputError, match="n_images = 3"):
        neb.run_neb(initial, final, _never_called, copy, n_images=3)
    moved = initial.copy()
    moved.positions[0] += 0.3
    with pytest.raises(PerovcalcError, match="other endpoints"):
        neb.run_neb(moved, final, _never_called, copy)


def test_profile_plot(reference, tmp_path):
    result, _, _ = reference
    path = plot_profile(result, tmp_path / "profile.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- a hop through an intermediate minimum ----------------------------------------------------
# Toy: a Br atom hopping L = 4 A along x over E(u) = B sin^2(2 pi u) - D sin^2(pi u)
# + T sin^2(pi u / 2), u = x / L, harmonic in y and z, beside a fixed Cs. Minima at u = 0 (0 eV)
# and u = 1 (T); with B = 0.5 eV, D = 0.3 eV one more near u = 1/2 (about T / 2 - D) between
# two saddles; with B = 0, D < 0 a single barrier. The minimum energy path is the x axis, so
# the stationary energies come independently from E(u) alone.
L = 4.0
TILT = 0.1
TWO_STEPS, ONE_STEP = (0.5, 0.3), (0.0, -0.5)  # (B, D), eV


def _profile(u, wells, depth):
    return (
        wells * np.sin(2 * np.pi * u) ** 2
        - depth * np.sin(np.pi * u) ** 2
        + TILT * np.sin(np.pi * u / 2) ** 2
    )


def _slope(u, wells, depth):
    return (
        2 * np.pi * wells * np.sin(4 * np.pi * u) - depth * np.pi * np.sin(2 * np.pi * u)
        + TILT * np.pi / 2 * np.sin(np.pi * u)
    )  # fmt: skip


class _PathToy(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.owner.calls += 1
        x, y, z = self.atoms.positions[0] - ORIGIN
        u, k = x / L, 1.0
        forces = np.zeros((len(self.atoms), 3))
        forces[0] = [-_slope(u, *self.owner.shape) / L, -k * y, -k * z]
        energy = _profile(u, *self.owner.shape) + 0.5 * k * (y**2 + z**2)
        self.results = {"energy": float(energy), "forces": forces}


class PathFactory:
    """Calculators of the toy path; counts their evaluations and where relax was asked to."""

    def __init__(self, shape):
        self.shape, self.calls, self.labels = shape, 0, []

    def __call__(self, communicator=None, label="image"):
        self.labels.append(label)
        return _PathToy(self)

    def relax(self, image, name):
        """Relax ``image`` (BFGS, 1e-4 eV/A) once per name: stored beside the bands."""
        saved = self.workdir / f"{name}.traj"
        if not saved.is_file():
            atoms = image.copy()
            atoms.calc = _PathToy(self)
            BFGS(atoms, logfile=None).run(fmax=1e-4)
            write(saved, atoms)
        atoms = read(saved)
        return atoms, {"evaluations": 1, "relaxed_from": float(image.positions[0, 0] - ORIGIN[0])}


ORIGIN = np.array([5.0, 10.0, 10.0])


def _path_endpoints():
    initial = Atoms("BrCs", positions=[ORIGIN, ORIGIN + [2.0, 5.0, 0.0]], cell=[20, 20, 20])
    initial.set_constraint(FixAtoms([1]))
    final = initial.copy()
    final.positions[0, 0] += L
    return initial, final


def _stationary(shape):
    """Energies (eV) and u of the toy's middle minimum and its two saddles, from E(u)."""
    from scipy.optimize import brentq

    grid = np.linspace(0.01, 0.99, 99)
    slope = _slope(grid, *shape)
    roots = [brentq(_slope, a, b, args=shape) for a, b, s, t in
             zip(grid, grid[1:], slope, slope[1:], strict=False) if s * t < 0]  # fmt: skip
    assert len(roots) == 3  # saddle, minimum, saddle
    return [(float(_profile(u, *shape)), float(u)) for u in roots]


@pytest.fixture(scope="module")
def through_intermediate(tmp_path_factory):
    factory = PathFactory(TWO_STEPS)
    factory.workdir = tmp_path_factory.mktemp("path")
    initial, final = _path_endpoints()
    result = run_path(
        initial, final, factory, factory.workdir, factory.relax, n_images=1, fmax=0.005
    )
    return result, factory


def test_a_hop_through_an_intermediate_has_the_barriers_of_its_stationary_points(
    through_intermediate,
):
    result, factory = through_intermediate
    (s1, _), (m, u), (s2, _) = _stationary(TWO_STEPS)
    assert m < 0 < s1 < s2  # the intermediate lies below both endpoints (0 and TILT eV)
    assert result.converged and result.minima == [0, 2, 4] and len(result.energies) == 5
    (entry,) = result.intermediates
    assert entry["name"] == "intermediate1" and entry["index"] == 2
    assert entry["energy"] == pytest.approx(m, abs=1e-6)
    assert entry["hop_fraction"] == pytest.approx(u, abs=1e-3)
    assert result.energies[1] == pytest.approx(s1, abs=1e-4)  # each band's climbing image
    assert result.energies[3] == pytest.approx(s2, abs=1e-4)
    # out of the intermediate, not from the endpoints: forward s2 - m, reverse s1 - m
    assert result.forward_barrier == pytest.approx(s2 - m, abs=1e-4)
    assert result.reverse_barrier == pytest.approx(s1 - m, abs=1e-4)
    assert result.saddle_index == 3
    assert result.reaction_energy == pytest.approx(TILT, abs=1e-9)
    assert result.unstable_endpoints == []
    # three bands were run, each counted: the whole hop (stopped once its image fell below
    # both endpoints) and one band on each side of the intermediate
    assert result.cost.evaluations == result.total_cost.evaluations
    assert {label.split("-image")[0] for label in factory.labels} >= {
        "image1", "neb-initial-intermediate1", "neb-intermediate1-final"
    }  # fmt: skip
    whole = json.loads((factory.workdir / "neb" / neb.RESULT_FILE).read_text())
    assert not whole["converged"] and mep.below_endpoints(whole["energies"])
    assert plot_profile(result, factory.workdir / "profile.png").stat().st_size > 0


def test_a_path_is_resumed_at_no_cost(through_intermediate, tmp_path):
    result, factory = through_intermediate
    copy = tmp_path / "copy"
    shutil.copytree(factory.workdir, copy)
    again = PathFactory(TWO_STEPS)
    again.workdir = copy
    resumed = run_path(*_path_endpoints(), again, copy, again.relax, n_images=1, fmax=0.005)
    assert again.calls == 0 and resumed.cost.evaluations == 0
    assert resumed.energies == result.energies
    assert resumed.total_cost.evaluations == result.total_cost.evaluations


def test_without_intermediates_the_band_stops_below_its_endpoints(tmp_path):
    factory = PathFactory(TWO_STEPS)
    factory.workdir = tmp_path
    one = run_path(*_path_endpoints(), factory, tmp_path, factory.relax, 0, n_images=1)
    assert one.intermediates == [] and one.minima == [0, 2] and not one.converged
    assert one.unstable_endpoints == ["initial", "final"]
    assert not list(tmp_path.glob("intermediate*"))


def test_a_path_without_an_intermediate_is_one_band(tmp_path):
    factory = PathFactory(ONE_STEP)
    factory.workdir = tmp_path
    result = run_path(*_path_endpoints(), factory, tmp_path, factory.relax, n_images=3)
    assert result.converged and result.intermediates == [] and result.minima == [0, 4]
    band = json.loads((tmp_path / "neb" / neb.RESULT_FILE).read_text())
    assert result.energies == band["energies"] and result.forward_barrier > 0.4
    assert result.forward_barrier == pytest.approx(max(band["energies"]) - band["energies"][0])
    assert not list(tmp_path.glob("neb-*"))


@pytest.mark.parametrize(
    "energies, minima, forward, reverse, saddle",
    [
        ([0.0, 0.3, 0.1], [0, 2], 0.3, 0.2, 1),  # one band
        ([0.0, 0.4, -0.25, 0.45, 0.1], [0, 2, 4], 0.7, 0.65, 3),  # a deep intermediate
        ([0.0, 0.5, 0.2, 0.3, 0.1], [0, 2, 4], 0.5, 0.4, 1),  # a shallow one: the first saddle
    ],
)
def test_path_barriers_count_from_the_lowest_state_before_the_saddle(
    energies, minima, forward, reverse, saddle
):
    assert path_barriers(energies, minima) == pytest.approx((forward, reverse, saddle))


@pytest.mark.parametrize(
    "energies, index",
    [
        ([0.0, 0.3, 0.1], None),
        ([0.0, -0.145, 0.0], 1),  # below both endpoints
        ([0.0, 0.5, 0.2, 0.3, 0.1], 2),  # a minimum between its neighbours
        ([0.0, 0.5, 0.295, 0.3, 0.1], None),  # within the tolerance
        ([0.0, -0.2, -0.1, -0.3, 0.0], 3),  # below both: the lowest image
    ],
)
def test_the_image_to_relax_into_an_intermediate(energies, index):
    assert intermediate_minimum(energies) == index


# --- endpoints that are not a hop: a clear error before any calculator exists ---------------


@pytest.fixture(scope="module")
def perovskite_hop():
    atoms = cubic_perovskite(A, "Br").repeat(2)
    return hop_endpoints(atoms, 2, 3), atoms


def test_valid_perovskite_hop(perovskite_hop):
    (initial, final), _ = perovskite_hop
    hop = mep.validate_endpoints(initial, final)
    assert hop.symbol == "Br" and hop.distance == pytest.approx(A / np.sqrt(2))
    assert hop.max_other_displacement == pytest.approx(0.0, abs=1e-9)


def _swap(atoms, i, j):
    order = list(range(len(atoms)))
    order[i], order[j] = j, i
    return atoms[order]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f[:-1], "differ in composition"),
        (
            lambda f: f.set_chemical_symbols(["I" if s == "Br" else s for s in f.symbols]) or f,
            "differ in composition",
        ),
        (lambda f: _swap(f, 0, 1), "different order"),  # Cs and Pb listed the other way round
        (
            lambda f: _swap(f, 21, 22),
            "hops and 2 other atom\\(s\\) move more than",
        ),  # two Br swapped
        (lambda f: f.set_cell(f.cell * 1.01) or f, "different cells"),
    ],
)
def test_endpoints_that_do_not_map_are_refused(perovskite_hop, tmp_path, change, message):
    (initial, final), _ = perovskite_hop
    with pytest.raises(PerovcalcError, match=message):
        neb.run_neb(initial, change(final.copy()), _never_called, tmp_path)
    assert not any(tmp_path.iterdir())


def test_hops_that_are_not_an_octahedron_edge_are_refused(perovskite_hop, tmp_path):
    (initial, final), atoms = perovskite_hop
    with pytest.raises(PerovcalcError, match="largest displacement is 0.00 A"):
        neb.run_neb(initial, initial.copy(), _never_called, tmp_path)
    trans = initial.copy()  # across the octahedron: a = 5.87 A
    trans.positions[2] += [0, 0, A]
    with pytest.raises(PerovcalcError, match="largest displacement is 5.87 A"):
        neb.run_neb(initial, trans, _never_called, tmp_path)
    cation = initial.copy()  # a Cs moving by an edge length is not a halide hop
    cation.positions[0] += [A / 2, A / 2, 0]
    with pytest.raises(PerovcalcError, match="is Cs, not a halide"):
        neb.run_neb(initial, cation, _never_called, tmp_path)
    two = final.copy()  # the hopping Br and a second Br both move
    two.positions[11] += [0, A / 2, A / 2]
    with pytest.raises(PerovcalcError, match=r"hops and 1 other atom\(s\) move"):
        neb.run_neb(initial, two, _never_called, tmp_path)


@pytest.mark.parametrize(
    "option, value",
    [("optimizer", "SD"), ("interpolation", "spline"), ("n_images", 0), ("fmax", 0.0),
     ("max_steps", -1)],
)  # fmt: skip
def test_bad_options(perovskite_hop, tmp_path, option, value):
    (initial, final), _ = perovskite_hop
    with pytest.raises(InputError, match=f"{option} = "):
        neb.run_neb(initial, final, _never_called, tmp_path, **{option: value})


# --- image-parallel MPI and a real GPAW band --------------------------------------------------

MPI_SCRIPT = """
import json, sys
import gpaw.mpi  # noqa: F401  (makes ase.parallel.world the MPI world)
from ase.io import read
from ase.parallel import world
from perovcalc.neb import run_neb
sys.path.insert(0, {tests!r})
from test_neb import GPAWFactory, ToyFactory

initial, final = read({endpoints!r}, ":")
factory = {factory}()
result = run_neb(initial, final, factory, {workdir!r}, n_images=2, optimizer={optimizer!r})
sizes = [c.size for c in factory.communicators if c is not None]
row = [world.rank, sizes, factory.calls, result.cost.evaluations, result.forward_barrier,
       result.settings["parallel_images"]]
with open({workdir!r} + f"/row{{world.rank}}.json", "w") as f:  # one file per rank: the
    json.dump(row, f)                                            # ranks share one stdout pipe
"""


def _run_on_two_ranks(factory: str, optimizer: str, initial, final, tmp_path) -> list[list]:
    """Run a 2-image band on 2 MPI ranks; one JSON row per rank (see MPI_SCRIPT)."""
    from perovcalc.parallel import gpaw_environment, mpi_launcher

    if mpi_launcher() is None:
        pytest.skip("no mpiexec")
    endpoints = tmp_path / "endpoints.traj"
    write(endpoints, [initial, final])
    script = tmp_path / "band.py"
    script.write_text(
        MPI_SCRIPT.format(
            tests=str(Path(__file__).parent),
            endpoints=str(endpoints),
            factory=factory,
            optimizer=optimizer,
            workdir=str(tmp_path / "mpi"),
        )
    )
    run = subprocess.run(
        [mpi_launcher(), "-n", "2", sys.executable, str(script)],
        env=gpaw_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [json.loads(p.read_text()) for p in sorted((tmp_path / "mpi").glob("row*.json"))]
    assert sorted(r[0] for r in rows) == [0, 1]
    for _, sizes, _, _, _, parallel in rows:
        # each rank computes one endpoint and one image, on a communicator of its own
        assert parallel and sizes == [1, 1]
    return rows


def test_image_parallel_mpi_run_matches_serial(toy_hop, tmp_path):
    initial, final, _ = toy_hop
    serial = neb.run_neb(initial, final, ToyFactory(), tmp_path / "serial", 2, optimizer="FIRE")
    rows = _run_on_two_ranks("ToyFactory", "FIRE", initial, final, tmp_path)
    for _, _, calls, evaluations, barrier, _ in rows:
        assert 0 < calls < evaluations  # each rank evaluated only its share
        assert evaluations == serial.cost.evaluations
        assert barrier == pytest.approx(serial.forward_barrier, abs=1e-8)
    assert sum(r[2] for r in rows) == serial.cost.evaluations


class GPAWFactory:
    """Demo-level GPAW: PW 200 eV, Gamma point, loose SCF, no symmetry."""

    def __init__(self):
        self.communicators = []
        self.calls = None  # not counted independently

    def __call__(self, communicator=None):
        from gpaw import GPAW, PW

        self.communicators.append(communicator)
        extra = {} if communicator is None else {"communicator": communicator}
        return GPAW(
            mode=PW(200),
            xc="PBE",
            kpts={"size": (1, 1, 1), "gamma": True},
            occupations={"name": "fermi-dirac", "width": 0.1},
            convergence={"energy": 1e-4, "density": 1e-4, "forces": 1e-2},
            symmetry="off",
            txt=None,
            **extra,
        )


@pytest.fixture(scope="module")
def gpaw_hop():
    """CsPbBr2: a CsPbBr3 cell without the Br at (1/2, 1/2, 0); the Br at (1/2, 0, 1/2) hops
    into the vacancy. A mirror plane maps initial onto final: zero reaction energy."""
    pytest.importorskip("gpaw")
    initial = cubic_perovskite(A, "Br")
    del initial[2]
    final = initial.copy()
    final.positions[2] = [A / 2, A / 2, 0]
    return initial, final


def test_tiny_gpaw_band_runs_and_resumes(gpaw_hop, tmp_path):
    initial, final = gpaw_hop
    first_factory, second_factory = GPAWFactory(), GPAWFactory()
    first = neb.run_neb(initial, final, first_factory, tmp_path, n_images=1, max_steps=3)
    # endpoints, the starting band, one band per accepted step, maybe rejected ODE trials
    assert not first.converged and first.residual > 0.05
    assert first.cost.evaluations >= 2 + 1 + first.cost.steps
    second = neb.run_neb(initial, final, second_factory, tmp_path, n_images=1)
    assert second.converged and second.residual <= 0.05
    assert len(second_factory.communicators) == 1  # the moving image; endpoints from the file
    assert second.energies[0] == first.energies[0]
    assert second.total_cost.evaluations == first.cost.evaluations + second.cost.evaluations
    assert abs(second.reaction_energy) < 1e-3
    assert second.saddle_index == 1 and second.forward_barrier > 0.1
    assert plot_profile(second, tmp_path / "profile.png").stat().st_size > 0


@pytest.mark.slow
def test_gpaw_images_on_their_own_communicators(gpaw_hop, tmp_path):
    initial, final = gpaw_hop
    serial = neb.run_neb(initial, final, GPAWFactory(), tmp_path / "serial", 2)
    rows = _run_on_two_ranks("GPAWFactory", "ode", initial, final, tmp_path)
    for _, _, _, evaluations, barrier, _ in rows:
        assert evaluations == serial.cost.evaluations
        assert barrier == pytest.approx(serial.forward_barrier, abs=2e-3)
