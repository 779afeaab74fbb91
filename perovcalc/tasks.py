"""What a task kind is: its options (:class:`Option`), the kind itself (:class:`Kind`) and what a
running task sees (:class:`TaskContext`).

The kinds themselves live in :mod:`perovcalc.kinds`, one module per family, each declaring its
``Kind`` entries beside the functions that run them.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ase import Atoms

if TYPE_CHECKING:
    from perovcalc.calculate import CalcResult

TASK_REF = "task:"  # a structure or a need naming another task: "task:<name>" (ids when stored)


@dataclass(frozen=True)
class Range:
    """The allowed values of a number: ``low`` to ``high`` (None: open on that side), each end
    included unless ``low_open`` / ``high_open``. NaN and infinities are never allowed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        ends = []
        if self.low is not None:
            ends.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            ends.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return " and ".join(ends) or "finite"


def above(low: float) -> Range:
    """Numbers > ``low``."""
    return Range(low, low_open=True)


def at_least(low: float) -> Range:
    """Numbers >= ``low``."""
    return Range(low)


def between(low: float, high: float) -> Range:
    """Numbers strictly between ``low`` and ``high``."""
    return Range(low, high, low_open=True, high_open=True)


@dataclass(frozen=True)
class Option:
    """One option of a task kind: its type and default (None = no default, use the preset).

    ``bounds``: the allowed range of a number, or of every number in a list option (a float is
    always finite). ``keyed_at_default=False`` leaves the option out of task ids while it has
    its default, so that adding an option to a kind keeps the ids (and stored results) of
    existing tasks."""

    type: type
    default: object = None
    help: str = ""
    choices: tuple = ()
    keyed_at_default: bool = True
    bounds: Range | None = None


# options several kinds share
FMAX = Option(float, None, "force criterion, eV/A (default: the preset's)", bounds=above(0))
STRAIN = Option(float, 0.03, "largest linear strain of the E(V) scan", bounds=between(0, 0.2))
POINTS = Option(int, 5, "number of E(V) points", bounds=at_least(4))


@dataclass(frozen=True)
class Kind:
    """A task kind: implementation (``"module:function"``, imported only when a task of the kind
    runs), options, and whether it runs DFT (and so MPI ranks)."""

    function: str
    options: dict[str, Option] = field(default_factory=dict)
    dft: bool = True
    help: str = ""

    def load(self) -> Callable[[TaskContext], CalcResult]:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


@dataclass
class TaskContext:
    """Everything a running task sees: its input structure, GPAW parameters, options,
    work directory (checkpoints live there) and the stored results of its dependencies."""

    name: str
    atoms: Atoms | None
    params: dict
    options: dict
    workdir: Path
    preset: str
    dependencies: dict  # task name -> ase.db row (atoms via row.toatoms(), results in row.data)

    def fmax(self) -> float:
        """The force criterion of the task's relaxations: its ``fmax`` option, else its
        preset's (eV/A)."""
        from perovcalc.presets import get_preset

        return self.options["fmax"] or get_preset(self.preset).fmax

    @staticmethod
    def built_on(row) -> str | None:
        """The id of the task whose result dependency ``row`` (an ase.db row) took as its
        structure; None if its structure came from a builder."""
        structure = row.data["recipe"]["structure"]
        if isinstance(structure, str) and structure.startswith(TASK_REF):
            return structure[len(TASK_REF) :]
        return None
