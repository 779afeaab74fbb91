"""Experimental and literature reference data shipped in ``reference/``.

Every table is a CSV file in ``reference/`` with a header row; lines starting with ``#``
are comments (a description of the table). Every table has the columns ``source`` (citation)
and ``tag`` (how well the value was checked: V checked against a source, C computed from
checked data, M typical literature value not checked, E measured in the cited experiment).
Numbers from here are references, never presented as computed results.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from perovcalc.errors import InputError, PerovcalcError

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
TAGS = ("V", "C", "M", "E")
REQUIRED_COLUMNS = ("source", "tag")


def _convert(text: str) -> str | float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


@cache
def load_table(name: str, directory: Path = REFERENCE_DIR) -> tuple[dict, ...]:
    """Rows of ``reference/<name>.csv`` as dicts; numeric fields become floats."""
    path = Path(directory) / f"{name}.csv"
    if not path.is_file():
        available = sorted(p.stem for p in Path(directory).glob("*.csv"))
        raise InputError("reference table", name, available)
    with path.open(newline="") as fh:
        lines = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise PerovcalcError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
    rows = []
    for lineno, raw in enumerate(reader, start=2):
        if None in raw or any(v is None for v in raw.values()):
            raise PerovcalcError(
                f"{path}: data row {lineno} has {len(raw)} fields, header has {len(header)}"
            )
        row = {k: _convert(v) for k, v in raw.items()}
        if row["tag"] not in TAGS:
            raise InputError("tag", row["tag"], TAGS, where=f"{path} data row {lineno}")
        if not row["source"]:
            raise PerovcalcError(f"{path}: data row {lineno} has an empty source")
        rows.append(row)
    return tuple(rows)


def lattice_constant(material: str) -> float:
    """Experimental lattice constant of ``material``, A (reference/lattice_constants.csv)."""
    rows = load_table("lattice_constants")
    for row in rows:
        if row["material"] == material:
            return float(row["a"])
    raise InputError("material", material, [r["material"] for r in rows])
