"""Time the main job: the demo campaign from an empty store, and each task's wall time.

    python benchmarks/main_job.py [--workdir /tmp/main-job] [--jobs 2] [--ranks 1] [--campaign F]

Runs ``perovcalc run workflows/kbr_passivation_demo.toml`` (as ``make run`` does) into a fresh
store under ``--workdir`` (refused if one is there: a timing of reused tasks means nothing), then
prints the total wall time and a table of every task: kind, wall time (s, as the store records
it), DFT evaluations where the task counts them, and its status. Set-up is not included.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from perovcalc.campaign import load_campaign
from perovcalc.store import Store

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGN = ROOT / "workflows" / "kbr_passivation_demo.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", type=Path, default=CAMPAIGN, help="default: the main job's")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/perovcalc-main-job"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=1)
    args = parser.parse_args()
    db = args.workdir / "results.db"
    if db.exists():
        sys.exit(f"{db} exists: give an empty --workdir (a timing of reused tasks means nothing)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "perovcalc.cli.main", "run", str(args.campaign), "--db", str(db),
        "--workdir", str(args.workdir), "--jobs", str(args.jobs), "--ranks", str(args.ranks),
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    total = time.perf_counter() - start
    campaign = load_campaign(args.campaign)
    ids = campaign.task_ids()
    store = Store(db, create=False)
    print(f"\nmain job: {total / 60:.1f} min wall on {args.jobs} jobs x {args.ranks} rank(s), "
          f"exit status {done.returncode}")  # fmt: skip
    print(f"{'task':28s} {'kind':22s} {'wall_s':>8s} {'DFT evals':>9s}  status")
    for name, task in campaign.tasks.items():
        row = store.get(ids[name])
        if row is None:
            print(f"{name:28s} {task.kind:22s} {'-':>8s} {'-':>9s}  not run")
            continue
        result = dict(row.data or {}).get("result") or {}
        cost = result.get("total_cost") or {}
        evaluations = cost.get("evaluations", result.get("evaluations", ""))
        wall = row.get("wall_s")
        print(
            f"{name:28s} {task.kind:22s} {wall if wall is None else round(wall):>8} "
            f"{evaluations!s:>9s}  {row.status}"
        )


if __name__ == "__main__":
    main()
