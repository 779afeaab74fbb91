"""Task kind ``migration_barrier``: a neutral halide vacancy hopping between neighbouring sites
of a relaxed ``defect_host``, by CI-NEB through the minima along the hop (:mod:`perovcalc.path`),
reusing the relaxed vacancies of ``vacancy_formation`` tasks it needs.

Its ``fmax`` defaults to the preset's, as every kind's. ``n_images`` defaults to 3 moving
images, where :func:`perovcalc.neb.run_neb` called from Python takes 5: a campaign splits a hop
at its minima into several bands (``intermediates``), each needing fewer images, while a single
band drawn by hand wants the finer path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from ase import Atoms

from perovcalc.calculate import (
    CalcResult,
    read_checkpoint,
    write_checkpoint,
)
from perovcalc.errors import InputError, PerovcalcError
from perovcalc.formation import defect_parameters, vacancy_moments
from perovcalc.kinds.defects import defect_host
from perovcalc.kinds.relaxation import RATTLE, gpaw_factory, rattle_option, relax
from perovcalc.mep import (
    BAND_CHECKS,
    ML_PRIORS,
    NEBResult,
    frozen_copy,
    unstable_endpoints,
    validate_endpoints,
)
from perovcalc.neb import DEFAULT_OPTIMIZER, METHODS, OPTIMIZERS, reconstruction
from perovcalc.path import Profile, band_profile, run_path
from perovcalc.presets import system_kind
from perovcalc.tasks import Kind, Option, TaskContext, above, at_least
from perovcalc.vacancy import (
    _displacements,
    choose_hop,
    hop_endpoints,
    layers_from_surface,
    vacancy_displacements,
)


def _same_params(a: dict, b: dict) -> bool:
    def plain(value):
        return value.tolist() if isinstance(value, np.ndarray | np.generic) else str(value)

    return json.dumps(a, sort_keys=True, default=plain) == json.dumps(
        b, sort_keys=True, default=plain
    )


def _vacancy_sources(ctx: TaskContext, host_row, species: str) -> list[tuple[str, dict]]:
    """Neutral ``species`` vacancies of the ``vacancy_formation`` tasks ``ctx`` depends on:
    (task name, entry). They must share the host and the GPAW parameters of ``ctx``."""
    found = []
    for name, row in sorted(ctx.dependencies.items()):
        if row.get("kind") != "vacancy_formation":
            continue
        if ctx.built_on(row) != host_row.task_id:
            raise PerovcalcError(
                f"task {ctx.name}: vacancy task {name} has another host than this task's "
                f"{host_row.task}; relaxed vacancies can only be reused on the same host"
            )
        if not _same_params(row.data["params"], ctx.params):
            raise PerovcalcError(
                f"task {ctx.name}: vacancy task {name} used other GPAW parameters "
                f"({row.data['params']} vs {ctx.params}); give both tasks the same params"
            )
        entries = row.data["result"]["entries"]
        found += [(name, e) for e in entries if e["charge"] == 0 and e["species"] == species]
    return found


def _reused_relaxation(
    host: Atoms, vacancy: int, sources, reference: np.ndarray | None = None
) -> tuple[np.ndarray, dict] | None:
    """Displacements around a vacancy at ``vacancy`` from the first source that maps onto it
    (the mapping closest to ``reference``: see :func:`perovcalc.vacancy.vacancy_displacements`)."""
    for name, entry in sorted(sources, key=lambda s: s[1]["site"] != vacancy):
        site = int(entry["site"])
        moved = vacancy_displacements(host, site, entry["positions"], vacancy, reference)
        if moved is not None:
            info = {
                "task": name,
                "site": site,
                "mapping": "identity" if entry["site"] == vacancy else "space-group operation",
                "converged": bool(entry["converged"]),
                "max_force": float(entry["max_force"]),
            }
            return moved, info
    return None


def _endpoint(
    ctx: TaskContext, name: str, start: Atoms, params: dict, reused, fmax: float, seed: int
) -> dict:
    """Relaxed endpoint or intermediate ``name``: positions (A), source and cost, and where it
    was relaxed here its energy (eV) and forces (eV/A), checkpointed in
    ``<workdir>/endpoints.json`` and ``<workdir>/<name>/``. A fresh relaxation starts rattled
    (``rattle`` option, ``seed``: the vacancy's host index, or the intermediate's number)."""
    checkpoint = ctx.workdir / "endpoints.json"
    done = read_checkpoint(checkpoint)
    if name in done:
        return done[name]
    record: dict = {"source": "relaxed", "reused_from": None}
    atoms = start.copy()
    if reused is not None:
        moved, info = reused
        atoms.set_positions(atoms.positions + moved, apply_constraint=False)
        relaxed_enough = info["max_force"] <= fmax
        source = "reused" if relaxed_enough else "reused, relaxed further"
        record = {"source": source, "reused_from": info}
    if record["source"] == "reused":
        record.update(evaluations=0, converged=True, max_force=record["reused_from"]["max_force"])
    else:
        if record["source"] == "relaxed" and ctx.options["rattle"]:
            atoms.rattle(ctx.options["rattle"], seed=seed)
            record["rattle"] = ctx.options["rattle"]
        steps, options = ctx.options["endpoint_steps"], surrogate_options(ctx)
        relaxed = relax(ctx, atoms, params, ctx.workdir / name, fmax, steps, options=options)
        atoms, info = relaxed.atoms, relaxed.data
        record.update(
            method=ctx.options["method"],
            evaluations=info["evaluations"],
            converged=info["converged"],
            max_force=info["max_force"],
            energy=atoms.get_potential_energy(),
            forces=atoms.get_forces(apply_constraint=False).tolist(),
        )
    record["positions"] = atoms.positions.tolist()
    done[name] = record
    write_checkpoint(checkpoint, done)
    return record


def intermediate_relaxer(
    ctx: TaskContext, params: dict, fmax: float
) -> Callable[[Atoms, str], tuple]:
    """``relax(image, name)`` for :func:`perovcalc.path.run_path` in task ``ctx``: the image
    relaxed like an endpoint (:func:`_endpoint`; GPAW ``params``, ``fmax`` eV/A, rattled with
    the number of the intermediate as seed), carrying its energy and forces, and its record."""

    def relax(image: Atoms, name: str) -> tuple[Atoms, dict]:
        number = int(name.removeprefix("intermediate"))
        record = _endpoint(ctx, name, image, params, None, fmax, number)
        state = image.copy()
        state.set_positions(record["positions"], apply_constraint=False)
        return frozen_copy(state, record["energy"], record["forces"]), _summary(record)

    return relax


def _summary(record: dict) -> dict:
    """An endpoint or intermediate record without its positions and forces."""
    return {key: value for key, value in record.items() if key not in ("positions", "forces")}


def surrogate_options(ctx: TaskContext):
    """The :class:`perovcalc.gaussian_process.SurrogateOptions` of task ``ctx`` (its ``prior``
    and ``band_check`` options); None with ``method = "neb"``, which refuses a prior or another
    band check."""
    from perovcalc.gaussian_process import SurrogateOptions

    options = ctx.options
    if options["method"] == "surrogate":
        prior = None if options["prior"] == "none" else options["prior"]
        return SurrogateOptions(prior=prior, band_check=options["band_check"])
    for name, default in (("prior", "none"), ("band_check", SurrogateOptions.band_check)):
        if options[name] != default:
            raise InputError(
                f"options.{name}", options[name],
                f'{default} with method = "neb" (it serves the surrogate)', f"task {ctx.name}",
            )  # fmt: skip
    return None


def migration_barrier_task(ctx: TaskContext) -> CalcResult:
    """Vacancy-mediated halide hop by CI-NEB on a relaxed ``defect_host`` (the task's structure).

    A neutral vacancy at ``site`` and a neighbouring halide ``to`` that hops into it (see
    :func:`perovcalc.vacancy.choose_hop`); both endpoints are relaxed (BFGS, ``fmax``) with the
    host's GPAW parameters, spin-polarised when the electron count is odd, unless a
    ``vacancy_formation`` task in ``needs`` holds the same vacancy relaxed or one a space-group
    operation of the host takes onto it: then its positions are used (and relaxed further if
    they were relaxed less tightly than ``fmax``). Failing that, a final vacancy equivalent to
    the initial one is the relaxed initial one carried over by the symmetry operation (a
    symmetric hop stays symmetric, rattled or not). The band is then
    :func:`perovcalc.path.run_path` on ``<workdir>``: a state below both endpoints or a minimum
    along the band is relaxed like an endpoint
    (``<workdir>/intermediate1``, ...) and the hop split there, up to ``intermediates`` times.
    Energies in eV, lengths in A; the stored structure is the saddle image.
    """
    options = ctx.options
    where = f"task {ctx.name}"
    rattle_option(ctx, options["endpoint_steps"], "endpoint_steps")
    surrogate_options(ctx)  # a prior with method neb: refused before any DFT
    host_row, host, outer = defect_host(ctx)
    host_data = host_row.data["result"]
    slab = host_data.get("slab")
    environment = system_kind(host)
    species = options["species"]
    site, to = choose_hop(host, species, options["site"], options["to"], outer, where)
    sources = _vacancy_sources(ctx, host_row, species)

    initial, final = hop_endpoints(host, site, to)
    params = defect_parameters(ctx.params, initial, 0)
    if params.get("spinpol"):
        vacancy_moments(host, initial, site, site)
        vacancy_moments(host, final, to, site)
    fmax = ctx.fmax()
    reused_initial = _reused_relaxation(host, site, sources)
    if reused_initial is not None:
        reused_initial = (np.delete(reused_initial[0], site, axis=0), reused_initial[1])
    endpoints = {"initial": _endpoint(ctx, "initial", initial, params, reused_initial, fmax, site)}
    initial.set_positions(endpoints["initial"]["positions"], apply_constraint=False)
    # the final vacancy from a vacancy task, else from the initial one where a symmetry maps
    # it; of several mappings the one that moves the other atoms least from the initial state
    own = {"site": site, **endpoints["initial"]}
    start = _displacements(host, site, initial.positions)
    reused_final = _reused_relaxation(host, to, sources, start) or _reused_relaxation(
        host, to, [("initial endpoint", own)], start
    )
    if reused_final is not None:  # the atom at ``site`` of the vacancy-at-``to`` cell is ``to``
        moved = reused_final[0].copy()
        moved[to] = moved[site]
        reused_final = (np.delete(moved, site, axis=0), reused_final[1])
    endpoints["final"] = _endpoint(ctx, "final", final, params, reused_final, fmax, to)
    final.set_positions(endpoints["final"]["positions"], apply_constraint=False)
    validate_endpoints(initial, final)

    # images have less symmetry than the endpoints: no point group unless params set one
    band_params = {"symmetry": {"point_group": False}, **params}
    result = run_path(
        initial,
        final,
        gpaw_factory(band_params, ctx.workdir / "neb"),
        ctx.workdir,
        intermediate_relaxer(ctx, band_params, fmax),
        options["intermediates"],
        n_images=options["n_images"],
        fmax=fmax,
        climb=options["climb"],
        optimizer=options["optimizer"],
        max_steps=options["max_steps"],
        method=options["method"],
        surrogate=surrogate_options(ctx),
    )
    path, tangential = band_profile(result.images)
    depth = layers_from_surface(host, outer)
    result.settings.update(
        endpoint_fmax=fmax,
        endpoint_steps=options["endpoint_steps"],
        symmetry=band_params["symmetry"],
        spinpol=bool(params.get("spinpol", False)),
        preset=ctx.preset,
    )
    record = MigrationResult(
        band=result,
        environment=environment,
        slab=slab,
        kbr_passivated=bool(slab) and str(slab.get("passivation")).startswith("KBr"),
        species=species,
        site=site,
        to=to,
        layer_from_surface=None
        if depth is None
        else {"site": int(depth[site]), "to": int(depth[to])},
        endpoints={k: _summary(e) for k, e in endpoints.items()},
        endpoint_evaluations=sum(e["evaluations"] for e in endpoints.values()),
        intermediate_evaluations=sum(e["evaluations"] for e in result.intermediates),
        path=path,
        tangential_forces=tangential,
        host={
            "task": host_row.task,
            "energy": host_row.energy,
            "formula": host_data.get("formula"),
            "rattle": host_data.get("rattle", 0.0),
        },
    )
    saddle = result.images[result.saddle_index]
    return CalcResult(saddle, ctx.params, record.to_dict())


# ------------------------------------------------------------------ result and presentation
@dataclass
class MigrationResult:
    """The stored result of a ``migration_barrier`` task: the band (:class:`NEBResult`, its
    keys at the top level of the stored dict) and the hop it belongs to. Energies in eV,
    lengths in A; ``layer_from_surface`` of the two sites (slabs), ``path`` and
    ``tangential_forces`` (eV/A) along the band, ``host`` the defect_host it ran on."""

    band: NEBResult
    environment: str
    slab: dict | None
    kbr_passivated: bool
    species: str
    site: int
    to: int
    layer_from_surface: dict | None
    endpoints: dict
    endpoint_evaluations: int
    intermediate_evaluations: int
    path: list[float] | None
    tangential_forces: list[float] | None
    host: dict

    def to_dict(self) -> dict:
        """The stored form: the band's :meth:`NEBResult.as_dict` and the hop's fields."""
        hop = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "band"}
        return {**self.band.as_dict(), **hop}

    @classmethod
    def from_dict(cls, data: dict) -> MigrationResult:
        """The stored result; fields later versions added take their neutral values."""
        return cls(
            band=NEBResult.from_dict(data),
            environment=data["environment"],
            slab=data.get("slab"),
            kbr_passivated=data.get("kbr_passivated", False),
            species=data["species"],
            site=data["site"],
            to=data["to"],
            layer_from_surface=data.get("layer_from_surface"),
            endpoints=data.get("endpoints", {}),
            endpoint_evaluations=data.get("endpoint_evaluations", 0),
            intermediate_evaluations=data.get("intermediate_evaluations", 0),
            path=data.get("path"),
            tangential_forces=data.get("tangential_forces"),
            host=data.get("host", {}),
        )

    def profile(self) -> Profile:
        """The band's energy profile as stored (path length and tangential forces where the
        result has them: see :func:`perovcalc.path.profile_figure`)."""
        band = self.band
        return Profile(band.energies, self.path, self.tangential_forces, band.saddle_index)


def stop_reason(result: MigrationResult) -> str | None:
    """Why the band of an unconverged barrier stopped, where its method says (the surrogate's
    status); None for a converged band."""
    band = result.band
    return None if band.converged else band.settings.get("surrogate", {}).get("status")


def barrier_headline(result: MigrationResult) -> str:
    """Barriers, reaction energy, convergence and cost of a barrier in one line (eV)."""
    band = result.band
    state = "converged" if band.converged else "NOT converged"
    why = stop_reason(result)
    text = (
        f"V_{result.species} hop (vacancy {result.site} -> {result.to}): forward "
        f"{band.forward_barrier:.3f} eV, reverse {band.reverse_barrier:.3f} eV, reaction "
        f"{band.reaction_energy:+.3f} eV; {state} ({band.residual:.3f} eV/A"
        f"{f'; {why}' if why else ''}), {band.total_cost.evaluations} DFT evaluations"
    )
    for m in band.intermediates:
        text += f"; via {m['name']} at {m['energy']:+.3f} eV ({m['hop_fraction']:.0%} of the hop)"
    ends = unstable_endpoints(band.energies)
    if ends:
        text += f"; NO BARRIER: {' and '.join(ends)} endpoint no minimum along the band"
    moved = reconstruction(band.hop)
    if moved is not None:
        text += f"; RECONSTRUCTION: the endpoints differ by {moved:.2f} A besides the hop"
    return text


BARRIER_COLUMNS = [
    "task", "environment", "model", "host", "host_atoms", "host_rattle_A", "species", "site",
    "to", "hop", "forward_eV", "reverse_eV", "reaction_eV", "intermediates", "other_moved_A",
    "converged", "residual_eV_A", "n_images", "fmax_eV_A", "band_evaluations",
    "endpoint_evaluations", "intermediate_evaluations", "wall_s", "spinpol",
]  # fmt: skip


def barrier_csv_row(
    task: str, environment: str, labels: dict, result: MigrationResult, host_atoms: int
) -> dict:
    """The :data:`BARRIER_COLUMNS` of one barrier (``labels``: the task's ``model``, ``hop``)."""
    band, settings = result.band, result.band.settings
    return {
        "task": task,
        "environment": environment,
        "model": labels.get("model", ""),
        "host": result.host["formula"],
        "host_atoms": host_atoms,
        "host_rattle_A": result.host.get("rattle", 0.0),
        "species": result.species,
        "site": result.site,
        "to": result.to,
        "hop": labels.get("hop", ""),
        "forward_eV": f"{band.forward_barrier:.4f}",
        "reverse_eV": f"{band.reverse_barrier:.4f}",
        "reaction_eV": f"{band.reaction_energy:.4f}",
        "intermediates": "; ".join(
            f"{m['energy']:+.4f} eV at {m['hop_fraction']:.2f} of the hop"
            for m in band.intermediates
        ),
        "other_moved_A": f"{band.hop.max_other_displacement:.2f}",
        "converged": "yes" if band.converged else "no",
        "residual_eV_A": f"{band.residual:.3f}",
        "n_images": settings["n_images"],
        "fmax_eV_A": settings["fmax"],
        "band_evaluations": band.total_cost.evaluations,
        "endpoint_evaluations": result.endpoint_evaluations,
        "intermediate_evaluations": result.intermediate_evaluations,
        "wall_s": f"{band.total_cost.wall_time:.0f}",
        "spinpol": settings.get("spinpol", ""),
    }


KINDS: dict[str, Kind] = {
    "migration_barrier": Kind(
        "perovcalc.kinds.migration:migration_barrier_task",
        {
            "species": Option(str, "Br", "halide whose vacancy migrates", ("Br", "I")),
            "site": Option(
                int,
                None,
                "host index of the vacancy's initial site (default: the first distinct site; "
                "slabs: the one nearest the surface in the outer perovskite layer)",
                bounds=at_least(0),
            ),
            "to": Option(
                int,
                None,
                "host index of the neighbouring halide that hops into the vacancy (default: "
                "the nearest along an octahedron edge; slabs: in the same layer or just below)",
                bounds=at_least(0),
            ),
            "n_images": Option(int, 3, "moving images of the band", bounds=at_least(1)),
            "fmax": Option(
                float,
                None,
                "force criterion of band and endpoints, eV/A (default: the preset's)",
                bounds=above(0),
            ),
            "climb": Option(bool, True, "climbing image (CI-NEB)"),
            "method": Option(
                str,
                "surrogate",
                "surrogate: band and endpoint relaxations on a Gaussian-process surrogate, DFT "
                "only where it is unsure and to verify the climbing image (perovcalc.surrogate); "
                "neb: a band of DFT images relaxed by the optimizer, endpoints by BFGS",
                METHODS,
                keyed_at_default=False,  # added after stores existed; results record the method
            ),
            "prior": Option(
                str,
                "none",
                "method surrogate: a universal ML potential as the surrogate's prior mean "
                "(the perovcalc[ml] extra), for band and endpoints; a prior, never a result",
                ("none", *ML_PRIORS),
                keyed_at_default=False,  # added after stores existed
            ),
            "band_check": Option(
                str,
                BAND_CHECKS[0],
                "method surrogate: what the DFT values of the whole band must show once the "
                "climbing image holds (SurrogateOptions.band_check): energy, every image within "
                "0.05 eV of the surrogate's prediction; forces, besides, every image's NEB force "
                "below fmax (a plain CI-NEB's criterion)",
                BAND_CHECKS,
                keyed_at_default=False,  # added after stores existed
            ),
            "optimizer": Option(str, DEFAULT_OPTIMIZER, "band optimizer (method neb)", OPTIMIZERS),
            "max_steps": Option(
                int,
                300,
                "maximum band optimizer steps (neb) or new DFT evaluations (surrogate) per run",
                bounds=at_least(0),
            ),
            "endpoint_steps": Option(
                int,
                100,
                "maximum BFGS steps (neb) or DFT evaluations (surrogate) per endpoint relaxation",
                bounds=at_least(0),
            ),
            "rattle": RATTLE,
            "intermediates": Option(
                int,
                2,
                "minima along the hop (an image below both endpoints or its neighbours) to "
                "relax and split the band at, as path.run_path does; 0: one band",
                keyed_at_default=False,  # added after stores existed
                bounds=at_least(0),
            ),
        },
        help="vacancy-mediated halide hop barrier by CI-NEB on a defect_host (reuses the "
        "relaxed vacancies of a vacancy_formation task in needs), through the minima along it",
    ),
}
