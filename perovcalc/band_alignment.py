"""Band edges of a slab against the bulk, aligned through the electrostatic potential.

A neutral halide vacancy is a shallow donor: its extra electron sits at the conduction-band
minimum, so E_f(V_X^0) carries the CBM of the cell it was computed in. In a thin slab the CBM is
raised by confinement, which a slab-against-bulk comparison must remove: E_f(V_X^0) - (CBM_slab
- CBM_bulk) is the slab vacancy with the bulk's CBM. The two CBMs are put on one scale by the
electrostatic potential: the slab's planar average, averaged over one bulk period about its
mid-plane (a macroscopic average), stands for the bulk's mean potential (Van de Walle and
Martin, PRB 35, 8154 (1987)). The slab must be thick enough for its middle to be bulk-like:
three-layer slabs are refused, five layers give an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import Atoms

from perovcalc.errors import InputError


def central_potential(slab: Atoms, profile, period: float) -> float:
    """Macroscopic average (eV) of a slab's planar-averaged potential ``profile`` (along c, the
    surface normal) over one ``period`` (A) about the slab's mid-plane (mean z of its atoms):
    the mean of the windows centred a quarter period either side of it, the profile
    interpolated linearly and periodically along c."""
    profile = np.asarray(profile, dtype=float)
    length = float(np.linalg.norm(slab.cell[2]))
    if profile.ndim != 1 or len(profile) < 2:
        raise InputError("potential_profile", profile.shape, "a planar average along c")
    if not 0 < period < length:
        raise InputError("period", period, f"between 0 and the slab's c length, {length:.3f} A")
    grid = np.arange(len(profile)) * length / len(profile)
    z = slab.positions[:, 2]
    middle = z.mean()
    if min(middle - z.min(), z.max() - middle) < 0.75 * period:
        raise InputError("slab", f"{z.max() - z.min():.2f} A thick",
                         f"at least 1.5 periods ({1.5 * period:.2f} A, five layers) thick: the "
                         "averaging windows would reach the surface")  # fmt: skip
    # the potential dips sharply at the atomic planes: windows whose edges fall there would
    # turn with the relaxation of those planes, so two windows a quarter period off the
    # mid-plane (edges between the planes, where it is smooth), sampled finely, are averaged
    window = np.concatenate([middle + shift + np.linspace(-period / 2, period / 2, 2001)
                             for shift in (-period / 4, period / 4)])  # fmt: skip
    return float(np.interp(window, grid, profile, period=length).mean())


def conduction_band_offset(
    slab: Atoms, slab_host: Mapping, bulk: Atoms, bulk_host: Mapping
) -> float:
    """CBM of ``slab`` minus that of ``bulk`` (eV) on one potential scale: (CBM - <V>_middle)
    of the slab minus (CBM - <V>) of the bulk cell, <V>_middle from :func:`central_potential`
    over the bulk cell's c length, <V> the bulk profile's mean. The hosts hold ``cbm`` (eV) and
    ``potential_profile`` (eV, planar average along c) from the same functional and settings.
    Positive: the slab's CBM lies higher (confinement)."""
    for name, host in (("slab_host", slab_host), ("bulk_host", bulk_host)):
        missing = {"cbm", "potential_profile"} - set(host)
        if missing:
            raise InputError(name, sorted(host), f"a defect_host result with {sorted(missing)}")
    period = float(np.linalg.norm(bulk.cell[2]))
    middle = central_potential(slab, slab_host["potential_profile"], period)
    bulk_mean = float(np.mean(bulk_host["potential_profile"]))
    return (slab_host["cbm"] - middle) - (bulk_host["cbm"] - bulk_mean)
