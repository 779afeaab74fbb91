"""Core-hole PAW datasets: generation for all five levels, ghost check, cache, GPAW use."""

import os
import time

import pytest
from ase.units import Ha

gpaw = pytest.importorskip("gpaw")

from gpaw.atom.generator import Generator  # noqa: E402
from gpaw.setup_data import SetupData  # noqa: E402

from perovcalc import corehole  # noqa: E402
from perovcalc.errors import InputError, PerovcalcError  # noqa: E402

CASES = [(el, lv, hole) for el, lv in corehole.LEVELS.items() for hole in corehole.HOLES]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh cache (via $PEROVCALC_DATA) holding all ten datasets, with their times (s)."""
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("data")
        mp.setenv("PEROVCALC_DATA", str(root))
        generated = {}
        for case in CASES:
            start = time.perf_counter()
            setup = corehole.core_hole_setup(*case)
            generated[case] = (setup, time.perf_counter() - start)
        yield root, generated


@pytest.fixture
def restore_setup_paths(monkeypatch):
    saved = list(gpaw.setup_paths)
    monkeypatch.delenv("GPAW_SETUP_PATH", raising=False)
    yield
    gpaw.setup_paths[:] = saved


@pytest.mark.parametrize("case", CASES, ids=[f"{e}{lv}-{h}" for e, lv, h in CASES])
def test_dataset_has_no_ghost_and_matches_all_electron_levels(cache, case):
    root, generated = cache
    setup, _ = generated[case]
    element, level, hole = case
    assert setup.path.is_file() and setup.path.parent == setup.directory
    assert setup.directory.is_relative_to(root / "setups" / gpaw.__version__)
    assert setup.path.name == f"{element}.{setup.name}.PBE"
    assert setup.name.startswith(("fch" if hole == 1.0 else "hch") + level)
    # every PAW level in the window has its all-electron partner: no ghost, no bad level
    paired = [c for c in setup.levels if c.paw is not None]
    assert paired and all(c.all_electron is not None for c in paired)
    assert setup.max_level_error < corehole.TOLERANCE * Ha
    # occupied valence levels s and p are in every one of these ions
    assert {c.ell for c in paired} >= {0, 1}
    unpaired = [c for c in setup.levels if c.paw is None]
    assert all(c.ell > max(c2.ell for c2 in paired) for c in unpaired)


def test_dataset_is_standard_dataset_minus_hole(cache, restore_setup_paths):
    for (element, _, hole), (setup, _) in cache[1].items():
        corehole.activate(setup)
        standard = SetupData.find_and_read_path(element, "PBE")
        data = SetupData.find_and_read_path(element, "PBE", setuptype=setup.name)
        assert data.filename == str(setup.path)
        assert data.Nc == pytest.approx(standard.Nc - hole)
        assert data.Z == standard.Z
        assert data.fcorehole == pytest.approx(hole)
    assert str(setup.directory) in os.environ["GPAW_SETUP_PATH"].split(os.pathsep)


def test_lcao_basis_is_found_under_the_setup_name(cache, restore_setup_paths):
    """LCAO runs look up <element>.<setup name>.dzp.basis: the element's standard basis."""
    from gpaw.basis_data import Basis

    for (element, _, _), (setup, _) in cache[1].items():
        corehole.activate(setup)
        basis = Basis.find(element, f"{setup.name}.dzp")
        assert basis.nao == Basis.find(element, "dzp").nao > 0


def test_only_potassium_deviates_from_standard_projectors(cache):
    for (element, _, _), (setup, _) in cache[1].items():
        added = [n for n in setup.notes if "added as a reference state" in n]
        assert bool(added) == (element == "K")


def test_second_call_is_cached_and_fast(cache, monkeypatch):
    root, generated = cache
    monkeypatch.setenv("PEROVCALC_DATA", str(root))
    for case, (setup, first) in generated.items():
        mtime = setup.path.stat().st_mtime_ns
        start = time.perf_counter()
        again = corehole.core_hole_setup(*case)
        elapsed = time.perf_counter() - start
        assert again == setup
        assert setup.path.stat().st_mtime_ns == mtime
        assert elapsed < 0.3 < first
    assert corehole.core_hole_setup("Br", "3d", 1) == generated[("Br", "3d", 1.0)][0]


def test_cache_keys_differ_per_dataset(cache):
    directories = {setup.directory for setup, _ in cache[1].values()}
    names = {setup.name for setup, _ in cache[1].values()}
    assert len(directories) == len(names) == len(CASES)


def test_cache_location_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PEROVCALC_DATA", str(tmp_path / "a"))
    assert corehole.cache_root() == tmp_path / "a" / "setups"
    monkeypatch.delenv("PEROVCALC_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert corehole.cache_root() == tmp_path / "xdg" / "perovcalc" / "setups"


def test_default_potassium_parameters_are_rejected(monkeypatch, tmp_path):
    """GPAW's standard K projectors misplace the bound 3d level of the 2p-ionised atom."""
    monkeypatch.setenv("PEROVCALC_DATA", str(tmp_path))
    monkeypatch.setattr(corehole, "OVERRIDES", {})
    with pytest.raises(PerovcalcError, match="(?i)ghost"):
        corehole.core_hole_setup("K", "2p", 1.0)
    assert not list(tmp_path.rglob("*.PBE"))


def test_parameters_inconsistent_with_standard_dataset_are_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("PEROVCALC_DATA", str(tmp_path))
    monkeypatch.setattr(corehole, "OVERRIDES", {"Br": {"rcut": 1.9}})
    with pytest.raises(PerovcalcError, match="standard PBE dataset"):
        corehole.core_hole_setup("Br", "3d", 1.0)


def test_all_electron_box_levels_reproduce_free_atom_levels():
    """Node-counting levels in the 14 Bohr sphere vs the generator's own shooting solution."""
    gen = Generator("Br", "PBE", corehole=(3, 2, 1.0), txt=None)
    gen.run(write_xml=False, **corehole.generation_parameters("Br"))
    for j in range(gen.njcore, len(gen.e_j)):
        e = gen.e_j[j]
        levels = corehole._all_electron_box_levels(gen, gen.l_j[j], e - 0.1, e + 0.1)
        assert levels == [pytest.approx(e, abs=1e-6)]
    # the 3d hole level itself lies below the valence window of the d channel
    e3d = gen.e_j[gen.jcorehole]
    assert corehole._all_electron_box_levels(gen, 2, e3d + 0.1, -0.3) == []


def test_compare_channel_finds_ghost_missing_and_inaccurate_levels():
    ae = [-1.0, -0.30]
    rows, problems, notes = corehole.compare_channel(0, ae, [-1.001, -0.302, 0.2], -0.2, True)
    assert not problems and not notes and len(rows) == 2
    # a spurious level between the two real ones shifts the pairing: ghost
    _, problems, _ = corehole.compare_channel(0, ae, [-1.0, -0.6, -0.3], -0.2, True)
    assert len(problems) == 2 and "-16.327 eV" in problems[0]
    # a level off by 0.02 Ha (0.54 eV)
    _, problems, _ = corehole.compare_channel(1, ae, [-1.0, -0.32], -0.2, True)
    assert problems == [f"PAW p level at {-0.32 * Ha:.3f} eV, all-electron {-0.3 * Ha:.3f} eV"]
    # a missing level is a problem with projectors, a note without
    _, problems, notes = corehole.compare_channel(3, ae, [-1.0, 0.1], -0.2, True)
    assert len(problems) == 1 and not notes
    _, problems, notes = corehole.compare_channel(3, ae, [-1.0, 0.1], -0.2, False)
    assert not problems and "no f projectors" in notes[0]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("Na", "2p"), "element"),
        (("Br", "3p"), "Br core level"),
        (("Br", "3d", 0.3), "core hole"),
        (("Br", "3d", 1.0, "PBE0"), "xc"),
    ],
)
def test_bad_input_is_rejected(args, field):
    with pytest.raises(InputError) as info:
        corehole.core_hole_setup(*args)
    assert info.value.field == field


def test_core_hole_levels_are_the_rows_of_the_core_level_table():
    """One registry: reference/core_levels.csv lists every level a hole can be put in, and an
    element may have several (the first is its default)."""
    from perovcalc.xps import core_levels

    listed = {f"{el} {lv}" for el, levels in corehole.HOLE_LEVELS.items() for lv in levels}
    assert listed == set(core_levels())
    assert corehole.LEVELS["Br"] == "3d" and corehole.LEVELS["K"] == "2p"
    grouped = corehole.levels_by_element(["Pb 4f", "Br 3d", "Pb 5d"])
    assert grouped == {"Pb": ("4f", "5d"), "Br": ("3d",)}
