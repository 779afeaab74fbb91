"""Core-level binding-energy shifts with GPAW: Delta-SCF (final state) and initial state.

Delta-SCF: the total energy of the cell with a full core hole on atom i (core-hole dataset
from :mod:`perovcalc.corehole`) minus the same with the hole on a reference atom of the same
element in the same cell.  The binding energy relative to the Fermi level/vacuum cancels in
this difference, so ``E_hole(i) - E_hole(ref)`` is the shift of atom i, positive for a higher
binding energy.  The excited electron stays in the cell: GPAW counts the hole as a positive
core charge of the dataset, so the calculation runs with GPAW ``charge`` lowered by one
(``charge=-1`` for a neutral cell).  The final state is thus neutral with the electron in the
lowest empty states (screened, "excitonic" final state), as appropriate for a photoemission
sample in contact with ground; it also avoids the compensating background that a charged
periodic cell would need.  Hole-hole interaction between periodic images remains: converge
the cell size.  The final state has one valence electron more than the ground state, an odd
count for a closed-shell cell, so by default it is solved spin-polarised with an initial moment
of 1 Bohr magneton on the ionised atom (the screening electron localises there for K 2p, Cs 3d
and partly Pb 4f) with ``spin=True``; the default keeps the caller's spin setting, because
with the moment free a Pb 4f hole in a dipole-corrected slab did not converge (the moment
sloshed between 0.2 and 0.7 for 100 SCF iterations at the demo preset), and a moment fixed at
1 fails in GPAW 26.7 when the work functions of a dipole-corrected slab are written (two Fermi
levels). Measured where it converges: reference/computed_corelevel_spin.csv (no dipole
layer, moment free).  Smearing and everything else come from the caller's GPAW parameters
unchanged; the same parameters must be used for all atoms being compared.

Initial state: the electrostatic potential energy of an electron at each nucleus (GPAW's
``get_atomic_electrostatic_potentials``, eV, an electron's potential energy: negative near
nuclei) from one ground-state calculation.  A more negative value binds core electrons more
strongly, so the initial-state shift is ``-(V_i - V_ref)``.  It omits all screening of the
hole (relaxation); use it for trends over many atoms, not as a binding energy.

Slabs: the primary observable is a shift against a bulk-like atom of the same element in the
slab's central layer (:func:`central_site`), which needs no energy reference shared between
cells.  Core-hole images: :func:`image_extrapolation` (shift linear in 1/L, L the in-plane cell
edge).  Partial K coverage: :func:`k_coverage` and :func:`coverage_weighted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from perovcalc.corehole import LEVELS, activate, core_hole_setup
from perovcalc.errors import InputError, MissingDependencyError, PerovcalcError
from perovcalc.symmetry import distinct_sites

DELTA_SCF = "delta-scf"
INITIAL_STATE = "initial-state"
# GPAW eigenstates criterion (eV^2 per valence electron) of a core-hole run, of which only the
# energy is used: GPAW's 4e-8 serves eigenvalues and forces, and in a hole run its last
# iterations change the energy by less than 1e-4 eV (two Br 3d holes of the demo's five-layer
# 1x1 slab: shift 0.32137 vs 0.32133 eV, 17 % less time; a Cs 3d hole hovered near 4e-8
# for 33 iterations after energy and density had converged).
HOLE_EIGENSTATES = 1e-5


@dataclass(frozen=True)
class CoreLevelShifts:
    """Binding-energy shifts (eV, positive = more strongly bound than the reference atom).

    ``values`` holds the per-atom quantity the shifts come from: the total energy with the
    core hole (Delta-SCF) or the electrostatic potential energy of an electron at the
    nucleus (initial state), both in eV.
    """

    method: str
    element: str
    level: str | None
    reference_index: int
    shifts: dict[int, float]
    values: dict[int, float]
    params: dict
    gpaw_version: str
    setup_name: str | None = None
    notes: tuple[str, ...] = field(default=())
    spin: bool = False  # Delta-SCF final state solved spin-polarised (moment on the hole atom)


def delta_scf_energy(
    atoms: Atoms, index: int, element: str, level: str, params: dict, spin: bool = False
) -> float:
    """Total energy (eV) of ``atoms`` with a full ``level`` core hole on atom ``index``.

    ``params`` are GPAW keyword arguments; the hole's dataset is added to ``setups``, the
    LCAO basis of that atom is the element's standard one, and ``charge`` is lowered by one
    so that the excited electron stays in the cell.  With ``spin`` the final state is
    spin-polarised, starting from the atoms' initial moments plus 1 Bohr magneton on atom
    ``index``.  A ``txt`` file name gets a ``-<element><level>-hole<index>`` suffix.
    """
    if not 0 <= index < len(atoms):
        raise InputError("index", index, f"0 to {len(atoms) - 1}")
    if atoms[index].symbol != element:
        raise InputError(f"element of atom {index}", element, [atoms[index].symbol])
    setup = core_hole_setup(element, level, 1.0, xc=params.get("xc", "LDA"))
    activate(setup)
    try:
        from gpaw import GPAW, KohnShamConvergenceError
    except ImportError as err:
        raise MissingDependencyError(f"Delta-SCF needs GPAW: {err}") from err
    system = atoms.copy()
    if spin:
        moments = system.get_initial_magnetic_moments()
        moments[index] += 1.0
        system.set_initial_magnetic_moments(moments)
    system.calc = GPAW(**_with_hole(params, index, setup.name, f"{element}{level}", spin))
    try:
        return float(system.get_potential_energy())
    except KohnShamConvergenceError as err:
        raise PerovcalcError(
            f"SCF with a {element} {level} core hole on atom {index} did not converge: {err}"
        ) from err


def delta_scf_shifts(
    atoms: Atoms,
    indices: Sequence[int] | None = None,
    reference_index: int | None = None,
    *,
    element: str,
    level: str | None = None,
    params: dict,
    spin: bool = False,
) -> CoreLevelShifts:
    """Delta-SCF shifts E_hole(i) - E_hole(ref) (eV) for atoms ``indices`` of ``element``.

    Defaults: ``level`` from :data:`perovcalc.corehole.LEVELS`, ``indices`` one atom per
    symmetry-distinct site, ``reference_index`` the first of ``indices``.  One SCF per atom;
    ``spin`` as in :func:`delta_scf_energy`.
    """
    level, indices, reference_index = _choose(atoms, element, level, indices, reference_index)
    energies = {i: delta_scf_energy(atoms, i, element, level, params, spin) for i in indices}
    setup = core_hole_setup(element, level, 1.0, xc=params.get("xc", "LDA"))
    return CoreLevelShifts(
        method=DELTA_SCF,
        element=element,
        level=level,
        reference_index=reference_index,
        shifts={i: e - energies[reference_index] for i, e in energies.items()},
        values=energies,
        params=dict(params),
        gpaw_version=setup.gpaw_version,
        setup_name=setup.name,
        notes=setup.notes,
        spin=spin,
    )


def initial_state_shifts(
    atoms: Atoms,
    element: str,
    params: dict | None = None,
    calc=None,
    reference_index: int | None = None,
) -> CoreLevelShifts:
    """Initial-state shifts -(V_i - V_ref) (eV) of every atom of ``element``.

    From one ground-state calculation: a GPAW calculator ``calc`` already attached to (or
    to be run on) ``atoms``, or a new one made from ``params``.  ``reference_index``
    defaults to the first symmetry-distinct site.  The same shift applies to every core
    level of an atom in this approximation, so no level is recorded.
    """
    if (params is None) == (calc is None):
        raise InputError("params/calc", "both" if calc else "neither", "exactly one of them")
    indices = [a.index for a in atoms if a.symbol == element]
    reference_index = _choose(atoms, element, None, None, reference_index)[2]
    try:
        from gpaw import GPAW, __version__
    except ImportError as err:
        raise MissingDependencyError(f"initial-state shifts need GPAW: {err}") from err
    if calc is None:
        atoms = atoms.copy()
        calc = GPAW(**params)
    atoms.calc = calc
    atoms.get_potential_energy()
    potentials = np.asarray(calc.get_atomic_electrostatic_potentials())
    values = {i: float(potentials[i]) for i in indices}
    return CoreLevelShifts(
        method=INITIAL_STATE,
        element=element,
        level=None,
        reference_index=reference_index,
        shifts={i: -(v - values[reference_index]) for i, v in values.items()},
        values=values,
        params=dict(params) if params is not None else _calculator_settings(calc),
        gpaw_version=__version__,
    )


def central_site(atoms: Atoms, element: str) -> int:
    """Index of the atom of ``element`` nearest the slab's mid-plane (the midpoint of the
    atoms' extent along c), the bulk-like reference of that element; the lowest index among
    atoms equally near (within 1e-6 A)."""
    indices = [a.index for a in atoms if a.symbol == element]
    if not indices:
        raise InputError("element", element, sorted(set(atoms.get_chemical_symbols())))
    z = atoms.positions[:, 2]
    distance = np.abs(z[indices] - (z.max() + z.min()) / 2)
    return indices[int(np.flatnonzero(distance <= distance.min() + 1e-6)[0])]


@dataclass(frozen=True)
class ImageExtrapolation:
    """A core-level shift fitted as ``shift + slope / L`` over in-plane cell edges L (A):
    ``shift`` (eV) the isolated-hole limit, ``slope`` (eV A)."""

    shift: float
    slope: float

    def error(self, length: float) -> float:
        """Core-hole image error (eV) of a shift computed with in-plane cell edge ``length``
        (A): its distance from the extrapolated limit, ``|slope| / length``."""
        return abs(self.slope) / length


def image_extrapolation(lengths: Sequence[float], shifts: Sequence[float]) -> ImageExtrapolation:
    """Least-squares line of ``shifts`` (eV) against 1/``lengths`` (in-plane cell edges, A;
    at least two different ones), extrapolated to 1/L = 0.  With two cells the line passes
    through both points and the image error of the larger cell is its distance from the limit.
    The 1/L form (a monopole-like image interaction) is the slowest decay a neutral final
    state can show, so the error is an upper estimate."""
    inverse, shifts = 1.0 / np.asarray(lengths, dtype=float), np.asarray(shifts, dtype=float)
    if len(inverse) != len(shifts) or len(np.unique(inverse)) < 2 or not np.all(inverse > 0):
        raise InputError("lengths", list(lengths), "two or more different positive cell edges")
    slope, limit = np.polyfit(inverse, shifts, 1)
    return ImageExtrapolation(float(limit), float(slope))


def k_coverage(k_to_pb: float, cube: Atoms) -> float:
    """Fraction of the outer A sites (Cs or K on a face of ``cube``, a
    :func:`perovcalc.nanocrystal.nanocrystal` model) that hold K when K:Pb is ``k_to_pb``
    (atoms per Pb) and every K sits on an outer A site."""
    n_pb = int(np.sum(cube.numbers == 82))
    a_sites = np.isin(cube.get_chemical_symbols(), ["Cs", "K"])
    grid = cube.positions[a_sites] - cube.positions[a_sites].min(axis=0)
    edge = grid.max(axis=0)
    outer = np.any(np.isclose(grid, 0.0, atol=0.1) | np.isclose(grid, edge, atol=0.1), axis=1)
    coverage = k_to_pb * n_pb / int(outer.sum())
    if not 0 <= coverage <= 1:
        raise InputError("k_to_pb", k_to_pb, f"0 to {outer.sum() / n_pb:.3f} for this cube")
    return float(coverage)


def coverage_weighted(bare: float, passivated: float, coverage: float) -> float:
    """A shift (eV) of a surface with K on a ``coverage`` fraction of its outer A sites: the
    mixture of the bare (no K) and the fully passivated (K on every outer A site) slab's values
    in proportion to the sites, (1 - coverage) * bare + coverage * passivated."""
    if not 0 <= coverage <= 1:
        raise InputError("coverage", coverage, "a fraction in [0, 1]")
    return (1 - coverage) * bare + coverage * passivated


def _choose(atoms, element, level, indices, reference_index):
    """Fill in the defaults of the shift functions and check the atom indices."""
    if element not in LEVELS:
        raise InputError("element", element, sorted(LEVELS))
    level = level or LEVELS[element]
    indices = list(indices) if indices is not None else distinct_sites(atoms, element)
    if reference_index is None and indices:
        reference_index = indices[0]
    if reference_index not in indices:
        indices.insert(0, reference_index)
    for i in indices:
        if not (isinstance(i, int | np.integer) and 0 <= i < len(atoms)):
            raise InputError("atom index", i, f"0 to {len(atoms) - 1}")
        if atoms[i].symbol != element:
            raise InputError(f"element of atom {i}", atoms[i].symbol, [element])
    return level, indices, reference_index


def _calculator_settings(calc) -> dict:
    """Keyword arguments of a GPAW calculator (new ASE interface or the old one)."""
    params = getattr(calc, "params", None)
    return params.todict() if hasattr(params, "todict") else dict(calc.parameters)


def hole_convergence(params: dict) -> dict:
    """GPAW's SCF criteria for a core-hole run with ground-state ``params``: theirs, with the
    eigenstates criterion :data:`HOLE_EIGENSTATES` unless they set one."""
    return {"eigenstates": HOLE_EIGENSTATES, **params.get("convergence", {})}


def _with_hole(params: dict, index: int, setup_name: str, label: str, spin: bool = False) -> dict:
    """GPAW keyword arguments for the core-hole run on atom ``index`` (spin-polarised with
    ``spin``; SCF criteria :func:`hole_convergence`)."""
    hole = dict(params)
    hole["convergence"] = hole_convergence(params)
    if spin:
        hole["spinpol"] = True
    setups = params.get("setups", "paw")
    setups = dict(setups) if isinstance(setups, dict) else {"default": setups}
    setups[index] = setup_name
    hole["setups"] = setups
    hole["charge"] = params.get("charge", 0) - 1
    txt = params.get("txt")
    if isinstance(txt, str | Path) and str(txt) not in ("-", ""):
        path = Path(txt)
        hole["txt"] = str(path.with_name(f"{path.stem}-{label}-hole{index}{path.suffix}"))
    return hole
