"""A campaign built in Python and run through the same runner and store as a TOML file.

    .venv/bin/python workflows/scripted_campaign.py [--ranks N]

Lattice constants of cubic CsPbBr3 and CsPbI3 at the demo preset (about a minute on 2 cores),
then one energy of each at its relaxed lattice constant. Results: results/scripted/results.db.
"""

import argparse

from perovcalc.campaign import Campaign
from perovcalc.results import print_results
from perovcalc.runner import default_workdir, run_campaign


def build() -> Campaign:
    campaign = Campaign("scripted", preset="demo")
    for halide, a_exp in (("Br", 5.874), ("I", 6.2894)):  # reference/lattice_constants.csv
        campaign.add_structure(f"CsPb{halide}3", "perovskite", halide=halide, a=a_exp)
        campaign.add_task(f"lattice_{halide}", "relax_lattice", f"CsPb{halide}3")
        campaign.add_structure(
            f"CsPb{halide}3_relaxed", "perovskite", halide=halide, a=f"task:lattice_{halide}"
        )
        campaign.add_task(f"energy_{halide}", "single_point", f"CsPb{halide}3_relaxed")
    return campaign


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ranks", type=int, default=1)
    args = parser.parse_args()
    campaign = build()
    db = default_workdir(campaign) / "results.db"
    summary = run_campaign(campaign, db, ranks=args.ranks)
    print_results(campaign, db)
    raise SystemExit(0 if summary.ok else 1)
