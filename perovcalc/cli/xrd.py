"""``perovcalc xrd FILE...``: simulated powder XRD, composition series, comparison with data.

Periodic structures (CIF, or any ASE format with a periodic cell) give a Bragg pattern with
Scherrer size broadening; slabs (periodic in two directions, e.g. ``perovcalc build slab``) are
scattered as platelet crystallites of ``--platelet-nm`` by the Debye equation; finite models such
as ``perovcalc build nanocrystal -o nc.extxyz`` give the Debye-equation pattern. The output says
which was done and why. Intensities include room-temperature Debye-Waller factors and anomalous
dispersion unless switched off. ``--compare`` fits a measured pattern (cubic lattice constant,
Br content by Vegard's law between room-temperature end members, residuals, Rwp, rock-salt
K(Br,I) impurity); ``--series`` simulates cubic CsPbI3-xBrx at the given x (Vegard lattice
constants) and plots a waterfall.
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
        "--platelet-nm",
        type=float,
        default=11.4,
        help="lateral size (nm) of the platelet a slab is scattered as (default 11.4, the study's "
        "TEM edge)",
    )
    parser.add_argument(
        "--no-debye-waller",
        action="store_true",
        help="no Debye-Waller factors (default: reference/debye_waller.csv for Pb compounds)",
    )
    parser.add_argument(
        "--no-anomalous", action="store_true", help="no anomalous dispersion f', f''"
    )
    parser.add_argument(
        "--march-dollase",
        type=float,
        metavar="R",
        help="March-Dollase preferred orientation along (100) (R < 1: cubes lying face down); "
        "Bragg patterns and --compare fits",
    )
    parser.add_argument(
        "--end-members",
        choices=("room-temperature", "high-temperature"),
        default="room-temperature",
        help="Vegard end members for the Br content of a measured pattern",
    )
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
        f"x = {comparison.br_content:.2f} +- {comparison.br_uncertainty:.2f} (Vegard), "
        f"Rwp = {comparison.rwp:.3f}"
    )
    members = comparison.end_members
    print(f"  Vegard end members ({members.kind}): {members.description}")
    print(
        "  the uncertainty of x includes the deviation from Vegard's law of the CsPbI2Br film "
        "reference (bowing)"
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


def _check_br_content(comparison, path: str) -> None:
    """Refuse a fitted x outside [0, 3]: the pattern is not CsPbI3-xBrx between the end members."""
    from perovcalc.errors import PerovcalcError

    x = comparison.br_content
    if not 0.0 <= x <= 3.0:
        members = comparison.end_members
        raise PerovcalcError(
            f"{path}: fitted Br content x = {x:.2f} (a = "
            f"{comparison.perovskite.lattice_constant:.4f} A) is outside 0-3: the lattice constant "
            f"lies outside the {members.kind} end members CsPbI3 {members.a_i:.4f} A and CsPbBr3 "
            f"{members.a_br:.4f} A (try --end-members, or check the phase and the wavelength)"
        )


def run(args) -> int:
    from pathlib import Path

    from ase.io import read

    from perovcalc import scattering, xrd, xrd_compare
    from perovcalc.errors import InputError

    if not (args.structures or args.series or args.compare):
        raise InputError("FILE", None, "structure files, --series X... or --compare MEASURED")
    if args.series and (args.structures or args.compare):
        raise InputError("--series", args.series, "a series alone, without FILE or --compare")
    wavelength = scattering.parse_wavelength(args.wavelength)
    size_nm = None if args.no_size else args.size_nm
    two_theta = scattering.two_theta_grid(tuple(args.two_theta), args.step)
    debye_waller = None if args.no_debye_waller else scattering.REFERENCE_B
    texture = None if args.march_dollase is None else xrd.MarchDollase(args.march_dollase)

    if args.series:
        entries = xrd.composition_series(
            args.series,
            None,
            two_theta,
            wavelength,
            size_nm,
            args.instrument_fwhm,
            debye_waller,
            not args.no_anomalous,
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
        measured = xrd_compare.read_pattern(args.compare)
        inside = (measured.two_theta >= args.two_theta[0]) & (
            measured.two_theta <= args.two_theta[1]
        )
        measured = scattering.Pattern(measured.two_theta[inside], measured.intensity[inside])
        two_theta = measured.two_theta
        comparison = xrd_compare.compare_with_measurement(
            measured,
            scattering.mean_wavelength(wavelength),
            size_nm,
            args.instrument_fwhm,
            end_members=args.end_members,
            debye_waller=debye_waller,
            preferred_orientation=texture,
            anomalous=not args.no_anomalous,
        )
        _describe_comparison(comparison)
        _check_br_content(comparison, args.compare)

    columns = {}
    for name in args.structures:
        if not Path(name).is_file():
            raise InputError("FILE", name, "an existing structure file")
        atoms = read(name)
        label = Path(name).stem
        result = xrd.model_pattern(
            atoms,
            two_theta,
            wavelength,
            size_nm,
            args.instrument_fwhm,
            args.method,
            args.platelet_nm,
            debye_waller,
            not args.no_anomalous,
            texture,
        )
        print(f"{label}: {result.explanation}")
        if result.warning:
            print(f"  warning: {result.warning}")
        if result.method == "bragg":
            _describe_bragg(
                label,
                [
                    r
                    for r in result.reflections
                    if two_theta.min() <= r.two_theta <= two_theta.max()
                ],
            )
        else:
            peaks, _ = xrd_compare.find_peaks(result.pattern)
            print("  maxima at 2theta = " + ", ".join(f"{t:.2f}" for t in peaks))
        columns[label] = result.pattern.intensity
        if measured is not None:
            rwp, _ = xrd_compare.weighted_profile_r(measured, [columns[label]])
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
