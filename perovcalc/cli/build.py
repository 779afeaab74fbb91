"""``perovcalc build``: write bulk, slab, nanocrystal and vacancy structures (CIF or extxyz)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from perovcalc.errors import InputError

HELP = "build structures (bulk supercells and competing phases, slabs, nanocrystals, vacancies)"
FORMATS = {".cif": "cif", ".extxyz": "extxyz", ".xyz": "extxyz"}
KEEPS_PBC = ("extxyz",)  # formats that keep which directions are periodic (CIF: all of them)
_OPTIONS = {"site_a": "--site", "site_b": "--hop-to", "index": "--site", "atoms": "STRUCTURE"}


def _number(text: str) -> float:
    """A finite number (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _output(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "-o", "--output", required=required, help="output file: .cif, or .extxyz/.xyz (extxyz)"
    )


def _common(parser: argparse.ArgumentParser, x_default: float) -> None:
    parser.add_argument(
        "--x",
        type=_number,
        default=x_default,
        help=f"Br per formula unit, 0-3 (default {x_default})",
    )
    parser.add_argument(
        "--a", type=_number, help="lattice constant in Angstrom (default: Vegard's law at x)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from perovcalc.bulk import COMPETING_PHASES

    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)

    bulk = kinds.add_parser(
        "bulk",
        help="cubic CsPbI3-xBrx supercell, or a competing phase",
        description="Cubic CsPbI3-xBrx supercell (random, SQS or all distinct orderings), "
        "or a competing phase with --material.",
    )
    _common(bulk, 3.0)
    bulk.add_argument(
        "--supercell", type=int, nargs=3, default=(1, 1, 1), metavar=("N1", "N2", "N3")
    )
    bulk.add_argument(
        "--ordering",
        choices=("random", "sqs", "enumerate"),
        default="random",
        help="Br/I ordering; enumerate writes every symmetry-distinct ordering as one frame "
        "with its multiplicity",
    )
    bulk.add_argument(
        "--material", choices=list(COMPETING_PHASES), help="build this competing phase instead"
    )
    _output(bulk)

    slab = kinds.add_parser(
        "slab", help="symmetric (001) slab", description="Symmetric (001) CsPbI3-xBrx slab."
    )
    _common(slab, 3.0)
    slab.add_argument("--termination", choices=("CsX", "PbX2"), default="CsX")
    slab.add_argument("--layers", type=int, default=5, help="odd number of atomic (001) layers")
    slab.add_argument("--repeat", type=int, nargs=2, default=(1, 1), metavar=("R1", "R2"))
    slab.add_argument("--vacuum", type=_number, default=15.0, help="vacuum in Angstrom")
    slab.add_argument("--fix-layers", type=int, default=0, help="number of layers to fix")
    slab.add_argument("--fix-from", choices=("centre", "bottom"), default="centre")
    slab.add_argument("--passivation", choices=("none", "KBr", "KBr_overlayer"), default="none")
    slab.add_argument("--k-coverage", type=_number, default=1.0, help="K fraction of outer A sites")
    slab.add_argument(
        "--k-subsurface", type=_number, default=0.0, help="K fraction of first subsurface A sites"
    )
    slab.add_argument("--interstitial-k", action="store_true", help="one K below each surface")
    slab.add_argument("--adatom-k", action="store_true", help="one K on top of each surface")
    _output(slab)

    cube = kinds.add_parser(
        "nanocrystal",
        help="CsX-terminated cubic nanocrystal",
        description="CsX-terminated cubic CsPbI3-xBrx nanocrystal, optionally with a K-Br shell.",
    )
    _common(cube, 1.0)
    cube.add_argument("--edge-nm", type=_number, default=11.4, help="edge length in nm")
    cube.add_argument("--shell", choices=("none", "KBr"), default="none")
    cube.add_argument("--k-ratio", type=_number, default=0.10, help="K:Pb ratio of the KBr shell")
    _output(cube)

    vac = kinds.add_parser(
        "vacancy",
        help="halide vacancy or NEB endpoints",
        description="Without --site: list the distinct halide sites of STRUCTURE and their "
        "octahedron-edge neighbours. With --site: remove that halide. With --site and --hop-to: "
        "write the initial and final states of the hop as <output>_initial and <output>_final.",
    )
    vac.add_argument("structure", metavar="STRUCTURE", help="structure file (extxyz for slabs)")
    vac.add_argument("--site", type=int, help="index of the halide to remove")
    vac.add_argument("--hop-to", type=int, help="index of the halide that moves into the vacancy")
    _output(vac, required=False)


def _format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError("--output", path, "a file name ending in .cif, .extxyz or .xyz")
    return FORMATS[suffix]


def _write(path: str, images) -> None:
    from ase.io import write

    from perovcalc.errors import OutputError
    from perovcalc.files import output_path

    fmt = _format(path)
    frames = images if isinstance(images, list) else [images]
    if fmt not in KEEPS_PBC and any(not all(a.pbc) for a in frames):
        kind = "nanocrystal" if not any(frames[0].pbc) else "slab"
        raise InputError(
            "--output",
            path,
            f"a .extxyz or .xyz file for a {kind}: {fmt.upper()} keeps neither vacuum nor "
            "non-periodic directions, so the model would read back as a 3-D crystal",
        )
    try:
        write(output_path(path), images, format=fmt)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None


def _summary(path: str, atoms) -> str:
    return f"wrote {path}: {atoms.get_chemical_formula()}, {len(atoms)} atoms"


def _correlation_table(correlations) -> str:
    """The SQS's cluster correlations per orbit against the ideal random alloy."""
    lines = ["cluster  size (A)  per site  correlation  random"]
    for order, size, per_site, value, target, image in zip(
        correlations.order,
        correlations.distances,
        correlations.multiplicities,
        correlations.values,
        correlations.targets,
        correlations.images,
        strict=True,
    ):
        name = "pair" if order == 2 else "triplet"
        flag = "  periodic images" if image else ""
        lines.append(f"{name:<8} {size:8.3f} {per_site:9.3g} {value:12.4f} {target:7.4f}{flag}")
    lines.append(
        f"mismatch (sum of |correlation - random|): {correlations.mismatch:.4f}; 'periodic "
        "images': a cluster vector reaches half the supercell, so its sites are not independent"
    )
    return "\n".join(lines)


def _check_size(builder: str, args: dict, what: str) -> None:
    """Refuse before building what would exceed the atom limit (see guards.atom_limit)."""
    from perovcalc.guards import check_atoms, estimated_atoms

    count = estimated_atoms(builder, args)
    if count is not None:
        check_atoms(count, what)


def _bulk(args) -> None:
    from perovcalc import alloy, bulk

    _check_size(
        "bulk", {"supercell": args.supercell}, f"a {'x'.join(map(str, args.supercell))} supercell"
    )
    if args.material:
        atoms = bulk.competing_phase(args.material, a=args.a).repeat(args.supercell)
    elif args.ordering == "enumerate":
        orderings = alloy.enumerate_orderings(args.x, args.supercell, a=args.a)
        _write(args.output, [atoms for atoms, _ in orderings])
        counts = ", ".join(str(m) for _, m in orderings)
        print(f"wrote {args.output}: {len(orderings)} distinct orderings, multiplicities {counts}")
        return
    elif args.ordering == "sqs":
        result = alloy.sqs(args.x, args.supercell, seed=args.seed, a=args.a)
        atoms = result.atoms
        print(_correlation_table(result.correlations))
    else:
        atoms = alloy.mixed_halide_supercell(args.x, args.supercell, seed=args.seed, a=args.a)
    _write(args.output, atoms)
    print(_summary(args.output, atoms))


def _slab(args) -> None:
    from perovcalc.slab import perovskite_slab

    _check_size("slab", {"layers": args.layers, "repeat": args.repeat}, "the slab")
    atoms = perovskite_slab(
        x=args.x,
        termination=args.termination,
        layers=args.layers,
        repeat=args.repeat,
        vacuum=args.vacuum,
        fix_layers=args.fix_layers,
        fix_from=args.fix_from,
        passivation=None if args.passivation == "none" else args.passivation,
        k_coverage=args.k_coverage,
        k_subsurface=args.k_subsurface,
        interstitial_k=args.interstitial_k,
        adatom_k=args.adatom_k,
        seed=args.seed,
        a=args.a,
    )
    _write(args.output, atoms)
    print(_summary(args.output, atoms))


def _nanocrystal(args) -> None:
    from perovcalc.nanocrystal import nanocrystal

    _check_size("nanocrystal", {"edge_nm": args.edge_nm, "a": args.a}, "the nanocrystal")
    atoms = nanocrystal(
        x=args.x,
        edge_nm=args.edge_nm,
        shell=None if args.shell == "none" else args.shell,
        k_ratio=args.k_ratio,
        seed=args.seed,
        a=args.a,
    )
    _write(args.output, atoms)
    print(f"{_summary(args.output, atoms)}, edge {atoms.info['edge_nm']:.2f} nm")


def _vacancy(args) -> None:
    from perovcalc import vacancy
    from perovcalc.files import read_structure

    atoms = read_structure(args.structure, what="STRUCTURE file")
    if args.site is None:
        if args.hop_to is not None:
            raise InputError("--hop-to", args.hop_to, "only together with --site")
        print(f"{'index':>6} {'species':>7} {'mult':>5} {'layer':>5} {'depth/A':>8}  hops to")
        for site in vacancy.distinct_halide_sites(atoms):
            layer = "-" if site.layer is None else str(site.layer)
            depth = "-" if site.depth is None else f"{site.depth:.3f}"
            hops = " ".join(map(str, vacancy.neighbour_hops(atoms, site.index)))
            print(
                f"{site.index:>6} {site.species:>7} {site.multiplicity:>5} {layer:>5} "
                f"{depth:>8}  {hops}"
            )
        return
    if not args.output:
        raise InputError("--output", None, "a file name ending in .cif, .extxyz or .xyz")
    _format(args.output)
    if args.hop_to is None:
        result = vacancy.remove_atom(atoms, vacancy.check_halide_index(atoms, args.site))
        _write(args.output, result)
        print(_summary(args.output, result))
        return
    initial, final = vacancy.hop_endpoints(atoms, args.site, args.hop_to)
    path = Path(args.output)
    for name, image in (("initial", initial), ("final", final)):
        target = str(path.with_name(f"{path.stem}_{name}{path.suffix}"))
        _write(target, image)
        print(_summary(target, image))


_BUILDERS = {"bulk": _bulk, "slab": _slab, "nanocrystal": _nanocrystal, "vacancy": _vacancy}


def run(args) -> int:
    from perovcalc.files import output_path

    try:
        if args.output:
            _format(args.output)
            output_path(args.output)
        _BUILDERS[args.kind](args)
    except InputError as err:
        field = _OPTIONS.get(err.field, err.field)
        if not field.startswith("-") and hasattr(args, field):
            field = "--" + field.replace("_", "-")
        raise InputError(field, err.value, err.allowed) from None
    return 0
