"""Experimental and literature reference data shipped in ``reference/``.

Every table is a CSV file ``reference/<name>.csv``. Lines starting with ``#`` are comments; the
first one describes the table. Then come a header row and one record per line (standard CSV
quoting, no line breaks inside a field). Every table has the columns ``source`` (citation, never
empty) and ``tag`` (how well the value was checked: V checked against a source, C computed from
checked data, M typical literature value not checked, E measured in the cited experiment).
Fields that read as numbers become floats; empty fields become ``None``. Units are part of the
column name (``binding_energy_eV``, ``a_angstrom``, see ``UNIT_SUFFIXES``) or given in a ``unit``
column; a column with a unit suffix, or named ``value``, ``value_min``, ``value_max`` or
``ratio``, must hold numbers. Numbers from here are references, never presented as computed
results.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from perovcalc.errors import InputError, PerovcalcError

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
TAGS = ("V", "C", "M", "E")
REQUIRED_COLUMNS = ("source", "tag")
#: Column-name suffixes that make a column numeric, and the unit each stands for ("" = ratio).
UNIT_SUFFIXES = {
    "_eV_per_atom": "eV/atom",
    "_eV": "eV",
    "_angstrom": "Angstrom",
    "_nm": "nm",
    "_deg": "degree",
    "_K": "K",
    "_ns": "ns",
    "_s": "s",
    "_percent": "%",
    "_g_cm3": "g/cm3",
    "_ratio": "",
}
#: Numeric columns whose unit is in the row's ``unit`` column (dimensionless without one).
VALUE_COLUMNS = ("value", "value_min", "value_max", "ratio")
#: Elements of the measured depth-resolved atomic-ratio table, in its column order.
RATIO_ELEMENTS = ("K", "Br", "Pb")

Row = Mapping[str, str | float | None]


def _suffix_unit(column: str) -> str | None:
    """Unit encoded in the name of ``column``, or None when the name carries none."""
    for suffix, unit in UNIT_SUFFIXES.items():
        if column.endswith(suffix):
            return unit
    return None


def _is_numeric(column: str) -> bool:
    return column in VALUE_COLUMNS or _suffix_unit(column) is not None


def _convert(text: str) -> str | float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _records(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-comment, non-blank lines of ``path``."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [
                (lineno, line)
                for lineno, line in enumerate(fh, start=1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
    except UnicodeDecodeError as err:
        raise PerovcalcError(
            f"{path} is not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from None


def _parse_row(path: Path, lineno: int, text: str, header: list[str]) -> Row:
    fields = next(csv.reader([text]))
    if len(fields) != len(header):
        raise PerovcalcError(
            f"{path}, line {lineno}: {len(fields)} fields, but the header has {len(header)}"
        )
    row = {column: _convert(field) for column, field in zip(header, fields, strict=True)}
    for column in header:
        if _is_numeric(column) and isinstance(row[column], str):
            raise PerovcalcError(
                f"{path}, line {lineno}, column {column}: {row[column]!r} is not a number"
            )
    if row["tag"] not in TAGS:
        raise InputError("tag", row["tag"], TAGS, where=f"{path}, line {lineno}")
    if not row["source"]:
        raise PerovcalcError(f"{path}, line {lineno}, column source: empty; a citation is required")
    return MappingProxyType(row)


@cache
def load_table(name: str, directory: Path = REFERENCE_DIR) -> tuple[Row, ...]:
    """Rows of ``<directory>/<name>.csv`` as read-only mappings; numeric fields become floats.

    A malformed file raises ``PerovcalcError`` naming the file, the line and the column.
    """
    path = _table_path(name, directory)
    records = _records(path)
    if not records:
        raise PerovcalcError(f"{path}: no header row")
    (header_line, header_text), *data = records
    header = [column.strip() for column in next(csv.reader([header_text]))]
    duplicated = sorted(c for c, n in Counter(header).items() if n > 1)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if duplicated or missing:
        problem = f"duplicated column(s) {duplicated}" if duplicated else f"missing {missing}"
        raise PerovcalcError(f"{path}, line {header_line} (header): {problem}; header is {header}")
    return tuple(_parse_row(path, lineno, text, header) for lineno, text in data)


def _table_path(name: str, directory: Path) -> Path:
    """``<directory>/<name>.csv`` for the name of a table there (never a path elsewhere)."""
    names = table_names(directory)
    if name not in names:
        raise InputError("reference table", name, names)
    return Path(directory) / f"{name}.csv"


def table_names(directory: Path = REFERENCE_DIR) -> list[str]:
    """Names of the tables in ``directory`` (file names without ``.csv``), sorted."""
    return sorted(p.stem for p in Path(directory).glob("*.csv"))


def table_description(name: str, directory: Path = REFERENCE_DIR) -> list[str]:
    """The comment lines at the top of a table, without the leading ``#``."""
    lines = []
    with _table_path(name, directory).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.lstrip().startswith("#"):
                break
            lines.append(line.strip().lstrip("#").strip())
    return lines


@dataclass(frozen=True)
class TableInfo:
    """Summary of one reference table: description, row count, distinct sources, tag counts."""

    name: str
    description: str
    rows: int
    sources: tuple[str, ...]
    tags: Mapping[str, int]


def list_tables(directory: Path = REFERENCE_DIR) -> list[TableInfo]:
    """Every table of ``directory`` with its row count, sources (first-seen order) and tags."""
    infos = []
    for name in table_names(directory):
        rows = load_table(name, Path(directory))
        description = table_description(name, directory)
        infos.append(
            TableInfo(
                name=name,
                description=description[0] if description else "",
                rows=len(rows),
                sources=tuple(dict.fromkeys(str(r["source"]) for r in rows)),
                tags=MappingProxyType(dict(Counter(str(r["tag"]) for r in rows))),
            )
        )
    return infos


@dataclass(frozen=True)
class ReferenceValue:
    """One reference number with its unit, citation and check tag (V, C, M or E)."""

    value: float
    unit: str
    source: str
    tag: str


def _select(table: str, match: Mapping[str, str | float]) -> Row:
    """The single row of ``table`` whose columns equal ``match``."""
    rows = load_table(table)
    if not rows:
        raise PerovcalcError(f"reference table {table} has no rows")
    for column in match:
        if column not in rows[0]:
            raise InputError(f"column of {table}", column, list(rows[0]))
    found = [r for r in rows if all(r[c] == v for c, v in match.items())]
    if not found:
        keys = sorted({tuple(str(r[c]) for c in match) for r in rows})
        raise InputError(f"{table} row {tuple(match)}", tuple(match.values()), keys)
    if len(found) > 1:
        raise PerovcalcError(
            f"{len(found)} rows of {table} match {dict(match)}; give more columns to select one"
        )
    return found[0]


def _value(table: str, row: Row, column: str) -> ReferenceValue:
    if column not in row:
        raise InputError(f"column of {table}", column, list(row))
    value = row[column]
    if not isinstance(value, float):
        raise PerovcalcError(f"{table}: column {column} holds {value!r}, not a number")
    unit = _suffix_unit(column)
    if unit is None:
        unit = str(row.get("unit") or "")
    return ReferenceValue(value, unit, str(row["source"]), str(row["tag"]))


def reference_value(table: str, column: str, /, **match: str | float) -> ReferenceValue:
    """The number in ``column`` of the one row of ``table`` matching ``match``, with its source.

    Example: ``reference_value("nanocrystal_size", "edge_length_nm", study="A",
    sample="pristine")``. No match or several matches raise a ``PerovcalcError``.
    """
    return _value(table, _select(table, match), column)


@dataclass(frozen=True)
class LatticeParameters:
    """Experimental cell of one phase (lengths in Angstrom, temperature in K)."""

    material: str
    phase: str
    space_group: str
    a: float
    b: float | None
    c: float | None
    temperature: float | None
    source: str
    tag: str


def lattice_parameters(material: str, phase: str | None = None) -> LatticeParameters:
    """Experimental cell of ``material`` (reference/lattice_constants.csv).

    Without ``phase`` the first row of the material is used (the cubic phase for the perovskites).
    """
    rows = load_table("lattice_constants")
    candidates = [r for r in rows if r["material"] == material]
    if not candidates:
        raise InputError("material", material, list(dict.fromkeys(r["material"] for r in rows)))
    if phase is not None:
        phases = [r["phase"] for r in candidates]
        candidates = [r for r in candidates if r["phase"] == phase]
        if not candidates:
            raise InputError(f"phase of {material}", phase, phases)
    row = candidates[0]
    if not isinstance(row["a"], float):
        raise PerovcalcError(f"lattice_constants: a of {material} is {row['a']!r}, not a number")
    return LatticeParameters(
        material=material,
        phase=str(row["phase"]),
        space_group=str(row["space_group"]),
        a=row["a"],
        b=row["b"],
        c=row["c"],
        temperature=row["temperature_K"],
        source=str(row["source"]),
        tag=str(row["tag"]),
    )


def lattice_constant(material: str, phase: str | None = None) -> float:
    """Experimental lattice constant a (Angstrom) of ``material`` (reference/lattice_constants.csv).

    Without ``phase``, the material's default phase (cubic for CsPbI3 and CsPbBr3).
    """
    return lattice_parameters(material, phase).a


def experimental_xps() -> dict[str, dict[str, ReferenceValue]]:
    """Binding energies (eV) measured in study A, by line and sample.

    ``experimental_xps()["Br 3d5/2"]["kbr_passivated"].value`` is 68.5; samples are
    ``pristine``, ``kbr_passivated`` and the bulk references ``kbr_reference``,
    ``cspbbr3_reference``.
    """
    table: dict[str, dict[str, ReferenceValue]] = {}
    for row in load_table("experimental_xps"):
        table.setdefault(str(row["line"]), {})[str(row["sample"])] = _value(
            "experimental_xps", row, "binding_energy_eV"
        )
    return table


@dataclass(frozen=True)
class XPSShift:
    """A measured binding-energy shift of a core line between two samples or probing depths.

    ``shift`` in eV (None where the study reports only the direction); ``direction`` of the
    binding energy: "increase", "decrease" or "none".
    """

    line: str
    comparison: str
    shift: float | None
    direction: str
    source: str
    tag: str


def experimental_xps_shifts() -> tuple[XPSShift, ...]:
    """All shifts of reference/experimental_xps_shifts.csv (passivation, references, depth)."""
    return tuple(
        XPSShift(
            line=str(r["line"]),
            comparison=str(r["comparison"]),
            shift=r["shift_eV"],
            direction=str(r["direction"]),
            source=str(r["source"]),
            tag=str(r["tag"]),
        )
        for r in load_table("experimental_xps_shifts")
    )


def experimental_xps_shift(line: str, comparison: str = "kbr_passivated - pristine") -> XPSShift:
    """The measured shift of ``line`` ("Br 3d5/2", "Br 3d5/2 - Pb 4f7/2", "I 3d", ...).

    ``comparison`` is "kbr_passivated - pristine" (default), "deeper - shallower" or
    "kbr_reference - cspbbr3_reference".
    """
    shifts = [s for s in experimental_xps_shifts() if s.comparison == comparison]
    if not shifts:
        comparisons = dict.fromkeys(s.comparison for s in experimental_xps_shifts())
        raise InputError("comparison", comparison, list(comparisons))
    for shift in shifts:
        if shift.line == line:
            return shift
    raise InputError(f"line for {comparison!r}", line, [s.line for s in shifts])


@dataclass(frozen=True)
class PhotoemissionRatio:
    """Measured atomic ratios (atoms per Pb) at one photon energy (eV) of study A."""

    photon_energy: float
    probe: str
    ratios: Mapping[str, float]
    source: str
    tag: str

    def pair(self, numerator: str, denominator: str = "Pb") -> float:
        """Atomic ratio numerator:denominator, e.g. ``pair("K", "Br")``."""
        for element in (numerator, denominator):
            if element not in self.ratios:
                raise InputError("element", element, list(self.ratios))
        return self.ratios[numerator] / self.ratios[denominator]


def photoemission_ratios() -> tuple[PhotoemissionRatio, ...]:
    """Depth-resolved K:Br:Pb ratios of the K-Br passivated film, by increasing photon energy."""
    result = []
    for row in load_table("photoemission_ratios"):
        ratios = {}
        for element in RATIO_ELEMENTS:
            value = row.get(element)
            if not isinstance(value, float):
                raise PerovcalcError(f"photoemission_ratios: {element} = {value!r} is not a number")
            ratios[element] = value
        result.append(
            PhotoemissionRatio(
                photon_energy=float(row["photon_energy_eV"]),
                probe=str(row["probe"]),
                ratios=MappingProxyType(ratios),
                source=str(row["source"]),
                tag=str(row["tag"]),
            )
        )
    return tuple(sorted(result, key=lambda r: r.photon_energy))
