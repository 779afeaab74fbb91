"""Report section: depth-resolved photoemission against the photon-energy series: K:Br:Pb ratios
as a model band, and the apparent binding energy of each line of the core-level models."""

from __future__ import annotations

import numpy as np

from perovcalc import reference as ref
from perovcalc import xps
from perovcalc.bulk import formal_charge
from perovcalc.campaign import Campaign
from perovcalc.imfp import VALID_RANGE
from perovcalc.kinds.spectra import LEGACY_MODEL, PhotoemissionResult
from perovcalc.report.common import Done, _figure, _png
from perovcalc.report.judge import Observable, Section, _source, judge_sign
from perovcalc.report.potassium import k_site_pairs, pair_segregation_energy
from perovcalc.segregation import (
    LAYER,
    SYNTHESIS_K,
    depth_populations,
    fraction_below,
    moved,
)  # fmt: skip

EXPLANATION = (
    "Apparent atomic ratios of the model (xraylib cross sections, TPP-2M attenuation with the "
    "Jablonski-Powell effective attenuation length, an oleate ligand shell, the K coverage of the "
    "outer A sites from the measured K:Pb, analyser orientation averaged as in a film of randomly "
    "oriented crystals) as a band: min to max over the quantification conventions (sensitivity "
    "sigma * lambda or sigma only), the ligand thicknesses, the measured K:Pb range and the "
    "asymmetry parameters (no effect at the magic angle). A measured ratio inside the band "
    "agrees, outside it disagrees. The measured series is not monotonic and its 1486.7 eV point "
    "comes from a laboratory source: the trend verdict uses the synchrotron pair (450 -> 650 eV) "
    "only, the laboratory point is judged on its own. Apparent binding energies: the "
    "photoemission-weighted mean over the Delta-SCF sites of each core-level model (same "
    "attenuation model, populations = site multiplicities; K sites at two depths weighted by "
    "the share of K below the surface frozen in at synthesis, where the campaign computes a "
    "segregation energy), its change with photon energy next to the measured direction, and "
    "per line which K configuration gives the measured direction. A partly passivated surface "
    "mixes the sites of the bare and the K-Br slab of one model, each on its own central-layer "
    "site, in proportion to the K coverage of the outer A sites that the measured K:Pb gives."
)


def _band_verdict(value: float, low: float, high: float, measured: float) -> tuple[str, str]:
    inside = low <= measured <= high
    where = "inside" if inside else ("below" if measured < low else "above")
    return ("agrees" if inside else "disagrees"), (
        f"measured {measured:.3g} is {where} the model band {low:.3g} to {high:.3g} "
        f"(central {value:.3g})"
    )


def _ratio_observables(section: Section, ax, task, record: PhotoemissionResult, measured, row):
    energies, levels = record.photon_energies, record.levels
    ratios = np.array(record.ratios)
    denominator = levels[-1].split()[0]
    model = record.model or LEGACY_MODEL
    settings = (f"model {task.structure}, {record.geometry} geometry; attenuation "
                f"{model['attenuation']}, ligand {model['ligand_nm']} nm, K coverage "
                f"{model['k_coverage']}")  # fmt: skip
    probes = {i: measured[round(hv, 1)].probe for i, hv in enumerate(energies)
              if round(hv, 1) in measured}  # fmt: skip
    synchrotron = [i for i, probe in probes.items() if probe == "synchrotron"]
    for j, level in enumerate(levels[:-1]):
        element = level.split()[0]
        pair = f"{element}/{denominator}"
        line = ax.plot(energies, ratios[:, j], "o-", label=f"{pair} model ({task.name})")
        if record.has_band:
            ax.fill_between(energies, np.array(record.low)[:, j], np.array(record.high)[:, j],
                            color=line[0].get_color(), alpha=0.2)  # fmt: skip
        for i, (hv, value) in enumerate(zip(energies, ratios[:, j], strict=True)):
            m = measured.get(round(hv, 1))
            reference, agreement, why = None, "no reference", ""
            if m is not None:
                target = m.pair(element, denominator)
                reference = {"value": target, "source": f"{m.source} [{m.tag}]"}
                if record.has_band:
                    agreement, why = _band_verdict(
                        value, record.low[i][j], record.high[i][j], target
                    )
                else:
                    agreement = "inconclusive"
                    why = ("stored before the band model (IMFP, no ligand, one convention): "
                           "nothing to judge against; rerun the task")  # fmt: skip
                if m.probe != "synchrotron":
                    why += f"; {m.probe} point, apart from the synchrotron trend"
            section.observables.append(
                Observable("photoemission_ratio", {"photon_energy": hv, "pair": pair},
                           float(value), "ratio", row.preset, reference, agreement, settings, "",
                           why)
            )  # fmt: skip
        if len(synchrotron) == 2:
            first, second = synchrotron
            a, b = (measured[round(energies[k], 1)] for k in synchrotron)
            target = b.pair(element, denominator) / a.pair(element, denominator)
            conditions = {"pair": pair, "from_eV": energies[first], "to_eV": energies[second]}
            reference = {"value": target, "source": f"{a.source} [{a.tag}], synchrotron pair"}
            if record.has_band:
                central, low, high = record.change(first, second, j)
                agreement, why = _band_verdict(central, low, high, target)
            else:
                central = float(ratios[second, j] / ratios[first, j])
                agreement, why = "inconclusive", "stored before the band model: rerun the task"
            section.observables.append(
                Observable("photoemission_ratio_trend", conditions, central, "ratio",
                           row.preset, reference, agreement, settings,
                           "ratio at the higher over that at the lower photon energy", why)
            )  # fmt: skip


def _k_share(done: Done) -> tuple[float, str] | None:
    """Share of K below the surface frozen in at synthesis (the equilibrium share at
    ``SYNTHESIS_K`` for the segregation energy of the largest K-site pair of the campaign that
    moves every K between lattice sites), and how it was obtained; None without such a pair."""
    pairs = {model: rows for model, rows in k_site_pairs(done).items() if _all_k_moved(rows)}
    if not pairs:
        return None
    model, rows = max(pairs.items(), key=lambda item: item[1]["below"].natoms)
    energy = pair_segregation_energy(rows)
    share = fraction_below(energy, SYNTHESIS_K)
    return share, (f"K below the outer layer: {share:.2g} of all K (E_seg {energy:+.3f} eV/K, "
                   f"{model}, at {SYNTHESIS_K:.0f} K)")  # fmt: skip


def _all_k_moved(rows: dict) -> bool:
    """Whether every K of a K-site pair changed depth (K on lattice sites at the surface or one
    layer down, not an excess K against the same K interstitial)."""
    surface, below = rows["surface"].toatoms(), rows["below"].toatoms()
    return moved(surface, below) == below.get_chemical_symbols().count("K")


def _apparent_binding_energies(section: Section, rows, k_share: tuple[float, str] | None) -> None:
    """Apparent binding energy of every Delta-SCF level of each core-level model at the
    measured photon energies, and its change with photon energy against the measured
    direction (passivated models; 450 -> 650 eV graded, 650 -> 1486.7 eV shown). Sites are
    weighted by their multiplicities; K on lattice sites at two depths by ``k_share`` (share
    below, how it was obtained) where given. A block says, per line, which K configuration
    gives the measured direction."""
    from perovcalc.report.corelevel import _depth_trend, _with_model, hole_image_error

    energies = list(xps.PHOTON_ENERGIES)
    lines = [f"  {'model':<34} {'level':<6}" + "".join(f" {e:>9.1f}" for e in energies)]
    weightings: list[str] = []
    by_line: dict[tuple[str, str], list[tuple[str, float, str]]] = {}
    for task, row in rows:
        model, env = task.labels.get("model"), task.labels.get("environment", task.name)
        name = env if model is None else f"{model}, {env}"
        atoms = row.toatoms()
        for label, entry in row.data["result"]["levels"].items():
            if "delta_scf" not in entry:
                continue
            if not entry.get("site_depth"):
                lines.append(f"  {name:<34} {label:<6} no depth stored")
                continue
            sites = [str(s) for s in entry["sites"]]
            be = np.array([entry["delta_scf"][s] for s in sites])
            depths = [entry["site_depth"][s] for s in sites]
            populations = [entry["multiplicity"][s] for s in sites]
            weighting, mark = "site multiplicities", ""
            # the share applies to K on lattice sites (formal charges balance), not to K_i
            if (label.startswith("K ") and k_share is not None and np.ptp(depths) > LAYER
                    and formal_charge(atoms) == 0):  # fmt: skip
                populations = depth_populations(depths, populations, k_share[0])
                weighting = k_share[1]
                mark = f" [{len(weightings) + 1}]"
                weightings.append(f"[{len(weightings) + 1}] {name}, {label}: {weighting}")
            top = xps.core_level(label).binding_energies.max()
            reached = [e for e in energies if e - top >= VALID_RANGE[0]]
            values = xps.apparent_binding_energy(
                label, be, depths, populations, reached,
                xps.matrix_material(atoms), ligand_nm=xps.LIGAND_NM[1],
            ) if reached else []  # fmt: skip
            apparent = dict(zip(reached, values, strict=True))
            lines.append(f"  {name:<34} {label:<6}" + "".join(
                f" {apparent[e] - be.max():>+9.3f}" if e in apparent else f" {'-':>9}"
                for e in energies) + mark)  # fmt: skip
            if len(sites) < 2:  # one site: the same binding energy at every depth probed
                continue
            trend = _depth_trend(env, label)
            for k, graded in ((1, True), (2, False)):
                if not {energies[k - 1], energies[k]} <= set(apparent):
                    continue
                change = float(apparent[energies[k]] - apparent[energies[k - 1]])
                conditions = {"level": label, "environment": env,
                              "from_eV": energies[k - 1], "to_eV": energies[k]}  # fmt: skip
                reference, agreement, why = None, "no reference", ""
                if trend is not None:
                    reference = {"value": None, "source": f"{trend.direction} with depth: "
                                 f"{_source(trend)}"}  # fmt: skip
                    if graded:
                        tolerance = hole_image_error([row])
                        agreement, why = judge_sign(change, None, trend.direction, tolerance)
                        found = by_line.setdefault((label, trend.direction), [])
                        found.append((model or env, change, agreement))
                    else:
                        agreement = "inconclusive"
                        why = (f"{change:+.3f} eV, not graded: the 1486.7 eV spectrum comes from "
                               "another instrument (laboratory source)")  # fmt: skip
                section.observables.append(
                    Observable("apparent_binding_energy_change", _with_model(conditions, model),
                               change, "eV", row.preset, reference, agreement, "",
                               f"photoemission-weighted Delta-SCF mean over sites ({weighting})",
                               why)
                )  # fmt: skip
    title = "Apparent binding energy per photon energy (eV, from the highest-energy site)"
    section.blocks[title] = "\n".join(lines + ["  " + w for w in weightings])
    _mixed_surfaces(section, rows, by_line)
    if by_line:
        section.blocks["Which model gives the measured direction (450 -> 650 eV), per line"] = (
            "\n".join(
                _drivers(line, direction, found) for (line, direction), found in by_line.items()
            )  # fmt: skip
        )


def _mixed_surfaces(section: Section, rows, by_line: dict) -> None:
    """Apparent binding energies of a partly passivated surface: for each model with a bare and
    a K-Br passivated core-level row, the sites of both, each on its own central-layer site's
    binding energy, the bare ones weighted by (1 - coverage) and the passivated ones by the
    coverage of the outer A sites the measured K:Pb gives (:func:`measured_k_coverages`), at the
    measured photon energies; the 450 -> 650 eV change graded against the measured direction
    (entries added to ``by_line``)."""
    from perovcalc.report.corelevel import (
        _depth_trend,
        _levels,
        _site_energies,
        _with_model,
        hole_image_error,
        measured_k_coverages,
    )

    pairs: dict[str | None, dict[str, object]] = {}
    for task, row in rows:
        pairs.setdefault(task.labels.get("model"), {})[task.labels.get("environment")] = row
    energies = list(xps.PHOTON_ENERGIES)
    coverages = None  # the measured K coverages: built once (an 11.4 nm cube), when needed
    lines = []
    for model, envs in pairs.items():
        bare, passivated = envs.get("bare_surface"), envs.get("kbr_passivated")
        if bare is None or passivated is None:
            continue
        tolerance = hole_image_error([bare, passivated])
        matrix = xps.matrix_material(bare.toatoms())
        bare_levels = _levels(bare)
        for label, level in _levels(passivated).items():
            other = bare_levels.get(label)
            if other is None or level.delta_scf is None or other.delta_scf is None:
                continue
            parts = []
            for row, lv in ((bare, other), (passivated, level)):
                be, depth, multiplicity = _site_energies(row, label)
                parts.append((be - lv.delta_scf[str(lv.reference())], depth, multiplicity))
            if max(len(part[0]) for part in parts) < 2:  # each slab's one site is its reference
                continue
            top = xps.core_level(label).binding_energies.max()
            reached = [e for e in energies if e - top >= VALID_RANGE[0]]
            trend = _depth_trend("kbr_passivated", label)
            coverages = coverages or measured_k_coverages()
            for what, ratio, coverage in coverages:
                populations = np.concatenate([parts[0][2] * (1 - coverage), parts[1][2] * coverage])
                values = xps.apparent_binding_energy(
                    label, np.concatenate([parts[0][0], parts[1][0]]),
                    np.concatenate([parts[0][1], parts[1][1]]), populations, reached, matrix,
                    ligand_nm=xps.LIGAND_NM[1],
                )  # fmt: skip
                apparent = dict(zip(reached, values, strict=True))
                name = f"{model or 'model'}, K on {coverage:.0%} ({what})"
                lines.append((name, label, "".join(
                    f" {apparent[e]:>+9.3f}" if e in apparent else f" {'-':>9}"
                    for e in energies)))  # fmt: skip
                if trend is None or not {energies[0], energies[1]} <= set(apparent):
                    continue
                change = float(apparent[energies[1]] - apparent[energies[0]])
                agreement, why = judge_sign(change, None, trend.direction, tolerance)
                by_line.setdefault((label, trend.direction), []).append(
                    (f"bare + K-Br at {coverage:.0%} K", change, agreement)
                )
                conditions = {"level": label, "environment": "bare_surface + kbr_passivated",
                              "k_to_pb": ratio, "k_coverage": round(coverage, 3),
                              "from_eV": energies[0], "to_eV": energies[1]}  # fmt: skip
                section.observables.append(
                    Observable("apparent_binding_energy_change", _with_model(conditions, model),
                               change, "eV", passivated.preset,
                               {"value": None, "source": f"{trend.direction} with depth: "
                                f"{_source(trend)}"}, agreement, "",
                               f"bare and K-Br passivated sites mixed at K:Pb {ratio:g} "
                               f"({what}), each slab on its central-layer site", why)
                )  # fmt: skip
    if lines:
        title = (
            "Apparent binding energy of a partly passivated surface (eV, against the "
            "central-layer site; bare and K-Br sites mixed at the measured K coverage)"
        )
        width = max(len(name) for name, _, _ in lines)
        header = f"  {'model, coverage':<{width}} {'level':<6}" + "".join(
            f" {e:>9.1f}" for e in energies)  # fmt: skip
        section.blocks[title] = "\n".join(
            [header, *(f"  {name:<{width}} {label:<6}{values}" for name, label, values in lines)]
        )


def _drivers(line: str, direction: str, found: list[tuple[str, float, str]]) -> str:
    """One line of the per-line block: the measured direction, each model's change (eV) and
    verdict, and the models that agree."""
    agreeing = [model for model, _, agreement in found if agreement == "agrees"]
    decided = [model for model, _, agreement in found if agreement in ("agrees", "disagrees")]
    if len(agreeing) == len(found):
        verdict = "every model gives it"
    elif agreeing:
        verdict = "given by " + " and ".join(agreeing) + " only"
    elif len(decided) == len(found):
        verdict = "no model gives it"
    else:
        verdict = "no model gives it beyond the resolution of the comparison"
    each = "; ".join(
        f"{model}: {change:+.3f} eV, {agreement}" for model, change, agreement in found
    )
    return f"  {line}, measured {direction} with depth: {verdict} ({each})"


def photoemission_section(campaign: Campaign, done: Done) -> Section | None:
    rows = [(t, r) for t, r in done if t.kind == "photoemission_ratios"]
    levels = [(t, r) for t, r in done if t.kind == "core_levels"]
    if not rows and not levels:
        return None
    measured = {round(m.photon_energy, 1): m for m in ref.photoemission_ratios()}
    section = Section("Depth-resolved photoemission ratios", EXPLANATION)
    if rows:
        fig, ax = _figure()
        for task, row in rows:
            record = PhotoemissionResult.from_dict(row.data["result"])
            _ratio_observables(section, ax, task, record, measured, row)
        for element, marker in (("K", "s"), ("Br", "^")):
            hv = sorted(measured)
            ax.plot(hv, [measured[e].pair(element) for e in hv], marker + "--k", mfc="none",
                    label=f"{element}/Pb measured")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("photon energy (eV)")
        ax.set_ylabel("atomic ratio")
        ax.legend(fontsize=7)
        section.figures["Photoemission ratios versus photon energy (shaded: model band)"] = _png(
            fig
        )
    if levels:
        _apparent_binding_energies(section, levels, _k_share(done))
    return section
