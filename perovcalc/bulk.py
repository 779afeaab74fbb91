"""Bulk crystals: cubic CsPbX3 perovskites (Vegard lattice constant) and the competing phases.

The cubic perovskite is built in the Pm-3m setting with the A cation (Cs) at the corner, Pb at the
body centre and the three halides at the face centres. The competing phases (KBr, KI, CsBr, CsI,
PbBr2, PbI2) use the experimental lattice constants of ``reference/lattice_constants.csv`` and the
internal coordinates of ``structures/internal_coordinates.csv``. All lengths are in Angstrom.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ase import Atoms

from perovcalc.errors import InputError
from perovcalc.reference import lattice_constant, load_table

HALIDES = ("I", "Br")
A_SITES = ("Cs", "K")
STRUCTURES_DIR = Path(__file__).resolve().parent.parent / "structures"

#: Formal oxidation states used for the charge-neutrality bookkeeping of all builders.
OXIDATION_STATES = {"Cs": 1, "K": 1, "Pb": 2, "I": -1, "Br": -1}

#: Competing phases and their structure prototypes.
COMPETING_PHASES = {
    "KBr": "rocksalt",
    "KI": "rocksalt",
    "CsBr": "cesiumchloride",
    "CsI": "cesiumchloride",
    "PbBr2": "cotunnite",
    "PbI2": "CdI2",
    "Cs4PbBr6": "K4CdCl6",
}
#: Elemental reference phases: metals in their ground-state lattices, halogens as molecules.
ELEMENT_PHASES = {"Cs": "bcc", "K": "bcc", "Pb": "fcc", "Br": "Br2", "I": "I2"}
MOLECULES = ("Br2", "I2")
MOLECULE_BOX = 12.0  # Angstrom, cubic box of the halogen molecules

_SPACE_GROUP_NUMBERS = {"cotunnite": 62, "CdI2": 164, "K4CdCl6": 167}


def check_x(x: float) -> float:
    """Return ``x`` (Br per formula unit of CsPbI3-xBrx) as a float after checking 0 <= x <= 3."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise InputError("x", x, "a number of Br per formula unit in [0, 3]") from None
    if not 0.0 <= value <= 3.0:
        raise InputError("x", x, "a number of Br per formula unit in [0, 3]")
    return value


def check_lattice_constant(a: float, field: str = "a") -> float:
    """Return ``a`` as a float after checking that it is a positive length in Angstrom."""
    try:
        value = float(a)
    except (TypeError, ValueError):
        raise InputError(field, a, "a lattice constant > 0 Angstrom") from None
    if not value > 0:
        raise InputError(field, a, "a lattice constant > 0 Angstrom")
    return value


def vegard_lattice_constant(x: float) -> float:
    """Cubic lattice constant (Angstrom) of CsPbI3-xBrx from Vegard's law.

    a(x) = a_I + (a_Br - a_I) x / 3 between the experimental cubic end members CsPbI3 and
    CsPbBr3 of ``reference/lattice_constants.csv``.
    """
    x = check_x(x)
    a_i, a_br = lattice_constant("CsPbI3"), lattice_constant("CsPbBr3")
    return a_i + (a_br - a_i) * x / 3.0


def perovskite_lattice_constant(x: float, a: float | None = None) -> float:
    """Lattice constant (Angstrom) used by the builders: ``a`` if given, else Vegard's law at ``x``.

    This is the single place where a relaxed lattice constant from the results store can be
    plugged in later: callers pass it as ``a``.
    """
    x = check_x(x)
    return vegard_lattice_constant(x) if a is None else check_lattice_constant(a)


def cubic_perovskite(a: float, halide: str = "Br", a_site: str = "Cs") -> Atoms:
    """Cubic Pm-3m CsPbX3: Pb at the body centre, X at face centres, Cs at the corner.

    ``a`` is the lattice constant in Angstrom.
    """
    if halide not in HALIDES:
        raise InputError("halide", halide, HALIDES)
    if a_site not in A_SITES:
        raise InputError("a_site", a_site, A_SITES)
    a = check_lattice_constant(a)
    atoms = Atoms(
        f"{a_site}Pb{halide}3",
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=[a, a, a],
        pbc=True,
    )
    atoms.info["a"] = a
    return atoms


# --- Vegard inversion and the cubic phases of the XRD analysis (virtual crystals) -------------

#: Pairs of end members for Vegard's law: (CsPbI3 row, CsPbBr3 row) of lattice_constants.csv as
#: (material, phase); the room-temperature rows are pseudo-cubic (V/Z)^(1/3) of the Pnma cells.
VEGARD_END_MEMBERS = {
    "high-temperature": (("CsPbI3", "alpha"), ("CsPbBr3", "cubic")),
    "room-temperature": (("CsPbI3", "gamma"), ("CsPbBr3", "orthorhombic")),
}


@dataclass(frozen=True)
class EndMembers:
    """Lattice constants (Angstrom) of CsPbI3 and CsPbBr3 used to invert Vegard's law."""

    kind: str
    a_i: float
    a_br: float
    description: str  # phases, temperatures, sources and tags, for printing


def vegard_end_members(kind: str = "high-temperature") -> EndMembers:
    """End members of ``kind`` (a key of :data:`VEGARD_END_MEMBERS`) from lattice_constants.csv;
    pseudo-cubic rows give their ``a_pseudocubic``."""
    if kind not in VEGARD_END_MEMBERS:
        raise InputError("end_members", kind, list(VEGARD_END_MEMBERS))
    rows = load_table("lattice_constants")
    values, parts = [], []
    for material, phase in VEGARD_END_MEMBERS[kind]:
        row = next(r for r in rows if r["material"] == material and r["phase"] == phase)
        a = row["a_pseudocubic"] if row["a_pseudocubic"] is not None else row["a"]
        values.append(float(a))
        parts.append(
            f"{material} {phase} {a:.4f} A at {row['temperature_K']:.0f} K "
            f"({row['source']}; tag {row['tag']})"
        )
    return EndMembers(kind, values[0], values[1], "; ".join(parts))


def vegard_bowing_uncertainty(x: float, end_members: EndMembers) -> float:
    """Uncertainty of a Vegard x (Br per f.u.) from the known deviation from linearity.

    The reference CsPbI2Br film (lattice_constants.csv, x = 1) departs from the linear law between
    ``end_members`` by |da|; the deviation is taken as parabolic in x (zero at the end members),
    |da| x (3 - x) / 2, and converted to x through the Vegard slope.
    """
    a_film = lattice_constant("CsPbI2Br")
    linear = end_members.a_i + (end_members.a_br - end_members.a_i) / 3.0
    x = min(max(float(x), 0.0), 3.0)
    deviation = abs(a_film - linear) * x * (3.0 - x) / 2.0
    return 3.0 * deviation / abs(end_members.a_i - end_members.a_br)


def vegard_br_content(a: float, end_members: str = "high-temperature") -> float:
    """Br per formula unit x implied by a cubic lattice constant (Angstrom) through Vegard's law
    between the end members of ``end_members`` (not clipped to [0, 3])."""
    members = vegard_end_members(end_members)
    return 3.0 * (check_lattice_constant(a) - members.a_i) / (members.a_br - members.a_i)


def mixed_halide_cell(a: float, x: float):
    """Cubic CsPb(I1-yBry)3, y = x/3, as a pymatgen Structure with mixed I/Br occupancy of the
    halide sites (the average structure of a random alloy), lattice constant ``a`` in Angstrom."""
    from pymatgen.io.ase import AseAtomsAdaptor

    y = check_x(x) / 3
    structure = AseAtomsAdaptor.get_structure(cubic_perovskite(a, "I"))
    for i, site in enumerate(structure):
        if site.specie.symbol == "I":
            structure.replace(i, {"I": 1 - y, "Br": y} if 0 < y < 1 else ("Br" if y == 1 else "I"))
    return structure


def _check_fraction(y: float) -> float:
    if not 0 <= y <= 1:
        raise InputError("iodide_fraction", y, "a fraction in [0, 1]")
    return float(y)


def rock_salt_lattice_constant(iodide_fraction: float) -> float:
    """Vegard lattice constant (Angstrom) of rock-salt KBr(1-y)I(y) between reference KBr and KI."""
    y = _check_fraction(iodide_fraction)
    return (1 - y) * lattice_constant("KBr") + y * lattice_constant("KI")


def rock_salt_cell(a: float, iodide_fraction: float):
    """Rock-salt K(Br1-yIy) (Fm-3m, conventional cell) with mixed Br/I occupancy, a in Angstrom."""
    from pymatgen.core import Lattice, Structure

    y = _check_fraction(iodide_fraction)
    anion = {"Br": 1 - y, "I": y} if 0 < y < 1 else ("I" if y == 1 else "Br")
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(check_lattice_constant(a)), ["K", anion], [[0, 0, 0], [0.5] * 3]
    )


# --- formal charges and competing phases --------------------------------------------------------


def formal_charge(atoms: Atoms) -> int:
    """Sum of the formal oxidation states (Cs+, K+, Pb2+, I-, Br-) of ``atoms``."""
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(OXIDATION_STATES))
    if unknown:
        raise InputError("element", unknown[0], sorted(OXIDATION_STATES))
    return int(sum(OXIDATION_STATES[s] for s in atoms.get_chemical_symbols()))


def competing_phase(material: str, a: float | None = None) -> Atoms:
    """Bulk competing phase (KBr, KI, CsBr, CsI, PbBr2, PbI2 or Cs4PbBr6) at its tabulated
    lattice.

    Rock-salt and CsCl-type phases are returned in their primitive cells; PbBr2 (cotunnite, Pnma)
    and PbI2 (2H, CdI2 type, P-3m1) in their conventional cells; Cs4PbBr6 (K4CdCl6 type, R-3c:
    isolated PbBr6 octahedra) in its primitive rhombohedral cell (22 atoms). ``a`` (Angstrom)
    overrides the first lattice constant; for the non-cubic phases the axis ratios are kept.
    """
    if material not in COMPETING_PHASES:
        raise InputError("material", material, list(COMPETING_PHASES))
    row = next(r for r in load_table("lattice_constants") if r["material"] == material)
    a_ref = float(row["a"])
    scale = 1.0 if a is None else check_lattice_constant(a) / a_ref
    prototype = COMPETING_PHASES[material]
    if prototype in ("rocksalt", "cesiumchloride"):
        from ase.build import bulk as ase_bulk

        atoms = ase_bulk(material, prototype, a=a_ref * scale)
    else:
        from ase.spacegroup import crystal

        b = float(row["b"]) if row["b"] is not None else a_ref
        c = float(row["c"])
        gamma = 120.0 if prototype in ("CdI2", "K4CdCl6") else 90.0
        table = load_table("internal_coordinates", STRUCTURES_DIR)
        sites = [r for r in table if r["material"] == material]
        atoms = crystal(
            [r["species"] for r in sites],
            basis=[(r["x"], r["y"], r["z"]) for r in sites],
            spacegroup=_SPACE_GROUP_NUMBERS[prototype],
            cellpar=[a_ref * scale, b * scale, c * scale, 90.0, 90.0, gamma],
            primitive_cell=prototype == "K4CdCl6",
        )
    atoms.info["a"] = a_ref * scale
    return atoms


def phase_structure(phase: str, a: float | None = None, box: float = MOLECULE_BOX) -> Atoms:
    """Starting structure of an elemental reference or a competing phase.

    ``phase`` is an element of :data:`ELEMENT_PHASES` (bcc K or Cs, fcc Pb: primitive cells at
    ``a`` or ASE's reference lattice constant), a halogen molecule (Br2, I2: in a cubic box of
    ``box`` Angstrom, bond length the sum of covalent radii; relax it), or a compound of
    :data:`perovcalc.bulk.COMPETING_PHASES` at its experimental lattice (``a`` overrides it).
    """
    from ase.build import bulk as ase_bulk
    from ase.data import atomic_numbers, covalent_radii

    from perovcalc.presets import VACUUM_GAP

    metals = [s for s, kind in ELEMENT_PHASES.items() if kind in ("bcc", "fcc")]
    allowed = [*metals, *MOLECULES, *COMPETING_PHASES]
    if phase in metals:
        return ase_bulk(phase, ELEMENT_PHASES[phase], a=a)
    if phase in MOLECULES:
        bond = 2 * covalent_radii[atomic_numbers[phase[:-1]]]
        if not float(box) >= bond + VACUUM_GAP:
            raise InputError("box", box, f"a cubic box edge >= {bond + VACUUM_GAP:.2f} Angstrom")
        molecule = Atoms(phase, positions=[(0, 0, 0), (0, 0, bond)], cell=[box] * 3, pbc=True)
        molecule.center()
        return molecule
    if phase in COMPETING_PHASES:
        return competing_phase(phase, a)
    raise InputError("phase", phase, allowed)
