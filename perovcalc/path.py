"""A halide hop as a path through its minima, and its energy profile.

A hop need not be one band: :func:`run_path` stops a band (:func:`perovcalc.neb.run_neb`)
whose image falls below both endpoints, relaxes that image (or a minimum between images) into
an intermediate state and runs a band on each side of it, ``<workdir>/neb-<from>-<to>``; the
barriers of the whole path count from the lowest state before each saddle
(:func:`path_barriers`). :func:`profile_figure` draws the energy profile of bands, live
(:func:`plot_profile`) or stored (the ``migration_barrier`` record).
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.geometry import find_mic

from perovcalc.errors import InputError
from perovcalc.mep import (
    ENDPOINT_TOLERANCE,
    NEBResult,
    accepts_label,
    below_endpoints,
    unstable_endpoints,
    validate_endpoints,
)
from perovcalc.neb import run_neb

SAME_STATE = 0.1  # A: a relaxed intermediate no atom of which is further from an end is that end


def intermediate_minimum(
    energies: list[float], tolerance: float = ENDPOINT_TOLERANCE
) -> int | None:
    """The moving image of a band (energies in eV, endpoints included) to relax into a minimum
    between the endpoints: the lowest if it lies below both endpoints (:func:`below_endpoints`),
    else the lowest that lies more than ``tolerance`` below both its neighbours; else None."""
    if below_endpoints(energies, tolerance):
        return 1 + int(np.argmin(energies[1:-1]))
    found = [
        i
        for i in range(1, len(energies) - 1)
        if energies[i] < min(energies[i - 1], energies[i + 1]) - tolerance
    ]
    return min(found, key=lambda i: energies[i]) if found else None


def unresolved_minima(energies: list[float], minima: list[int] | None = None) -> bool:
    """Whether a band or path (energies in eV) has an image to relax into an intermediate
    (:func:`intermediate_minimum`) between two of its relaxed ``minima`` (image indices;
    default: the endpoints)."""
    minima = minima or [0, len(energies) - 1]
    return any(
        intermediate_minimum(energies[a : b + 1]) is not None for a, b in itertools.pairwise(minima)
    )


def path_barriers(energies: list[float], minima: list[int]) -> tuple[float, float, int]:
    """Forward and reverse barriers (eV) of a path through relaxed minima, and its saddle.

    ``energies`` (eV) of all images; ``minima`` the indices of the relaxed states, the
    endpoints first and last. Each step between neighbouring minima has its saddle (highest
    image); a barrier is the highest saddle above the lowest minimum before it (forward) or
    after it (reverse): a hop trapped in a deep intermediate starts again from there. With no
    intermediate: saddle - initial and saddle - final. The saddle returned (an image index) is
    the one that sets the forward barrier.
    """
    saddles = [a + 1 + int(np.argmax(energies[a + 1 : b])) for a, b in itertools.pairwise(minima)]
    low = [energies[m] for m in minima]
    forward = [energies[s] - min(low[: k + 1]) for k, s in enumerate(saddles)]
    reverse = [energies[s] - min(low[k + 1 :]) for k, s in enumerate(saddles)]
    return max(forward), max(reverse), saddles[int(np.argmax(forward))]


def _largest_displacement(a: Atoms, b: Atoms) -> float:
    """Largest minimum-image displacement (A) of an atom between two configurations."""
    return float(find_mic(b.positions - a.positions, a.cell, a.pbc)[1].max())


def _hop_fraction(state: Atoms, initial: Atoms, final: Atoms, index: int) -> float:
    """How far atom ``index`` of ``state`` lies along its hop from ``initial`` to ``final``
    (0 at the initial, 1 at the final position; projection on the hop vector)."""

    def step(a: Atoms) -> np.ndarray:
        delta = a.positions[index] - initial.positions[index]
        return find_mic(delta, initial.cell, initial.pbc)[0]

    hop = step(final)
    return float(step(state) @ hop / (hop @ hop))


def _labelled(calc_factory: Callable[..., Calculator], prefix: str) -> Callable[..., Calculator]:
    """``calc_factory`` with ``prefix`` before the label it is given, if it takes one."""
    if not accepts_label(calc_factory):
        return calc_factory

    def factory(communicator=None, label: str = "image"):
        kwargs = {} if communicator is None else {"communicator": communicator}
        return calc_factory(label=f"{prefix}-{label}", **kwargs)

    return factory


def run_path(
    initial: Atoms,
    final: Atoms,
    calc_factory: Callable[..., Calculator],
    workdir: str | Path,
    relax: Callable[[Atoms, str], tuple[Atoms, dict]],
    max_intermediates: int = 2,
    **band,
) -> NEBResult:
    """CI-NEB of a hop (:func:`run_neb` with the ``band`` options) through the minima along it.

    A band stops as soon as a moving image lies below both its endpoints. Where an image is
    such a lower state, or a minimum between its neighbours (:func:`intermediate_minimum`),
    ``relax(image, name)`` relaxes it (``name``: ``intermediate1``, ...), returning the relaxed
    atoms carrying their energy and forces and a JSON-able record of the relaxation; the band
    is replaced by two bands through that intermediate, at most ``max_intermediates`` times.
    The bands lie in ``workdir/neb`` (the whole hop) and ``workdir/neb-<from>-<to>`` (named
    by their end states), so that a rerun resumes each. Returns one result over the whole path
    (:class:`NEBResult`, barriers from :func:`path_barriers`): ``cost`` and ``total_cost``
    count the bands, ``intermediates`` hold the records with the energy (eV, from the initial
    state), band index and ``hop_fraction`` (:func:`_hop_fraction`) of each intermediate.
    """
    if type(max_intermediates) is not int or max_intermediates < 0:
        raise InputError("max_intermediates", max_intermediates, "an integer >= 0")
    hop = validate_endpoints(initial, final)
    workdir = Path(workdir)
    names = ["initial", "final"]
    bands = [
        run_neb(initial, final, calc_factory, workdir / "neb", stop_below_endpoints=True, **band)
    ]
    intermediates: list[dict] = []
    while len(intermediates) < max_intermediates:
        k = next((k for k, b in enumerate(bands) if intermediate_minimum(b.energies)), None)
        if k is None:
            break
        name = f"intermediate{len(intermediates) + 1}"
        state, record = relax(bands[k].images[intermediate_minimum(bands[k].energies)], name)
        first, last, before, after = bands[k].images[0], bands[k].images[-1], *names[k : k + 2]
        if min(_largest_displacement(state, end) for end in (first, last)) < SAME_STATE:
            break  # relaxed back into an end of its band: no intermediate
        segment = {"hopper": hop.index, "stop_below_endpoints": True, **band}
        bands[k : k + 1] = [
            run_neb(a, b, _labelled(calc_factory, band_dir), workdir / band_dir, **segment)
            for a, b, band_dir in ((first, state, f"neb-{before}-{name}"),
                                   (state, last, f"neb-{name}-{after}"))
        ]  # fmt: skip
        names.insert(k + 1, name)
        fraction = _hop_fraction(state, initial, final, hop.index)
        intermediates.append({"name": name, "hop_fraction": fraction, **record})
    images = bands[0].images + [image for b in bands[1:] for image in b.images[1:]]
    energies = [float(a.get_potential_energy()) for a in images]
    minima = [0, *np.cumsum([len(b.images) - 1 for b in bands]).tolist()]
    for entry in intermediates:
        entry["index"] = minima[names.index(entry["name"])]
        entry["energy"] = energies[entry["index"]] - energies[0]
    forward, reverse, saddle = path_barriers(energies, minima)
    return NEBResult(
        forward_barrier=forward,
        reverse_barrier=reverse,
        reaction_energy=energies[-1] - energies[0],
        saddle_index=saddle,
        saddle_energy=energies[saddle],
        energies=energies,
        residual=max(b.residual for b in bands),
        converged=all(b.converged for b in bands),
        cost=functools.reduce(operator.add, (b.cost for b in bands)),
        total_cost=functools.reduce(operator.add, (b.total_cost for b in bands)),
        hop=hop,
        settings={**bands[0].settings, "max_intermediates": max_intermediates},
        unstable_endpoints=unstable_endpoints(energies),
        minima=minima,
        intermediates=intermediates,
        images=images,
    )


def band_profile(images: list[Atoms]) -> tuple[list[float], list[float]]:
    """Path length (A, cumulative minimum-image distance of the whole configuration from the
    first image) and tangential force F . t (eV/A, t the unit tangent from initial towards
    final; dE/ds = -F . t) of every image, as ``ase.utils.forcecurve.fit_raw`` defines them."""
    positions = [images[0].positions]
    for a, b in zip(images[:-1], images[1:], strict=True):
        positions.append(positions[-1] + find_mic(b.positions - a.positions, a.cell, a.pbc)[0])
    steps = [
        float(np.linalg.norm(b - a)) for a, b in zip(positions[:-1], positions[1:], strict=True)
    ]
    path = [0.0, *np.cumsum(steps).tolist()]
    forces = []
    for i, image in enumerate(images):
        direction = positions[min(i + 1, len(images) - 1)] - positions[max(i - 1, 0)]
        direction = direction / np.linalg.norm(direction)
        forces.append(float(np.sum(image.get_forces(apply_constraint=False) * direction)))
    return path, forces


@dataclass(frozen=True)
class Profile:
    """The energy profile of a band: total energies (eV) of its images, endpoints included,
    against the path length (A; None: the image index), the tangential forces F . t (eV/A;
    None: unknown) and the saddle image (None: not marked)."""

    energies: list[float]
    path: list[float] | None = None
    tangential_forces: list[float] | None = None
    saddle_index: int | None = None

    @classmethod
    def of(cls, result: NEBResult) -> Profile:
        """The profile of a band that carries its images (:func:`band_profile`)."""
        path, forces = band_profile(result.images)
        return cls(result.energies, path, forces, result.saddle_index)


def profile_figure(profiles: dict[str, Profile], title: str = ""):
    """Energy (eV, relative to the initial image) against path length (A) of bands by label:
    the images, a cubic spline through them with slopes -F . t where the tangential forces are
    known (else through the energies alone), and the saddle image as a star. A matplotlib
    Figure (no pyplot state)."""
    from matplotlib.figure import Figure
    from scipy.interpolate import CubicHermiteSpline, CubicSpline

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for label, p in profiles.items():
        energies = np.asarray(p.energies) - p.energies[0]
        path = np.array(p.path or np.arange(len(energies)), dtype=float)
        line = ax.plot(path, energies, "o", label=label)
        color = line[0].get_color()
        if len(path) > 2 and np.all(np.diff(path) > 0):
            grid = np.linspace(path[0], path[-1], 200)
            spline = (
                CubicSpline(path, energies)
                if p.tangential_forces is None
                else CubicHermiteSpline(path, energies, -np.asarray(p.tangential_forces))
            )
            ax.plot(grid, spline(grid), "-", color=color)
        if p.saddle_index is not None:
            ax.plot(path[p.saddle_index], energies[p.saddle_index], "*", ms=12, color=color)
    ax.set_xlabel("path length (Å)")
    ax.set_ylabel("E − E(initial image) (eV)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_profile(result: NEBResult, path: str | Path) -> Path:
    """The energy profile of ``result`` (:func:`profile_figure`, star: the saddle) as a PNG
    at ``path``, titled with its barriers (eV)."""
    title = (
        f"{result.hop.symbol} hop: E_f = {result.forward_barrier:.3f} eV, "
        f"E_r = {result.reverse_barrier:.3f} eV, ΔE = {result.reaction_energy:+.3f} eV"
    )
    path = Path(path)
    profile_figure({"images": Profile.of(result)}, title).savefig(path, dpi=150)
    return path
