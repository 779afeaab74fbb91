"""The report from a small campaign computed for real in the test (demo-level GPAW settings)."""

import base64
import json
import re
import subprocess

import pytest

from perovcalc.campaign import Campaign
from perovcalc.report import AGREEMENTS, write_report
from perovcalc.runner import run_campaign
from perovcalc.store import Store

CHEAP = {"mode": {"name": "pw", "ecut": 250}}
KEYS = {"observable", "conditions", "value", "unit", "preset", "reference", "agreement"}


def small_campaign() -> Campaign:
    c = Campaign("report-test", description="tiny campaign for the report test")
    c.add_structure("bulk_x3", "bulk", x=3)
    c.add_task("lattice_x3", "relax_lattice", "bulk_x3", options={"points": 4, "strain": 0.04})
    c.add_structure("xrd_x3", "bulk", x=3, a="task:lattice_x3")
    c.add_task("xrd_x3", "xrd", "xrd_x3", options={"size_nm": 11.4})
    c.add_structure("nc", "nanocrystal", x=1, edge_nm=3.0, shell="KBr")
    c.add_task("photoemission", "photoemission_ratios", "nc")
    for env, passivation in (("bare_surface", None), ("kbr_passivated", "KBr")):
        c.add_structure(env, "slab", x=3, layers=3, vacuum=8.0, passivation=passivation)
        c.add_task(f"levels_{env}", "core_levels", env, params=CHEAP,
                   options={"levels": ["Br 3d", "Pb 4f"], "method": "delta_scf"},
                   labels={"environment": env})  # fmt: skip
    return c


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    campaign = small_campaign()
    summary = run_campaign(campaign, tmp / "r.db", ranks=1, workdir=tmp / "w")
    assert summary.ok, summary.failed
    write_report(campaign, tmp / "r.db", tmp / "out")
    return campaign, tmp


def test_summary_schema_and_values_come_from_the_store(report):
    campaign, tmp = report
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    assert summary and all(set(entry) == KEYS for entry in summary)
    for entry in summary:
        assert entry["agreement"] in AGREEMENTS
        assert all(not isinstance(v, dict | list) for v in entry["conditions"].values())
        assert entry["reference"] is None or set(entry["reference"]) == {"value", "source"}
    names = {e["observable"] for e in summary}
    assert {"lattice_constant", "xrd_peak_position", "photoemission_ratio", "core_level_shift",
            "br3d_pb4f_double_difference"} <= names  # fmt: skip
    ids = campaign.task_ids()
    row = Store(tmp / "r.db").get(ids["lattice_x3"])
    lattice = next(e for e in summary if e["observable"] == "lattice_constant")
    assert lattice["value"] == row.data["result"]["lattice_constant"]
    assert lattice["conditions"] == {"x": 3.0} and lattice["reference"]["value"] == 5.874
    # the (100) peak sits where Bragg's law puts it for the computed lattice constant
    peak = next(e for e in summary if e["observable"] == "xrd_peak_position"
                and e["conditions"]["hkl"] == "(100)")  # fmt: skip
    assert peak["value"] == pytest.approx(
        2 * 57.29577951308232 * __import__("math").asin(1.54178 / (2 * lattice["value"])), abs=0.01
    )
    ratios = [e for e in summary if e["observable"] == "photoemission_ratio"]
    assert {e["conditions"]["pair"] for e in ratios} == {"K/Pb", "Br/Pb"}
    assert all(e["reference"] is not None for e in ratios)


def test_html_is_self_contained_with_nonempty_figures(report):
    _, tmp = report
    page = (tmp / "out" / "report.html").read_text()
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    pngs = [base64.b64decode(s.split(",", 1)[1]) for s in sources]
    assert all(p.startswith(b"\x89PNG") and len(p) > 5000 for p in pngs)
    md = (tmp / "out" / "report.md").read_text()
    for name in re.findall(r"\]\((figure\d+\.png)\)", md):
        assert (tmp / "out" / name).stat().st_size > 5000
    assert len(re.findall(r"\]\((figure\d+\.png)\)", md)) == len(pngs) >= 4


def test_report_cli(report, perovcalc_cli, tmp_path):
    campaign, tmp = report
    path = tmp_path / "c.toml"
    path.write_text("[campaign]\nname='x'\n[structures.s]\nbuilder='perovskite'\na=5.9\n"
                    "[tasks.t]\nkind='single_point'\nstructure='s'\n")  # fmt: skip
    proc = subprocess.run(
        [*perovcalc_cli, "report", str(path), "--db", str(tmp / "r.db"), "-o", str(tmp_path / "o")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text()) == []
    assert "t: pending" in (tmp_path / "o" / "report.md").read_text()
