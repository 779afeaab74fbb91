"""Every campaign task kind, one module per family, and the checks of their options.

Each module declares its kinds (``KINDS``: name -> :class:`perovcalc.tasks.Kind`) beside the
functions that run them. A new kind is a new module here (or an entry in an existing one) plus
its line in :data:`FAMILIES`.
"""

from __future__ import annotations

from perovcalc.errors import InputError
from perovcalc.kinds import basic, corelevels, defects, migration, phases, spectra, xrd
from perovcalc.tasks import Kind, Option, Range

FAMILIES = (basic, corelevels, spectra, xrd, phases, defects, migration)

KINDS: dict[str, Kind] = {name: kind for family in FAMILIES for name, kind in family.KINDS.items()}


def get_kind(name: str, where: str = "") -> Kind:
    """The task kind called ``name``."""
    if name not in KINDS:
        raise InputError("kind", name, sorted(KINDS), where)
    return KINDS[name]


def resolve_options(kind_name: str, options: dict, where: str = "") -> dict:
    """``options`` checked against the kind's schema, with defaults filled in."""
    kind = get_kind(kind_name, where)
    unknown = sorted(set(options) - set(kind.options))
    if unknown:
        raise InputError(f"options.{unknown[0]}", options[unknown[0]], sorted(kind.options), where)
    resolved = {}
    for key, opt in kind.options.items():
        value = options.get(key, opt.default)
        if value is not None and opt.type is float and isinstance(value, int):
            value = float(value)
        if value is not None and not (
            isinstance(value, opt.type) and not (opt.type is not bool and isinstance(value, bool))
        ):
            raise InputError(f"options.{key}", value, f"a value of type {opt.type.__name__}", where)
        if opt.choices and value not in opt.choices:
            raise InputError(f"options.{key}", value, opt.choices, where)
        _check_range(f"options.{key}", value, opt, where)
        resolved[key] = value
    return resolved


def _check_range(name: str, value, opt: Option, where: str) -> None:
    """InputError unless the number ``value`` (or each number of the list ``value``) lies in
    ``opt.bounds`` (floats: finite even without bounds)."""
    if value is None or (opt.bounds is None and opt.type is not float):
        return
    bounds = opt.bounds or Range()
    numbers = value if isinstance(value, list) else [value]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int | float) or number not in bounds:
            allowed = f"a number {bounds}" if opt.type is not list else f"numbers {bounds}"
            raise InputError(name, value, allowed, where)


def keyed_options(kind_name: str, options: dict) -> dict:
    """The options of a task that enter its id: ``options`` resolved, less those at their
    default that are not keyed at their default (see :class:`perovcalc.tasks.Option`)."""
    kind = get_kind(kind_name)
    return {
        key: value
        for key, value in resolve_options(kind_name, options).items()
        if kind.options[key].keyed_at_default or value != kind.options[key].default
    }
