"""K at the surface or below it: segregation energy, equilibrium shares and the report row."""

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import kB

from perovcalc.campaign import Campaign
from perovcalc.errors import InputError
from perovcalc.report.potassium import potassium_section
from perovcalc.segregation import fraction_below, segregation_energy
from perovcalc.slab import perovskite_slab
from perovcalc.store import Store
from perovcalc.worker import summary_keys


def k_pair(layers: int = 7):
    surface = perovskite_slab(layers=layers, passivation="KBr", k_coverage=1.0)
    below = perovskite_slab(layers=layers, passivation="KBr", k_coverage=0.0, k_subsurface=1.0)
    return surface, below


def test_equilibrium_share_below_the_surface():
    assert fraction_below(0.0, 453.0) == pytest.approx(0.5)
    assert fraction_below(0.0, 300.0, sites_ratio=2.0) == pytest.approx(2 / 3)
    # E = kT ln 9: one dopant in ten below the surface
    assert fraction_below(kB * 453.0 * np.log(9), 453.0) == pytest.approx(0.1)
    assert fraction_below(-0.2, 453.0) > 0.5  # K prefers the inside
    hot, cold = fraction_below(0.2, 453.0), fraction_below(0.2, 298.0)
    assert cold < hot < 0.5
    with pytest.raises(InputError, match="temperature = 0.*> 0 K"):
        fraction_below(0.1, 0.0)


def test_segregation_energy_per_k_moved():
    surface, below = k_pair()
    assert surface.get_chemical_symbols().count("K") == 2  # one K layer per surface moved
    assert segregation_energy(surface, -100.0, below, -99.4) == pytest.approx(0.3)
    thin_surface, thin_below = k_pair(layers=5)  # 2 K outside vs 1 K in the centre
    with pytest.raises(InputError, match="below = .*the atoms of"):
        segregation_energy(thin_surface, -100.0, thin_below, -99.0)
    with pytest.raises(InputError, match="element = 'Na'"):
        segregation_energy(surface, -100.0, below, -99.4, element="Na")


def test_report_row_from_a_stored_pair(tmp_path):
    """Stored host energies (given, not computed: this checks the report, not the physics)."""
    campaign = Campaign("k", preset="demo")
    done = []
    store = Store(tmp_path / "k.db")
    for site in ("surface", "below"):
        campaign.add_structure(f"k_{site}", "slab", layers=7, passivation="KBr",
                               k_coverage=float(site == "surface"),
                               k_subsurface=float(site == "below"))  # fmt: skip
        campaign.add_task(f"host_{site}", "defect_host", f"k_{site}",
                          labels={"k_site": site, "model": "7-layer 1x1"})  # fmt: skip
    ids = campaign.task_ids()
    for site, atoms, energy in zip(("surface", "below"), k_pair(), (-100.0, -99.4), strict=True):
        name = f"host_{site}"
        recipe = campaign.recipe(campaign.tasks[name], ids)
        assert store.claim(ids[name], {"campaign": "k", "task": name, "kind": "defect_host"})
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        keys = summary_keys({}, {"recipe": recipe}, atoms)
        result = {"slab": {k: atoms.info[k] for k in ("a", "layers", "passivation")}}
        store.finish(ids[name], atoms, keys, {"params": {}, "result": result, "recipe": recipe})
        done.append((campaign.tasks[name], store.get(ids[name])))
    section = potassium_section(campaign, done)
    (row,) = section.observables
    assert row.observable == "k_segregation_energy"
    assert row.value == pytest.approx(0.3)
    assert row.agreement == "inconclusive"  # demo preset, 1x1 slabs: too crude to decide
    assert "demo preset, 1x1 slabs" in row.why and "+0.30 eV" in row.why
    assert "0.00046 at 453 K" in row.note  # 1 / (1 + exp(0.3 / kT))
    assert potassium_section(campaign, done[:1]) is None  # no pair, no section
