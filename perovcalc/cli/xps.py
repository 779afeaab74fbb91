"""``perovcalc xps MODEL.extxyz ...``: simulated photoemission of structure models.

Depth-resolved apparent atomic ratios (K:Br:Pb by default) next to the measured table, the
apparent centroid shift of a level against photon energy, and simulated spectra (several models
overlay in one plot, e.g. pristine and passivated). Per-atom core-level shifts (eV) are read from
the per-atom array ``--shift-column`` of each model when present, else taken as zero.
"""

from __future__ import annotations

MIN_VACUUM = 6.0  # A: a periodic model with a thinner empty layer along c is bulk, not a slab
HELP = "simulated XPS of models: depth-resolved K:Br:Pb ratios, centroid shifts, spectra"


def add_arguments(parser) -> None:
    parser.add_argument("models", nargs="+", help="structure files (extxyz or any ASE format)")
    parser.add_argument(
        "--photon-energy",
        type=float,
        nargs="+",
        help="photon energies, eV (default: the measured series, 450 650 1486.7)",
    )
    parser.add_argument(
        "--ratios", action="store_true", help="apparent atomic ratios (the default action)"
    )
    parser.add_argument(
        "--levels",
        nargs="+",
        help="levels of the ratio, normalised to the last (default: K2p Br3d Pb4f)",
    )
    parser.add_argument("--centroid", metavar="LEVEL", help="centroid shift of LEVEL vs hv")
    parser.add_argument("--spectrum", metavar="LEVEL", help="simulated spectrum of LEVEL")
    parser.add_argument("--plot", metavar="FILE", help="save the spectra (all models) to FILE")
    parser.add_argument(
        "--geometry",
        default="auto",
        help="auto (slab when some direction is periodic, cube when none is; a cell periodic "
        "in all three with no vacuum gap along c is bulk and refused), slab or cube",
    )
    parser.add_argument(
        "--orientation",
        default="random",
        help="random (analyser direction averaged: a film of randomly oriented crystals) or "
        "normal (at --emission-angle from the surface normal)",
    )
    parser.add_argument(
        "--emission-angle",
        type=float,
        default=0.0,
        help="degrees from the normal (--orientation normal)",
    )
    parser.add_argument(
        "--attenuation", default="eal", help="eal (effective attenuation length) or imfp"
    )
    parser.add_argument(
        "--ligand-nm", type=float, default=0.0, help="organic ligand shell over the model, nm"
    )
    parser.add_argument(
        "--directions", type=int, default=300, help="orientation average points (cube)"
    )
    parser.add_argument("--shift-column", default="core_level_shift", help="per-atom shifts, eV")
    parser.add_argument(
        "--x", type=float, help="Br per formula unit of the IMFP matrix (default: from the model)"
    )
    parser.add_argument("--gaussian-fwhm", type=float, default=0.6, help="eV")
    parser.add_argument("--lorentzian-fwhm", type=float, default=0.3, help="eV")
    parser.add_argument("--lineshape", default="voigt", help="voigt or pseudo-voigt")


def _measured_ratios() -> dict[float, dict]:
    """Measured K:Br:Pb ratio rows (reference/photoemission_ratios.csv) by photon energy, eV."""
    from perovcalc.reference import load_table

    return {float(row["photon_energy_eV"]): row for row in load_table("photoemission_ratios")}


def _measured(table: dict, hv: float, elements) -> str:
    row = next((r for e, r in table.items() if abs(e - hv) < 0.5), None)
    if row is None or any(row.get(el) is None for el in elements):
        return "-"
    return ":".join(f"{float(row[el]):.3g}" for el in elements)


def run(args) -> int:
    import numpy as np

    from perovcalc import imfp, photoemission, xps
    from perovcalc.errors import InputError, OutputError
    from perovcalc.files import plot_path, read_structure

    photon_energies = args.photon_energy or list(xps.PHOTON_ENERGIES)
    levels = args.levels or list(photoemission.RATIO_LEVELS)
    escape = xps.Escape(
        args.geometry, args.orientation, args.emission_angle, args.directions, args.attenuation
    )
    model_kw = dict(escape=escape, ligand_nm=args.ligand_nm)
    do_ratios = args.ratios or not (args.centroid or args.spectrum)
    if args.plot:
        plot_path(args.plot, "--plot")
    spectra = []
    models = [(path, read_structure(path, what="model")) for path in args.models]
    for path, atoms in models:
        if args.geometry == "auto" and atoms.pbc.all() and _vacuum_gap(atoms) < MIN_VACUUM:
            raise InputError(
                "--geometry",
                "auto",
                f"slab or cube for {path}: it is periodic in all three directions with no "
                f"vacuum gap along c (a bulk crystal, no surface); give a slab (vacuum along c) "
                "or a nanocrystal, or --geometry slab to treat its cell as a slab",
            )
    for path, atoms in models:
        material = imfp.perovskite(args.x) if args.x is not None else xps.matrix_material(atoms)
        shifts = atoms.arrays.get(args.shift_column)
        geometry = xps.resolve_geometry(atoms, args.geometry)
        print(f"# {path}: {atoms.get_chemical_formula()}, {len(atoms)} atoms, geometry {geometry}")
        if geometry == "slab" and atoms.pbc.all() and _vacuum_gap(atoms) < MIN_VACUUM:
            thickness = xps.depths(atoms, "slab").max()
            print(f"#   periodic in 3-D: treated as a slab {thickness:.1f} A thick (--geometry)")
        print(
            f"#   IMFP matrix {material.name}: density {material.density:.3f} g/cm3, "
            f"Nv {material.valence_electrons:g}, band gap {material.band_gap:.2f} eV, "
            f"Ep {imfp.plasmon_energy(material):.2f} eV"
        )
        if shifts is None and (args.centroid or args.spectrum):
            print(f"#   no per-atom array '{args.shift_column}': all shifts taken as 0")
        if do_ratios:
            ratios = photoemission.apparent_ratios(
                atoms, photon_energies, levels, material, **model_kw
            )
            measured = _measured_ratios()
            elements = [xps.core_level(name).element for name in levels]
            label = ":".join(elements)
            print(f"{'hv (eV)':>9}  {'simulated ' + label:>28}  {'measured':>18}")
            for hv, row in zip(photon_energies, ratios, strict=True):
                sim = ":".join(f"{v:.3g}" for v in row)
                print(f"{hv:9.1f}  {sim:>28}  {_measured(measured, hv, elements):>18}")
            if not measured:
                print("#   measured ratios: reference table 'photoemission_ratios' not available")
        if args.centroid:
            level = xps.core_level(args.centroid)
            centroids = xps.centroid_shifts(
                atoms, level, shifts, photon_energies, material, **model_kw
            )
            print(f"{'hv (eV)':>9}  {level.name + ' centroid shift (eV)':>28}  change vs last hv")
            for hv, value in zip(photon_energies, centroids, strict=True):
                print(f"{hv:9.1f}  {value:28.3f}  {value - centroids[-1]:+.3f}")
        if args.spectrum:
            for hv in photon_energies:
                spectrum = xps.simulate_spectrum(
                    atoms,
                    args.spectrum,
                    hv,
                    shifts,
                    material=material,
                    gaussian_fwhm=args.gaussian_fwhm,
                    lorentzian_fwhm=args.lorentzian_fwhm,
                    lineshape=args.lineshape,
                    **model_kw,
                )
                peak = spectrum.binding_energy[np.argmax(spectrum.intensity)]
                area = np.trapezoid(spectrum.intensity, spectrum.binding_energy)
                print(
                    f"#   {spectrum.level} at hv {hv:g} eV: maximum at {peak:.2f} eV, "
                    f"area {area:.4g} barn"
                )
                spectra.append((path, spectrum))
    if args.plot and spectra:
        try:
            _plot(spectra, args.plot)
        except OSError as err:
            raise OutputError(f"cannot write {args.plot}: {err.strerror or err}") from None
        print(f"# spectra written to {args.plot}")
    return 0


def _vacuum_gap(atoms) -> float:
    """The widest empty layer along the c axis of a periodic cell (across its boundary), A."""
    import numpy as np

    frac = np.sort(atoms.get_scaled_positions(wrap=True)[:, 2])
    gaps = np.diff(np.append(frac, frac[0] + 1.0))
    cell = atoms.cell.array
    normal = np.cross(cell[0], cell[1])
    height = abs(cell[2] @ normal) / np.linalg.norm(normal)
    return float(gaps.max() * height)


def _plot(spectra, filename) -> None:
    from matplotlib.figure import Figure

    from perovcalc.xps import plot_spectra

    fig = Figure(figsize=(6, 4), layout="tight")
    labelled = [(f"{path}, hv {s.photon_energy:g} eV", s) for path, s in spectra]
    plot_spectra(fig.subplots(), labelled)
    fig.savefig(filename, dpi=150)
