"""Benchmark: Debye-equation powder patterns of the default nanocrystal and of a slab platelet.

Times the fast (binned) Debye pattern of the default 11.4 nm CsPbI2Br nanocrystal with the K-Br
shell (target: under 10 s on 2 cores) and reports the process's peak memory, then the largest
difference between the fast and the exact pair sum on the normalised pattern of a nanocrystal
small enough for the exact sum (requirement: below 1 %), then the pattern of the README's
five-layer KBr-passivated CsPbBr3 slab scattered as an 11.4 nm platelet (``xrd.model_pattern``).

    .venv/bin/python benchmarks/xrd_debye.py [--threads 2] [--small-edge-nm 3.0]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from perovcalc.debye import debye_pattern
from perovcalc.nanocrystal import nanocrystal
from perovcalc.scattering import CU_KA, two_theta_grid
from perovcalc.slab import perovskite_slab
from perovcalc.xrd import model_pattern


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="threads of the fast method")
    parser.add_argument("--edge-nm", type=float, default=11.4, help="nanocrystal edge, nm")
    parser.add_argument(
        "--small-edge-nm", type=float, default=3.0, help="edge of the exact-sum model, nm"
    )
    parser.add_argument("--step", type=float, default=0.02, help="2theta step, degrees")
    args = parser.parse_args(argv)

    two_theta = two_theta_grid((10.0, 60.0), args.step)
    model = nanocrystal(x=1.0, edge_nm=args.edge_nm, shell="KBr")
    print(
        f"model: {model.get_chemical_formula()}, {len(model)} atoms, "
        f"edge {model.info['edge_nm']:.2f} nm; {len(two_theta)} 2theta points, "
        f"lambda {CU_KA} A, {args.threads} threads"
    )
    before = peak_rss_mb()
    start = time.perf_counter()
    pattern = debye_pattern(model, two_theta, CU_KA, method="fast", threads=args.threads)
    elapsed = time.perf_counter() - start
    print(f"fast Debye pattern: {elapsed:.2f} s (target < 10 s)")
    print(f"peak memory: {peak_rss_mb():.0f} MB (process), {before:.0f} MB before the pattern")
    strongest = pattern.two_theta[np.argmax(pattern.intensity)]
    print(f"strongest maximum at 2theta = {strongest:.2f} degrees")

    small = nanocrystal(x=1.0, edge_nm=args.small_edge_nm, shell="KBr")
    start = time.perf_counter()
    exact = debye_pattern(small, two_theta, CU_KA, method="exact").intensity
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = debye_pattern(small, two_theta, CU_KA, method="fast", threads=args.threads).intensity
    fast_s = time.perf_counter() - start
    error = np.max(np.abs(fast / fast.max() - exact / exact.max()))
    print(
        f"small model ({len(small)} atoms): exact {exact_s:.2f} s, fast {fast_s:.2f} s; "
        f"max |fast - exact| on the normalised pattern = {error:.2e} (requirement < 1e-2)"
    )

    slab = perovskite_slab(x=3.0, termination="CsX", layers=5, passivation="KBr")
    start = time.perf_counter()
    result = model_pattern(slab, two_theta, CU_KA, lateral_nm=args.edge_nm, threads=args.threads)
    print(f"slab platelet: {time.perf_counter() - start:.2f} s; {result.explanation}")
    print(f"peak memory: {peak_rss_mb():.0f} MB (process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
