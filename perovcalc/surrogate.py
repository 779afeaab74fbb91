"""Surrogate-accelerated CI-NEB and relaxation: DFT only where a Gaussian process is unsure.

The model (:class:`perovcalc.gaussian_process.Surrogate`, settings :class:`SurrogateOptions`)
is a Gaussian process with derivative observations on the free atoms' coordinates, trained on
every energy and force evaluated so far, its prior mean a constant or an ML potential's energy.
The prior is never a result: every energy reported as DFT is one.

Band (:func:`surrogate_neb`, also ``perovcalc.neb.run_neb(..., method="surrogate")``): an
``ase.mep.NEB`` (IDPP start, climbing image) whose images carry the surrogate relaxes on it
(FIRE, ``SurrogateOptions.surrogate_fmax``), stopped early where an image would move more than
``max_distance`` A further from the data than it started (the starting band is not relaxed
before its first DFT point); then DFT evaluates the image with the largest predictive standard
deviation if that exceeds ``tolerance`` eV, else the climbing (highest) image; where that image
is a point already evaluated (a climbing image that slid onto an endpoint), the most uncertain
of the images not yet evaluated instead, and the band stops as stalled only when every image is
an evaluated point. When the DFT force on the climbing image, projected like a climbing image
(F - 2 (F . t) t, ASE's improved tangent), is below ``fmax`` eV/A, the surrogate band is
converged and the largest standard deviation along it is below ``tolerance``, DFT evaluates
every other image too, because the model's standard deviation alone can be overconfident. With
``SurrogateOptions.band_check = "energy"`` (the default) the band has converged when every
image's DFT energy lies within ``tolerance`` of what the surrogate predicted there and the
climbing image is the highest: the barrier is the energy of a DFT stationary point (|F| <
``fmax``: the climbing force has the norm of the true force) above the initial endpoint, on a
band whose DFT profile the model had right (the criterion of Garrido Torres et al., with the
model's uncertainty tested against DFT). With ``"forces"`` the NEB forces (springs included)
of the whole band on these DFT values must be below ``fmax`` as well, a plain CI-NEB's
criterion for every image. Otherwise the new points join the data and the band goes on, the
climbing image kept at its DFT point if it was the highest there (its force holds whatever
its neighbours do: F - 2 (F . t) t has the norm of F), so that only the other images need DFT
again (each check's band evaluations so far, largest NEB force and largest error of the
surrogate's energies are kept in ``settings["surrogate"]["band_checks"]``). The band stops,
not converged, at ``max_steps`` new evaluations, when one lies more than ``max_barrier`` eV
above the higher endpoint (a prior that leads the band away from the hop), or when the hopping
atom of one lies more than ``OVERSHOOT`` of the hop length past an endpoint along the hop (a
climbing image with one neighbour close to it, at a late saddle, climbs along a tangent that
leads past that endpoint and up the far wall). A converged band
carries DFT energies on every image; an unconverged one surrogate predictions where it has
none, marked as such in ``settings["surrogate"]`` with their standard deviations (after
Garrido Torres et al., PRL 122, 156001 (2019), and Koistinen et al., J. Chem. Phys. 147,
152720 (2017)).

Relaxation (:func:`relax`, :func:`relaxer` for ``perovcalc.path.run_path``): the same model
minimised from the lowest point evaluated (in the spirit of ASE's GPMin), DFT at each surrogate
minimum, converged when the DFT force is below ``fmax``.

Every DFT evaluation (positions, energy, forces) is appended to ``<workdir>/surrogate.json``,
written atomically. A rerun replays the same deterministic sequence, taking every saved
evaluation from the file instead of the calculator, and goes on from where it stopped: an
interrupted run resumes without recomputing one, and a finished one is returned at no cost.
Images and evaluations run one after the other; under MPI each evaluation uses all ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.constraints import FixAtoms
from ase.geometry import find_mic

from perovcalc.calculate import read_checkpoint, write_checkpoint
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.gaussian_process import Surrogate, SurrogateCalculator, SurrogateOptions
from perovcalc.mep import (
    SPRING_CONSTANT,
    Hop,
    NEBCost,
    NEBResult,
    accepts_label,
    below_endpoints,
    carried_results,
    check_band_options,
    frozen_copy,
    max_force,
    unstable_endpoints,
)

LOG_FILE = "surrogate.json"
BAND_FILE = "surrogate-band.traj"
RESULT_FILE = "result.json"
SAME_POINT = 1e-6  # A: positions this close are the same evaluation
# A: a rerun takes a saved evaluation this close (every coordinate) and moves onto its positions;
# an ML prior's float32 arithmetic can move a replayed band by 1e-6-1e-2 A over a few cycles
REPLAY_POINT = 1e-3
# a DFT image whose hopping atom lies further than this fraction of the hop length beyond an
# endpoint, along the hop, has left the hop (a climbing image past a late saddle's endpoint)
OVERSHOOT = 0.2


class EvaluationLog:
    """Every DFT evaluation of a work directory (``surrogate.json``), replayed on a rerun.

    :meth:`evaluate` takes a saved evaluation within ``REPLAY_POINT`` A of the positions when
    there is one (each at most once: a rerun consumes them in the order the run asks again)
    and moves the atoms onto its positions, else runs the calculator and saves the result at
    once. ``new`` counts the calculator's evaluations in this run; :meth:`total` adds to the
    saved total only what this run spent after its replay (saved cycles are not counted twice).
    """

    def __init__(self, path: Path, calc_factory: Callable[..., Calculator]):
        self.path = path
        self.calc_factory = calc_factory
        self.calcs: dict[str, Calculator] = {}
        data = read_checkpoint(path)
        self.entries: list[dict] = data.get("evaluations", [])
        self.total_before = NEBCost(**data.get("total_cost", {}))
        self.unused = list(range(len(self.entries)))
        self.new = 0
        self.start = time.perf_counter()
        self.steps = 0
        # (steps, time) when this run went past what was saved: its cost since counts anew
        self.replayed: tuple[int, float] | None = None
        self.last: Atoms | None = None  # the last evaluated atoms, their calculator attached

    def saved(self, label: str) -> dict | None:
        """The first saved entry with ``label``, if any."""
        return next((e for e in self.entries if e["label"] == label), None)

    def evaluate(
        self, atoms: Atoms, label: str, kind: str, snap: bool = True
    ) -> tuple[float, np.ndarray]:
        """DFT energy (eV) and unconstrained forces (eV/A) of ``atoms``; ``label`` names the
        calculator (one per label), ``kind`` what the evaluation is for. A replayed evaluation
        moves ``atoms`` onto its saved positions; with ``snap`` false (atoms that cannot move,
        such as a calculator's copy) only one at the same positions is replayed."""
        tolerance = REPLAY_POINT if snap else SAME_POINT
        for j in self.unused:
            entry = self.entries[j]
            if np.allclose(entry["positions"], atoms.positions, atol=tolerance, rtol=0):
                self.unused.remove(j)
                if not self.unused:
                    self._replayed()
                if snap:
                    atoms.set_positions(entry["positions"], apply_constraint=False)
                return entry["energy"], np.array(entry["forces"])
        self._replayed()
        if label not in self.calcs:
            kwargs = {"label": label} if accepts_label(self.calc_factory) else {}
            self.calcs[label] = self.calc_factory(**kwargs)
        image = atoms.copy()
        image.calc = self.calcs[label]
        energy = float(image.get_potential_energy())
        forces = np.array(image.get_forces(apply_constraint=False))
        self.new += 1
        self.last = image
        self.record(image, energy, forces, label, kind, evaluated=True)
        return energy, forces

    def live(self, atoms: Atoms, label: str) -> Atoms:
        """``atoms`` carrying a calculator in its converged state there: that of the last
        evaluation if it was made at these positions in this run, else a new evaluation
        (calculator ``label``, counted as one)."""
        last = self.last
        if last is None or not np.allclose(
            last.positions, atoms.positions, atol=SAME_POINT, rtol=0
        ):
            self.unused.clear()  # a replayed entry has no calculator state to offer
            self.evaluate(atoms, label, "analysis")
            last = self.last
        return last

    def record(self, atoms, energy, forces, label: str, kind: str, evaluated: bool) -> None:
        """Save an evaluation (``evaluated`` false: carried in, no cost)."""
        entry = {
            "label": label,
            "kind": kind,
            "evaluated": evaluated,
            "positions": atoms.positions.tolist(),
            "energy": float(energy),
            "forces": np.asarray(forces).tolist(),
        }
        self.entries.append(entry)
        if not evaluated:  # to be taken by :meth:`evaluate` like a saved evaluation
            self.unused.append(len(self.entries) - 1)
        self.save()

    def _replayed(self) -> None:
        if self.replayed is None:
            self.replayed = (self.steps, time.perf_counter())

    def cost(self) -> NEBCost:
        """This run's cost: new evaluations, surrogate cycles, wall time (s)."""
        return NEBCost(self.new, self.steps, time.perf_counter() - self.start)

    def total(self) -> NEBCost:
        """The cost of all runs: the saved total plus this run's after its replay (nothing
        when it evaluated nothing new: a replay leaves the log as it was)."""
        if not self.new:  # else replayed is set: evaluate() sets it before computing
            return self.total_before
        steps, start = self.replayed
        since = NEBCost(self.new, self.steps - steps, time.perf_counter() - start)
        return self.total_before + since

    def save(self) -> None:
        data = {"evaluations": self.entries, "total_cost": asdict(self.total())}
        write_checkpoint(self.path, data, indent=None)  # positions and forces: 1/3 smaller

    def counts(self) -> dict:
        """Saved DFT evaluations by kind (carried ones left out)."""
        kinds: dict[str, int] = {}
        for entry in self.entries:
            if entry["evaluated"]:
                kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        return kinds


def _generic_hop(initial: Atoms, final: Atoms) -> Hop:
    """The atom that moves most between two configurations, and the next largest move (A)."""
    lengths = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)[1]
    order = np.argsort(lengths)[::-1]
    other = float(lengths[order[1]]) if len(order) > 1 else 0.0
    index = int(order[0])
    return Hop(index, initial.get_chemical_symbols()[index], float(lengths[index]), other)


class _Untrusted(Exception):
    """The surrogate relaxation left the region the data supports."""


def _relax_on_surrogate(
    optimizable, images: list[Atoms], model: Surrogate, fmax: float, hold: int | None = None
):
    """FIRE on the surrogate until ``fmax`` or an image moves ``max_distance`` further from the
    data than it started (then the last trusted positions are restored), ``images[hold]`` (if
    given) kept where it is. True if converged."""
    from ase.optimize import FIRE

    options = model.options
    limits = [model.distance(a.positions) + options.max_distance for a in images]
    trusted = [a.positions.copy() for a in images]

    def check():
        if any(model.distance(a.positions) > lim for a, lim in zip(images, limits, strict=True)):
            raise _Untrusted
        for a, keep in zip(images, trusted, strict=True):
            keep[:] = a.positions

    if hold is not None:
        constraints = images[hold].constraints
        images[hold].set_constraint(FixAtoms(indices=range(len(images[hold]))))
    optimizer = FIRE(optimizable, logfile=None, maxstep=0.1)
    optimizer.attach(check)
    try:
        return bool(optimizer.run(fmax=fmax, steps=options.surrogate_steps))
    except _Untrusted:
        for a, keep in zip(images, trusted, strict=True):
            a.set_positions(keep, apply_constraint=False)
        return False
    finally:
        if hold is not None:
            images[hold].set_constraint(constraints)


def surrogate_neb(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    n_images: int = 5,
    fmax: float = 0.05,
    climb: bool = True,
    interpolation: str = "idpp",
    max_steps: int = 300,
    stop_below_endpoints: bool = False,
    options: SurrogateOptions | None = None,
    hop: Hop | None = None,
) -> NEBResult:
    """Surrogate CI-NEB between relaxed endpoints (energies eV, forces eV/A, see the module
    docstring); ``max_steps`` caps the new DFT evaluations of the band in this call (endpoints
    apart): when reached the band is reported not converged. ``hop`` (from
    ``perovcalc.mep.validate_endpoints``) defaults to the atom that moves most, unchecked. With
    ``stop_below_endpoints`` a band whose image the surrogate puts below both endpoints has it
    checked with DFT, and stops, unconverged, if DFT agrees. Endpoints that carry energy and
    forces cost nothing. Returns a :class:`perovcalc.mep.NEBResult`.
    """
    from ase.mep import NEB

    options = options or SurrogateOptions()
    options.check()
    check_band_options(n_images, fmax, interpolation, max_steps)
    hop = hop or _generic_hop(initial, final)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = EvaluationLog(workdir / LOG_FILE, calc_factory)
    surrogate_fmax = options.surrogate_fmax or fmax / 5
    # the final state in the frame of the initial one (minimum image): continuous coordinates
    carried = {"initial": carried_results(initial), "final": carried_results(final)}
    final = final.copy()
    shift = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)[0]
    final.set_positions(initial.positions + shift, apply_constraint=False)
    model = Surrogate(initial, options)

    ends = []
    for name, atoms in (("initial", initial), ("final", final)):
        saved = log.saved(name)
        if saved is not None and not np.allclose(
            saved["positions"], atoms.positions, atol=SAME_POINT, rtol=0
        ):
            raise PerovcalcError(
                f"{log.path} holds evaluations for other endpoints; use a fresh work directory"
            )
        if saved is None and carried[name] is not None:
            log.record(atoms, *carried[name], name, "endpoint", evaluated=False)
        energy, forces = log.evaluate(atoms, name, "endpoint")
        model.add(atoms.positions, energy, forces)
        ends.append(frozen_copy(atoms, energy, forces))

    images = [ends[0].copy(), *(initial.copy() for _ in range(n_images)), ends[1].copy()]
    mic = bool(initial.pbc.any())
    NEB(images, k=SPRING_CONSTANT, method="improvedtangent").interpolate(
        interpolation, mic=mic, apply_constraint=False
    )
    for image in images:  # continuous coordinates: no minimum image (ASE's is slow for slabs)
        image.pbc = False
    for k, end in ((0, ends[0]), (-1, ends[1])):
        images[k].calc = None
        images[k] = frozen_copy(images[k], end.get_potential_energy(), end.get_forces())
    moving = images[1:-1]
    for image in moving:
        image.calc = SurrogateCalculator(model)
    band = NEB(images, k=SPRING_CONSTANT, climb=climb, method="improvedtangent")

    dft: dict[int, tuple[float, np.ndarray]] = {}  # band index -> DFT values at its positions
    points: list[tuple[np.ndarray, float, np.ndarray]] = []  # every band evaluation
    pinned: int | None = None  # band index of a climbing image that holds, kept in place
    status, residual, new_band = "not converged", np.inf, 0
    band_checks: list[dict] = []  # each check of the whole band: NEB force, surrogate error
    ends_e = [ends[0].get_potential_energy(), ends[1].get_potential_energy()]
    hop_ends = (initial.positions[hop.index], final.positions[hop.index])
    hop_length = float(np.linalg.norm(hop_ends[1] - hop_ends[0]))

    def evaluate(index: int, kind: str) -> str | None:
        """DFT at band image ``index`` into ``dft`` and the model; a status if the band
        must stop (``max_steps`` reached, or the image above ``max_barrier``)."""
        nonlocal new_band
        if new_band >= max_steps:
            return f"not converged: max_steps = {max_steps} new DFT evaluations of the band"
        image = images[index]
        probe = image.copy()
        probe.pbc = initial.pbc
        before = log.new
        energy, forces = log.evaluate(probe, "surrogate", kind)
        image.set_positions(probe.positions, apply_constraint=False)  # a replay may move it
        new_band += log.new - before
        if model.distance(image.positions) >= SAME_POINT:  # else already a training point
            model.add(image.positions, energy, forces)
        dft[index] = (energy, forces)
        points.append((image.positions.copy(), energy, forces))
        if energy - max(ends_e) > options.max_barrier:
            return (
                f"stopped: a DFT evaluation of the band lies {energy - max(ends_e):.2f} eV above "
                f"the higher endpoint (max_barrier = {options.max_barrier} eV)"
            )
        past = _past_endpoints(image.positions[hop.index], *hop_ends)
        if past > OVERSHOOT * hop_length:
            return (
                f"stopped: the hopping {hop.symbol} of DFT image {index} lies {past:.2f} A past "
                f"an endpoint along the hop ({OVERSHOOT:.0%} of its {hop_length:.2f} A allowed): "
                "the band left the hop"
            )
        return None

    while True:
        model.train()
        for image in moving:
            image.calc.reset()
        # the starting band first gets its most uncertain image computed: a state below the
        # endpoints (an intermediate) is seen before the band climbs away from it
        hold = None if pinned is None else pinned - 1
        relaxed = bool(dft) and _relax_on_surrogate(band, moving, model, surrogate_fmax, hold)
        dft = {} if pinned is None else {pinned: dft[pinned]}  # the others have moved
        log.steps += 1
        predictions = [model.predict(a.positions, variance=True) for a in moving]
        energies = np.array([p[0] for p in predictions])
        spread = np.array([p[2] for p in predictions])
        lowest = int(np.argmin(energies))
        below = stop_below_endpoints and below_endpoints([ends_e[0], *energies, ends_e[1]])
        if below:
            pick, kind = lowest, "verification"
        elif spread.max() > options.tolerance:
            pick, kind = int(np.argmax(spread)), "band"
        else:
            pick, kind = int(np.argmax(energies)), "verification"
        if 1 + pick == pinned:
            stop = None  # the climbing image that holds: its DFT values are known
        else:
            choice = _untrained(moving, model, pick, spread)
            if choice is None:
                status = "stalled: the surrogate asks again for a point it was trained on"
                break
            if choice != pick:
                pick, kind = choice, "band"
            stop = evaluate(1 + pick, kind)
        if stop:
            status = stop
            break
        energy, forces = dft[1 + pick]
        if stop_below_endpoints and below_endpoints([ends_e[0], energy, ends_e[1]]):
            status = "stopped: an image lies below both endpoints (DFT)"
            break
        if kind == "verification" and not below:
            residual = _climbing_force(images, 1 + pick, energy, forces, energies, climb)
            if residual is None or residual > fmax or not relaxed:
                continue
            # the climbing image holds: every other image gets its DFT point (one it sits on
            # already, or a new one), and the band is checked on DFT values alone
            # (SurrogateOptions.band_check)
            before = len(points)
            for i in range(1, n_images + 1):
                if i in dft:
                    continue
                if (known := _known(points, images[i])) is not None:
                    dft[i] = known
                elif stop := evaluate(i, kind):
                    break
            if stop:
                status = stop
                break
            band_force = _band_force(images, dft, climb)
            error = max(abs(dft[i][0] - energies[i - 1]) for i in range(1, n_images + 1))
            highest = 1 + int(np.argmax([dft[i][0] for i in range(1, n_images + 1)]))
            check = {"band_evaluations": len(points), "max_force": band_force}
            band_checks.append({**check, "prediction_error": error})
            if options.band_check == "forces":
                residual, passed = band_force, band_force <= fmax
            else:  # residual: the climbing image's force
                passed = error <= options.tolerance and highest == 1 + pick
            if passed:
                status = "converged"
                break
            if len(points) == before:
                status = "stalled: the whole-band check failed on points already evaluated"
                break
            # a climbing image that holds and is the highest on DFT stays where it is while
            # the other images relax on the model that now has their DFT points
            pinned = highest if highest == 1 + pick else None

    model.train()  # the reported surrogate values include the last evaluation
    result_images, sources, sigmas = [ends[0]], ["dft"], [0.0]
    for i, image in enumerate(moving, start=1):
        image = image.copy()
        image.pbc = initial.pbc
        if i in dft:
            result_images.append(frozen_copy(image, *dft[i]))
            sources.append("dft")
            sigmas.append(0.0)
        else:
            energy, forces, sigma = model.predict(image.positions, variance=True)
            result_images.append(frozen_copy(image, energy, forces))
            sources.append("surrogate")
            sigmas.append(sigma)
    result_images.append(ends[1])
    sources.append("dft")
    sigmas.append(0.0)
    energies = [float(a.get_potential_energy()) for a in result_images]
    saddle = 1 + int(np.argmax(energies[1:-1]))
    this_run = log.cost()
    log.save()
    settings = {
        "method": "surrogate",
        "n_images": n_images,
        "fmax": fmax,
        "climb": climb,
        "interpolation": interpolation,
        "optimizer": "FIRE (on the surrogate)",
        "max_steps": max_steps,
        "spring_constant": SPRING_CONSTANT,
        "neb_method": "improvedtangent",
        "parallel_images": False,
        "surrogate": {
            **options.record(),
            "surrogate_fmax": surrogate_fmax,
            "status": status,
            "energy_source": sources,
            "uncertainty": sigmas,
            "max_uncertainty": max(sigmas),
            "hyperparameters": {
                k: float(v)
                for k, v in zip(("weight", "scale", "noise"), model.gp.hyperparams, strict=True)
            },
            "evaluations": log.counts(),
            "band_checks": band_checks,
        },
    }
    result = NEBResult(
        forward_barrier=energies[saddle] - energies[0],
        reverse_barrier=energies[saddle] - energies[-1],
        reaction_energy=energies[-1] - energies[0],
        saddle_index=saddle,
        saddle_energy=energies[saddle],
        energies=energies,
        residual=float(residual) if residual is not None else float("inf"),
        converged=status == "converged",
        cost=this_run,
        total_cost=log.total(),
        hop=hop,
        settings=settings,
        unstable_endpoints=unstable_endpoints(energies),
        minima=[0, len(energies) - 1],
        intermediates=[],
        images=result_images,
    )
    from ase.io import write

    write(workdir / BAND_FILE, result_images)
    write_checkpoint(workdir / RESULT_FILE, result.as_dict())
    return result


def _past_endpoints(position: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    """How far (A) ``position`` lies beyond the segment ``start``-``end`` along it (0 between)."""
    hop = end - start
    length = float(np.linalg.norm(hop))
    along = float(np.dot(position - start, hop)) / length
    return max(-along, along - length, 0.0)


def _known(points, image: Atoms) -> tuple[float, np.ndarray] | None:
    """The DFT energy and forces of a band evaluation at the positions of ``image``, if any."""
    for positions, energy, forces in points:
        if np.allclose(positions, image.positions, atol=SAME_POINT, rtol=0):
            return energy, forces
    return None


def _untrained(images: list[Atoms], model: Surrogate, pick: int, spread) -> int | None:
    """``pick``, or, where that image is a point the model was trained on (a climbing image
    that slid onto an endpoint), the image with the largest ``spread`` (eV) among those that
    are not; None when every image is a trained point."""
    fresh = [i for i, a in enumerate(images) if model.distance(a.positions) >= SAME_POINT]
    if not fresh:
        return None
    return pick if pick in fresh else max(fresh, key=lambda i: spread[i])


def _frozen_band(images, values: dict, energies=None, climb: bool = True):
    """A NEB (ASE's improved tangent, perovcalc's spring constant) of frozen copies of
    ``images``: band index -> DFT (energy, forces) in ``values``; the other moving images carry
    their surrogate ``energies`` (eV) and zero forces."""
    from ase.mep import NEB

    frozen = []
    for i, image in enumerate(images):
        if i in values:
            still = frozen_copy(image, *values[i])
        else:
            energy = energies[i - 1] if 0 < i < len(images) - 1 else image.get_potential_energy()
            still = frozen_copy(image, energy, np.zeros((len(image), 3)))
        still.set_constraint(image.constraints)
        frozen.append(still)
    return NEB(frozen, k=SPRING_CONSTANT, climb=climb, method="improvedtangent")


def _climbing_force(images, index, energy, forces, energies, climb) -> float | None:
    """Largest NEB force (eV/A) on image ``index`` with its DFT ``energy`` and ``forces`` and
    the surrogate ``energies`` of the other moving images (climbing image force
    F - 2 (F . t) t, or the perpendicular force without ``climb``); None if that image is not
    the highest of the band."""
    band = _frozen_band(images, {index: (energy, forces)}, energies)
    neb_forces = band.get_forces().reshape(len(images) - 2, len(images[0]), 3)
    if band.imax != index:
        return None
    force = neb_forces[index - 1]
    if not climb:  # the perpendicular part: F_CI = F - 2 F_par, so F_perp = (F + F_CI) / 2
        constrained = band.images[index].get_forces()
        force = (constrained + force) / 2
    return max_force(force)


def _band_force(images, values: dict, climb: bool) -> float:
    """Largest NEB force (eV/A, springs included) of a band whose moving images all carry
    their DFT ``values`` (band index -> energy, forces)."""
    return max_force(_frozen_band(images, values, climb=climb).get_forces())


def relax(
    atoms: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    fmax: float = 0.05,
    max_steps: int = 100,
    options: SurrogateOptions | None = None,
    analyse: Callable[[Atoms], dict] | None = None,
) -> tuple[Atoms, dict]:
    """Relax the positions of ``atoms`` on the surrogate, DFT at each surrogate minimum, until
    the DFT force is below ``fmax`` eV/A or ``max_steps`` new DFT evaluations were made in this
    call. Returns the lowest-force configuration evaluated (carrying its DFT energy and forces)
    and a record: ``evaluations`` (new, this call), ``total_evaluations``, ``converged``,
    ``max_force`` (eV/A), ``initial_energy`` (eV, at the start), ``steps`` (surrogate cycles),
    ``status``, ``method``. ``analyse(atoms)``, if given, gets the result carrying its live
    calculator (:meth:`EvaluationLog.live`) and what it returns joins the record. Resumes from
    ``workdir`` (module docstring).
    """
    from ase.optimize import BFGS

    options = options or SurrogateOptions()
    options.check()
    if not fmax > 0:
        raise InputError("fmax", fmax, "a force criterion > 0 eV/A")
    if not isinstance(max_steps, int) or max_steps < 0:
        raise InputError("max_steps", max_steps, "an integer >= 0")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = EvaluationLog(workdir / LOG_FILE, calc_factory)
    saved = log.saved("start")
    if saved is not None and not np.allclose(
        saved["positions"], atoms.positions, atol=SAME_POINT, rtol=0
    ):
        raise PerovcalcError(f"{log.path} holds another relaxation; use a fresh work directory")
    if saved is None and (carried := carried_results(atoms)) is not None:
        log.record(atoms, *carried, "start", "relaxation", evaluated=False)
    model = Surrogate(atoms, options)
    surrogate_fmax = options.surrogate_fmax or fmax / 5
    current = atoms.copy()
    current.calc = None
    energy, forces = log.evaluate(current, "start", "relaxation")
    model.add(current.positions, energy, forces)
    points = [(current.copy(), energy, forces)]

    def max_force(positions_forces) -> float:
        probe = current.copy()
        probe.set_positions(positions_forces[0].positions, apply_constraint=False)
        return float(np.linalg.norm(_constrained(probe, positions_forces[2]), axis=1).max())

    status = "not converged"
    while max_force(points[-1]) > fmax:
        if log.new >= max_steps:
            status = f"not converged: max_steps = {max_steps} new DFT evaluations"
            break
        model.train()
        best = min(points, key=lambda p: p[1])
        trial = best[0].copy()
        trial.calc = SurrogateCalculator(model)
        limit = model.distance(trial.positions) + options.max_distance
        keep = trial.positions.copy()

        def check(trial=trial, keep=keep, limit=limit):
            if model.distance(trial.positions) > limit:
                raise _Untrusted
            keep[:] = trial.positions

        optimizer = BFGS(trial, logfile=None, maxstep=0.1)
        optimizer.attach(check)
        try:
            optimizer.run(fmax=surrogate_fmax, steps=options.surrogate_steps)
        except _Untrusted:
            trial.set_positions(keep, apply_constraint=False)
        log.steps += 1
        if model.distance(trial.positions) < SAME_POINT:
            status = "stalled: the surrogate minimum is a point it was trained on"
            break
        trial.calc = None
        energy, forces = log.evaluate(trial, "relax", "relaxation")
        model.add(trial.positions, energy, forces)
        points.append((trial, energy, forces))
    else:
        status = "converged"
    final, energy, forces = min(points, key=max_force)
    record = {
        "method": "surrogate",
        "converged": status == "converged",
        "max_force": max_force((final, energy, forces)),
        "initial_energy": points[0][1],
        "steps": log.steps,
        "status": status,
        "surrogate": options.record(),
    }
    if analyse is not None:
        record.update(analyse(log.live(final, "analysis")))
    log.save()
    record["evaluations"] = log.new
    record["total_evaluations"] = sum(e["evaluated"] for e in log.entries)
    return frozen_copy(final, energy, forces), record


def _constrained(atoms: Atoms, forces: np.ndarray) -> np.ndarray:
    """``forces`` (eV/A) with the constraints of ``atoms`` applied."""
    forces = np.array(forces)
    for constraint in atoms.constraints:
        constraint.adjust_forces(atoms, forces)
    return forces


def relaxer(
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    fmax: float = 0.05,
    max_steps: int = 100,
    options: SurrogateOptions | None = None,
) -> Callable[[Atoms, str], tuple[Atoms, dict]]:
    """``relax(image, name)`` for ``perovcalc.path.run_path``: :func:`relax` in
    ``<workdir>/<name>``."""

    def relax_image(image: Atoms, name: str) -> tuple[Atoms, dict]:
        start = image.copy()
        start.calc = None
        return relax(start, calc_factory, Path(workdir) / name, fmax, max_steps, options)

    return relax_image
