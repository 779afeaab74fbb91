"""Limits on what users ask for, checked before anything is built or run: names that must
name folders, numbers that must be finite, GPAW keywords that GPAW takes, and the size of the
structures a campaign or command would build (PEROVCALC_MAX_ATOMS, PEROVCALC_MAX_DFT_ATOMS)."""

from __future__ import annotations

import inspect
import math
import os
import re
from functools import cache

from perovcalc.errors import InputError, PerovcalcError

NAME_LENGTH = 100  # characters of a campaign, structure or task name (they name folders)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# (environment variable, default): most atoms of any structure built, of one given to GPAW
MAX_ATOMS = ("PEROVCALC_MAX_ATOMS", 1_000_000)
MAX_DFT_ATOMS = ("PEROVCALC_MAX_DFT_ATOMS", 2_000)
MAX_DFT_VOLUME = ("PEROVCALC_MAX_DFT_VOLUME", 1_000_000)  # A^3 of a cell given to GPAW
SET_BY_PEROVCALC = {"txt", "communicator", "object_hooks"}  # GPAW keywords set here


def check_name(name: object, field_name: str, where: str = "") -> str:
    """A campaign, structure or task name: one line of 1 to NAME_LENGTH characters (names
    become folder names and batch job names)."""
    if not isinstance(name, str) or not name.strip() or CONTROL.search(name):
        raise InputError(field_name, name, "a non-empty name on one line", where)
    if len(name) > NAME_LENGTH:
        raise InputError(
            field_name, name[:20] + "...", f"a name of at most {NAME_LENGTH} characters", where
        )
    return name


def limit(setting: tuple[str, int]) -> tuple[int, str]:
    """The value of a limit (``MAX_ATOMS``, ...): its environment variable or its default,
    and the variable's name."""
    variable, default = setting
    text = os.environ.get(variable)
    if text is None:
        return default, variable
    if not text.isdigit() or int(text) < 1:
        raise InputError(variable, text, "a positive whole number")
    return int(text), variable


def atom_limit(dft: bool = False) -> tuple[int, str]:
    """The most atoms allowed (of a structure given to GPAW when ``dft``) and the environment
    variable that sets it."""
    return limit(MAX_DFT_ATOMS if dft else MAX_ATOMS)


def check_atoms(count: int, what: str, dft: bool = False) -> None:
    """PerovcalcError when ``what`` would have more atoms than :func:`atom_limit` allows."""
    limit, variable = atom_limit(dft)
    if count > limit:
        use = "a DFT task" if dft else "a structure"
        raise PerovcalcError(
            f"{what} would have about {count:,} atoms; the limit for {use} is {limit:,}. "
            f"Make it smaller, or raise the limit with {variable}={count} if the machine can "
            "take it"
        )


def check_dft_size(count: int, volume: float | None, what: str) -> None:
    """PerovcalcError when a structure of ``count`` atoms in a cell of ``volume`` A^3 (None:
    not known yet) is too big for GPAW (its real-space grid grows with the cell)."""
    check_atoms(count, what, dft=True)
    most, variable = limit(MAX_DFT_VOLUME)
    if volume is not None and volume > most:
        raise PerovcalcError(
            f"{what} has a cell of {volume:,.0f} A^3; the limit for a DFT task is {most:,} A^3 "
            f"(GPAW's grid grows with the cell). Make the cell or its vacuum smaller, or raise "
            f"the limit with {variable}={math.ceil(volume)} if the machine can take it"
        )


def estimated_atoms(builder: str, args: dict) -> int | None:
    """About how many atoms ``builder(**args)`` makes (an upper estimate), before building;
    None when that is only known after building (a file) or the arguments are not numbers."""
    try:
        if builder == "bulk":
            cells = args.get("supercell", (1, 1, 1))
            return 5 * math.prod(int(n) for n in ([cells] * 3 if isinstance(cells, int) else cells))
        if builder == "slab":
            r1, r2 = args.get("repeat", (1, 1))
            return 3 * (int(args.get("layers", 5)) + 2) * int(r1) * int(r2)
        if builder == "nanocrystal":
            a = args.get("a")
            a = 5.8 if a is None or isinstance(a, str) else float(a)  # below any CsPbX3
            cells = float(args.get("edge_nm", 11.4)) * 10.0 / a + 1
            return int(5 * cells**3) if math.isfinite(cells) else None
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def non_finite(value: object) -> float | None:
    """The first infinite or NaN number in ``value`` (recursively in dicts and lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return value
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict | list | tuple):
        return next((v for v in map(non_finite, items) if v is not None), None)
    return None


@cache
def gpaw_keywords() -> frozenset[str]:
    """The keyword arguments of the GPAW calculator that a campaign may set in ``params``."""
    from gpaw.dft import GPAW

    keywords = inspect.signature(GPAW).parameters.values()
    return frozenset(p.name for p in keywords if p.kind is p.KEYWORD_ONLY) - SET_BY_PEROVCALC
