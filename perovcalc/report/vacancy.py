"""Report section: halide vacancy formation energies and their change on passivation."""

from __future__ import annotations

from perovcalc.campaign import Campaign
from perovcalc.errors import InputError
from perovcalc.report.common import Done, _png, environment
from perovcalc.report.judge import (
    Observable,
    Section,
    _decide,
    _too_crude,
    _trend,
    judge_change,
)
from perovcalc.results import settings


def vacancy_section(campaign: Campaign, done: Done) -> Section | None:
    from perovcalc import formation
    from perovcalc.kinds.defects import VacancyResult, vacancy_table

    rows = {t.name: (t, r) for t, r in done if t.kind == "vacancy_formation"}
    if not rows:
        return None
    results = {name: r.data["result"] for name, (_, r) in rows.items()}
    section = Section(
        "Halide vacancy formation energies",
        "Neutral and charged halide vacancies at every distinct site, relaxed, at the "
        "halide-rich and halide-poor limits of the computed stability region (E_F at the VBM; "
        "charged bulk defects with the Freysoldt correction). The experiment's mechanism "
        "(K-Br bonds hold surface bromide) predicts that passivation makes surface halide "
        "vacancies harder to form: a positive change of the surface (layer 0) formation energy "
        "from the bare to the K-Br passivated slab. The demo preset and 1x1 slabs are too "
        "crude to decide its size: the agreement is then inconclusive.",
    )
    headline = []
    for name, (task, row) in rows.items():
        result = results[name]
        env = environment(task, result)
        table = vacancy_table(name, VacancyResult.from_dict(result))
        section.blocks[f"{name} ({env})"] = f"{table}\n  settings: {settings(row)}"
        for e in result["entries"]:
            conditions = {"environment": env, "species": e["species"], "site": e["site"]}
            if e["layer_from_surface"] is not None:
                conditions["layer_from_surface"] = e["layer_from_surface"]
            relaxed = "relaxed" if e["converged"] else f"not relaxed ({e['max_force']:.2f} eV/A)"
            for condition in formation.CONDITIONS:
                section.observables.append(
                    Observable("vacancy_formation_energy",
                               {**conditions, "chemical_potential_limit":
                                f"{e['species']}-{condition}", "charge": e["charge"]},
                               float(e["formation_energy"][condition]), "eV", row.preset, None,
                               "no reference", settings(row), f"{relaxed}, E_F at the VBM")
                )  # fmt: skip
        if env == "bulk":
            headline += [
                f"Bulk V_{e['species']} (site {e['site']}, neutral, X-rich, where the crystals "
                f"were made): {e['formation_energy']['rich']:.3f} eV ({name})."
                for e in result["entries"]
                if e["charge"] == 0
            ]
    reference = _trend("vacancy_formation_energy", "kbr_passivated > bare_surface")
    for bare, passivated in formation.slab_pairs(results):
        pair = [rows[bare][1], rows[passivated][1]]
        agreement, verdict = "", ""
        for condition in formation.CONDITIONS:
            for change in formation.surface_change(results[bare], results[passivated], condition):
                if change["layer_from_surface"] != 0:
                    continue
                agreement, verdict = _decide(change["change"], "increase", _too_crude(pair))
                why = judge_change(change["change"], "increase", _too_crude(pair))[1]
                species = change["species"]
                section.observables.append(
                    Observable("vacancy_formation_energy_change",
                               {"environment": "kbr_passivated - bare_surface",
                                "species": species, "layer_from_surface": 0,
                                "chemical_potential_limit": f"{species}-{condition}", "charge": 0},
                               float(change["change"]), "eV", pair[1].preset, reference,
                               agreement, settings(pair[1]), f"{passivated} - {bare}", why)
                )  # fmt: skip
                if condition == "rich":  # the synthesis condition (KBr/halide excess)
                    headline.append(
                        f"Surface V_{species} (layer 0, neutral, X-rich): {change['bare']:.3f} eV "
                        f"on the bare slab ({bare}), {change['passivated']:.3f} eV on the "
                        f"passivated slab ({passivated}), change {change['change']:+.3f} eV (the "
                        f"same at both limits); expected > 0: {verdict}."
                    )
    if headline:
        section.text += "\n\nHeadline. " + " ".join(headline)
    slabs = {n: r for n, r in results.items() if r["environment"] != "bulk"}
    if slabs:
        title = "Neutral vacancy formation energy versus depth (X-rich; -1 = KBr overlayer)"
        section.figures[title] = _png(formation.depth_figure(slabs, "rich"))
    for name, result in results.items():
        if result["environment"] == "bulk":
            title = f"Vacancy formation energy versus Fermi level ({name}, lowest charge state)"
            section.figures[title] = _png(formation.fermi_level_figure(result))
    _bulk_cbm(section, rows, {t.name: r for t, r in done})
    section.blocks["Literature"] = formation.literature_table()
    return section


def _bulk_cbm(section: Section, rows: dict, by_name: dict) -> None:
    """Outer-layer neutral slab vacancies with the bulk's CBM in place of the slab's (a block
    and observables), where the campaign has a bulk vacancy host; slabs too thin to align
    are named."""
    from perovcalc.band_alignment import conduction_band_offset
    from perovcalc.formation import CONDITIONS

    def host(task):
        return by_name.get((task.structure or "").removeprefix("task:"))

    bulk = [host(t) for t, r in rows.values() if r.data["result"]["environment"] == "bulk"]
    bulk = [b for b in bulk if b is not None]
    if not bulk:
        return
    lines = [f"  {'task':<22} {'layers':>6} {'E_f X-poor':>10} {'CBM offset':>10} "
             f"{'with bulk CBM':>13}"]  # fmt: skip
    for name, (task, row) in rows.items():
        result, slab_host = row.data["result"], host(task)
        outer = [e for e in result["entries"] if e["layer_from_surface"] == 0 and not e["charge"]]
        if result["environment"] == "bulk" or slab_host is None or not outer:
            continue
        layers = (result["host"].get("slab") or {}).get("layers")
        try:
            offset = conduction_band_offset(slab_host.toatoms(), slab_host.data["result"],
                                            bulk[0].toatoms(), bulk[0].data["result"])  # fmt: skip
        except InputError as error:
            lines.append(f"  {name:<22} {layers:>6} not aligned: {error}")
            continue
        for e in outer:
            f = e["formation_energy"]
            lines.append(f"  {name:<22} {layers:>6} {f['poor']:>10.3f} {offset:>+10.3f} "
                         f"{f['poor'] - offset:>13.3f}")  # fmt: skip
            for condition in CONDITIONS:
                section.observables.append(
                    Observable("vacancy_formation_energy_bulk_cbm",
                               {"environment": environment(task, result), "layers": layers,
                                "species": e["species"], "site": e["site"],
                                "layer_from_surface": 0, "charge": 0,
                                "chemical_potential_limit": f"{e['species']}-{condition}"},
                               float(f[condition] - offset), "eV", row.preset, None,
                               "no reference", settings(row),
                               f"E_f {f[condition]:.3f} eV minus the slab's CBM offset from "
                               f"the bulk, {offset:+.3f} eV")
                )  # fmt: skip
    section.blocks[
        "Surface against bulk: outer-layer V_X^0 with the bulk CBM (eV; V_X^0 is a shallow "
        "donor, its electron at the CBM, which confinement raises in a thin slab; E_f minus "
        "CBM_slab - CBM_bulk, aligned through the electrostatic potential of the slab's middle)"
    ] = "\n".join(lines)
