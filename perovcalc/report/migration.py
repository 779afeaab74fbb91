"""Report section: halide migration barriers (CI-NEB), their cost, and the change on passivation;
also the barrier table and literature that ``perovcalc barrier`` prints. It reads the kind's
record (:class:`perovcalc.kinds.migration.MigrationResult`), never the stored dict."""

from __future__ import annotations

from typing import NamedTuple

from perovcalc import reference as ref
from perovcalc.campaign import Campaign, TaskSpec
from perovcalc.kinds.migration import MigrationResult, stop_reason
from perovcalc.mep import unstable_endpoints
from perovcalc.neb import RECONSTRUCTION, reconstruction
from perovcalc.path import profile_figure, unresolved_minima
from perovcalc.report.common import Done, _png, environment
from perovcalc.report.judge import (
    Observable,
    Section,
    _decide,
    _sign_agreement,
    _too_crude,
    _trend,
    judge_change,
)
from perovcalc.results import settings


def _barrier_system(row) -> str | None:
    """CsPbBr3 or CsPbI3 for a single-halide model, else None (no tabulated barrier)."""
    symbols = set(row.toatoms().get_chemical_symbols())
    if "Br" in symbols and "I" not in symbols:
        return "CsPbBr3"
    if "I" in symbols and "Br" not in symbols:
        return "CsPbI3"
    return None


def _range(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


def _bulk_barrier_reference(system: str | None, species: str) -> tuple[dict, float, float] | None:
    """The widest tabulated bulk barrier range of V_``species`` in ``system``: reference
    {value (middle of the range), source} and the range (eV)."""
    candidates = [
        r for r in ref.load_table("migration_barriers")
        if r["system"] == system and r["defect"] == f"V_{species}" and r["environment"] == "bulk"
    ]  # fmt: skip
    if not candidates:
        return None
    r = max(candidates, key=lambda r: r["barrier_max_eV"] - r["barrier_min_eV"])
    low, high = r["barrier_min_eV"], r["barrier_max_eV"]
    source = f"{_range(low, high)} eV, {r['method']}: {r['source']} [{r['tag']}]"
    return {"value": (low + high) / 2, "source": source}, low, high


def barrier_table(rows: list[tuple[str, str, MigrationResult, str]]) -> str:
    """Text table of (task, environment, result, settings) of migration_barrier results:
    barriers and reaction energy (eV), convergence and cost (DFT evaluations, optimizer steps,
    wall s)."""
    lines = [
        f"  {'task':<20} {'environment':<16} {'X':<3}{'E_fwd':>7} {'E_rev':>7} {'dE':>7} "
        f"{'converged':>9} {'evals':>6} {'steps':>6} {'wall s':>8}"
    ]
    for name, env, r, _ in rows:
        band, cost = r.band, r.band.total_cost
        lines.append(
            f"  {name:<20} {env:<16} {r.species:<3}{band.forward_barrier:>7.3f} "
            f"{band.reverse_barrier:>7.3f} {band.reaction_energy:>+7.3f} "
            f"{'yes' if band.converged else 'no':>9} {cost.evaluations:>6} {cost.steps:>6} "
            f"{cost.wall_time:>8.0f}"
        )
    lines += [f"  {name}: {text}" for name, _, _, text in rows]
    for name, _, r, _ in rows:
        for m in r.band.intermediates:
            lines.append(
                f"  {name}: through {m['name']}, a minimum {m['energy']:+.3f} eV from the "
                f"initial state with the hopping {r.species} {m['hop_fraction']:.0%} of the "
                f"way (relaxed in {m['evaluations']} evaluations): barriers from the lowest "
                "state before (forward) or after (reverse) each saddle"
            )
        ends = _no_minimum(r)
        if ends:
            e = r.band.energies
            lines.append(
                f"  {name}: NO BARRIER: {' and '.join(ends)} "
                f"{'endpoints are no minima' if len(ends) == 2 else 'endpoint is no minimum'} "
                f"along the band (image next to each endpoint {e[1] - e[0]:+.3f} / "
                f"{e[-2] - e[-1]:+.3f} eV): its relaxation stopped on a slope or a symmetric "
                "saddle, and a lower state lies along the band"
            )
        moved = reconstruction(r.band.hop)
        if moved is not None:
            lines.append(
                f"  {name}: RECONSTRUCTION: an atom other than the hopping "
                f"{r.species} is {moved:.2f} A apart between the relaxed endpoints "
                f"(> {RECONSTRUCTION} A): they relaxed into different structures, and the "
                "band measures that change with the hop"
            )
    return "\n".join(lines)


def _no_minimum(r: MigrationResult) -> list[str]:
    """The endpoints of a stored band that are no minimum along it (see mep.unstable_endpoints)."""
    return unstable_endpoints(r.band.energies)


def migration_literature() -> str:
    """Tabulated halide-vacancy migration barriers and trends, with source and tag."""
    lines = ["literature (reference/migration_barriers.csv, defect_trends.csv; V checked, "
             "M not checked, E the experiment):"]  # fmt: skip
    for r in ref.load_table("migration_barriers"):
        if r["system"].startswith("CsPb"):
            lines.append(f"  {r['system']} {r['defect']} {r['environment']}: "
                         f"{_range(r['barrier_min_eV'], r['barrier_max_eV'])} eV, {r['method']} "
                         f"[{r['tag']}] ({r['source']})")  # fmt: skip
    for r in ref.load_table("defect_trends"):
        if r["observable"] == "migration_barrier" and "CsPb" in r["system"]:
            lines.append(f"  {r['system']}: {r['relation']}: {r['finding']} [{r['tag']}] "
                         f"({r['source']})")  # fmt: skip
    return "\n".join(lines)


def _band_problems(r: MigrationResult) -> list[str]:
    """Why a stored band cannot decide anything: not converged, an endpoint no minimum, a
    minimum along it not relaxed, endpoints reconstructed differently."""
    problems = [] if r.band.converged else ["band not converged"]
    problems += ["an endpoint is no minimum"] if _no_minimum(r) else []
    if unresolved_minima(r.band.energies, r.band.minima):
        problems.append("a minimum along the band not relaxed")
    if reconstruction(r.band.hop) is not None:
        problems.append("endpoints reconstructed differently")
    return problems


def _stopped(r: MigrationResult) -> str:
    """Why a stored band is not converged, in words."""
    status = stop_reason(r)
    return f"band not converged, {status}" if status else "band not converged"


def _shown(r: MigrationResult) -> str:
    """A stored band's forward barrier (eV), marked where the band is not converged."""
    text = f"{r.band.forward_barrier:.3f} eV"
    return text if r.band.converged else f"{text} (highest image of an unconverged band)"


def mixed_host_headline(host: str, i: MigrationResult, br: MigrationResult) -> str:
    """The I and Br hops (stored band results) of one mixed-halide host side by side (eV)."""

    ok_i, ok_br = not _no_minimum(i), not _no_minimum(br)

    def shown(r: MigrationResult, ok: bool) -> str:
        barrier = r.band.forward_barrier
        return f"{barrier:.3f} eV" if ok else "no barrier (an endpoint is no minimum)"

    text = (
        f"In one mixed-halide host ({host}): V_I hop {shown(i, ok_i)}, V_Br hop {shown(br, ok_br)}"
    )
    if not (ok_i and ok_br):
        return text + "."
    difference = i.band.forward_barrier - br.band.forward_barrier
    return text + f", difference (I - Br) {difference:+.3f} eV."


def _hop(r: MigrationResult) -> str | None:
    """Where the vacancy of a slab hop moves, in perovskite layers from the surface
    ("vacancy layer 1 -> 0": from the first PbX2 layer to the outer layer); None in bulk."""
    depth = r.layer_from_surface
    return None if depth is None else f"vacancy layer {depth['site']} -> {depth['to']}"


class Band(NamedTuple):
    """A finished barrier task as the barrier reports use it."""

    task: TaskSpec
    row: object  # its ase.db row
    result: MigrationResult
    env: str
    conditions: dict
    text: str  # its settings in words
    system: str | None  # the compound of a pure host (see _barrier_system)


def barrier_bands(done: Done) -> list[Band]:
    """The finished ``migration_barrier`` tasks of ``done`` as the barrier reports use them."""
    entries = []
    for task, row in done:
        if task.kind != "migration_barrier":
            continue
        stored = row.data["result"]
        r = MigrationResult.from_dict(stored)
        env = environment(task, stored)
        conditions = {"environment": env, "species": r.species}
        if (hop := _hop(r)) is not None:
            conditions["hop"] = hop
        if "model" in task.labels:
            conditions["model"] = task.labels["model"]
        s = r.band.settings
        neb = ", ".join(f"{k}={s[k]}" for k in ("n_images", "fmax", "optimizer", "climb") if k in s)
        text = f"{settings(row)}; NEB {neb}"
        entries.append(Band(task, row, r, env, conditions, text, _barrier_system(row)))
    return entries


def migration_section(campaign: Campaign, done: Done) -> Section | None:
    rows = [(t, r) for t, r in done if t.kind == "migration_barrier"]
    if not rows:
        return None
    section = Section(
        "Halide migration barriers (CI-NEB)",
        "Vacancy-mediated halide hops: forward barrier from the initial state to the highest "
        "(climbing) image, reverse barrier and reaction energy, with the cost of each band in "
        "energy/force evaluations and wall time. Where a state lower than both endpoints or a "
        "minimum between images lies along a band, it is relaxed and the hop split there: the "
        "barrier is then the highest saddle above the lowest state before it. Biega and "
        "Leppert (2021) find the bare (001) surface V_Br barrier about half the bulk one and an "
        "alkali-halide monolayer raising it again; the experiment proposes that K-Br raises "
        "the Br barrier (passivated minus bare > 0). The demo preset or an unconverged band "
        "makes that comparison inconclusive.",
    )
    entries = barrier_bands(rows)
    section.blocks["Barriers and cost"] = barrier_table(
        [(b.task.name, b.env, b.result, b.text) for b in entries]
    )
    bulk = {(b.system, b.result.species): b.result for b in entries if b.env == "bulk"}
    for task, row, r, env, conditions, text, system in entries:
        reasons = _too_crude([row], _band_problems(r))
        reference, agreement = None, "no reference"
        if env == "bulk":
            found = _bulk_barrier_reference(system, r.species)
            if found is not None:
                reference, low, high = found
                agreement = "agrees" if low <= r.band.forward_barrier <= high else "disagrees"
        elif env == "bare_surface" and (system, r.species) in bulk:
            value = bulk[system, r.species].band.forward_barrier
            trend = _trend("migration_barrier", "bare_surface < bulk")
            reference = {"value": 0.5 * value, "source": f"half the computed bulk barrier, "
                         f"{trend['source']}"}  # fmt: skip
            agreement = _sign_agreement(r.band.forward_barrier - value, -0.5 * value, "decrease")
        if reasons and agreement in ("agrees", "disagrees"):
            agreement = "inconclusive"
        cost = r.band.total_cost
        section.observables.append(
            Observable("migration_barrier", conditions, float(r.band.forward_barrier), "eV",
                       row.preset, reference, agreement, text,
                       f"{task.name}; {cost.evaluations} evaluations, {cost.wall_time:.0f} s")
        )  # fmt: skip
    headline = []
    experiment = _trend("migration_barrier", "kbr_passivated > bare_surface")
    theory = _trend("migration_barrier", "alkali_halide_passivated > bare_surface")
    reference = {"value": None, "source": f"{experiment['source']}; {theory['source']}"}
    for band in entries:
        if band.env != "bare_surface":
            continue
        bare_row, bare, conditions = band.row, band.result, band.conditions
        pair = {**conditions, "environment": "kbr_passivated"}
        found = [b for b in entries if b.conditions == pair]
        if not found:
            continue
        kbr_row, kbr = found[0].row, found[0].result
        change = kbr.band.forward_barrier - bare.band.forward_barrier
        stopped = [f"{name}: {_stopped(r)}" for name, r in (("bare", bare), ("K-Br", kbr))
                   if not r.band.converged]  # fmt: skip
        if stopped:  # the highest image of an unconverged band is no barrier: no sign to judge
            agreement = "inconclusive"
            why = verdict = f"no barrier change to judge ({'; '.join(stopped)})"
        else:
            problems = sorted(set(_band_problems(bare) + _band_problems(kbr)))
            reasons = _too_crude([bare_row, kbr_row], problems)
            agreement, verdict = _decide(change, "increase", reasons)
            why = judge_change(change, "increase", reasons)[1]
        section.observables.append(
            Observable("migration_barrier_change",
                       {**conditions, "environment": "kbr_passivated - bare_surface"},
                       float(change), "eV", kbr_row.preset, reference, agreement,
                       settings(kbr_row), "", why)
        )  # fmt: skip
        where = f" ({conditions['hop']})" if "hop" in conditions else ""
        headline.append(
            f"V_{bare.species} barrier{where}: bare {_shown(bare)}, K-Br passivated "
            f"{_shown(kbr)}, change {change:+.3f} eV; expected > 0: {verdict}."
        )
    hosts: dict[str, dict[str, MigrationResult]] = {}  # I and Br hops in one mixed-halide host
    for b in entries:
        if b.system is None and b.result.host:
            hosts.setdefault(b.result.host["task"], {})[b.result.species] = b.result
    for host, bands in hosts.items():
        if {"I", "Br"} <= set(bands):
            headline.append(mixed_host_headline(host, bands["I"], bands["Br"]))
    if headline:
        section.text += "\n\nHeadline. " + " ".join(headline)
    labels = {", ".join(map(str, b.conditions.values())): b.result.profile() for b in entries}
    section.figures["Energy profiles along the band (spline through the images)"] = _png(
        profile_figure(labels)
    )
    section.blocks["Literature"] = migration_literature()
    return section
