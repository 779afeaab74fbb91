"""Reading a campaign's results back from the store: status tables and result summaries."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from perovcalc.campaign import Campaign
from perovcalc.store import NoStore, Store, is_stale, unconverged

HEADLINE_KEYS = {  # result key -> (label, unit, format)
    "lattice_constant": ("a", "A", ".4f"),
    "bulk_modulus": ("B", "GPa", ".1f"),
}


def task_rows(campaign: Campaign, db: str | Path) -> list[tuple[str, str, object]]:
    """(task name, task id, row or None) for every task, in dependency order (reading creates
    no store, a missing one raises NoStore, and changes none: rows of perovcalc 0.1 are adopted
    by ``perovcalc run`` or ``perovcalc migrate``)."""
    store = Store(db, create=False)
    ids = campaign.task_ids()
    return [(t.name, ids[t.name], store.get(ids[t.name])) for t in campaign.order()]


def state(row) -> str:
    if row is None:
        return "pending"
    if is_stale(row):
        return "running (owner gone: resumes on rerun)"
    return "done (UNCONVERGED)" if unconverged(row) else row.status


def settings(row) -> str:
    """Settings of a result in one line: preset, xc, mode, cutoff or basis, k-points, versions."""
    if not row.get("mode"):  # no DFT in this task
        return f"perovcalc {row.get('perovcalc_version')} (no DFT)"
    parts = [f"preset={row.get('preset')}", f"xc={row.get('xc')}", f"mode={row.get('mode')}"]
    if row.get("ecut") is not None:
        parts.append(f"ecut={row.ecut:g} eV")
    if row.get("basis") is not None:
        parts.append(f"basis={row.basis}")
    if row.get("kpts") is not None:
        parts.append(f"kpts={row.kpts}")
    if row.get("supercell") is not None:
        parts.append(f"supercell={row.supercell}")
    parts.append(f"GPAW {row.get('gpaw_version')}, ASE {row.get('ase_version')}")
    return ", ".join(parts)


def _limits(result: dict) -> str:
    """Chemical-potential limits of a chemical_potentials result (eV)."""
    return "; ".join(
        f"mu_{el} {mu['rich']:.3f} ({el}-rich) to {mu['poor']:.3f} ({el}-poor) eV"
        for el, mu in result["limits"].items()
    )


def _vacancies(result: dict) -> str:
    from perovcalc.kinds.defects import VacancyResult, vacancy_headline

    return vacancy_headline(VacancyResult.from_dict(result))


def _barrier(result: dict) -> str:
    from perovcalc.kinds.migration import MigrationResult, barrier_headline

    return barrier_headline(MigrationResult.from_dict(result))


def _core_levels(result: dict) -> str:
    from perovcalc.kinds.corelevels import CoreLevelsResult, core_levels_headline

    return core_levels_headline(CoreLevelsResult.from_dict(result))


SUMMARIES = {  # task kind -> its main numbers in words
    "chemical_potentials": _limits,
    "vacancy_formation": _vacancies,
    "migration_barrier": _barrier,
    "core_levels": _core_levels,
}


def headline(row) -> str:
    """The main computed numbers of a finished task."""
    result = row.data.get("result", {}) if row.get("data") is not None else {}
    if row.get("kind") in SUMMARIES and result:
        return SUMMARIES[row.kind](result)
    parts = [
        f"{label} = {result[key]:{fmt}} {unit}"
        for key, (label, unit, fmt) in HEADLINE_KEYS.items()
        if key in result
    ]
    if not parts and row.get("energy") is not None:
        parts.append(f"E = {row.energy:.4f} eV")
    text = "; ".join(parts) or "done (see the report)"
    return f"UNCONVERGED: {text}" if unconverged(row) else text


def print_status(campaign: Campaign, db: str | Path, stream: TextIO | None = None) -> None:
    """Table of tasks: state, kind, wall time, reason (to ``stream``, default stdout); every
    task pending, and a note on stderr, when the store does not exist yet (none is created)."""
    stream = stream or sys.stdout
    try:
        rows = task_rows(campaign, db)
    except NoStore as err:
        print(f"note: {err}", file=sys.stderr)
        rows = [(task.name, "", None) for task in campaign.order()]
    else:
        from perovcalc.runner import legacy_rows

        missing = any(row is None for *_, row in rows)
        if missing and (old := legacy_rows(campaign, Store(db, create=False))):
            print(
                f"note: {len(old)} task(s) ({', '.join(old)}) have a result stored under the task "
                f"id of perovcalc 0.1: `perovcalc migrate {campaign.source}` (or `perovcalc run`) "
                "adopts them",
                file=sys.stderr,
            )
    stream.write(f"campaign {campaign.name} ({campaign.source})\n")
    stream.write(f"{'task':<24} {'kind':<18} {'state':<12} {'wall s':>8}  notes\n")
    for name, _, row in rows:
        wall = ""
        if row is not None and row.get("wall_s") is not None:
            wall = f"{row.wall_s:.0f}"
        elif row is not None and row.status == "running":
            wall = f"{time.time() - row.started:.0f}"
        note = row.get("reason", "") if row is not None else ""
        kind = campaign.tasks[name].kind
        stream.write(f"{name:<24} {kind:<18} {state(row):<12} {wall:>8}  {note}\n")


def finished_rows(campaign: Campaign, db: str | Path) -> dict[str, object]:
    """Task name -> stored row of every finished task, in dependency order."""
    return {
        name: row
        for name, _, row in task_rows(campaign, db)
        if row is not None and row.status == "done"
    }


def print_results(campaign: Campaign, db: str | Path, stream: TextIO | None = None) -> None:
    """Computed results of the finished tasks, each with the settings that produced it."""
    stream = stream or sys.stdout
    for name, row in finished_rows(campaign, db).items():
        stream.write(f"{name}: {headline(row)}\n    computed with {settings(row)}\n")


SETTINGS_COLUMNS = ["preset", "xc", "ecut_eV", "kpts", "gpaw_version", "source", "tag"]


def settings_record(row, source: str) -> dict:
    """The ``SETTINGS_COLUMNS`` of a computed CSV row from its store ``row`` (tag C:
    computed here, ``source`` saying how)."""
    return {
        "preset": row.get("preset"),
        "xc": row.get("xc"),
        "ecut_eV": row.get("ecut"),
        "kpts": row.get("kpts"),
        "gpaw_version": row.get("gpaw_version"),
        "source": source,
        "tag": "C",
    }


def write_csv(
    columns: list[str], records: list[dict], output: str | Path | None, header: str = ""
) -> None:
    """``records`` as CSV with ``columns`` to the file ``output``, else to standard output,
    after ``header`` (comment lines, each starting with "#" and ending with a newline)."""
    import csv

    handle = open(output, "w", newline="") if output else sys.stdout  # noqa: SIM115
    handle.write(header)
    writer = csv.DictWriter(handle, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    if output:
        handle.close()


def kept_rows(path: Path, rows: list[dict], key: list[str]) -> list[dict]:
    """The rows of the CSV file ``path`` (if it exists) whose ``key`` columns match none of
    ``rows``: earlier results that a store no longer holds."""
    import csv

    if not path.exists():
        return []
    fresh = {tuple(str(r.get(k, "")) for k in key) for r in rows}
    with path.open(newline="") as handle:
        old = csv.DictReader(line for line in handle if not line.startswith("#"))
        return [r for r in old if tuple(r[k] for k in key) not in fresh]


def csv_command(
    doc: str, campaign_file: Path, output: Path, records, columns: list[str], header: str,
    key: list[str] | None = None,
) -> None:  # fmt: skip
    """Command line of a ``workflows/*.py`` script that writes a finished campaign's rows as a
    reference CSV: ``--db`` (default: the campaign's store), ``--output`` (default ``output``);
    ``records(campaign, db)`` gives the rows, written with ``columns`` after ``header``. With
    ``key`` (columns naming a row) and ``--keep``, rows of the existing output that the store
    does not produce again stay (a store that holds only part of the campaign)."""
    import argparse

    from perovcalc.campaign import load_campaign
    from perovcalc.runner import default_store

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--db", help="default: the campaign's store under results/")
    parser.add_argument("--output", type=Path, default=output)
    if key:
        parser.add_argument("--keep", action="store_true",
                            help="keep the output's rows this store does not produce")  # fmt: skip
    args = parser.parse_args()
    campaign = load_campaign(campaign_file)
    rows = records(campaign, args.db or default_store(campaign))
    kept = kept_rows(args.output, rows, key) if key and args.keep else []
    write_csv(columns, kept + rows, args.output, header)
    print(f"{len(rows)} rows from the store, {len(kept)} kept -> {args.output}")
