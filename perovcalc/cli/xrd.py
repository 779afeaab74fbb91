"""``perovcalc xrd FILE...``: simulated powder XRD, composition series, comparison with data.

Periodic structures (CIF, or any ASE format with a periodic cell) give a Bragg pattern with
Scherrer size broadening; finite models such as ``perovcalc build nanocrystal -o nc.extxyz``
give the Debye-equation pattern. ``--compare`` fits a measured pattern (cubic lattice constant,
implied Br content, residuals, Rwp, rock-salt K(Br,I) impurity); ``--series`` simulates cubic
CsPbI3-xBrx at the given x (Vegard lattice constants) and plots a waterfall.
"""

from __future__ import annotations

HELP = "simulated powder XRD (Bragg or Debye), composition series, comparison with a measurement"


def add_arguments(parser) -> None:
    parser.add_argument(
        "structures",
        nargs="*",
        metavar="FILE",
        help="structure files (periodic: Bragg; finite: Debye)",
    )
    parser.add_argument(
        "--wavelength",
        default="1.54178",
        help="Angstrom, or a name such as CuKa1 or CuKa1+2 (the K-alpha doublet); default 1.54178",
    )
    parser.add_argument(
        "--size-nm",
        type=float,
        default=11.4,
        help="crystallite size for Scherrer broadening (Bragg)",
    )
    parser.add_argument("--no-size", action="store_true", help="no size broadening (Bragg)")
    parser.add_argument(
        "--instrument-fwhm", type=float, default=0.05, help="Gaussian instrumental FWHM, degrees"
    )
    parser.add_argument(
        "--two-theta",
        type=float,
        nargs=2,
        default=(10.0, 60.0),
        metavar=("MIN", "MAX"),
        help="degrees",
    )
    parser.add_argument("--step", type=float, default=0.02, help="2theta step, degrees")
    parser.add_argument(
        "--method", choices=("fast", "exact"), default="fast", help="Debye method for finite models"
    )
    parser.add_argument(
        "--compare", metavar="MEASURED", help="two-column measured pattern (2theta, I)"
    )
    parser.add_argument(
        "--series",
        type=float,
        nargs="+",
        metavar="X",
        help="composition series at these x (Br per f.u.)",
    )
    parser.add_argument("-o", "--output", metavar="CSV", help="write the patterns to this CSV file")
    parser.add_argument("--plot", metavar="PNG", help="plot the patterns to this file")


def _describe_bragg(name: str, reflections, rows: int = 8) -> None:
    strongest = max(r.intensity for r in reflections)
    print(f"{name}: {len(reflections)} reflections; strongest:")
    print(f"  {'hkl':>9} {'mult':>4} {'d/A':>7} {'lambda/A':>8} {'2theta':>8} {'I/%':>6}")
    top = sorted(sorted(reflections, key=lambda r: -r.intensity)[:rows], key=lambda r: r.two_theta)
    for r in top:
        hkl = " ".join(str(h) for h in r.hkl)
        print(
            f"  {hkl:>9} {r.multiplicity:>4} {r.d:7.4f} {r.wavelength:8.5f} {r.two_theta:8.3f} "
            f"{100 * r.intensity / strongest:6.1f}"
        )


def _describe_comparison(comparison) -> None:
    fit = comparison.perovskite
    print(
        f"cubic CsPbI3-xBrx: a = {fit.lattice_constant:.4f} +- {fit.uncertainty:.4f} A, "
        f"x = {comparison.br_content:.2f} (Vegard), Rwp = {comparison.rwp:.3f}"
    )
    print(f"  {'hkl':>9} {'2theta obs':>10} {'calc':>8} {'resid':>7}")
    for match in fit.matches:
        hkl = " ".join(str(h) for h in match.hkl)
        print(f"  {hkl:>9} {match.observed:10.3f} {match.calculated:8.3f} {match.residual:7.3f}")
    if comparison.impurity is None:
        print("rock-salt K(Br,I) impurity: not detected")
    else:
        salt = comparison.impurity
        y = comparison.iodide_fraction
        print(
            f"rock-salt impurity KBr{1 - y:.2f}I{y:.2f} (Vegard): "
            f"a = {salt.lattice_constant:.4f} A; "
            + ", ".join(f"({''.join(map(str, m.hkl))}) at {m.observed:.2f}" for m in salt.matches)
        )
    if len(comparison.unindexed):
        print("unindexed peaks at 2theta = " + ", ".join(f"{t:.2f}" for t in comparison.unindexed))


def _plot(path: str, two_theta, columns: dict, comparison=None, measured=None) -> None:
    """Simulated patterns normalised to their maxima; a measurement and its fit on one scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if measured is not None:
        scale = measured.intensity.max()
        ax.plot(measured.two_theta, measured.intensity / scale, "k.", ms=2, label="measured")
        fit = comparison.fitted
        ax.plot(
            fit.two_theta, fit.intensity / scale, "k-", lw=1, label=f"fit, Rwp {comparison.rwp:.3f}"
        )
    for name, intensity in columns.items():
        ax.plot(two_theta, intensity / intensity.max(), lw=1, label=name)
    ax.set_xlabel("2θ (degrees)")
    ax.set_ylabel("normalised intensity")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def run(args) -> int:
    from pathlib import Path

    from ase.io import read

    from perovcalc import xrd
    from perovcalc.debye import debye_pattern
    from perovcalc.errors import InputError

    if not (args.structures or args.series or args.compare):
        raise InputError("FILE", None, "structure files, --series X... or --compare MEASURED")
    if args.series and (args.structures or args.compare):
        raise InputError("--series", args.series, "a series alone, without FILE or --compare")
    wavelength = xrd.parse_wavelength(args.wavelength)
    size_nm = None if args.no_size else args.size_nm
    two_theta = xrd.two_theta_grid(tuple(args.two_theta), args.step)

    if args.series:
        entries = xrd.composition_series(
            args.series, None, two_theta, wavelength, size_nm, args.instrument_fwhm
        )
        print(f"{'x':>5} {'a/A':>7} {'(100)':>8} {'(110)':>8} {'(200)':>8}   2theta, degrees")
        for e in entries:
            print(
                f"{e.x:5.2f} {e.lattice_constant:7.4f} "
                + " ".join(f"{t:8.3f}" for t in e.peaks.values())
            )
        if args.output:
            xrd.write_patterns(
                args.output, two_theta, {f"x={e.x:g}": e.pattern.intensity for e in entries}
            )
            print(f"wrote {args.output}")
        if args.plot:
            xrd.plot_waterfall(entries, args.plot)
            print(f"wrote {args.plot}")
        return 0

    measured = comparison = None
    if args.compare:
        measured = xrd.read_pattern(args.compare)
        inside = (measured.two_theta >= args.two_theta[0]) & (
            measured.two_theta <= args.two_theta[1]
        )
        measured = xrd.Pattern(measured.two_theta[inside], measured.intensity[inside])
        two_theta = measured.two_theta
        comparison = xrd.compare_with_measurement(
            measured, xrd.mean_wavelength(wavelength), size_nm, args.instrument_fwhm
        )
        _describe_comparison(comparison)

    columns = {}
    for name in args.structures:
        if not Path(name).is_file():
            raise InputError("FILE", name, "an existing structure file")
        atoms = read(name)
        label = Path(name).stem
        if atoms.pbc.all():
            window = (max(0.0, two_theta.min() - 10), min(180.0, two_theta.max() + 10))
            reflections = xrd.bragg_reflections(atoms, wavelength, window)
            _describe_bragg(
                label, [r for r in reflections if two_theta.min() <= r.two_theta <= two_theta.max()]
            )
            columns[label] = xrd.powder_profile(
                reflections, two_theta, size_nm, args.instrument_fwhm
            )
        else:
            pattern = debye_pattern(atoms, two_theta, wavelength, method=args.method)
            peaks, _ = xrd.find_peaks(pattern)
            print(
                f"{label}: Debye ({args.method}) pattern of {len(atoms)} atoms; maxima at 2theta = "
                + ", ".join(f"{t:.2f}" for t in peaks)
            )
            columns[label] = pattern.intensity
        if measured is not None:
            rwp, _ = xrd.weighted_profile_r(measured, [columns[label]])
            print(f"  Rwp against {args.compare}: {rwp:.3f}")
    if args.output:
        if comparison is not None:
            fit = {"measured": measured.intensity, "fit": comparison.fitted.intensity}
            xrd.write_patterns(args.output, two_theta, {**fit, **columns})
        else:
            xrd.write_patterns(args.output, two_theta, columns)
        print(f"wrote {args.output}")
    if args.plot:
        _plot(args.plot, two_theta, columns, comparison, measured)
        print(f"wrote {args.plot}")
    return 0
