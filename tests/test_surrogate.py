"""Surrogate (Gaussian-process) NEB and relaxation: barriers against plain CI-NEBs at a fraction
of the force calls, the true-force check, resuming without recomputing, GPAW end to end."""

import json

import numpy as np
import pytest
import test_neb
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.constraints import FixAtoms
from ase.mep import NEB
from ase.optimize import BFGS, FIRE
from ase.optimize.gpmin.gp import GaussianProcess
from ase.optimize.gpmin.kernel import SquaredExponential
from test_neb import (
    ONE_STEP,
    TWO_STEPS,
    GPAWFactory,
    PathFactory,
    ToyFactory,
    _path_endpoints,
    _profile,
    _stationary,
)

from perovcalc import gaussian_process, mep, neb, surrogate
from perovcalc.errors import InputError, MissingDependencyError
from perovcalc.gaussian_process import SurrogateOptions
from perovcalc.path import plot_profile, run_path

# the hops of test_neb: a Lennard-Jones Br vacancy hop, a tiny GPAW CsPbBr2 hop
toy_hop, gpaw_hop = test_neb.toy_hop, test_neb.gpaw_hop


class Killed(Exception):
    """The job was killed."""


class EMTFactory:
    """EMT calculators; counts every evaluation and where it was, independently of perovcalc.
    With ``fail_at`` the call with that number raises (a killed job)."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at, self.positions = 0, fail_at, []

    def __call__(self):
        owner = self

        class Counted(EMT):
            def calculate(self, *args, **kwargs):
                owner.calls += 1
                if owner.fail_at is not None and owner.calls >= owner.fail_at:
                    raise Killed
                super().calculate(*args, **kwargs)
                owner.positions.append(self.atoms.positions.copy())

        return Counted()


@pytest.fixture(scope="module")
def adatom_hop():
    """Au adatom hopping between hollow sites of Al(100) (ASE's NEB tutorial), EMT; the two
    lower layers fixed; endpoints relaxed to 1e-3 eV/A, without a calculator attached."""
    slab = fcc100("Al", size=(2, 2, 3))
    add_adsorbate(slab, "Au", 1.7, "hollow")
    slab.center(axis=2, vacuum=4.0)
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    initial, final = slab.copy(), slab.copy()
    final[-1].x += slab.cell[0, 0] / 2
    for atoms in (initial, final):
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=1e-3)
        atoms.calc = None
    return initial, final


@pytest.fixture(scope="module")
def plain_cineb(adatom_hop):
    """A tightly converged plain CI-NEB (IDPP, FIRE, 0.01 eV/A): barrier (eV), force calls."""
    initial, final = adatom_hop
    factory = EMTFactory()
    images = [initial.copy() for _ in range(4)] + [final.copy()]
    for image in images:
        image.calc = factory()
    band = NEB(images, k=mep.SPRING_CONSTANT, climb=True, method="improvedtangent")
    band.interpolate("idpp")
    assert FIRE(band, logfile=None).run(fmax=0.01, steps=1000)
    energies = [image.get_potential_energy() for image in images]
    return max(energies) - energies[0], factory.calls


@pytest.fixture(scope="module")
def surrogate_band(adatom_hop, tmp_path_factory):
    initial, final = adatom_hop
    factory = EMTFactory()
    workdir = tmp_path_factory.mktemp("surrogate")
    result = surrogate.surrogate_neb(initial, final, factory, workdir, n_images=3, fmax=0.05)
    return result, factory, workdir


def test_prediction_is_that_of_ases_gaussian_process(adatom_hop):
    initial, final = adatom_hop
    model = gaussian_process.Surrogate(initial, SurrogateOptions(fit=False))
    rng = np.random.default_rng(1)
    for atoms in (initial, final, *(initial.copy() for _ in range(3))):
        atoms = atoms.copy()
        atoms.positions[model.free] += rng.normal(0, 0.1, (len(model.free), 3))
        atoms.calc = EMT()
        model.add(atoms.positions, atoms.get_potential_energy(), atoms.get_forces())
    model.train()
    reference = GaussianProcess(model.mean, SquaredExponential())
    reference.set_hyperparams(model.gp.hyperparams)
    reference.train(model.X, model.Y)
    probe = (initial.positions + final.positions) / 2
    energy, forces, sigma = model.predict(probe, variance=True)
    f, v = reference.predict(model.coordinates(probe), get_variance=True)
    assert energy == pytest.approx(f[0], abs=1e-10)
    assert forces[model.free].ravel() == pytest.approx(-f[1:], abs=1e-10)
    assert forces[[i for i in range(len(initial)) if i not in model.free]] == pytest.approx(0)
    assert sigma == pytest.approx(np.sqrt(v[0, 0]), abs=1e-8)
    # at an observed point the model reproduces it and is sure
    seen = initial.copy()
    seen.positions[model.free] = model.X[0].reshape(-1, 3)
    e0, _, s0 = model.predict(seen.positions, variance=True)
    assert e0 == pytest.approx(model.Y[0, 0], abs=1e-3) and s0 < 0.01


def test_barrier_of_a_tight_plain_cineb_at_a_fifth_of_the_force_calls(surrogate_band, plain_cineb):
    result, factory, workdir = surrogate_band
    barrier, plain_calls = plain_cineb
    assert 0.3 < barrier < 0.45  # the tutorial's Au hop over a bridge site
    assert result.converged and result.residual <= 0.05
    assert result.forward_barrier == pytest.approx(barrier, abs=0.01)
    assert result.reverse_barrier == pytest.approx(barrier, abs=0.01)  # a symmetric hop
    assert factory.calls <= plain_calls / 5
    # every force call is counted, endpoints included, and saved
    assert result.cost.evaluations == factory.calls == result.total_cost.evaluations
    info = result.settings["surrogate"]
    assert result.settings["method"] == "surrogate"
    assert sum(info["evaluations"].values()) == factory.calls
    assert info["evaluations"]["endpoint"] == 2 and info["evaluations"]["verification"] >= 1
    saved = json.loads((workdir / surrogate.LOG_FILE).read_text())["evaluations"]
    assert len(saved) == factory.calls
    # a converged band carries DFT (here EMT) values on every image, its highest image a
    # stationary point; the default energy check does not ask the other images' NEB forces
    assert info["energy_source"] == ["dft"] * 5 and max(info["uncertainty"]) == 0
    assert info["band_check"] == "energy" and _saddle_force(result) <= 0.05
    assert plot_profile(result, workdir / "profile.png").stat().st_size > 0


def _emt_images(result) -> list:
    """A result's images with EMT attached, each image's energy checked against the reported
    one (eV)."""
    images = [image.copy() for image in result.images]
    for image, energy in zip(images, result.energies, strict=True):
        image.calc = EMT()
        assert image.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    return images


def _true_band_force(result) -> float:
    """Largest CI-NEB force (eV/A) of a result's band recomputed with EMT."""
    band = NEB(_emt_images(result), k=mep.SPRING_CONSTANT, climb=True, method="improvedtangent")
    return mep.max_force(band.get_forces())


def _saddle_force(result) -> float:
    """Largest EMT force (eV/A, constraints applied) on a result's highest image."""
    return mep.max_force(_emt_images(result)[result.saddle_index].get_forces())


def test_an_overconfident_model_cannot_pass_an_unverified_band(adatom_hop, plain_cineb, tmp_path):
    # with a tolerance no prediction exceeds, DFT is asked only to verify; before the whole
    # band was checked, this reported a converged band whose true NEB force was 0.64 eV/A
    initial, final = adatom_hop
    options = SurrogateOptions(tolerance=10.0, band_check="forces")
    result = surrogate.surrogate_neb(initial, final, EMTFactory(), tmp_path, n_images=3,
                                     fmax=0.05, options=options)  # fmt: skip
    assert result.converged
    assert _true_band_force(result) <= 0.05
    assert result.forward_barrier == pytest.approx(plain_cineb[0], abs=0.01)
    checks = result.settings["surrogate"]["band_checks"]
    assert checks[0]["max_force"] > 0.05 and checks[-1]["max_force"] <= 0.05


def test_a_climbing_image_that_holds_stays_put_while_the_band_is_checked(adatom_hop, tmp_path):
    # with the force check the first whole-band checks fail on the other images while the
    # climbing image already holds: it keeps its DFT point instead of climbing again
    initial, final = adatom_hop
    factory = EMTFactory()
    options = SurrogateOptions(tolerance=10.0, band_check="forces")
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, n_images=3,
                                     fmax=0.05, options=options)  # fmt: skip
    assert result.converged
    checks = result.settings["surrogate"]["band_checks"]
    assert len(checks) > 2
    saddle = result.images[result.saddle_index].positions
    at_saddle = [k for k, p in enumerate(factory.positions) if np.allclose(p, saddle, atol=1e-8)]
    assert len(at_saddle) == 1  # evaluated once, before the first check (endpoints: 2 calls)
    assert at_saddle[0] < 2 + checks[0]["band_evaluations"]
    assert factory.calls == 2 + checks[-1]["band_evaluations"]


def test_the_energy_check_catches_a_model_sure_of_wrong_energies(adatom_hop, plain_cineb, tmp_path):
    # a kernel amplitude of 0.01 eV caps every predicted standard deviation below the 0.05 eV
    # tolerance: only the DFT energies of the whole band can show the model wrong
    initial, final = adatom_hop
    options = SurrogateOptions(fit=False, weight=0.01)
    result = surrogate.surrogate_neb(initial, final, EMTFactory(), tmp_path, n_images=3,
                                     fmax=0.05, options=options)  # fmt: skip
    assert result.converged and result.residual <= 0.05
    assert result.forward_barrier == pytest.approx(plain_cineb[0], abs=0.01)
    info = result.settings["surrogate"]
    assert info["band_check"] == "energy" and info["energy_source"] == ["dft"] * 5
    assert info["band_checks"][0]["prediction_error"] > 0.05
    assert info["band_checks"][-1]["prediction_error"] <= 0.05
    assert _saddle_force(result) <= 0.05  # the reported energies are EMT's


def test_a_finished_band_is_returned_at_no_cost(adatom_hop, surrogate_band, tmp_path):
    import shutil

    initial, final = adatom_hop
    result, first, workdir = surrogate_band
    shutil.copytree(workdir, tmp_path / "copy")
    saved = (tmp_path / "copy" / surrogate.LOG_FILE).read_text()
    factory = EMTFactory()
    again = surrogate.surrogate_neb(initial, final, factory, tmp_path / "copy", 3, fmax=0.05)
    assert (tmp_path / "copy" / surrogate.LOG_FILE).read_text() == saved  # left as it was
    assert factory.calls == 0 and again.cost.evaluations == 0 and again.converged
    assert again.energies == pytest.approx(result.energies, abs=1e-9)
    assert again.total_cost.evaluations == first.calls
    assert again.total_cost.steps == result.total_cost.steps  # replayed cycles count once


def test_a_killed_band_resumes_and_recomputes_no_saved_evaluation(
    adatom_hop, surrogate_band, tmp_path
):
    initial, final = adatom_hop
    whole, whole_factory, _ = surrogate_band
    killed = EMTFactory(fail_at=6)  # dies at the 6th call: endpoints and 3 band points saved
    with pytest.raises(Killed):
        surrogate.surrogate_neb(initial, final, killed, tmp_path, n_images=3, fmax=0.05)
    saved = json.loads((tmp_path / surrogate.LOG_FILE).read_text())["evaluations"]
    assert len(saved) == 5
    factory = EMTFactory()
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, n_images=3, fmax=0.05)
    assert result.converged
    for done in saved:  # none of the saved points is evaluated again
        assert all(not np.allclose(p, done["positions"]) for p in factory.positions)
    assert factory.calls + 5 == whole_factory.calls == result.total_cost.evaluations
    assert result.cost.evaluations == factory.calls
    assert result.total_cost.steps == whole.total_cost.steps  # the replayed cycles count once
    assert result.forward_barrier == pytest.approx(whole.forward_barrier, abs=1e-6)


def jittered_emt(seed: int):
    """EMT as a prior with noise of 1e-4 eV and eV/A that differs from run to run, as an ML
    prior's float32 arithmetic does between processes."""
    rng = np.random.default_rng(seed)

    class Jittered(EMT):
        def calculate(self, *args, **kwargs):
            super().calculate(*args, **kwargs)
            self.results["energy"] += 1e-4 * rng.standard_normal()
            forces = self.results["forces"]
            self.results["forces"] = forces + 1e-4 * rng.standard_normal(forces.shape)

    return Jittered


def test_a_band_with_a_noisy_prior_resumes_without_recomputing(adatom_hop, tmp_path):
    initial, final = adatom_hop
    killed = EMTFactory(fail_at=6)
    options = SurrogateOptions(prior=jittered_emt(1))
    with pytest.raises(Killed):
        surrogate.surrogate_neb(initial, final, killed, tmp_path, 3, 0.05, options=options)
    saved = json.loads((tmp_path / surrogate.LOG_FILE).read_text())["evaluations"]
    assert len(saved) == 5
    factory = EMTFactory()
    options = SurrogateOptions(prior=jittered_emt(2))
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3, 0.05, options=options)
    for done in saved:  # the replayed band does not come back to a saved point to compute it
        assert all(np.abs(p - done["positions"]).max() > surrogate.REPLAY_POINT
                   for p in factory.positions)  # fmt: skip
    assert result.total_cost.evaluations == factory.calls + 5
    assert result.converged


def test_a_poor_prior_still_gives_the_barrier_or_no_convergence(adatom_hop, plain_cineb, tmp_path):
    initial, final = adatom_hop
    barrier, _ = plain_cineb

    def poor():  # a Lennard-Jones solid nothing like Al/Au: a wrong surface
        return LennardJones(sigma=2.0, epsilon=0.3, rc=6.0, smooth=True)

    factory = EMTFactory()
    options = SurrogateOptions(prior=poor)
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3, 0.05, options=options)
    assert result.settings["surrogate"]["prior"] == "poor"
    assert result.settings["surrogate"]["evaluations"]["verification"] >= 1
    if result.converged:
        assert result.forward_barrier == pytest.approx(barrier, abs=0.01)
        assert _saddle_force(result) <= 0.05
    else:
        assert result.settings["surrogate"]["status"] != "converged"


def test_a_good_prior_converges_on_the_barrier(adatom_hop, plain_cineb, tmp_path):
    initial, final = adatom_hop
    barrier, _ = plain_cineb
    factory = EMTFactory()
    options = SurrogateOptions(prior=EMT)  # the true surface: only a constant left to learn
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3, 0.05, options=options)
    assert result.converged
    assert result.forward_barrier == pytest.approx(barrier, abs=0.01)
    assert result.settings["surrogate"]["prior"] == "EMT"


def test_step_limit_is_not_reported_as_converged(adatom_hop, tmp_path):
    initial, final = adatom_hop
    factory = EMTFactory()
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3, 0.05, max_steps=2)
    assert not result.converged and factory.calls == 2 + 2
    assert "max_steps" in result.settings["surrogate"]["status"]


def test_a_band_above_max_barrier_stops_unconverged(adatom_hop, tmp_path):
    """The guard against a band led away from the hop: a DFT image energy more than
    max_barrier above the higher endpoint stops the band (here below the true barrier)."""
    initial, final = adatom_hop
    factory = EMTFactory()
    options = SurrogateOptions(max_barrier=0.05)
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3, options=options)
    status = result.settings["surrogate"]["status"]
    assert not result.converged and status.startswith("stopped: a DFT evaluation of the band")
    assert max(result.energies) - max(result.energies[0], result.energies[-1]) > 0.05
    assert factory.calls == 2 + 1


def test_a_band_that_leaves_the_hop_stops_unconverged(adatom_hop, tmp_path):
    """A final endpoint on the way up to the saddle (the adatom a third of the way to the next
    hollow, unrelaxed): the band climbs out of the segment between the endpoints, towards a
    saddle outside it (without the guard it converges there, 1.45 A behind the initial
    endpoint). It stops, unconverged, at the first DFT image that left."""
    initial, final = adatom_hop[0], adatom_hop[0].copy()
    final[-1].x += final.cell[0, 0] / 6
    ends = initial[-1].position, final[-1].position
    factory = EMTFactory()
    result = surrogate.surrogate_neb(initial, final, factory, tmp_path, 3)
    status = result.settings["surrogate"]["status"]
    assert not result.converged and status.startswith("stopped: the hopping Au of DFT image")
    past = surrogate._past_endpoints(result.images[result.saddle_index][-1].position, *ends)
    assert past > surrogate.OVERSHOOT * np.linalg.norm(ends[1] - ends[0])
    assert factory.calls < 10


def test_a_climbing_image_on_a_trained_point_sends_dft_to_an_unseen_image(adatom_hop):
    # a climbing image that slid onto an endpoint would only be evaluated again: DFT goes to
    # the most uncertain image not yet evaluated, and only a band of trained points stalls
    initial, final = adatom_hop
    model = gaussian_process.Surrogate(initial, SurrogateOptions())
    for atoms in (initial, final):
        model.add(atoms.positions, 0.0, np.zeros((len(atoms), 3)))
    unseen = [initial.copy() for _ in range(2)]
    for k, atoms in enumerate(unseen):
        atoms.positions[-1] += [0.3 * (k + 1), 0.0, 0.0]
    band = [unseen[0], initial, unseen[1], final]
    spread = [0.01, 0.0, 0.03, 0.0]
    assert surrogate._untrained(band, model, 1, spread) == 2
    assert surrogate._untrained(band, model, 3, spread) == 2
    assert surrogate._untrained(band, model, 0, spread) == 0  # an unseen pick stands
    assert surrogate._untrained([initial, final], model, 1, spread) is None


def test_run_neb_dispatches_to_the_surrogate(tmp_path):
    # the analytic single-barrier hop of test_neb: a Br atom over E(u) along x, harmonic across
    factory = PathFactory(ONE_STEP)
    result = neb.run_neb(*_path_endpoints(), factory, tmp_path, n_images=3, method="surrogate")
    profile = np.linspace(0, 1, 2001)
    barrier = _profile(profile, *ONE_STEP).max()
    assert result.converged and result.settings["method"] == "surrogate"
    assert result.hop.symbol == "Br"
    assert result.forward_barrier == pytest.approx(barrier, abs=0.01)
    assert result.cost.evaluations == factory.calls


def test_surrogate_relaxation_reaches_the_minimum_with_few_force_calls(adatom_hop, tmp_path):
    initial, _ = adatom_hop
    start = initial.copy()
    start.positions[-1] += [0.3, -0.2, 0.4]  # Au off its hollow site
    bfgs = EMTFactory()
    reference = start.copy()
    reference.calc = bfgs()
    BFGS(reference, logfile=None).run(fmax=0.01)
    factory = EMTFactory()
    relaxed, record = surrogate.relax(start, factory, tmp_path, fmax=0.01)
    assert record["converged"] and record["max_force"] <= 0.01
    assert relaxed.get_potential_energy() == pytest.approx(
        reference.get_potential_energy(), abs=1e-3
    )
    assert record["evaluations"] == factory.calls < bfgs.calls
    # killed and resumed: no saved evaluation is computed again
    killed = EMTFactory(fail_at=4)
    with pytest.raises(Killed):
        surrogate.relax(start, killed, tmp_path / "killed", fmax=0.01)
    resumed = EMTFactory()
    again, record2 = surrogate.relax(start, resumed, tmp_path / "killed", fmax=0.01)
    assert resumed.calls + 3 == factory.calls and record2["total_evaluations"] == factory.calls
    assert again.get_potential_energy() == pytest.approx(relaxed.get_potential_energy())


def test_surrogate_relaxation_analyses_the_result_with_its_live_calculator(adatom_hop, tmp_path):
    initial, _ = adatom_hop
    start = initial.copy()
    start.positions[-1] += [0.2, 0.1, 0.3]
    seen = []

    def analyse(atoms):  # what defect_host does: read the calculator at the relaxed positions
        seen.append((atoms.positions.copy(), atoms.calc.calculation_required(atoms, ["energy"])))
        return {"energy_again": atoms.get_potential_energy()}

    factory = EMTFactory()
    relaxed, record = surrogate.relax(start, factory, tmp_path, fmax=0.01, analyse=analyse)
    ((positions, required),) = seen
    assert np.allclose(positions, relaxed.positions) and not required  # the live state: no call
    assert record["energy_again"] == pytest.approx(relaxed.get_potential_energy(), abs=1e-9)
    assert (
        record["evaluations"] == factory.calls and record["initial_energy"] > record["energy_again"]
    )
    # a rerun replays every evaluation; its analysis has no live state and costs one evaluation
    again = EMTFactory()
    _, record2 = surrogate.relax(start, again, tmp_path, fmax=0.01, analyse=analyse)
    assert again.calls == 1 and record2["evaluations"] == 1
    assert record2["energy_again"] == pytest.approx(record["energy_again"], abs=1e-9)


def test_path_through_an_intermediate_with_surrogate_bands_and_relaxation(tmp_path):
    (s1, _), (m, _), (s2, _) = _stationary(TWO_STEPS)
    factory = PathFactory(TWO_STEPS)
    relax = surrogate.relaxer(factory, tmp_path, fmax=0.005)
    initial, final = _path_endpoints()
    result = run_path(
        initial, final, factory, tmp_path, relax, n_images=1, fmax=0.005, method="surrogate"
    )
    assert result.converged and result.minima == [0, 2, 4]
    (entry,) = result.intermediates
    assert entry["method"] == "surrogate" and entry["converged"]
    assert entry["energy"] == pytest.approx(m, abs=1e-4)
    assert result.energies[1] == pytest.approx(s1, abs=1e-3)
    assert result.energies[3] == pytest.approx(s2, abs=1e-3)
    whole = json.loads((tmp_path / "neb" / neb.RESULT_FILE).read_text())
    assert (
        not whole["converged"]
        and "below both endpoints" in whole["settings"]["surrogate"]["status"]
    )
    # the image below both endpoints was checked with a real evaluation before stopping
    low = int(np.argmin(whole["energies"][1:-1])) + 1
    assert whole["settings"]["surrogate"]["energy_source"][low] == "dft"


@pytest.mark.parametrize(
    "options, field",
    [
        ({"tolerance": 0.0}, "surrogate.tolerance"),
        ({"max_distance": -1.0}, "surrogate.max_distance"),
        ({"max_barrier": 0.0}, "surrogate.max_barrier"),
        ({"prior": "mace"}, "surrogate.prior"),
        ({"surrogate_steps": 0}, "surrogate.surrogate_steps"),
        ({"band_check": "none"}, "surrogate.band_check"),
    ],
)
def test_bad_surrogate_options(adatom_hop, tmp_path, options, field):
    initial, final = adatom_hop
    with pytest.raises(InputError, match=f"{field} = "):
        surrogate.surrogate_neb(
            initial, final, EMTFactory(), tmp_path, options=SurrogateOptions(**options)
        )


def test_a_band_check_or_prior_with_the_dft_band_is_refused():
    from types import SimpleNamespace

    from perovcalc.kinds import migration

    options = {"method": "neb", "prior": "none", "band_check": "forces"}
    ctx = SimpleNamespace(name="hop", options=options)
    with pytest.raises(InputError, match="task hop: options.band_check = 'forces'.*: energy"):
        migration.surrogate_options(ctx)
    options.update(band_check="energy", prior="chgnet")
    with pytest.raises(InputError, match="options.prior = 'chgnet'"):
        migration.surrogate_options(ctx)
    options.update(prior="none")
    assert migration.surrogate_options(ctx) is None
    options.update(method="surrogate", band_check="forces")
    assert migration.surrogate_options(ctx) == SurrogateOptions(band_check="forces")


def test_bad_method(toy_hop, tmp_path):
    initial, final, _ = toy_hop
    with pytest.raises(InputError, match="method = 'gp'"):
        neb.run_neb(initial, final, ToyFactory(), tmp_path, method="gp")


def test_ml_prior_without_the_extra_says_how_to_install():
    pytest.importorskip("gpaw")
    for name in gaussian_process.ML_PRIORS:
        module = {"chgnet": "chgnet", "sevennet": "sevenn"}[name]
        try:
            __import__(module)
        except ImportError:
            with pytest.raises(MissingDependencyError, match="torch==2.13.0"):
                gaussian_process.ml_calculator(name)


@pytest.mark.parametrize("name", gaussian_process.ML_PRIORS)
def test_ml_prior_gives_the_barrier(name, adatom_hop, plain_cineb, tmp_path):
    pytest.importorskip({"chgnet": "chgnet", "sevennet": "sevenn"}[name])
    initial, final = adatom_hop
    barrier, _ = plain_cineb
    options = SurrogateOptions(prior=name)
    result = surrogate.surrogate_neb(
        initial, final, EMTFactory(), tmp_path, 3, 0.05, options=options
    )
    assert result.converged and result.forward_barrier == pytest.approx(barrier, abs=0.01)


def test_tiny_gpaw_hop_with_the_surrogate(gpaw_hop, tmp_path):
    initial, final = gpaw_hop
    factory = GPAWFactory()
    result = neb.run_neb(initial, final, factory, tmp_path, n_images=1, method="surrogate")
    assert result.converged and result.residual <= 0.05
    assert result.saddle_index == 1 and result.forward_barrier > 0.1
    assert abs(result.reaction_energy) < 1e-3  # a mirror plane maps initial onto final
    assert result.settings["surrogate"]["energy_source"] == ["dft", "dft", "dft"]
    assert len(factory.communicators) == 3  # initial, final, and one for the band
    saved = json.loads((tmp_path / surrogate.LOG_FILE).read_text())["evaluations"]
    assert len(saved) == result.cost.evaluations
