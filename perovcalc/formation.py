"""Halide vacancy formation energies: chemical potentials, corrections, tables and figures.

The formation energy of a defect in charge state q is

    E_f = E(defect, q) - E(host) + sum_i n_i mu_i + q (E_VBM + E_F) + E_corr

with n_i atoms of element i removed from the host (n_X = 1 for a halide vacancy V_X), E_VBM the
valence-band maximum of the host, E_F the Fermi level above it and E_corr the finite-size
correction of a charged defect. All energies are in eV.

Chemical potentials mu_i = mu_i^0 + dmu_i are referenced to the toolkit's own GPAW energies of
the elements (bcc K and Cs, fcc Pb, Br2 and I2 molecules in a box). The host CsPbX3 is stable
where dmu_Cs + dmu_Pb + 3 dmu_X = dH_f(CsPbX3) while no competing phase (CsX, PbX2, the
elements) would form; that region is a polygon (a polytope for mixed halides) found with
pymatgen's ChemicalPotentialDiagram. The halide-rich and halide-poor limits are its vertices with
the largest and smallest dmu_X; in a mixed halide one vertex for all halides, the one with the
largest (smallest) halide sum, e.g. 2 dmu_I + dmu_Br in CsPbI2Br.

Charged bulk vacancies get the Freysoldt-Neugebauer-Van de Walle correction of
:mod:`gpaw.defects` (Gaussian model charge, planar-averaged potential alignment). Sign
convention, checked in the tests on a K+ ion in boxes of two sizes: E_corr is *added* to the
periodic energy; for a localised charge it is positive (q^2 alpha_M / 2 eps L to leading order).
Slab vacancies are computed neutral only: the bulk correction does not hold for a charge next to
a surface and vacuum, and no slab correction is offered. The static dielectric constant is a
parameter: charged-defect energies are also given at the ends of a stated range. The
self-consistent Fermi level and the defect concentrations at a temperature come from
py-sc-fermi (:func:`equilibrium_fermi_level`).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import Bohr, Hartree

from perovcalc.errors import InputError, PerovcalcError
from perovcalc.vacancy import HALIDES

CONDITIONS = ("rich", "poor")
GAUSSIAN_FWHM = 2.0 * Bohr  # Angstrom, width of the model charge (gpaw.defects default)


# ------------------------------------------------------------------ chemical potentials
def _composition(formula: str):
    from pymatgen.core import Composition

    try:
        return Composition(formula)
    except (ValueError, KeyError):
        raise InputError("formula", formula, "a chemical formula such as CsPbBr3") from None


@dataclass(frozen=True)
class StabilityRegion:
    """Where the host is stable against its competing phases, in chemical-potential space.

    ``references``: energy per atom of each elemental reference (mu^0, eV). ``vertices``: the
    corners of the region as dmu = mu - mu^0 (eV) per element. ``formation_energy``: dH_f of
    the host per formula unit (eV), after ``host_shift`` (eV per formula unit) was added to put
    a host above the convex hull just below it (0 for a stable host).
    """

    host: str
    elements: tuple[str, ...]
    references: dict[str, float]
    vertices: tuple[dict[str, float], ...]
    formation_energy: float
    host_shift: float = 0.0
    ignored: tuple[str, ...] = ()

    def limit(self, element: str, condition: str) -> dict[str, float]:
        """The vertex where ``element`` is richest (``"rich"``) or poorest (``"poor"``).

        In a host with more than one halide the halides share one halide-rich and one
        halide-poor point: the vertex with the largest (smallest) sum of the host's halide
        counts times their dmu, i.e. the smallest (largest) dmu_Cs + dmu_Pb, so that V_I and
        V_Br at "X-rich" are compared under the same conditions; ties go to the element's own
        extreme.
        """
        if element not in self.elements:
            raise InputError("element", element, self.elements)
        if condition not in CONDITIONS:
            raise InputError("condition", condition, CONDITIONS)
        pick = max if condition == "rich" else min
        counts = _composition(self.host)
        halides = [x for x in HALIDES if x in self.elements]
        if element in halides and len(halides) > 1:
            return pick(
                self.vertices,
                key=lambda v: (round(sum(counts[x] * v[x] for x in halides), 9), v[element]),
            )
        return pick(self.vertices, key=lambda v: v[element])

    def chemical_potential(self, element: str, condition: str) -> float:
        """Absolute chemical potential mu = mu^0 + dmu of ``element`` at a limit, eV."""
        return self.references[element] + self.limit(element, condition)[element]

    def todict(self) -> dict:
        return {**asdict(self), "vertices": [dict(v) for v in self.vertices]}

    @classmethod
    def fromdict(cls, data: Mapping) -> StabilityRegion:
        return cls(
            host=data["host"],
            elements=tuple(data["elements"]),
            references=dict(data["references"]),
            vertices=tuple(dict(v) for v in data["vertices"]),
            formation_energy=float(data["formation_energy"]),
            host_shift=float(data.get("host_shift", 0.0)),
            ignored=tuple(data.get("ignored", ())),
        )


def stability_region(
    host: str,
    energies: Mapping[str, float],
    host_on_hull: bool = False,
    tolerance: float = 1e-3,
    exclude: Iterable[str] = (),
) -> StabilityRegion:
    """Stability region of ``host`` from total energies of phases (pymatgen).

    ``energies`` maps a formula (the composition of the computed cell, e.g. "Br2", "Cs4Br4") to
    its total energy in eV; it must hold the host and every element of the host. Phases with
    elements outside the host's chemical system, and the reduced formulas in ``exclude`` (other
    than the host), are left out and listed in ``ignored``. A host above the convex hull is an
    error unless ``host_on_hull``: then its energy is lowered to ``tolerance`` eV/atom below the
    hull, which leaves a thin region along its decomposition products (reported as
    ``host_shift``).
    """
    from pymatgen.analysis.chempot_diagram import ChemicalPotentialDiagram
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

    host_comp = _composition(host)
    host_formula = host_comp.reduced_formula
    system = {str(e) for e in host_comp.elements}
    excluded = {_composition(f).reduced_formula for f in exclude} - {host_formula}
    entries, ignored = [], []
    for formula, energy in energies.items():
        comp = _composition(formula)
        if {str(e) for e in comp.elements} <= system and comp.reduced_formula not in excluded:
            entries.append(PDEntry(comp, float(energy)))
        else:
            ignored.append(formula)
    present = {e.composition.reduced_formula for e in entries}
    elemental = {str(e.composition.elements[0]) for e in entries if e.composition.is_element}
    missing = sorted(system - elemental)
    if host_formula not in present or missing:
        name, value = ("host", host) if host_formula not in present else ("elements", missing)
        raise InputError(
            name,
            value,
            f"phases with energies: {sorted(energies)} (need the host "
            "and every element of the host)",
        )
    diagram = PhaseDiagram(entries)
    host_entry = min(
        (e for e in entries if e.composition.reduced_formula == host_formula),
        key=lambda e: e.energy_per_atom,
    )
    separation = diagram.get_phase_separation_energy(host_entry)  # eV/atom, < 0 if stable
    shift = 0.0
    if separation > 1e-9 and not host_on_hull:
        decomposition = diagram.get_decomposition(host_entry.composition)
        products = " + ".join(sorted(e.composition.reduced_formula for e in decomposition))
        raise PerovcalcError(
            f"{host_formula} is {1000 * separation:.1f} meV/atom above the convex hull of the "
            f"given phases (it decomposes into {products}); it has no stability region. "
            "Set host_on_hull to place it just below the hull, or exclude phases"
        )
    if host_on_hull and separation > -tolerance:
        shift = -(separation + tolerance) * host_entry.composition.num_atoms
        entries.remove(host_entry)
        host_entry = PDEntry(host_entry.composition, host_entry.energy + shift)
        entries.append(host_entry)
        diagram = PhaseDiagram(entries)
    factor = host_entry.composition.get_reduced_composition_and_factor()[1]
    formation = diagram.get_form_energy(host_entry) / factor
    cpd = ChemicalPotentialDiagram(entries, formal_chempots=True)
    domain = cpd.domains.get(host_formula)
    if domain is None:
        raise PerovcalcError(
            f"{host_formula} lies on the convex hull but has no stability domain of finite "
            "size (it is degenerate with its neighbours); set host_on_hull to separate it"
        )
    order = [str(e) for e in cpd.elements]
    unique = np.unique(np.round(np.asarray(domain, dtype=float), 6), axis=0)
    vertices = tuple(
        {el: float(v) + 0.0 for el, v in zip(order, row, strict=True)} for row in unique
    )
    references = {str(el): float(e.energy_per_atom) for el, e in diagram.el_refs.items()}
    return StabilityRegion(
        host=host_formula,
        elements=tuple(order),
        references=references,
        vertices=vertices,
        formation_energy=float(formation),
        host_shift=float(shift / factor),
        ignored=tuple(sorted(ignored)),
    )


# ------------------------------------------------------------------ formation energy
def formation_energy(
    e_defect: float,
    e_host: float,
    removed: Mapping[str, int],
    mu: Mapping[str, float],
    charge: int = 0,
    e_vbm: float = 0.0,
    e_fermi: float = 0.0,
    correction: float = 0.0,
) -> float:
    """E_f = E(defect, q) - E(host) + sum_i n_i mu_i + q (E_VBM + E_F) + E_corr, eV.

    ``removed`` gives n_i, the atoms of element i taken out of the host (negative: added);
    ``mu`` the absolute chemical potentials (eV); ``e_fermi`` is measured from ``e_vbm``.
    """
    missing = sorted(set(removed) - set(mu))
    if missing:
        raise InputError("mu", sorted(mu), f"chemical potentials for {missing}")
    exchange = sum(n * mu[element] for element, n in removed.items())
    return e_defect - e_host + exchange + charge * (e_vbm + e_fermi) + correction


# ------------------------------------------------------------------ charged-defect correction
@dataclass(frozen=True)
class ChargeCorrection:
    """Freysoldt correction of a charged defect, eV: ``energy`` = ``lattice`` + q ``alignment``.

    ``lattice``: isolated minus periodic energy of the Gaussian model charge (with background);
    ``alignment``: V_model - (V_defect - V_host) far from the defect (electrostatic potential
    of a positive charge; planar average along c, or around the farthest atom).
    """

    energy: float
    lattice: float
    alignment: float


def planar_average(potential: np.ndarray) -> np.ndarray:
    """Average of a 3D grid quantity over the a-b planes: a profile along c."""
    potential = np.asarray(potential, dtype=float)
    if potential.ndim != 3:
        raise InputError("potential", potential.shape, "a 3D grid array")
    return potential.mean(axis=(0, 1))


ALIGNMENTS = ("planar", "atomic-site")


def freysoldt_correction(
    cell,
    host_profile: np.ndarray | Sequence[float],
    defect_profile: np.ndarray | Sequence[float],
    position: Sequence[float],
    charge: int,
    epsilon: float,
    width: float = GAUSSIAN_FWHM,
    ecut: float = 500.0,
    alignment: str = "planar",
    host: Atoms | None = None,
) -> ChargeCorrection:
    """Finite-size correction (eV) of a charged defect with :mod:`gpaw.defects`.

    ``host_profile`` and ``defect_profile`` are GPAW's ``get_electrostatic_potential()`` (eV,
    potential energy of an electron) of the host and the defect cell (same cell and grid):
    planar averages along c, or the full 3D grids. ``position``: defect site, Angstrom;
    ``epsilon``: static dielectric constant of the host; ``width``: FWHM of the Gaussian model
    charge, Angstrom; ``ecut``: cutoff of the model potential, eV. ``alignment``: "planar",
    in the plane farthest from the defect (gpaw.defects' "full-planar"; on a one-point a-b
    grid this equals the full 3D grid), or "atomic-site", the 3D potentials averaged in a
    2.5 A sphere around the ``host`` atom farthest from the defect (gpaw.defects' "atoms"; in
    the spirit of Kumagai and Oba, PRB 89, 195205 (2014), one site instead of their sampling
    region); it needs the 3D grids and ``host``.
    """
    from gpaw.core import UGArray, UGDesc
    from gpaw.defects import ElectrostaticCorrections

    host_grid = np.asarray(host_profile, dtype=float)
    defect = np.asarray(defect_profile, dtype=float)
    if host_grid.ndim not in (1, 3) or host_grid.shape != defect.shape:
        raise InputError(
            "defect_profile", defect.shape, f"a potential of the host's shape {host_grid.shape}"
        )
    if alignment not in ALIGNMENTS:
        raise InputError("alignment", alignment, ALIGNMENTS)
    if alignment == "atomic-site" and (host_grid.ndim != 3 or host is None):
        raise InputError("alignment", alignment, "planar, unless 3D potentials and host are given")
    if not float(epsilon) > 0:
        raise InputError("epsilon", epsilon, "a dielectric constant > 0")
    if isinstance(charge, bool) or int(charge) != charge or charge == 0:
        raise InputError("charge", charge, "a non-zero integer charge state")
    if host_grid.ndim == 1:
        host_grid, defect = host_grid.reshape(1, 1, -1), defect.reshape(1, 1, -1)
    grid = UGDesc(cell=np.asarray(cell, dtype=float), size=host_grid.shape)
    corrections = ElectrostaticCorrections(
        phi_pristine=UGArray(grid, data=host_grid.copy()),
        phi_defect=UGArray(grid, data=defect.copy()),
        ecut=ecut,
        charge=int(charge),
        epsilon=float(epsilon),
        sigma=width / (2 * math.sqrt(2 * math.log(2))),
        r0=np.asarray(position, dtype=float),
        method="full-planar" if alignment == "planar" else "atoms",
        atoms_pristine=host,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # gpaw.defects prints its parts
        energy = float(corrections.calculate_correction())

        shift = float(corrections.calculate_potential_alignment()) * Hartree
    return ChargeCorrection(energy, energy - charge * shift, shift)


def dielectric_constant(material: str) -> tuple[float, tuple[float, float]]:
    """Static dielectric constant of ``material`` and the range (low, high) the charged-defect
    energies are also reported at (reference/dielectric_constants.csv; dimensionless)."""
    from perovcalc.reference import load_table

    rows = load_table("dielectric_constants")
    for row in rows:
        if row["material"] == material:
            ends = (float(row["epsilon_low"]), float(row["epsilon_high"]))
            return float(row["epsilon_static"]), ends
    raise InputError(
        "epsilon",
        None,
        f"a number (no reference value for {material}; tabulated: "
        f"{', '.join(r['material'] for r in rows)})",
    )


# ------------------------------------------------------------------ host analysis
def edge_kpoints(atoms: Atoms) -> list[tuple[float, float, float]]:
    """The time-reversal-invariant points of the cell (0 or 1/2 along each periodic axis).

    Every special point of a primitive cubic cell (Gamma, X, M, R) folds onto one of these in
    any integer supercell of it (the supercell matrix maps halves to halves or integers), so
    the band edges of CsPbX3 at primitive R are sampled whatever the supercell or slab size.
    """
    from perovcalc.presets import periodic_directions

    axes = [(0.0, 0.5) if periodic else (0.0,) for periodic in periodic_directions(atoms)]
    return [(a, b, c) for a in axes[0] for b in axes[1] for c in axes[2]]


def band_edges(atoms: Atoms, txt: str | Path = "-") -> dict:
    """VBM, CBM and gap (eV) of ``atoms`` with a converged GPAW calculator.

    HOMO/LUMO over the SCF k-points and, for a cell periodic in any direction, over its
    time-reversal-invariant points (:func:`edge_kpoints`), computed non-self-consistently.
    """
    homo, lumo = atoms.calc.get_homo_lumo()
    points = edge_kpoints(atoms)
    if len(points) > 1:
        edges = atoms.calc.fixed_density(kpts=points, symmetry="off", txt=str(txt))
        edge_homo, edge_lumo = edges.get_homo_lumo()
        homo, lumo = max(homo, edge_homo), min(lumo, edge_lumo)
    return {"vbm": float(homo), "cbm": float(lumo), "gap": float(lumo - homo)}


def host_dos(atoms: Atoms, vbm: float, gap: float, margin: float = 3.0) -> dict:
    """Density of states of a host with a converged GPAW calculator: its Kohn-Sham levels at
    the SCF k-points, weighted, in 0.01 eV bins (no smearing tails in the gap), as
    ``{"dos_energies": bin centres, eV above the VBM, from -margin to gap + margin; "dos":
    states/eV per cell, both spins}`` (the host side of :func:`equilibrium_fermi_level`)."""
    calc, width = atoms.calc, 0.01
    spins = calc.get_number_of_spins()
    levels, weights = [], []
    for k, weight in enumerate(calc.get_k_point_weights()):
        for spin in range(spins):
            eigenvalues = calc.get_eigenvalues(kpt=k, spin=spin) - vbm
            levels.extend(eigenvalues)
            weights.extend([weight * 2 / spins] * len(eigenvalues))
    edges = np.arange(-margin, gap + margin + width, width) - width / 2
    counts, _ = np.histogram(levels, bins=edges, weights=weights)
    return {"dos_energies": (edges[:-1] + width / 2).tolist(), "dos": (counts / width).tolist()}


def electrostatic_profile(atoms: Atoms) -> dict:
    """The planar-averaged electrostatic potential (eV) of ``atoms`` along c, as
    ``{"potential_profile": [...]}`` (the input of :func:`freysoldt_correction`)."""
    return {"potential_profile": planar_average(atoms.calc.get_electrostatic_potential()).tolist()}


# ------------------------------------------------------------------ defect cells
def formula_units(atoms: Atoms) -> tuple[str, float]:
    """Reduced formula of ``atoms`` and the number of formula units in it."""
    comp = _composition(atoms.get_chemical_formula())
    reduced, factor = comp.get_reduced_composition_and_factor()
    return reduced.reduced_formula, float(factor)


def defect_parameters(params: dict, defect: Atoms, charge: int) -> dict:
    """The host's GPAW parameters for a defect cell: ``charge``, and spin polarisation when
    the electron count is odd (:func:`perovcalc.presets.electronic_settings`)."""
    from copy import deepcopy

    from perovcalc.presets import electronic_settings

    result = deepcopy(params)
    result.pop("charge", None)
    result.pop("spinpol", None)
    result.update(electronic_settings(defect, charge))
    return result


def vacancy_moments(host: Atoms, atoms: Atoms, vacancy: int, removed: int) -> None:
    """Set one Bohr magneton on the Pb nearest the vacant host site ``vacancy`` (the starting
    guess of a spin-polarised neutral vacancy); ``atoms`` is ``host`` without atom ``removed``."""
    lead = [i for i, s in enumerate(host.get_chemical_symbols()) if s == "Pb"]
    moments = np.zeros(len(atoms))
    if lead:
        nearest = min(lead, key=lambda i: host.get_distance(vacancy, i, mic=True))
        moments[nearest - (nearest > removed)] = 1.0
    atoms.set_initial_magnetic_moments(moments)


# ------------------------------------------------------------------ tables and plots
def _lowest_per_site(entries: Sequence[Mapping], condition: str, e_fermi: float) -> dict:
    """Lowest formation energy over charge states of each site at ``e_fermi`` (eV above VBM)."""
    best: dict[int, dict] = {}
    for entry in entries:
        value = entry["formation_energy"][condition] + entry["charge"] * e_fermi
        if entry["site"] not in best or value < best[entry["site"]]["value"]:
            best[entry["site"]] = {**entry, "value": value}
    return best


def site_distribution(result: Mapping, condition: str = "poor") -> dict[str, dict]:
    """Per halide species: number of distinct sites and the minimum, multiplicity-weighted mean
    and maximum formation energy (eV; lowest charge state of each site at E_F = VBM)."""
    summary = {}
    sites = _lowest_per_site(result["entries"], condition, 0.0).values()
    for species in sorted({s["species"] for s in sites}):
        values = np.array([s["value"] for s in sites if s["species"] == species])
        weights = np.array([s["multiplicity"] for s in sites if s["species"] == species])
        summary[species] = {
            "sites": len(values),
            "min": float(values.min()),
            "mean": float(np.average(values, weights=weights)),
            "max": float(values.max()),
        }
    return summary


def surface_change(bare: Mapping, passivated: Mapping, condition: str = "poor") -> list[dict]:
    """Neutral vacancy formation energy per species and perovskite layer below the surface
    (0 = outermost), bare and passivated slab, and the change (eV; lowest site of each layer)."""
    rows = []

    def lowest(result) -> dict[tuple[str, int], float]:
        found: dict[tuple[str, int], float] = {}
        for e in result["entries"]:
            if e["charge"] == 0 and e["layer_from_surface"] is not None:
                key = (e["species"], e["layer_from_surface"])
                found[key] = min(found.get(key, math.inf), e["formation_energy"][condition])
        return found

    before, after = lowest(bare), lowest(passivated)
    for key in sorted(set(before) & set(after), key=lambda k: (k[1], k[0])):
        rows.append(
            {
                "species": key[0],
                "layer_from_surface": key[1],
                "bare": before[key],
                "passivated": after[key],
                "change": after[key] - before[key],
            }
        )
    return rows


def literature_table() -> str:
    """Literature values of reference/vacancy_literature.csv (with source and tag)."""
    from perovcalc.reference import load_table

    lines = ["literature (reference/vacancy_literature.csv; tags: V checked, M not checked):"]
    for row in load_table("vacancy_literature"):
        value = "-" if row["value_eV"] is None else f"{row['value_eV']:g} eV"
        lines.append(
            f"  {row['system']}, {row['defect']}, {row['quantity']}: {value} "
            f"[{row['tag']}] {row['note']} ({row['source']})"
        )
    return "\n".join(lines)


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` (PNG, 150 dpi) and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=150)
    return path


def plot_fermi_level(result: Mapping, path: str | Path) -> Path:
    """:func:`fermi_level_figure` of a bulk task written to ``path``."""
    return _save(fermi_level_figure(result), path)


def fermi_level_figure(result: Mapping):
    """Formation energy (eV) vs Fermi level (eV above the VBM, 0 to the host gap) of a bulk
    task, X-rich and X-poor: for each site the lowest charge state (the transition levels are
    the kinks). A host with SOC edges (``defect_host`` option ``soc``) adds its (PBE+SOC) VBM
    and CBM as dashed lines on the same axis. A matplotlib Figure (not attached to pyplot)."""
    from matplotlib.figure import Figure

    from perovcalc.presets import edge_label

    gap = result["host"]["gap"]
    fermi = np.linspace(0.0, gap, 200)
    fig = Figure(figsize=(8, 3.6), layout="tight")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, condition in zip(axes, CONDITIONS, strict=True):
        for site in sorted({e["site"] for e in result["entries"]}):
            lines = [e for e in result["entries"] if e["site"] == site]
            values = np.min(
                [e["formation_energy"][condition] + e["charge"] * fermi for e in lines], axis=0
            )
            label = f"V_{lines[0]['species']} (site {site})"
            ax.plot(fermi, values, label=label)
        ax.set_title(f"X-{condition}")
        ax.set_xlabel(f"Fermi level above VBM (eV) {edge_label()}")
        ax.axvline(gap, color="grey", lw=0.8, ls=":")
        soc = result["host"].get("soc_edges")
        if soc:
            vbm = soc["vbm"] - soc["vbm_no_soc"]
            for edge in (vbm, vbm + soc["gap"]):
                ax.axvline(edge, color="tab:red", lw=0.8, ls="--")
            ax.text(vbm + soc["gap"], ax.get_ylim()[1], f" CBM {edge_label(soc=True)}",
                    color="tab:red", fontsize=7, va="top")  # fmt: skip
    axes[0].set_ylabel("formation energy (eV)")
    axes[0].legend(fontsize=7)
    return fig


def plot_depth(results: Mapping[str, Mapping], path: str | Path, condition: str = "poor") -> Path:
    """:func:`depth_figure` of slab tasks written to ``path``."""
    return _save(depth_figure(results, condition), path)


def depth_figure(results: Mapping[str, Mapping], condition: str = "poor"):
    """Neutral vacancy formation energy (eV) vs perovskite layer below the surface, one series
    per slab task and species (X-``condition`` limit). A matplotlib Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6), layout="tight")
    ax = fig.subplots()
    for name, result in results.items():
        for species in HALIDES:
            points = [
                (e["layer_from_surface"], e["formation_energy"][condition])
                for e in result["entries"]
                if e["species"] == species and e["charge"] == 0
            ]
            if not points:
                continue
            x, y = np.array(points).T
            layers = np.unique(x)
            line = ax.plot(
                layers, [y[x == n].min() for n in layers], "-", label=f"V_{species}, {name}"
            )
            ax.plot(x, y, "o", color=line[0].get_color())
    ax.set_xlabel("perovskite layer below the surface (0 = outermost; -1 = KBr overlayer)")
    ax.set_ylabel(f"formation energy, X-{condition} (eV)")
    ax.legend(fontsize=7)
    return fig


def slab_pairs(results: Mapping[str, Mapping]) -> list[tuple[str, str]]:
    """(bare, passivated) task names of slab results with the same host formula region,
    termination and number of layers: the pairs the passivation effect is read from."""
    slabs = {n: r for n, r in results.items() if (r["host"].get("slab") or {}).get("layers")}

    def key(result):
        slab = result["host"]["slab"]
        return result["region_host"], slab.get("termination"), slab["layers"]

    bare = {key(r): n for n, r in slabs.items() if r["host"]["slab"].get("passivation") == "None"}
    return [
        (bare[key(r)], n)
        for n, r in slabs.items()
        if r["host"]["slab"].get("passivation") != "None" and key(r) in bare
    ]
