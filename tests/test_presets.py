"""Presets: derived GPAW parameters follow the structure (bulk/slab, charge, spin)."""

import pytest

from perovcalc.bulk import cubic_perovskite
from perovcalc.errors import InputError
from perovcalc.presets import PRESETS, gpaw_parameters, kpoints, system_kind, valence_electrons


def slab_like():
    atoms = cubic_perovskite(5.874, "Br").repeat((2, 2, 3))
    atoms.center(vacuum=8.0, axis=2)
    return atoms


def test_presets_grow_in_precision():
    demo, standard, production = (PRESETS[n] for n in ("demo", "standard", "production"))
    assert demo.ecut < standard.ecut < production.ecut
    assert 450 <= production.ecut <= 550
    assert demo.kpt_density < standard.kpt_density < production.kpt_density
    assert demo.fmax > standard.fmax > production.fmax


def test_bulk_parameters_and_kpoint_density():
    atoms = cubic_perovskite(5.874, "Br")
    params = gpaw_parameters(atoms, "standard")
    # 2 pi * 3.5 / 5.874 A = 3.74 -> 4 points per axis
    assert params["kpts"]["size"] == [4, 4, 4]
    assert params["mode"] == {"name": "pw", "ecut": 400.0}
    assert "poissonsolver" not in params and "spinpol" not in params
    assert kpoints(atoms.repeat((2, 2, 2)), 3.5) == [2, 2, 2]


def test_slab_gets_one_kpoint_along_normal_and_dipole_correction():
    atoms = slab_like()
    assert system_kind(atoms) == "slab"
    params = gpaw_parameters(atoms, "demo")
    assert params["kpts"]["size"][2] == 1
    assert params["poissonsolver"] == {"dipolelayer": "xy"}


def test_spin_only_for_odd_electron_count_and_charge_is_passed():
    atoms = cubic_perovskite(5.874, "Br").repeat((2, 2, 2))
    del atoms[[a.index for a in atoms if a.symbol == "Br"][0]]
    assert valence_electrons(atoms) % 2 == 1  # neutral Br vacancy: one unpaired electron
    assert gpaw_parameters(atoms, "demo")["spinpol"] is True
    charged = gpaw_parameters(atoms, "demo", charge=1)  # V_Br^+: closed shell
    assert charged["charge"] == 1 and "spinpol" not in charged


def test_overrides_win_and_bad_preset_is_named():
    atoms = cubic_perovskite(5.874, "Br")
    assert gpaw_parameters(atoms, "demo", overrides={"maxiter": 7})["maxiter"] == 7
    with pytest.raises(InputError, match="preset.*'fast'.*demo.*standard.*production"):
        gpaw_parameters(atoms, "fast")


def test_scf_energy_tolerance_is_absolute_whatever_the_cell_size():
    """GPAW's energy criterion from the preset: the same total-energy tolerance (eV) for a
    44-electron primitive cell and a 600-electron slab, not the same per valence electron."""
    from gpaw.new.scf import create_convergence_criteria

    small = cubic_perovskite(5.874, "Br")
    large = slab_like()
    large += cubic_perovskite(5.874, "Br")[:1]  # one more Cs: 12 x 44 + 9 = 537 electrons
    assert valence_electrons(small) == 44 and valence_electrons(large) > 500
    for name, preset in PRESETS.items():
        criteria = [
            create_convergence_criteria(gpaw_parameters(atoms, name)["convergence"])["energy"]
            for atoms in (small, large)
        ]
        for criterion in criteria:
            assert criterion.relative is False and criterion.n_old == 3
            assert criterion.tol == preset.scf_energy
    assert PRESETS["demo"].scf_energy <= 0.02  # eV: below the passivation shifts sought
