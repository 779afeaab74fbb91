"""Cubic CsPbI3-xBrx nanocrystal models (tens of thousands of atoms) for XRD and XPS simulations.

The cube has n x n x n perovskite unit cells, n = round(edge / a), and CsX-terminated {001}
faces: Cs on the (n + 1)^3 corners of the unit-cell grid, Pb at the n^3 cube centres and a halide
at every face centre, 3 n^2 (n + 1). That Cs-rich cube carries a formal charge of 3n + 1; it is
made neutral by removing the 8 corner Cs and 3n - 7 edge Cs drawn at random (``seed``), the least
coordinated A sites. The edge length (Angstrom) is n a, between the outer CsX planes.

``shell="KBr"`` models the K-Br enriched surface: every halide of the outer CsX planes is Br and
round(k_ratio * N_Pb) of the remaining surface Cs, drawn at random, become K. ``x`` sets the
Br fraction of the other halide sites (rounded to a whole number of Br atoms).
The model is unrelaxed; atoms are ordered A cations, Pb, halides.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from perovcalc.bulk import check_x, perovskite_lattice_constant
from perovcalc.errors import InputError

SHELLS = (None, "KBr")


def _grid(n: int) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)


def nanocrystal(
    x: float = 1.0,
    edge_nm: float = 11.4,
    shell: str | None = None,
    k_ratio: float = 0.10,
    seed: int = 0,
    a: float | None = None,
) -> Atoms:
    """Neutral CsX-terminated cube of CsPbI3-xBrx with edge ``edge_nm`` (nanometres).

    ``shell`` None or "KBr" (K:Pb = ``k_ratio`` on surface A sites, surface halides Br).
    ``a`` overrides the Vegard lattice constant (Angstrom). Non-periodic, in a cell with the
    cube at the origin. ``atoms.info``: a, cells (n), edge_nm (actual), x_core (actual).
    """
    x = check_x(x)
    try:
        edge = float(edge_nm) * 10.0
    except (TypeError, ValueError):
        raise InputError("edge_nm", edge_nm, "an edge length in nm >= 3 unit cells") from None
    if shell not in SHELLS:
        raise InputError("shell", shell, SHELLS)
    a = perovskite_lattice_constant(x, a)
    n = int(round(edge / a)) if edge > 0 else 0
    if n < 3:
        raise InputError("edge_nm", edge_nm, f"an edge length >= {3 * a / 10:.2f} nm (3 cells)")
    try:
        k_ratio = float(k_ratio)
    except (TypeError, ValueError):
        raise InputError("k_ratio", k_ratio, "a K:Pb ratio in (0, 1]") from None
    if shell is not None and not 0 < k_ratio <= 1:
        raise InputError("k_ratio", k_ratio, "a K:Pb ratio in (0, 1]")
    rng = np.random.default_rng(seed)

    a_sites = _grid(n + 1)
    on_face = (a_sites == 0) | (a_sites == n)
    faces = on_face.sum(axis=1)
    corners, edges = np.flatnonzero(faces == 3), np.flatnonzero(faces == 2)
    removed = np.concatenate([corners, rng.choice(edges, 3 * n + 1 - len(corners), replace=False)])
    a_sites = np.delete(a_sites, removed, axis=0)
    surface_a = np.flatnonzero(((a_sites == 0) | (a_sites == n)).any(axis=1))

    lead = _grid(n) + 0.5
    halides = []
    for axis in range(3):
        block = _grid(n + 1)
        block = block[np.all(np.delete(block, axis, axis=1) < n, axis=1)].astype(float)
        block[:, [k for k in range(3) if k != axis]] += 0.5
        halides.append(block)
    halides = np.concatenate(halides)
    surface_x = ((halides == 0) | (halides == n)).any(axis=1)

    a_symbols = np.full(len(a_sites), "Cs", dtype=object)
    x_symbols = np.full(len(halides), "I", dtype=object)
    if shell == "KBr":
        n_k = round(k_ratio * len(lead))
        if n_k > len(surface_a):
            raise InputError(
                "k_ratio", k_ratio, f"at most {len(surface_a) / len(lead):.3f} for this cube"
            )
        a_symbols[rng.choice(surface_a, n_k, replace=False)] = "K"
        x_symbols[surface_x] = "Br"
        core = np.flatnonzero(~surface_x)
    else:
        core = np.arange(len(halides))
    n_br = round(x / 3 * len(core))
    x_symbols[rng.choice(core, n_br, replace=False)] = "Br"

    symbols = np.concatenate([a_symbols, np.full(len(lead), "Pb", dtype=object), x_symbols])
    positions = np.concatenate([a_sites, lead, halides]) * a
    atoms = Atoms(symbols=list(symbols), positions=positions, cell=[n * a] * 3, pbc=False)
    atoms.info.update(a=a, cells=n, edge_nm=n * a / 10, x_core=3 * n_br / len(core))
    return atoms
