"""The core_levels campaign task on a real (tiny) CsPbBr3 slab."""

import pytest

from perovcalc.campaign import Campaign
from perovcalc.runner import run_campaign
from perovcalc.store import Store


@pytest.fixture(scope="module")
def levels(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cl")
    campaign = Campaign("core-levels-test")
    campaign.add_structure("slab", "slab", x=3, layers=3, vacuum=8.0)
    campaign.add_task(
        "levels", "core_levels", "slab",
        options={"levels": ["Br 3d", "Pb 4f"]},
        params={"mode": {"name": "pw", "ecut": 250}},
    )  # fmt: skip
    summary = run_campaign(campaign, tmp / "r.db", ranks=1, workdir=tmp)
    assert summary.ok, summary.failed
    return Store(tmp / "r.db").rows()[0].data["result"]["levels"]


def test_sites_multiplicities_and_depths(levels):
    br = levels["Br 3d"]
    # CsBr / PbBr2 / CsBr: outer Br (top and bottom, mirror images) and the two central Br
    assert sum(br["multiplicity"].values()) == 4
    assert sorted(br["site_depth"].values()) == pytest.approx([0.0, 5.874 / 2], abs=1e-6)
    assert levels["Pb 4f"]["multiplicity"] == {"2": 1}
    # the central-layer reference: the Pb of the PbBr2 layer, and a Br of that layer
    assert levels["Pb 4f"]["reference_site"] == 2
    assert levels["Pb 4f"]["reference_depth"] == pytest.approx(5.874 / 2, abs=1e-6)
    assert br["reference_site"] in br["sites"]
    assert br["site_depth"][str(br["reference_site"])] == pytest.approx(5.874 / 2, abs=1e-6)


def test_delta_scf_and_initial_state(levels):
    br = levels["Br 3d"]
    values = list(br["delta_scf"].values())
    assert len(values) == 2 and abs(values[0] - values[1]) < 1.0  # both Br 3d, similar sites
    initial = br["initial_state"]
    same_layer = [initial[k] for k, d in br["depth"].items() if abs(d - 5.874 / 2) < 1e-6]
    assert len(same_layer) == 2 and same_layer[0] == pytest.approx(same_layer[1], abs=1e-6)
    # Br and Pb energies are different core levels: far apart in absolute terms
    assert abs(levels["Pb 4f"]["delta_scf"]["2"] - values[0]) > 0.5
