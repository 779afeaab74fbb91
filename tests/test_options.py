"""Task options: every numeric option of every kind has an allowed range, checked on load."""

import math

import pytest

from perovcalc.errors import InputError
from perovcalc.kinds import KINDS, resolve_options
from perovcalc.tasks import Range, above, at_least, between

NAN, INF = math.nan, math.inf

#: kind, option, values it must refuse, a value it must take
CASES = [
    ("relax_positions", "fmax", [-0.05, 0.0, INF, NAN], 0.02),
    ("relax_positions", "steps", [-1, -100], 0),
    ("relax_lattice", "strain", [-0.03, 0.0, 0.2, 0.5, INF, NAN], 0.05),
    ("relax_lattice", "points", [-5, 0, 3], 4),
    ("competing_phase", "points", [0, 3], 7),
    ("defect_host", "rattle", [-0.05, INF, NAN], 0.0),
    ("chemical_potentials", "tolerance", [-1e-3, INF, NAN], 0.0),
    ("vacancy_formation", "epsilon", [-4.0, 0.0, INF, NAN], 5.8),
    ("vacancy_formation", "sites", [[-1], [2, -3]], [0, 2]),
    ("vacancy_formation", "steps", [-1], 0),
    ("migration_barrier", "n_images", [-1, 0], 1),
    ("migration_barrier", "fmax", [-0.05, 0.0, INF, NAN], 0.05),
    ("migration_barrier", "site", [-1], 0),
    ("migration_barrier", "endpoint_steps", [-1], 0),
    ("migration_barrier", "intermediates", [-1], 0),
    ("photoemission_ratios", "photon_energies", [[-450.0], [0.0], [450.0, INF], [NAN]], [100.0]),
    ("xrd", "two_theta_min", [-10.0, 0.0, 180.0, 200.0, NAN], 5.0),
    ("xrd", "two_theta_max", [0.0, 180.0, INF], 179.0),
    ("xrd", "step", [-0.02, 0.0, INF, NAN], 0.01),
    ("xrd", "wavelength", [-1.5, 0.0, INF], 0.7093),
    ("xrd", "size_nm", [-10.0, 0.0, NAN], 11.4),
    ("xrd", "instrument_fwhm", [-0.05, 0.0, INF], 0.1),
]


@pytest.mark.parametrize(("kind", "option", "bad", "good"), CASES)
def test_out_of_range_values_are_refused_by_name(kind, option, bad, good):
    assert resolve_options(kind, {option: good})[option] == good
    for value in bad:
        with pytest.raises(InputError) as info:
            resolve_options(kind, {option: value}, "task t")
        message = str(info.value)
        assert f"options.{option} = {value!r}" in message and "task t" in message
        assert str(KINDS[kind].options[option].bounds) in message  # the allowed range


def test_every_number_option_has_a_range():
    unbounded = [
        f"{name}.{key}"
        for name, kind in KINDS.items()
        for key, opt in kind.options.items()
        if opt.type in (int, float) and opt.bounds is None
    ]
    assert not unbounded


def test_defaults_lie_in_their_ranges():
    for name, kind in KINDS.items():
        resolve_options(name, {})  # raises for a default out of its range
        for key, opt in kind.options.items():
            if opt.bounds is not None and isinstance(opt.default, int | float):
                assert opt.default in opt.bounds, f"{name}.{key}"


def test_range_ends_and_wording():
    assert 0.0 not in above(0) and 1e-9 in above(0) and INF not in above(0)
    assert 0 in at_least(0) and -1 not in at_least(0) and NAN not in at_least(0)
    assert 0.0 not in between(0, 180) and 180.0 not in between(0, 180) and 90.0 in between(0, 180)
    assert str(above(0)) == "> 0" and str(at_least(4)) == ">= 4"
    assert str(between(0, 0.2)) == "> 0 and < 0.2" and str(Range()) == "finite"


def test_unset_options_are_not_range_checked():
    """None (no value: the preset's or the kind's own choice) needs no range."""
    assert resolve_options("relax_positions", {"fmax": None})["fmax"] is None
    assert resolve_options("migration_barrier", {"site": None, "to": None})["site"] is None


def test_every_force_criterion_defaults_to_the_preset(tmp_path):
    from perovcalc.presets import PRESETS
    from perovcalc.tasks import TaskContext

    with_fmax = [name for name, kind in KINDS.items() if "fmax" in kind.options]
    assert "migration_barrier" in with_fmax and "relax_positions" in with_fmax
    for name in with_fmax:
        assert KINDS[name].options["fmax"].default is None, name
    options = resolve_options("migration_barrier", {})
    for preset in PRESETS.values():
        ctx = TaskContext("hop", None, {}, options, tmp_path, preset.name, {})
        assert ctx.fmax() == preset.fmax
    ctx = TaskContext("hop", None, {}, {**options, "fmax": 0.03}, tmp_path, "production", {})
    assert ctx.fmax() == 0.03
