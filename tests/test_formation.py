"""Halide vacancy formation energies: chemical potentials, correction, real GPAW end to end."""

import io
import subprocess
import textwrap

import numpy as np
import pytest
from ase import Atoms
from ase.io import read
from ase.units import Bohr, Hartree
from scipy.optimize import linprog

from perovcalc.bulk import phase_structure
from perovcalc.calculate import make_calculator
from perovcalc.campaign import load_campaign
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.formation import (
    CONDITIONS,
    formation_energy,
    freysoldt_correction,
    planar_average,
    slab_pairs,
    stability_region,
    surface_change,
)
from perovcalc.reference import load_table
from perovcalc.results import print_results
from perovcalc.store import Store
from tests.conftest import ROOT, TINY, WORKFLOWS

MADELUNG_SC = 2.8372974794806  # point charge in a neutralising background, simple cubic lattice
COULOMB = Hartree * Bohr  # e^2 / (4 pi eps0) in eV Angstrom


# ----------------------------------------------------------------- stability region (no DFT)
REFS = {"Cs": -1.0, "Pb": -3.0, "Br": -1.5}  # eV/atom, arbitrary elemental references


def total(formula: str, formation: float) -> float:
    """Total energy of a cell of ``formula`` with formation energy ``formation`` (eV)."""
    from pymatgen.core import Composition

    comp = Composition(formula)
    return sum(REFS[str(el)] * n for el, n in comp.items()) + formation


def hand_made(host_formation: float = -12.0) -> dict[str, float]:
    """Cs, Pb, Br2, CsBr (dH -2), PbBr2 (dH -3 per f.u.) and the host (two formula units)."""
    return {
        "Cs": total("Cs", 0.0),
        "Pb2": total("Pb2", 0.0),
        "Br2": total("Br2", 0.0),
        "Cs2Br2": total("Cs2Br2", -4.0),
        "PbBr2": total("PbBr2", -3.0),
        "Cs2Pb2Br6": total("Cs2Pb2Br6", host_formation),
    }


def test_stability_region_of_hand_made_energies():
    """dH(CsPbBr3) = -6, dH(CsBr) = -2, dH(PbBr2) = -3 (eV per formula unit). Solved by hand:
    the region is the polygon (dmu_Cs, dmu_Pb, dmu_Br) = (-2, -4, 0), (-3, -3, 0),
    (-1.5, 0, -1.5), (0, 0, -2): Br-rich dmu_Br = 0 (CsBr or PbBr2 with Br2), Br-poor -2
    (both metals)."""
    region = stability_region("CsPbBr3", hand_made())
    corners = sorted(tuple(v[el] for el in ("Cs", "Pb", "Br")) for v in region.vertices)
    expected = sorted([(-2, -4, 0), (-3, -3, 0), (-1.5, 0, -1.5), (0, 0, -2)])
    assert np.allclose(corners, expected, atol=1e-6)
    assert region.formation_energy == pytest.approx(-6.0)
    assert region.references == pytest.approx(REFS)
    assert region.host_shift == 0.0
    assert region.limit("Br", "poor") == pytest.approx({"Cs": 0.0, "Pb": 0.0, "Br": -2.0})
    assert region.chemical_potential("Br", "rich") == pytest.approx(-1.5)
    assert region.chemical_potential("Br", "poor") == pytest.approx(-3.5)
    with pytest.raises(InputError, match="condition"):
        region.limit("Br", "moderate")


def test_host_above_the_hull_is_an_error_unless_placed_on_it():
    energies = hand_made(host_formation=-9.0)  # -4.5 per f.u. > dH(CsBr) + dH(PbBr2) = -5
    with pytest.raises(PerovcalcError, match=r"100\.0 meV/atom above .*CsBr \+ PbBr2"):
        stability_region("CsPbBr3", energies)
    region = stability_region("CsPbBr3", energies, host_on_hull=True, tolerance=1e-3)
    assert region.host_shift == pytest.approx(-0.5 - 5e-3)  # (0.1 + 0.001) eV/atom x 5 atoms
    assert region.formation_energy == pytest.approx(-5.005)
    # a thin sliver along CsBr + PbBr2: dmu_Cs + dmu_Br = -2 and dmu_Pb + 2 dmu_Br = -3 nearly
    for v in region.vertices:
        assert v["Cs"] + v["Br"] == pytest.approx(-2.0, abs=6e-3)
        assert v["Pb"] + 2 * v["Br"] == pytest.approx(-3.0, abs=6e-3)
    assert region.limit("Br", "rich")["Br"] == pytest.approx(0.0, abs=1e-9)
    assert region.limit("Br", "poor")["Br"] == pytest.approx(-1.5, abs=6e-3)


def test_foreign_and_excluded_phases_and_missing_elements():
    energies = {**hand_made(), "KBr": -10.0, "K": -1.0}
    region = stability_region("CsPbBr3", energies, exclude=["CsBr"])
    assert region.ignored == ("Cs2Br2", "K", "KBr")
    assert region.elements == ("Cs", "Pb", "Br")
    # without CsBr the Br-rich edge reaches dmu_Cs = 0 (host with Cs metal and Br2)
    corners = sorted(tuple(v[el] for el in ("Cs", "Pb", "Br")) for v in region.vertices)
    expected = sorted([(0, -6, 0), (-3, -3, 0), (-1.5, 0, -1.5), (0, 0, -2)])
    assert np.allclose(corners, expected, atol=1e-6)
    with pytest.raises(InputError, match="elements"):
        stability_region("CsPbBr3", {k: v for k, v in hand_made().items() if k != "Pb2"})
    with pytest.raises(InputError, match="host"):
        stability_region("CsPbI3", hand_made())


def test_mixed_halide_limits_match_linear_programming():
    """CsPbI2Br in Cs-Pb-I-Br: the region is the polytope {host equality, no competing phase
    forms, dmu <= 0} (scipy linprog). Cs and Pb limits are the extremes of their own dmu; the
    halides share one halide-rich and one halide-poor point, the extremes of 2 dmu_I + dmu_Br,
    where the vertex of largest dmu_I alone is not that of largest dmu_Br (so V_I and V_Br at
    "X-rich" would otherwise be compared at different conditions)."""
    formation = {  # eV per formula unit, invented
        "CsBr": -2.0, "CsI": -1.8, "PbBr2": -3.0, "PbI2": -2.2,
        "CsPbBr3": -5.3, "CsPbI3": -4.2, "CsPbI2Br": -4.6,
    }  # fmt: skip
    refs = {"Cs": -1.0, "Pb": -3.0, "Br": -1.5, "I": -1.3}
    elements = ("Cs", "Pb", "I", "Br")
    from pymatgen.core import Composition

    def counts(formula):
        return [Composition(formula)[el] for el in elements]

    energies = {el: refs[el] for el in ("Cs", "Pb")} | {"Br2": 2 * refs["Br"], "I2": 2 * refs["I"]}
    for formula, dh in formation.items():
        energies[formula] = (
            sum(n * refs[el] for el, n in zip(elements, counts(formula), strict=True)) + dh
        )
    region = stability_region("CsPbI2Br", energies)
    others = [f for f in formation if f != "CsPbI2Br"]
    problem = dict(
        A_ub=[counts(f) for f in others],
        b_ub=[formation[f] for f in others],
        A_eq=[counts("CsPbI2Br")],
        b_eq=[formation["CsPbI2Br"]],
        bounds=[(None, 0)] * 4,
    )
    for i, element in enumerate(("Cs", "Pb")):
        direction = np.eye(4)[i]
        low = linprog(direction, **problem).fun
        high = -linprog(-direction, **problem).fun
        assert region.limit(element, "poor")[element] == pytest.approx(low, abs=1e-6)
        assert region.limit(element, "rich")[element] == pytest.approx(high, abs=1e-6)
        assert region.chemical_potential(element, "rich") == pytest.approx(refs[element] + high)
    halide_sum = np.array([0, 0, 2, 1])  # 2 dmu_I + dmu_Br
    low = linprog(halide_sum, **problem).fun
    high = -linprog(-halide_sum, **problem).fun
    for condition, value in (("poor", low), ("rich", high)):
        point = region.limit("I", condition)
        assert point == region.limit("Br", condition)
        assert 2 * point["I"] + point["Br"] == pytest.approx(value, abs=1e-6)
    richest = {x: max(region.vertices, key=lambda v, x=x: v[x]) for x in ("I", "Br")}
    assert richest["I"] != richest["Br"]
    for vertex in region.vertices:
        mu = np.array([vertex[el] for el in elements])
        assert counts("CsPbI2Br") @ mu == pytest.approx(-4.6, abs=1e-6)
        assert all(np.array(counts(f)) @ mu <= formation[f] + 1e-6 for f in others)


def test_formation_energy_formula():
    mu = {"Br": -2.0}
    # E_def - E_host + mu_Br + q (E_VBM + E_F) + E_corr = -95 + 100 - 2 + (1.5 + 0.3) + 0.2
    value = formation_energy(-95.0, -100.0, {"Br": 1}, mu, 1, 1.5, 0.3, 0.2)
    assert value == pytest.approx(5.0)
    assert formation_energy(-95.0, -100.0, {"Br": 1}, mu) == pytest.approx(3.0)
    with pytest.raises(InputError, match="mu"):
        formation_energy(-95.0, -100.0, {"I": 1}, mu)


# ----------------------------------------------------------------- charged-defect correction
def test_planar_profiles_give_the_full_grid_correction():
    """The correction from a-b averaged profiles equals gpaw.defects on the full 3D grid."""
    import contextlib
    import io

    from gpaw.core import UGArray, UGDesc
    from gpaw.defects import ElectrostaticCorrections

    rng = np.random.default_rng(0)
    cell = np.diag([9.0, 9.5, 10.0])
    host = rng.normal(size=(12, 14, 20))
    defect = host + 0.3 * rng.normal(size=host.shape) + np.linspace(0.0, 1.0, 20)
    grid = UGDesc(cell=cell, size=host.shape)
    with contextlib.redirect_stdout(io.StringIO()):
        full = ElectrostaticCorrections(
            UGArray(grid, data=host.copy()),
            UGArray(grid, data=defect.copy()),
            charge=1,
            epsilon=5.0,
            sigma=0.5,
            r0=np.array([1.0, 2.0, 3.0]),
            method="full-planar",
        ).calculate_correction()
    fwhm = 0.5 * 2 * np.sqrt(2 * np.log(2))
    mine = freysoldt_correction(
        cell, planar_average(host), planar_average(defect), [1, 2, 3], 1, 5.0, width=fwhm
    )
    assert mine.energy == pytest.approx(full, abs=1e-10)
    assert mine.energy == pytest.approx(mine.lattice + mine.alignment)


def test_planar_and_atomic_site_alignment_follow_a_potential_shift():
    """A defect's electron potential energy raised by 0.3 eV everywhere (its electrostatic
    potential lowered by 0.3 V) raises the alignment V_model - (V_defect - V_host) by 0.3 V,
    planar and atomic-site alike; atomic-site needs the 3D grids and the host."""
    from perovcalc.bulk import cubic_perovskite

    host_atoms = cubic_perovskite(6.0, "Br").repeat((2, 2, 2))
    rng = np.random.default_rng(1)
    host = rng.normal(scale=0.2, size=(16, 16, 16))
    defect = host + rng.normal(scale=0.01, size=host.shape)
    site = host_atoms.positions[2]
    for alignment in ("planar", "atomic-site"):

        def correction(potential, alignment=alignment):
            return freysoldt_correction(
                host_atoms.cell, host, potential, site, 1, 10.0, alignment=alignment,
                host=host_atoms,
            )  # fmt: skip

        base, shifted = correction(defect), correction(defect + 0.3)
        assert shifted.alignment - base.alignment == pytest.approx(0.3, abs=1e-9)
        assert shifted.lattice == pytest.approx(base.lattice)
    with pytest.raises(InputError, match="alignment"):
        freysoldt_correction(
            host_atoms.cell, planar_average(host), planar_average(defect), site, 1, 10.0,
            alignment="atomic-site", host=host_atoms,
        )  # fmt: skip


@pytest.mark.parametrize("charge", [1, -2])
def test_lattice_term_is_the_madelung_energy_of_a_gaussian(charge):
    """q^2 alpha_M / (2 eps L) - 2 pi q^2 sigma^2 / (eps L^3) for a Gaussian of std sigma in a
    simple cubic cell with a neutralising background (Ewald sum with eta = 1 / (2 sigma))."""
    length, epsilon, sigma = 12.0, 4.0, 0.6
    flat = np.zeros(40)
    corr = freysoldt_correction(
        np.eye(3) * length, flat, flat, [0, 0, 0], charge, epsilon, sigma * 2.3548200450309493
    )
    expected = (
        charge**2
        * COULOMB
        / epsilon
        * (MADELUNG_SC / (2 * length) - 2 * np.pi * sigma**2 / length**3)
    )
    assert corr.lattice == pytest.approx(expected, rel=1e-4)
    with pytest.raises(InputError, match="charge"):
        freysoldt_correction(np.eye(3) * length, flat, flat, [0, 0, 0], 0, epsilon)


def test_sign_convention_on_an_ion_in_boxes_of_two_sizes(tmp_path):
    """K+ in vacuum (eps = 1): the periodic energy rises with the box by ~alpha_M/2 (1/L1 -
    1/L2); with E_corr added the energies of the 8 and 11 Angstrom boxes agree."""
    energies, corrected = [], []
    for length in (8.0, 11.0):
        ion = Atoms("K", positions=[(length / 2,) * 3], cell=[length] * 3, pbc=True)
        params = {
            "mode": {"name": "pw", "ecut": 300.0},
            "xc": "PBE",
            "charge": 1,
            "kpts": {"size": [1, 1, 1], "gamma": True},
            "occupations": {"name": "fermi-dirac", "width": 0.1},
            "convergence": {"energy": 5e-4, "density": 1e-3},
        }
        ion.calc = make_calculator(params, tmp_path / f"k{length:g}.txt")
        energy = ion.get_potential_energy()
        profile = planar_average(ion.calc.get_electrostatic_potential())
        empty_box = np.zeros_like(profile)
        corr = freysoldt_correction(ion.cell, empty_box, profile, ion.positions[0], 1, 1.0)
        assert corr.energy > 0
        energies.append(energy)
        corrected.append(energy + corr.energy)
    makov_payne = COULOMB * MADELUNG_SC / 2 * (1 / 8.0 - 1 / 11.0)
    assert energies[1] - energies[0] == pytest.approx(makov_payne, rel=0.25)
    assert abs(corrected[1] - corrected[0]) < 0.03


# ----------------------------------------------------------------- structures
def test_phase_structures():
    br2 = phase_structure("Br2")
    assert br2.get_chemical_formula() == "Br2" and br2.cell.lengths() == pytest.approx([12.0] * 3)
    assert br2.get_distance(0, 1) == pytest.approx(2.40, abs=0.01)  # 2 x covalent radius
    assert phase_structure("Cs", a=6.1).get_volume() == pytest.approx(6.1**3 / 2)  # bcc
    assert phase_structure("Pb").get_chemical_formula() == "Pb"
    assert phase_structure("PbI2").get_chemical_formula() == "I2Pb"
    with pytest.raises(InputError, match="box"):
        phase_structure("I2", box=7.0)  # less than bond + 6 A of vacuum
    with pytest.raises(InputError, match="phase"):
        phase_structure("Na")


def test_surface_change_pairs_bare_and_passivated_slabs():
    def slab(passivation, values):
        entries = [
            {"species": "Br", "layer_from_surface": layer, "charge": 0,
             "formation_energy": {"rich": e + 1.0, "poor": e}}
            for layer, e in values
        ]  # fmt: skip
        host = {"slab": {"layers": 5, "termination": "CsX", "passivation": passivation}}
        return {"host": host, "region_host": "CsPbBr3", "entries": entries}

    results = {
        "bare": slab("None", [(0, 1.0), (0, 1.2), (1, 1.5)]),
        "kbr": slab("KBr", [(0, 1.4), (1, 1.6)]),
        "bulk": {"host": {"slab": None}, "region_host": "CsPbBr3", "entries": []},
    }
    assert slab_pairs(results) == [("bare", "kbr")]
    rows = surface_change(results["bare"], results["kbr"])
    assert [(r["layer_from_surface"], r["bare"], r["passivated"]) for r in rows] == [
        (0, 1.0, 1.4),
        (1, 1.5, 1.6),
    ]
    assert rows[0]["change"] == pytest.approx(0.4)


# ----------------------------------------------------------------- real GPAW, end to end
def test_end_to_end_bookkeeping_by_hand(tiny):
    """E_f from the stored GPAW energies, with dmu_Br limits from a linear program by hand."""
    _, _, rows = tiny
    mu0 = {"Cs": rows["cs"].energy, "Pb": rows["pb"].energy, "Br": rows["br2"].energy / 2}
    dh_csbr = rows["csbr"].energy - mu0["Cs"] - mu0["Br"]
    dh_pbbr2 = rows["pbbr2"].energy / 4 - mu0["Pb"] - 2 * mu0["Br"]
    dh_host = rows["host"].energy - mu0["Cs"] - mu0["Pb"] - 3 * mu0["Br"]
    # host_on_hull: a host less than 1 meV/atom below CsBr + PbBr2 is put 1 meV/atom below
    dh_host = min(dh_host, dh_csbr + dh_pbbr2 - 5e-3)
    region = rows["mu"].data["result"]["region"]
    assert region["formation_energy"] == pytest.approx(dh_host, abs=1e-6)
    assert region["references"] == pytest.approx(mu0)
    # min/max of dmu_Br over: host equality, CsBr and PbBr2 not formed, no element precipitates
    bounds = dict(
        A_ub=[[1, 0, 1], [0, 1, 2]],
        b_ub=[dh_csbr, dh_pbbr2],
        A_eq=[[1, 1, 3]],
        b_eq=[dh_host],
        bounds=[(None, 0)] * 3,
    )
    poor = linprog([0, 0, 1], **bounds).fun
    rich = -linprog([0, 0, -1], **bounds).fun
    limits = rows["mu"].data["result"]["limits"]["Br"]
    assert limits["poor"] == pytest.approx(mu0["Br"] + poor, abs=1e-5)
    assert limits["rich"] == pytest.approx(mu0["Br"] + rich, abs=1e-5)

    result = rows["vacancy"].data["result"]
    by_charge = {e["charge"]: e for e in result["entries"]}
    e_host = rows["host"].energy
    neutral, charged = by_charge[0], by_charge[1]
    for condition, dmu in (("poor", poor), ("rich", rich)):
        mu_br = mu0["Br"] + dmu
        assert neutral["formation_energy"][condition] == pytest.approx(
            neutral["energy"] - e_host + mu_br, abs=1e-5
        )
        assert charged["formation_energy"][condition] == pytest.approx(
            charged["energy"] - e_host + mu_br + result["host"]["vbm"]
            + charged["correction"]["energy"], abs=1e-5
        )  # fmt: skip
    assert not neutral["correction"]["energy"] and charged["correction"]["energy"]
    assert neutral["spinpol"] and not charged["spinpol"]  # odd / even electron count
    assert result["epsilon"] == 30.0  # CsPbBr3, reference/dielectric_constants.csv
    # epsilon is a parameter (range 5 to 60): the correction is A / epsilon + B (the model
    # potential scales as 1/epsilon, the DFT potential difference does not)
    assert result["epsilon_range"] == [5.0, 60.0] and neutral["correction_range"] is None
    low, high = charged["correction_range"]
    middle = charged["correction"]["energy"]
    slope = (low - middle) / (1 / 5 - 1 / 30)
    assert (middle - high) / (1 / 30 - 1 / 60) == pytest.approx(slope, rel=1e-6)
    assert abs(low - high) > 1e-3
    # equilibrium with the host DOS (py-sc-fermi): neutral overall, more V_Br at Br-poor
    states = {(s["condition"], s["temperature"]): s for s in result["equilibrium"]}
    assert sorted(states) == [("poor", 300.0), ("poor", 453.15), ("rich", 300.0), ("rich", 453.15)]
    for state in states.values():
        (by_charge,) = state["concentrations"].values()
        donors = sum(int(q) * c for q, c in by_charge.items())
        assert state["holes"] + donors == pytest.approx(state["electrons"], rel=1e-6)
        assert 0.0 < state["fermi_level"] < result["host"]["gap"] + 0.5
    for temperature in (300.0, 453.15):
        total = {
            c: sum(v for by_q in states[c, temperature]["concentrations"].values()
                   for v in by_q.values())
            for c in CONDITIONS
        }  # fmt: skip
        assert total["poor"] > total["rich"]
    # V_Br is a donor: at E_F = VBM the +1 state lies below the neutral one
    assert charged["formation_energy"]["poor"] < neutral["formation_energy"]["poor"]
    # the host gap includes R of the primitive cell (PBE CsPbBr3 at a_exp: about 1.4 eV)
    assert 1.0 < result["host"]["gap"] < 2.0


def test_run_prints_the_limits_and_formation_energies(tiny):
    folder, campaign, rows = tiny
    out = io.StringIO()
    print_results(load_campaign(campaign), folder / "r.db", out)
    limits = rows["mu"].data["result"]["limits"]["Br"]
    assert f"mu_Br {limits['rich']:.3f} (Br-rich) to {limits['poor']:.3f} (Br-poor) eV" in (
        out.getvalue()
    )
    for e in rows["vacancy"].data["result"]["entries"]:
        f = e["formation_energy"]
        line = f"V_Br site 2 (x3, q {e['charge']:+d}): {f['rich']:.3f} / {f['poor']:.3f} eV"
        assert f"\n    {line}" in out.getvalue()


def test_equivalent_sites_give_one_calculation_with_multiplicity(tiny):
    folder, _, rows = tiny
    entries = rows["vacancy"].data["result"]["entries"]
    assert [(e["species"], e["multiplicity"], e["charge"]) for e in entries] == [
        ("Br", 3, 0),
        ("Br", 3, 1),
    ]
    task_dir = next((folder / "w" / "tasks").glob("vacancy-*"))
    assert sorted(p.name for p in task_dir.iterdir() if p.is_dir()) == ["Br2_q+0", "Br2_q+1"]
    for e in entries:  # relaxation energy: first frame of the relaxation minus the result
        first = read(task_dir / f"Br2_q{e['charge']:+d}" / "relax.traj", 0)
        assert e["relaxation_energy"] == pytest.approx(first.get_potential_energy() - e["energy"])
        assert e["relaxation_energy"] > -1e-4  # BFGS does not raise the energy


def test_vacancies_relaxed_further_than_their_host_are_refused(tiny, perovcalc_cli):
    """A host with forces left (a Br moved 0.1 A towards its Pb, no relaxation) and a vacancy
    relaxed to the preset's 0.1 eV/A: refused with the host's residual force, before any DFT
    of the defect, and the campaign's finished results stay. Unrelaxed vacancies are allowed."""
    from perovcalc.bulk import cubic_perovskite

    folder, campaign, rows = tiny
    shaken = cubic_perovskite(5.874, "Br")
    shaken.positions[2, 2] += 0.1  # along the Pb-Br bond
    shaken.write(folder / "shaken.traj")
    text = campaign.read_text() + textwrap.dedent(
        f"""
        [structures.shaken]
        builder = "file"
        filename = "{folder / "shaken.traj"}"
        [tasks.shaken_host]
        kind = "defect_host"
        structure = "shaken"
        params = {{ mode = {{ name = "pw", ecut = 250 }}, kpts = {{ size = [2, 2, 2] }} }}
        options = {{ steps = 0 }}
        [tasks.shaken_vacancy]
        kind = "vacancy_formation"
        structure = "task:shaken_host"
        needs = ["mu"]
        params = {{ mode = {{ name = "pw", ecut = 250 }}, kpts = {{ size = [2, 2, 2] }} }}
        [tasks.shaken_unrelaxed]  # neither relaxed: consistent, so allowed
        kind = "vacancy_formation"
        structure = "task:shaken_host"
        needs = ["mu"]
        params = {{ mode = {{ name = "pw", ecut = 250 }}, kpts = {{ size = [2, 2, 2] }} }}
        options = {{ sites = [2], steps = 0 }}
        """
    )
    extended = folder / "shaken.toml"
    extended.write_text(text)
    done = subprocess.run(
        [*perovcalc_cli, "run", str(extended), "--db", str(folder / "r.db"),
         "--workdir", str(folder / "w"), "--ranks", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    store = Store(folder / "r.db")
    host_force = store.rows(task="shaken_host")[0].data["result"]["max_force"]
    assert host_force > 0.1  # eV/A
    refused = store.rows(task="shaken_vacancy")[0]
    assert refused.status == "failed"
    assert f"options.fmax = 0.1 is not allowed; allowed: >= {host_force:.3f} eV/A" in (
        refused.reason
    )
    assert not list((folder / "w" / "tasks").glob("shaken_vacancy-*/Br*"))  # no defect DFT
    assert all(store.rows(task=name)[0].status == "done" for name in rows)
    assert store.rows(task="shaken_unrelaxed")[0].status == "done"


TINY_PARAMS = '{ mode = { name = "pw", ecut = 250 }, kpts = { size = [2, 2, 2], gamma = true } }'


def run_extended(tiny, perovcalc_cli, name: str, tasks: str) -> subprocess.CompletedProcess:
    """Run the tiny campaign extended by the TOML ``tasks`` (``{params}``: TINY_PARAMS) as
    ``<name>.toml`` on its store and work folder."""
    folder, campaign, _ = tiny
    extended = folder / f"{name}.toml"
    extended.write_text(
        campaign.read_text() + textwrap.dedent(tasks).replace("{params}", TINY_PARAMS)
    )
    return subprocess.run(
        [*perovcalc_cli, "run", str(extended), "--db", str(folder / "r.db"),
         "--workdir", str(folder / "w"), "--ranks", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip


def test_a_charged_host_with_a_neutral_vacancy_task_is_refused(tiny, perovcalc_cli):
    """A bulk host computed at charge +2 paired with a vacancy task declared neutral: refused,
    naming the vacancy task's charge field and the host's charge, before any defect DFT (q in
    options.charges is relative to the host; a defect cell would carry +2 + q)."""
    folder = tiny[0]
    run_extended(
        tiny,
        perovcalc_cli,
        "charged",
        """
        [tasks.host_plus2]
        kind = "defect_host"
        structure = "cspbbr3"
        charge = 2
        params = {params}
        options = { steps = 0 }
        [tasks.vacancy_plus2]
        kind = "vacancy_formation"
        structure = "task:host_plus2"
        needs = ["mu"]
        params = {params}
        options = { steps = 0 }
        """,
    )
    store = Store(folder / "r.db")
    assert store.rows(task="host_plus2")[0].status == "done"
    refused = store.rows(task="vacancy_plus2")[0]
    assert refused.status == "failed"
    assert "tasks.vacancy_plus2.charge = 0 is not allowed; allowed: 2, the charge of its" in (
        refused.reason
    )
    assert not list((folder / "w" / "tasks").glob("vacancy_plus2-*/Br*"))  # no defect DFT


def test_a_host_with_soc_gives_the_soc_gap_and_window_of_its_vacancies(tiny, perovcalc_cli):
    """defect_host with option soc: its stored edges hold the PBE+SOC gap (the Pb-6p CBM falls
    by about 1 eV in CsPbBr3) next to the scalar-relativistic edges of the same states, which
    must be the host's own PBE VBM; the vacancy table of a task on that host prints the
    (PBE+SOC) gap and the shift of E_f with E_F at the SOC VBM."""
    folder = tiny[0]
    done = run_extended(
        tiny,
        perovcalc_cli,
        "soc",
        """
        [tasks.host_soc]
        kind = "defect_host"
        structure = "cspbbr3"
        params = {params}
        options = { steps = 0, soc = true }
        [tasks.vacancy_soc]
        kind = "vacancy_formation"
        structure = "task:host_soc"
        needs = ["mu"]
        params = {params}
        options = { sites = [2], charges = [1], steps = 0 }
        """,
    )
    store = Store(folder / "r.db")
    host = store.rows(task="host_soc")[0].data["result"]
    soc = host["soc_edges"]
    assert soc["vbm_no_soc"] == pytest.approx(host["vbm"], abs=0.01)
    assert soc["gap"] < host["gap"] - 0.5 and soc["gap"] > 0
    assert store.rows(task="vacancy_soc")[0].status == "done", done.stderr[-2000:]
    table = subprocess.run(
        [*perovcalc_cli, "vacancy", "table", str(folder / "soc.toml"), "--db",
         str(folder / "r.db")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert f"with SOC (non-self-consistent): gap {soc['gap']:.3f} eV (PBE+SOC)" in table.stdout
    assert f"add q x {soc['vbm'] - soc['vbm_no_soc']:+.3f} eV" in table.stdout


class _Row(dict):
    """A stored host row's keys (what :func:`host_charge` reads)."""

    task = "slab_host"


def test_a_charged_slab_host_is_refused_and_q_is_relative_to_a_bulk_host(tmp_path):
    from perovcalc.kinds.defects import host_charge
    from perovcalc.tasks import TaskContext

    ctx = TaskContext("vac", None, {"charge": 2}, {}, tmp_path, "demo", {})
    with pytest.raises(InputError, match=r"tasks.slab_host.charge = 2 .*slab correction"):
        host_charge(ctx, _Row(net_charge=2), "slab")
    assert host_charge(ctx, _Row(net_charge=2), "bulk") == 2
    neutral = TaskContext("vac", None, {}, {}, tmp_path, "demo", {})
    assert host_charge(neutral, _Row(net_charge=0), "slab") == 0
    with pytest.raises(InputError, match=r"tasks.vac.charge = 0 .*allowed: 2"):
        host_charge(neutral, _Row(net_charge=2), "bulk")


def test_a_rattled_vacancy_relaxes_back_and_says_so(tiny, perovcalc_cli, tmp_path):
    """V_Br^+ relaxed from a start rattled by 0.05 A (seeded with its host index) ends well
    below the relaxed symmetric start: in the primitive cell that is a saddle (zero forces by
    symmetry) which BFGS cannot leave. E_relax is not defined then, and the table and CSV say
    that the start was rattled. A rattle without relaxation is refused. A host rattled the same
    way (seed 0) relaxes back to the cubic cell at the demo preset (no instability in one
    formula unit; at the coarse 2x2x2 k-points of the vacancy here it would not)."""
    from perovcalc.vacancy import remove_atom

    folder, campaign, rows = tiny
    done = run_extended(
        tiny,
        perovcalc_cli,
        "rattled",
        """
            [tasks.rattled]
            kind = "vacancy_formation"
            structure = "task:host"
            needs = ["mu"]
            params = {params}
            options = { sites = [2], charges = [1], steps = 20, rattle = 0.05 }
            [tasks.rattled_unrelaxed]
            kind = "vacancy_formation"
            structure = "task:host"
            needs = ["mu"]
            params = {params}
            options = { steps = 0, rattle = 0.05 }
            [tasks.host_symmetric]
            kind = "defect_host"
            structure = "cspbbr3"
            [tasks.host_rattled]
            kind = "defect_host"
            structure = "cspbbr3"
            options = { steps = 20, rattle = 0.05, fmax = 0.02 }
            [tasks.host_rattled_unrelaxed]
            kind = "defect_host"
            structure = "cspbbr3"
            params = {params}
            options = { steps = 0, rattle = 0.05 }
            """,
    )
    extended, db = folder / "rattled.toml", ["--db", str(folder / "r.db")]
    assert done.returncode != 0
    store = Store(folder / "r.db")
    for name in ("rattled_unrelaxed", "host_rattled_unrelaxed"):
        refused = store.rows(task=name)[0]
        assert refused.status == "failed"
        assert "options.rattle = 0.05 is not allowed; allowed: 0 with options.steps = 0" in (
            refused.reason
        )
    host = store.rows(task="host_rattled")[0]
    assert host.data["result"]["rattle"] == 0.05 and host.data["result"]["converged"]
    symmetric_host = store.rows(task="host_symmetric")[0]
    assert abs(host.energy - symmetric_host.energy) < 0.003  # eV: back in the cubic minimum
    start = symmetric_host.toatoms()  # zero forces by symmetry: the built structure
    start.rattle(0.05, seed=0)
    task_dir = next((folder / "w" / "tasks").glob("host_rattled-*"))
    assert np.allclose(read(task_dir / "relax.traj", 0).positions, start.positions)
    assert symmetric_host.data["result"]["rattle"] == 0.0
    [entry] = store.rows(task="rattled")[0].data["result"]["entries"]
    symmetric = next(e for e in rows["vacancy"].data["result"]["entries"] if e["charge"] == 1)
    assert entry["rattle"] == 0.05 and entry["relaxation_energy"] is None
    assert entry["converged"] and symmetric["converged"]
    assert entry["energy"] < symmetric["energy"] - 0.1  # eV; 0.54 eV at these settings
    start = remove_atom(rows["host"].toatoms(), 2)
    start.rattle(0.05, seed=2)
    task_dir = next((folder / "w" / "tasks").glob("rattled-*"))
    first = read(task_dir / "Br2_q+1" / "relax.traj", 0)
    assert np.allclose(first.positions, start.positions)
    assert np.abs(first.positions - symmetric["positions"]).max() > 0.01
    table = subprocess.run(
        [*perovcalc_cli, "vacancy", "table", str(extended), *db],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert "rattled starts (free atoms displaced by 0.05 A, std. dev.): no E_relax" in table.stdout
    written = subprocess.run(
        [*perovcalc_cli, "vacancy", "csv", str(extended), *db, "-o", str(tmp_path / "c.csv")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    by_task = {r["task"]: r for r in load_table("c", tmp_path)}
    assert by_task["rattled"]["rattle_A"] == 0.05 and by_task["rattled"]["E_relax_eV"] is None
    assert by_task["vacancy"]["rattle_A"] == 0.0


def test_cli_table_and_plots(tiny, perovcalc_cli, tmp_path):
    folder, campaign, rows = tiny

    table = subprocess.run(
        [*perovcalc_cli, "vacancy", "table", str(campaign), "--db", str(folder / "r.db")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    poor = rows["vacancy"].data["result"]["entries"][1]["formation_energy"]["poor"]
    assert f"{poor:.3f}" in table.stdout
    assert "epsilon = 30" in table.stdout and "Kang and Wang" in table.stdout
    plot = subprocess.run(
        [*perovcalc_cli, "vacancy", "plot", str(campaign), "--db", str(folder / "r.db"),
         "-o", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "vacancy_fermi_level.png").read_bytes()[:4] == b"\x89PNG"
    written = subprocess.run(
        [*perovcalc_cli, "vacancy", "csv", str(campaign), "--db", str(folder / "r.db"),
         "-o", str(tmp_path / "computed.csv")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    table = load_table("computed", tmp_path)  # a valid reference table: source and tag
    assert [(r["charge"], r["tag"], r["kpts"]) for r in table] == [
        (0, "C", "2x2x2"),
        (1, "C", "2x2x2"),
    ]
    assert table[1]["E_f_poor_eV"] == pytest.approx(poor, abs=1e-4)


def test_workflows_validate():
    for name in ("vacancy_demo.toml", "vacancy_convergence.toml"):
        campaign = load_campaign(WORKFLOWS / name)
        kinds = {t.kind for t in campaign.tasks.values()}
        assert {"chemical_potentials", "vacancy_formation", "defect_host"} <= kinds


@pytest.mark.slow
def test_bare_and_passivated_slab_end_to_end(tmp_path, perovcalc_cli):
    """Neutral V_Br at the surface and in the centre of 3-layer CsBr-terminated slabs, bare and
    with the outer CsBr layers made KBr (6-13 min on one core)."""

    slabs = textwrap.dedent(
        """
        [structures.bare]
        builder = "slab"
        x = 3.0
        layers = 3
        a = 5.874
        vacuum = 10.0
        [structures.kbr]
        builder = "slab"
        x = 3.0
        layers = 3
        a = 5.874
        vacuum = 10.0
        passivation = "KBr"
        """
    )
    for name in ("bare", "kbr"):
        slabs += textwrap.dedent(
            f"""
            [tasks.{name}_host]
            kind = "defect_host"
            structure = "{name}"
            params = {{ mode = {{ name = "pw", ecut = 250 }} }}
            options = {{ steps = 3 }}
            [tasks.{name}_vac]
            kind = "vacancy_formation"
            structure = "task:{name}_host"
            needs = ["mu"]
            params = {{ mode = {{ name = "pw", ecut = 250 }} }}
            options = {{ steps = 3 }}
            """
        )
    campaign = tmp_path / "slab.toml"
    campaign.write_text(TINY.replace('name = "tiny_vacancy"', 'name = "tiny_slab"') + slabs)
    db = tmp_path / "r.db"
    run = subprocess.run(
        [*perovcalc_cli, "run", str(campaign), "--db", str(db), "--ranks", "1",
         "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {row.task: row for row in Store(db).rows()}
    for name in ("bare_vac", "kbr_vac"):
        entries = rows[name].data["result"]["entries"]
        # surface (top and bottom: 2) and central-layer (2 per PbBr2 layer) Br, one run each
        assert sorted((e["layer_from_surface"], e["multiplicity"]) for e in entries) == [
            (0, 2),
            (1, 2),
        ]
        assert all(e["charge"] == 0 for e in entries)
    table = subprocess.run(
        [*perovcalc_cli, "vacancy", "table", str(campaign), "--db", str(db)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert "passivation effect (kbr_vac - bare_vac)" in table.stdout


# ----------------------------------------------------------------- equilibrium (py-sc-fermi)
@pytest.mark.parametrize("temperature", [453.15, 300.0])  # synthesis (180 C), room temperature
def test_self_consistent_fermi_level_of_a_donor_and_an_acceptor_by_hand(temperature):
    """A donor D+ (E_f = a + E_F, 3 sites) and an acceptor A- (E_f = b - E_F, 1 site) in a
    3 eV gap, carriers negligible: neutrality 3 exp(-(a + E_F)/kT) = exp(-(b - E_F)/kT) gives
    E_F = (b - a)/2 + (kT/2) ln 3, and both concentrations exp(-(a + b)/2kT) sqrt(3) per cell."""
    from ase.units import kB

    from perovcalc.equilibrium import DefectLevels, equilibrium_fermi_level

    a, b, gap, volume = -0.9, 2.3, 3.0, 200.0  # eV, eV, eV, A^3
    energies = np.linspace(-4.0, gap + 4.0, 3001)
    dos = np.where((energies <= 0) | (energies >= gap), 2.0, 0.0)  # flat bands, states/eV
    defects = [DefectLevels("D", 3, {1: a, 0: a + 2.0}), DefectLevels("A", 1, {-1: b})]
    solved = equilibrium_fermi_level(defects, energies, dos, gap, volume, temperature)
    kt = kB * temperature
    expected = (b - a) / 2 + kt / 2 * np.log(3)
    assert solved["fermi_level"] == pytest.approx(expected, abs=1e-4)
    per_cm3 = np.sqrt(3) * np.exp(-(a + b) / (2 * kt)) * 1e24 / volume
    assert solved["concentrations"]["A"][-1] == pytest.approx(per_cm3, rel=1e-3)
    assert solved["concentrations"]["D"][1] == pytest.approx(per_cm3, rel=1e-3)
    assert solved["electrons"] < 1e-6 * per_cm3 and solved["holes"] < 1e-6 * per_cm3
    with pytest.raises(InputError, match="temperature"):
        equilibrium_fermi_level(defects, energies, dos, gap, volume, 0.0)
