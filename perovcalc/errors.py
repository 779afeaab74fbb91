"""Errors that are shown to users as one clear message, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterable


class PerovcalcError(Exception):
    """Base class: the CLI prints the message and exits with status 2."""


class InputError(PerovcalcError, ValueError):
    """A bad value for a named field (option, campaign key, file column)."""

    def __init__(self, field: str, value: object, allowed: str | Iterable[object], where: str = ""):
        if not isinstance(allowed, str):
            allowed = ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed)
        self.field, self.value, self.allowed, self.where = field, value, allowed, where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{field} = {value!r} is not allowed; allowed: {allowed}")


class MissingDependencyError(PerovcalcError):
    """Something the toolkit needs (GPAW, PAW datasets, MPI) is not available."""


class UnreadableInput(PerovcalcError):
    """An input file (campaign, profile, structure, table) that is missing or cannot be read."""


class StoreError(PerovcalcError):
    """A results store that cannot be opened, read or written."""


class OutputError(PerovcalcError):
    """An output file that cannot be written where it was asked for."""
