"""K at the surface or below it: segregation energy, equilibrium shares and the report row."""

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.units import kB

from perovcalc.campaign import Campaign
from perovcalc.errors import InputError
from perovcalc.report.potassium import pair_segregation_energy, potassium_section
from perovcalc.segregation import (
    depth_populations,
    fraction_below,
    moved,
    segregation_energy,
)
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


def test_excess_k_counts_only_the_k_that_changed_depth():
    on_top = perovskite_slab(layers=5, passivation="KBr", adatom_k=True)
    inside = perovskite_slab(layers=5, passivation="KBr", interstitial_k=True)
    assert moved(on_top, inside) == 2  # of 4 K: the outer-layer K stay
    assert moved(*k_pair()) == 2
    assert segregation_energy(on_top, -50.0, inside, -49.0) == pytest.approx(0.5)
    with pytest.raises(InputError, match="K below the surface"):
        segregation_energy(inside, -50.0, inside.copy(), -49.0)


def test_an_interstitial_k_that_rose_to_the_surface_gives_no_segregation_energy():
    """As the 1x1 and 2x1 interstitial-K slabs did on relaxation: K_i rose to within 1 A of the
    outer layer and pushed the outer K above it part of the way out (energies given: this
    checks the bookkeeping)."""
    from types import SimpleNamespace

    on_top = perovskite_slab(layers=5, passivation="KBr", adatom_k=True)
    inside = perovskite_slab(layers=5, passivation="KBr", interstitial_k=True)
    risen = inside.copy()
    k = [i for i, s in enumerate(risen.get_chemical_symbols()) if s == "K"]
    centre = risen.positions[:, 2].mean()
    inner = risen.arrays["layer"][k] == 1
    for i, shift in zip(k, np.where(inner, 2.0, 1.8), strict=True):  # outwards, A
        risen.positions[i, 2] += shift * np.sign(risen.positions[i, 2] - centre)
    assert moved(on_top, risen) == 0  # the pushed K, between layer and on-top site, is not below

    def pair(below):
        """(task, row) of the K-on-top and the ``below`` slab, labelled as k_depth.toml does."""
        sites = (("surface", on_top, -50.0), ("below", below, -49.7))
        return [(SimpleNamespace(kind="defect_host", labels={"k_site": site, "model": "excess K"}),
                 SimpleNamespace(toatoms=lambda a=a: a, energy=e, natoms=len(a), preset="demo"))
                for site, a, e in sites]  # fmt: skip

    assert pair_segregation_energy(
        {t.labels["k_site"]: r for t, r in pair(inside)}
    ) == pytest.approx(0.15)
    section = potassium_section(None, pair(risen))
    block = section.blocks["Segregation of K (per K moved)"]
    assert not section.observables
    assert "excess K" in block and "no K below the surface after relaxation" in block


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


def test_depth_populations_share_the_dopant_between_layers():
    # three K: two in the outer layer, one below; 10 % of all K below
    assert depth_populations([0.9, 6.0], [2, 1], 0.1) == pytest.approx([2.7, 0.3])
    # sites within 1 A of the shallowest share the outer layer
    assert depth_populations([0.9, 1.5, 6.0], [2, 2, 1], 0.0) == pytest.approx([2.5, 2.5, 0.0])
    with pytest.raises(InputError, match="share_below = 1.5.*0 to 1"):
        depth_populations([0.9, 6.0], [2, 1], 1.5)
    with pytest.raises(InputError, match="depths = .*apart in depth"):
        depth_populations([0.9, 1.2], [2, 1], 0.1)
    with pytest.raises(InputError, match="multiplicities"):
        depth_populations([0.9, 6.0], [2], 0.1)


def test_apparent_k_2p_weights_k_below_by_the_segregation_share():
    """K 2p of a K-at-two-depths model (K on lattice sites) and of an interstitial-K model, toy
    Delta-SCF energies: the deeper K of the first binds 2 eV more strongly (its BE rises with
    photon energy unless almost no K sits below), the interstitial K 2 eV less (its BE falls,
    as measured). A stored segregation pair (energies given) sets the share below for the
    first model only."""
    from types import SimpleNamespace

    from ase import Atoms

    from perovcalc.report.photoemission import photoemission_section

    cell = [[40.0, 0, 0], [0, 40.0, 0], [0, 0, 30.0]]  # image error below the 0.05 eV of a sign

    def levels(model, symbols, deep_be):
        atoms = Atoms(symbols, cell=cell, pbc=True)
        atoms.positions[:, 2] = np.linspace(10.0, 4.0, len(atoms))
        entry = {"sites": [0, 1], "delta_scf": {"0": 0.0, "1": deep_be},
                 "multiplicity": {"0": 1, "1": 1}, "site_depth": {"0": 0.0, "1": 6.0}}  # fmt: skip
        labels = {"environment": "kbr_passivated", "model": model}
        task = SimpleNamespace(kind="core_levels", name=model, structure="s", labels=labels)
        row = SimpleNamespace(data={"result": {"levels": {"K 2p": entry}}}, preset="demo",
                              toatoms=lambda: atoms, cell=cell)  # fmt: skip
        return task, row

    def host(site, atoms, energy, model="7-layer 1x1"):
        task = SimpleNamespace(kind="defect_host", name=site,
                               labels={"k_site": site, "model": model})  # fmt: skip
        return task, SimpleNamespace(toatoms=lambda: atoms, energy=energy, natoms=len(atoms))

    models = [levels("two depths", "KBr", 2.0), levels("interstitial", "K2Br", -2.0)]
    pair = [host("surface", k_pair()[0], -100.0), host("below", k_pair()[1], -99.4)]

    def graded(done):
        section = photoemission_section(None, done)
        found = {o.conditions["model"]: o for o in section.observables
                 if o.conditions["from_eV"] == 450.0}  # fmt: skip
        return section, found

    section, plain = graded(models)
    assert plain["two depths"].value > 0.05 and plain["two depths"].agreement == "disagrees"
    assert plain["interstitial"].value < -0.05 and plain["interstitial"].agreement == "agrees"
    (drivers,) = [b for t, b in section.blocks.items() if t.startswith("Which model")]
    assert "K 2p, measured decrease with depth: given by interstitial only" in drivers
    section, weighted = graded(models + pair)
    # E_seg = +0.3 eV: 0.046 % of K below at 453 K, so the deeper K barely counts
    assert 0 < weighted["two depths"].value < 0.01
    assert weighted["two depths"].agreement != "disagrees"
    assert "0.00046 of all K (E_seg +0.300 eV/K, 7-layer 1x1, at 453 K)" in "".join(
        section.blocks.values()
    )
    assert weighted["interstitial"].value == pytest.approx(plain["interstitial"].value)
    # an excess-K pair (more atoms, K prefers the inside) says nothing of K on lattice sites
    excess = [perovskite_slab(layers=7, passivation="KBr", **{site: True})
              for site in ("adatom_k", "interstitial_k")]  # fmt: skip
    assert len(excess[0]) > len(k_pair()[0])
    pair += [
        host("surface", excess[0], -100.0, "excess"),
        host("below", excess[1], -101.0, "excess"),
    ]
    section, again = graded(models + pair)
    assert again["two depths"].value == pytest.approx(weighted["two depths"].value)
