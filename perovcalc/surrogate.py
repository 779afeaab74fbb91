"""Surrogate-accelerated CI-NEB and relaxation: DFT only where a Gaussian process is unsure.

The model is ASE's Gaussian process with derivative observations (``ase.optimize.gpmin``:
``GaussianProcess`` with the squared-exponential kernel of Koistinen et al., J. Chem. Phys.
147, 152720 (2017)) on the Cartesian coordinates of the free atoms (those no ``FixAtoms``
holds). It is trained on every energy and force evaluated so far. Its prior mean is a constant
(the highest energy evaluated) or, with a ``prior`` calculator (a universal ML potential,
:func:`ml_calculator`), that calculator's energy and forces plus a constant (the mean DFT - ML
energy difference), so that the process learns only the difference. The prior is never a
result: every energy reported as DFT is one.

Band (:func:`surrogate_neb`, also ``perovcalc.neb.run_neb(..., method="surrogate")``): an
``ase.mep.NEB`` (IDPP start, climbing image) whose images carry the surrogate relaxes on it
(FIRE, ``SurrogateOptions.surrogate_fmax``), stopped early where an image would move more than
``max_distance`` A further from the data than it started (the starting band is not relaxed
before its first DFT point); then DFT evaluates the image with the
largest predictive standard deviation if that exceeds ``tolerance`` eV, else the climbing
(highest) image. The band has converged when the DFT force on the climbing image, projected like
a climbing image (F - 2 (F . t) t, ASE's improved tangent), is below ``fmax`` eV/A, the
surrogate band is converged and the largest standard deviation along it is below
``tolerance``. Barriers come from DFT energies (endpoints and the verified climbing image); the
other images carry surrogate predictions, marked as such in ``settings["surrogate"]`` with
their standard deviations (the approach of Garrido Torres et al., PRL 122, 156001 (2019)).

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

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.geometry import find_mic
from ase.optimize.gpmin.gp import GaussianProcess
from ase.optimize.gpmin.kernel import SquaredExponential
from ase.optimize.gpmin.prior import Prior
from scipy.linalg import LinAlgError, solve_triangular

from perovcalc.calculate import write_checkpoint
from perovcalc.errors import InputError, MissingDependencyError, PerovcalcError
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
ML_PRIORS = ("chgnet", "sevennet")
ML_INSTALL = (
    "pip install torch==2.13.0 (its CPU build; an unpinned torch pulls GBs of GPU packages), "
    "then pip install 'perovcalc[ml]'"
)
FIT_SIZE = 600  # observed numbers (energies and force components) in the likelihood fit
SAME_POINT = 1e-6  # A: positions this close are the same evaluation


@dataclass(frozen=True)
class SurrogateOptions:
    """Settings of the surrogate (energies eV, forces eV/A, lengths A).

    ``tolerance``: largest predictive standard deviation of the energy along a converged band;
    ``noise``: noise of the force observations (eV/A; energies ``noise * scale`` eV);
    ``scale``, ``weight``: starting length scale and energy scale of the kernel, fitted by
    marginal likelihood within ``scale_bounds`` and ``weight_bounds`` when ``fit`` is true;
    ``max_distance``: how much further from the nearest evaluated point than where it started
    an image (or a relaxing structure) may move on the surrogate before DFT is asked;
    ``surrogate_fmax``: force criterion on the surrogate (default ``fmax / 5``);
    ``surrogate_steps``: FIRE step limit per relaxation on the surrogate;
    ``prior``: None (a constant mean), an ML potential's name (:data:`ML_PRIORS`) or a
    callable returning an ASE calculator.
    """

    tolerance: float = 0.05
    noise: float = 0.005
    scale: float = 0.4
    weight: float = 1.0
    fit: bool = True
    scale_bounds: tuple[float, float] = (0.2, 1.5)
    weight_bounds: tuple[float, float] = (0.1, 10.0)
    max_distance: float = 0.5
    surrogate_fmax: float | None = None
    surrogate_steps: int = 1000
    prior: str | Callable[[], Calculator] | None = None

    def check(self) -> None:
        for name in ("tolerance", "noise", "scale", "weight", "max_distance"):
            if not getattr(self, name) > 0:
                raise InputError(f"surrogate.{name}", getattr(self, name), "a number > 0")
        if self.surrogate_fmax is not None and not self.surrogate_fmax > 0:
            raise InputError("surrogate.surrogate_fmax", self.surrogate_fmax, "None or > 0 eV/A")
        if not isinstance(self.surrogate_steps, int) or self.surrogate_steps < 1:
            raise InputError("surrogate.surrogate_steps", self.surrogate_steps, "an integer >= 1")
        if isinstance(self.prior, str) and self.prior not in ML_PRIORS:
            raise InputError("surrogate.prior", self.prior, (*ML_PRIORS, "a calculator factory"))

    def record(self) -> dict:
        """JSON-able settings; the prior by name."""
        data = asdict(self)
        data["prior"] = _prior_name(self.prior)
        return data


def _prior_name(prior) -> str | None:
    if prior is None or isinstance(prior, str):
        return prior
    return getattr(prior, "__name__", type(prior).__name__)


def ml_calculator(name: str) -> Calculator:
    """A universal ML potential whose weights ship in its wheel, as a surrogate prior:
    ``"chgnet"`` (CHGNet 0.4.2, its bundled model) or ``"sevennet"`` (SevenNet 0.13,
    ``7net-0``), on the CPU. Needs the ``perovcalc[ml]`` extra."""
    if name not in ML_PRIORS:
        raise InputError("prior", name, ML_PRIORS)
    try:
        if name == "chgnet":
            from chgnet.model.dynamics import CHGNetCalculator

            return CHGNetCalculator(use_device="cpu")
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(model="7net-0", device="cpu")
    except ImportError as error:
        raise MissingDependencyError(
            f"the {name} prior needs the ML extra ({error}); install it with: {ML_INSTALL}"
        ) from error


def _free_atoms(atoms: Atoms) -> np.ndarray:
    """Indices of the atoms that no FixAtoms constraint holds."""
    from ase.constraints import FixAtoms

    fixed = {int(i) for c in atoms.constraints if isinstance(c, FixAtoms) for i in c.index}
    return np.array([i for i in range(len(atoms)) if i not in fixed], dtype=int)


class _MeanPrior(Prior):
    """Prior mean of the process: a constant plus, optionally, a calculator's energy (eV) and
    gradient (-forces, eV/A) on the free coordinates; calculator values cached per point."""

    def __init__(self, template: Atoms, free: np.ndarray, calc: Calculator | None):
        super().__init__()
        self.template, self.free, self.calc = template.copy(), free, calc
        self.template.set_constraint()
        self.constant = 0.0
        self.cache: dict[bytes, np.ndarray] = {}

    def model(self, x: np.ndarray) -> np.ndarray:
        """[energy, gradient] of the calculator alone (zero without one)."""
        if self.calc is None:
            return np.zeros(len(x) + 1)
        key = x.tobytes()
        if key not in self.cache:
            atoms = self.template.copy()
            positions = atoms.positions
            positions[self.free] = x.reshape(-1, 3)
            atoms.set_positions(positions)
            atoms.calc = self.calc
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces(apply_constraint=False)[self.free]
            self.cache[key] = np.concatenate([[energy], -forces.ravel()])
        return self.cache[key]

    def potential(self, x: np.ndarray) -> np.ndarray:
        value = self.model(x).copy()
        value[0] += self.constant
        return value


class Surrogate:
    """Gaussian-process model of the energy of ``template``'s configurations (eV) on the
    Cartesian coordinates of its free atoms, trained on energies and forces."""

    def __init__(self, template: Atoms, options: SurrogateOptions):
        self.options = options
        self.template = template.copy()
        self.free = _free_atoms(template)
        prior = options.prior
        calc = ml_calculator(prior) if isinstance(prior, str) else (prior() if prior else None)
        self.mean = _MeanPrior(template, self.free, calc)
        self.gp = GaussianProcess(self.mean, SquaredExponential())
        self.hyperparameters = np.array([options.weight, options.scale, options.noise])
        self.X = np.empty((0, 3 * len(self.free)))
        self.Y = np.empty((0, 3 * len(self.free) + 1))

    def coordinates(self, positions: np.ndarray) -> np.ndarray:
        """The flat free coordinates of a configuration (A)."""
        return np.asarray(positions)[self.free].ravel()

    def add(self, positions: np.ndarray, energy: float, forces: np.ndarray) -> None:
        """Add an observation: energy (eV) and unconstrained forces (eV/A, all atoms)."""
        y = np.concatenate([[energy], -np.asarray(forces)[self.free].ravel()])
        self.X = np.vstack([self.X, self.coordinates(positions)])
        self.Y = np.vstack([self.Y, y])

    def train(self) -> None:
        """Fit the prior constant, the hyperparameters (if ``fit``) and the process."""
        ml = np.array([self.mean.model(x)[0] for x in self.X])
        if self.mean.calc is None:
            self.mean.constant = float(self.Y[:, 0].max())
        else:
            self.mean.constant = float(np.mean(self.Y[:, 0] - ml))
        if self.options.fit and len(self.X) > 1:
            self._fit()
        self.gp.set_hyperparams(self.hyperparameters)
        noise = self.options.noise
        for _ in range(5):  # close points make K singular: more noise until it factorises
            try:
                self.gp.train(self.X, self.Y, noise=noise)
                return
            except LinAlgError:
                noise *= 10
        raise PerovcalcError("the surrogate's kernel matrix cannot be factorised")

    def _fit(self) -> None:
        """Weight and length scale by marginal likelihood (ASE's likelihood and gradient) of
        the latest observations (at most ``FIT_SIZE`` numbers)."""
        from scipy.optimize import minimize

        self.gp.set_hyperparams(self.hyperparameters)
        bounds = [self.options.weight_bounds, self.options.scale_bounds]
        start = np.clip(self.hyperparameters[:2], *np.array(bounds).T)
        recent = max(2, FIT_SIZE // self.X.shape[1])  # the likelihood costs (n D)^3
        try:
            found = minimize(
                self.gp.neg_log_likelihood,
                start,
                args=(self.X[-recent:], self.Y[-recent:]),
                method="L-BFGS-B",
                jac=True,
                bounds=bounds,
                options={"gtol": 1e-3, "ftol": 1e-6, "maxiter": 30},
            )
        except LinAlgError:
            return
        if np.all(np.isfinite(found.x)):
            self.hyperparameters = np.array([*found.x, self.options.noise])

    def predict(self, positions: np.ndarray, variance: bool = False):
        """Mean energy (eV) and forces (eV/A, zero on fixed atoms) of a configuration, and with
        ``variance`` the predictive standard deviation of the energy (eV)."""
        x = self.coordinates(positions)
        weight, scale = self.gp.kernel.weight, self.gp.kernel.l
        alpha = self.gp.a.reshape(len(self.X), -1)
        a_e, a_g = alpha[:, 0], alpha[:, 1:]
        d = x - self.X
        k = weight**2 * np.exp(-0.5 * np.sum(d * d, axis=1) / scale**2)
        dot = np.sum(d * a_g, axis=1)
        prior = self.mean.potential(x)
        energy = prior[0] + k @ (a_e + dot / scale**2)
        gradient = (
            prior[1:]
            + (k[:, None] * (-d * a_e[:, None] + a_g - d * dot[:, None] / scale**2)).sum(axis=0)
            / scale**2
        )
        forces = np.zeros((len(self.template), 3))
        forces[self.free] = -gradient.reshape(-1, 3)
        if not variance:
            return float(energy), forces
        row = np.hstack([k[:, None], k[:, None] * d / scale**2]).ravel()
        v = solve_triangular(self.gp.L, row, lower=True, check_finite=False)
        return float(energy), forces, float(np.sqrt(max(weight**2 - v @ v, 0.0)))

    def distance(self, positions: np.ndarray) -> float:
        """Distance (A, free coordinates) to the nearest observation."""
        return float(np.sqrt(np.min(np.sum((self.coordinates(positions) - self.X) ** 2, 1))))


class SurrogateCalculator(Calculator):
    """Energy and forces of the surrogate's mean."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, model: Surrogate):
        super().__init__()
        self.model = model

    def check_state(self, atoms, tol=1e-15):
        # only positions change along a band: ASE's full comparison dominated the run time
        same = self.atoms is not None and np.array_equal(self.atoms.positions, atoms.positions)
        return [] if same else ["positions"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.model.predict(self.atoms.positions)
        self.results = {"energy": energy, "forces": forces}


class EvaluationLog:
    """Every DFT evaluation of a work directory (``surrogate.json``), replayed on a rerun.

    :meth:`evaluate` takes a saved evaluation of the same positions when there is one (each
    at most once: a rerun consumes them in the order the run asks again), else runs the
    calculator and saves the result at once. ``new`` counts the calculator's evaluations in
    this run; ``total`` all saved ones.
    """

    def __init__(self, path: Path, calc_factory: Callable[..., Calculator]):
        self.path = path
        self.calc_factory = calc_factory
        self.calcs: dict[str, Calculator] = {}
        data = json.loads(path.read_text()) if path.is_file() else {}
        self.entries: list[dict] = data.get("evaluations", [])
        self.total_before = NEBCost(**data.get("total_cost", {}))
        self.unused = list(range(len(self.entries)))
        self.new = 0
        self.start = time.perf_counter()
        self.steps = 0

    def saved(self, label: str) -> dict | None:
        """The first saved entry with ``label``, if any."""
        return next((e for e in self.entries if e["label"] == label), None)

    def evaluate(self, atoms: Atoms, label: str, kind: str) -> tuple[float, np.ndarray]:
        """DFT energy (eV) and unconstrained forces (eV/A) of ``atoms``; ``label`` names the
        calculator (one per label), ``kind`` what the evaluation is for."""
        for j in self.unused:
            entry = self.entries[j]
            if np.allclose(entry["positions"], atoms.positions, atol=SAME_POINT, rtol=0):
                self.unused.remove(j)
                return entry["energy"], np.array(entry["forces"])
        if label not in self.calcs:
            kwargs = {"label": label} if accepts_label(self.calc_factory) else {}
            self.calcs[label] = self.calc_factory(**kwargs)
        image = atoms.copy()
        image.calc = self.calcs[label]
        energy = float(image.get_potential_energy())
        forces = np.array(image.get_forces(apply_constraint=False))
        self.new += 1
        self.record(image, energy, forces, label, kind, evaluated=True)
        return energy, forces

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

    def cost(self) -> NEBCost:
        """This run's cost: new evaluations, surrogate cycles, wall time (s)."""
        return NEBCost(self.new, self.steps, time.perf_counter() - self.start)

    def save(self) -> None:
        data = {
            "evaluations": self.entries,
            "total_cost": asdict(self.total_before + self.cost()),
        }
        write_checkpoint(self.path, data)

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


def _relax_on_surrogate(optimizable, images: list[Atoms], model: Surrogate, fmax: float):
    """FIRE on the surrogate until ``fmax`` or an image moves ``max_distance`` further from the
    data than it started (then the last trusted positions are restored). True if converged."""
    from ase.optimize import FIRE

    options = model.options
    limits = [model.distance(a.positions) + options.max_distance for a in images]
    trusted = [a.positions.copy() for a in images]

    def check():
        if any(model.distance(a.positions) > lim for a, lim in zip(images, limits, strict=True)):
            raise _Untrusted
        for a, keep in zip(images, trusted, strict=True):
            keep[:] = a.positions

    optimizer = FIRE(optimizable, logfile=None, maxstep=0.1)
    optimizer.attach(check)
    try:
        return bool(optimizer.run(fmax=fmax, steps=options.surrogate_steps))
    except _Untrusted:
        for a, keep in zip(images, trusted, strict=True):
            a.set_positions(keep, apply_constraint=False)
        return False


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
    status, residual, new_band = "not converged", np.inf, 0
    while True:
        model.train()
        for image in moving:
            image.calc.reset()
        # the starting band first gets its most uncertain image computed: a state below the
        # endpoints (an intermediate) is seen before the band climbs away from it
        relaxed = bool(dft) and _relax_on_surrogate(band, moving, model, surrogate_fmax)
        log.steps += 1
        predictions = [model.predict(a.positions, variance=True) for a in moving]
        energies = np.array([p[0] for p in predictions])
        spread = np.array([p[2] for p in predictions])
        ends_e = [ends[0].get_potential_energy(), ends[1].get_potential_energy()]
        lowest = int(np.argmin(energies))
        below = stop_below_endpoints and below_endpoints([ends_e[0], *energies, ends_e[1]])
        if below:
            pick, kind = lowest, "verification"
        elif spread.max() > options.tolerance:
            pick, kind = int(np.argmax(spread)), "band"
        else:
            pick, kind = int(np.argmax(energies)), "verification"
        target = moving[pick]
        if model.distance(target.positions) < SAME_POINT:
            status = "stalled: the surrogate asks again for a point it was trained on"
            break
        if new_band >= max_steps:
            status = f"not converged: max_steps = {max_steps} new DFT evaluations of the band"
            break
        before = log.new
        probe = target.copy()
        probe.pbc = initial.pbc
        energy, forces = log.evaluate(probe, "surrogate", kind)
        new_band += log.new - before
        model.add(target.positions, energy, forces)
        dft = {1 + pick: (energy, forces)}
        if stop_below_endpoints and below_endpoints([ends_e[0], energy, ends_e[1]]):
            status = "stopped: an image lies below both endpoints (DFT)"
            break
        if kind == "verification" and not below:
            residual = _climbing_force(images, 1 + pick, energy, forces, energies, climb)
            if residual is not None and residual <= fmax and relaxed:
                status = "converged"
                break

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
        total_cost=log.total_before + this_run,
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


def _climbing_force(images, index, energy, forces, energies, climb) -> float | None:
    """Largest NEB force (eV/A) on image ``index`` with its DFT ``energy`` and ``forces`` and
    the surrogate ``energies`` of the other moving images (ASE's improved tangent; climbing
    image force F - 2 (F . t) t, or the perpendicular force without ``climb``); None if that
    image is not the highest of the band."""
    from ase.mep import NEB

    frozen = []
    for i, image in enumerate(images):
        if i == index:
            frozen.append(frozen_copy(image, energy, forces))
        elif 0 < i < len(images) - 1:
            frozen.append(frozen_copy(image, energies[i - 1], np.zeros((len(image), 3))))
        else:
            frozen.append(
                frozen_copy(image, image.get_potential_energy(), np.zeros((len(image), 3)))
            )
    for a, b in zip(frozen, images, strict=True):
        a.set_constraint(b.constraints)
    band = NEB(frozen, k=0.0, climb=True, method="improvedtangent")
    neb_forces = band.get_forces().reshape(len(images) - 2, len(images[0]), 3)
    if band.imax != index:
        return None
    force = neb_forces[index - 1]
    if not climb:  # the perpendicular part: F_CI = F - 2 F_par, so F_perp = (F + F_CI) / 2
        constrained = frozen[index].get_forces()
        force = (constrained + force) / 2
    return max_force(force)


def relax(
    atoms: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    fmax: float = 0.05,
    max_steps: int = 100,
    options: SurrogateOptions | None = None,
) -> tuple[Atoms, dict]:
    """Relax the positions of ``atoms`` on the surrogate, DFT at each surrogate minimum, until
    the DFT force is below ``fmax`` eV/A or ``max_steps`` new DFT evaluations were made in this
    call. Returns the lowest-force configuration evaluated (carrying its DFT energy and forces)
    and a record: ``evaluations`` (new, this call), ``total_evaluations``, ``converged``,
    ``max_force`` (eV/A), ``status``, ``method``. Resumes from ``workdir`` (module docstring).
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
    log.save()
    record = {
        "method": "surrogate",
        "evaluations": log.new,
        "total_evaluations": sum(e["evaluated"] for e in log.entries),
        "converged": status == "converged",
        "max_force": max_force((final, energy, forces)),
        "status": status,
        "surrogate": options.record(),
    }
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
