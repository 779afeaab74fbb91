"""Slab band edges against the bulk through the electrostatic potential (band_alignment)."""

import numpy as np
import pytest
from ase import Atoms

from perovcalc.band_alignment import central_potential, conduction_band_offset
from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError
from perovcalc.slab import perovskite_slab

A = 5.874


def crystal_potential(z, period=A, planes=(0.0, 0.5)):
    """A toy bulk potential (eV): a smooth background with sharp dips at the atomic planes."""
    value = 2.0 * np.cos(2 * np.pi * z / period)
    for plane in planes:
        distance = (z / period - plane + 0.5) % 1.0 - 0.5
        value -= 10.0 * np.exp(-((distance * period / 0.3) ** 2))
    return value


def toy_pair(layers, step, rumple=0.0):
    """A bulk cell and a slab whose middle repeats the bulk potential shifted by ``step`` (eV),
    the vacuum flat; the outer planes moved out by ``rumple`` (A)."""
    bulk = cubic_perovskite(A, "Br")
    z_bulk = np.arange(48) * A / 48
    slab = perovskite_slab(a=A, layers=layers, vacuum=10.0)
    height = slab.positions[:, 2] - slab.positions[:, 2].mean()
    outer = np.isclose(np.abs(height), np.abs(height).max())
    slab.positions[outer, 2] += rumple * np.sign(height[outer])
    length = slab.cell[2, 2]
    z = np.arange(400) * length / 400
    middle = slab.positions[:, 2].mean()
    inside = np.abs(z - middle) < (slab.positions[:, 2].max() - middle) + 1.0
    # the bulk's planes continue through the slab: CsBr at the mid-plane for odd layer counts
    profile = np.where(inside, crystal_potential(z - middle) + step, 3.0)
    return bulk, {"cbm": 1.2, "potential_profile": crystal_potential(z_bulk).tolist()}, slab, {
        "cbm": 1.2 + step + 0.25, "potential_profile": profile.tolist()}  # fmt: skip


def test_offset_of_a_slab_whose_middle_is_the_shifted_bulk():
    """The slab's CBM is 0.25 eV above the bulk's once the potential step is removed: the offset
    is 0.25 eV whatever the step, for five and seven layers, and the relaxation of the outer
    planes does not move it."""
    for layers in (5, 7):
        for step in (-1.3, 0.0, 2.0):
            bulk, bulk_host, slab, slab_host = toy_pair(layers, step)
            assert conduction_band_offset(slab, slab_host, bulk, bulk_host) == pytest.approx(
                0.25, abs=2e-3
            )
    bulk, bulk_host, slab, slab_host = toy_pair(5, 0.7, rumple=0.2)
    assert conduction_band_offset(slab, slab_host, bulk, bulk_host) == pytest.approx(0.25, abs=2e-3)


def test_the_window_edges_fall_between_the_planes():
    """A window centred on a plane has its edges on the neighbouring planes, where a 0.05 A shift
    of the grid changes the average; the two quarter-period windows do not notice it."""
    slab = perovskite_slab(a=A, layers=5, vacuum=10.0)
    length = slab.cell[2, 2]
    middle = slab.positions[:, 2].mean()
    z = np.arange(400) * length / 400
    values = [central_potential(slab, crystal_potential(z - middle - shift), A)
              for shift in (0.0, 0.05)]  # fmt: skip
    assert values[0] == pytest.approx(values[1], abs=0.02)
    assert values[0] == pytest.approx(crystal_potential(np.linspace(0, A, 4001)).mean(), abs=5e-3)


def test_thin_slabs_and_incomplete_hosts_are_refused():
    bulk, bulk_host, slab, slab_host = toy_pair(5, 0.0)
    thin = perovskite_slab(a=A, layers=3, vacuum=10.0)
    with pytest.raises(InputError, match="slab = .*at least 1.5 periods"):
        conduction_band_offset(thin, slab_host, bulk, bulk_host)
    with pytest.raises(InputError, match="bulk_host = .*potential_profile"):
        conduction_band_offset(slab, slab_host, bulk, {"cbm": 1.0})
    with pytest.raises(InputError, match="period"):
        central_potential(slab, slab_host["potential_profile"], 100.0)
    with pytest.raises(InputError, match="potential_profile"):
        central_potential(Atoms("Br", cell=[5, 5, 30]), [[1.0]], A)


@pytest.mark.slow
def test_five_layer_slab_cbm_lies_above_the_bulk_one():
    """Real GPAW (PBE, 250 eV, unrelaxed bare five-layer 1x1 CsPbBr3 slab, 3x3x1, and the 5-atom
    cell, 4x4x4; about 2 min): confinement raises the slab's CBM above the bulk's, by less than
    the gap opening (the relaxed slab of the main job: +0.15 eV, gap +0.35 eV)."""
    from gpaw import GPAW, PW

    from perovcalc.formation import band_edges, electrostatic_profile

    def host(atoms, kpts):
        atoms.calc = GPAW(mode=PW(250), xc="PBE", kpts=kpts, txt=None,
                          occupations={"name": "fermi-dirac", "width": 0.05})  # fmt: skip
        atoms.get_potential_energy()
        return {**band_edges(atoms), **electrostatic_profile(atoms)}

    bulk = cubic_perovskite(A, "Br")
    slab = perovskite_slab(a=A, layers=5, vacuum=8.0)
    bulk_host, slab_host = host(bulk, (4, 4, 4)), host(slab, (3, 3, 1))
    offset = conduction_band_offset(slab, slab_host, bulk, bulk_host)
    assert 0.0 < offset < slab_host["gap"] - bulk_host["gap"] + 0.3


def test_report_gives_outer_slab_vacancies_with_the_bulk_cbm():
    """The vacancy section's block and observables from stored rows (energies given, not
    computed: this checks the report): E_f - 0.25 eV for the five-layer slab, the three-layer
    slab named as too thin."""
    from types import SimpleNamespace

    from perovcalc.report.judge import Section
    from perovcalc.report.vacancy import _bulk_cbm

    bulk, bulk_host, slab, slab_host = toy_pair(5, 0.4)
    thin = perovskite_slab(a=A, layers=3, vacuum=10.0)

    def stored(atoms, result):
        return SimpleNamespace(toatoms=lambda: atoms, data={"result": result}, preset="demo")

    def vacancy(name, host, environment, layers):
        entry = {"species": "Br", "site": 6, "charge": 0, "layer_from_surface": 0,
                 "formation_energy": {"rich": 3.0, "poor": 1.5}}  # fmt: skip
        result = {"environment": environment, "entries": [entry],
                  "host": {"slab": {"layers": layers} if layers else None}}  # fmt: skip
        task = SimpleNamespace(name=name, structure=f"task:{host}", labels={})
        row = stored(None, result)
        row.get = lambda key, default=None: default
        return name, (task, row)

    rows = dict([vacancy("v_bulk", "bulk_host", "bulk", None),
                 vacancy("v5", "host5", "slab", 5), vacancy("v3", "host3", "slab", 3)])  # fmt: skip
    hosts = {"bulk_host": stored(bulk, bulk_host), "host5": stored(slab, slab_host),
             "host3": stored(thin, slab_host)}  # fmt: skip
    section = Section("t", "")
    _bulk_cbm(section, rows, hosts)
    values = {o.conditions["chemical_potential_limit"]: o.value for o in section.observables}
    assert values == pytest.approx({"Br-rich": 2.75, "Br-poor": 1.25}, abs=2e-3)
    assert {o.conditions["layers"] for o in section.observables} == {5}
    (block,) = section.blocks.values()
    assert "v3" in block and "not aligned" in block
