"""The surrogate model of :mod:`perovcalc.surrogate`: a Gaussian process of the energy with
derivative observations, and its settings.

The model is ASE's Gaussian process with derivative observations (``ase.optimize.gpmin``:
``GaussianProcess`` with the squared-exponential kernel of Koistinen et al., J. Chem. Phys.
147, 152720 (2017)) on the Cartesian coordinates of the free atoms (those no ``FixAtoms``
holds). It is trained on every energy and force evaluated so far. Its prior mean is a constant
(the highest energy evaluated) or, with a ``prior`` calculator (a universal ML potential,
:func:`ml_calculator`), that calculator's energy and forces plus a constant (the mean DFT - ML
energy difference), so that the process learns only the difference. The prior is never a
result: every energy reported as DFT is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.optimize.gpmin.gp import GaussianProcess
from ase.optimize.gpmin.kernel import SquaredExponential
from ase.optimize.gpmin.prior import Prior
from scipy.linalg import LinAlgError, solve_triangular

from perovcalc.errors import InputError, MissingDependencyError, PerovcalcError
from perovcalc.mep import BAND_CHECKS, ML_PRIORS

ML_INSTALL = (
    "pip install torch==2.13.0 (its CPU build; an unpinned torch pulls GBs of GPU packages), "
    "then pip install 'perovcalc[ml]'"
)
# observed numbers (energies and force components) in the likelihood fit: the latest ~28
# points of a 69-coordinate hop. With 600 (8 points, all near the climbing image) the fitted
# kernel amplitude (0.13-0.18 eV) left the 2x2x2 GPAW band sure of energies 0.1-0.5 eV wrong
# (74 DFT evaluations; 31 with 2000: benchmarks/neb_cost_222)
FIT_SIZE = 2000


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
    ``max_barrier``: a band stops, not converged, when a DFT evaluation of one of its images
    lies more than this above the higher endpoint (eV): the surrogate has led it out of the hop;
    ``band_check``: what the DFT values of the whole band must show once the climbing image
    holds on DFT: ``"energy"``, every image's DFT energy within ``tolerance`` of the surrogate's
    prediction and the climbing image the highest (the profile and the barrier are DFT's);
    ``"forces"``, besides, the NEB forces of every image below ``fmax`` (a plain CI-NEB's
    criterion: the whole band on the minimum energy path);
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
    max_barrier: float = 5.0
    band_check: str = BAND_CHECKS[0]
    prior: str | Callable[[], Calculator] | None = None

    def check(self) -> None:
        for name in ("tolerance", "noise", "scale", "weight", "max_distance", "max_barrier"):
            if not getattr(self, name) > 0:
                raise InputError(f"surrogate.{name}", getattr(self, name), "a number > 0")
        if self.surrogate_fmax is not None and not self.surrogate_fmax > 0:
            raise InputError("surrogate.surrogate_fmax", self.surrogate_fmax, "None or > 0 eV/A")
        if not isinstance(self.surrogate_steps, int) or self.surrogate_steps < 1:
            raise InputError("surrogate.surrogate_steps", self.surrogate_steps, "an integer >= 1")
        if self.band_check not in BAND_CHECKS:
            raise InputError("surrogate.band_check", self.band_check, BAND_CHECKS)
        if isinstance(self.prior, str) and self.prior not in ML_PRIORS:
            raise InputError("surrogate.prior", self.prior, (*ML_PRIORS, "a calculator factory"))

    def record(self) -> dict:
        """JSON-able settings; the prior by name, and the observed numbers of the kernel fit."""
        data = asdict(self)
        data["prior"] = _prior_name(self.prior)
        data["fit_size"] = FIT_SIZE
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
