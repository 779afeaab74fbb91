"""``perovcalc vacancy table|plot|csv CAMPAIGN.toml``: halide vacancy formation energies."""

from perovcalc.cli import add_results_arguments, finished

HELP = "halide vacancy formation energies of a campaign: table (with literature), plots or CSV"
CSV_SOURCE = "computed with perovcalc (perovcalc vacancy csv {campaign})"


def add_arguments(parser) -> None:
    add_results_arguments(
        parser,
        "vacancy_formation",
        "print the table, draw plots, or write every computed vacancy as a CSV row",
    )
    parser.add_argument(
        "--condition",
        choices=("rich", "poor"),
        default="poor",
        help="halide chemical-potential limit of the depth plot and the passivation change",
    )
    parser.add_argument(
        "-o", "--output", help="folder for the plots (default .) or CSV file (default stdout)"
    )


def run(args) -> int:
    from pathlib import Path

    from perovcalc import formation
    from perovcalc.kinds.defects import VacancyResult, vacancy_table

    _, rows = finished(args, "vacancy_formation")
    results = {name: row.data["result"] for name, row in rows.items()}
    if args.action == "csv":
        write_csv(rows, args.output, CSV_SOURCE.format(campaign=args.campaign))
        return 0
    if args.action == "plot":
        folder = Path(args.output or ".")
        folder.mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            if result["environment"] == "bulk":
                print(formation.plot_fermi_level(result, folder / f"{name}_fermi_level.png"))
        slabs = {n: r for n, r in results.items() if r["environment"] == "slab"}
        if slabs:
            print(formation.plot_depth(slabs, folder / "vacancy_depth.png", args.condition))
        return 0
    for name, result in results.items():
        print(vacancy_table(name, VacancyResult.from_dict(result)), end="\n\n")
    for bare, passivated in formation.slab_pairs(results):
        print(f"passivation effect ({passivated} - {bare}), neutral, X-{args.condition}:")
        for row in formation.surface_change(results[bare], results[passivated], args.condition):
            print(
                f"  V_{row['species']:<2} layer {row['layer_from_surface']}: bare "
                f"{row['bare']:.3f} eV, passivated {row['passivated']:.3f} eV, "
                f"change {row['change']:+.3f} eV"
            )
        print()
    print(formation.literature_table())
    return 0


def write_csv(rows: dict, output: str | None, source: str) -> None:
    """One CSV row per computed vacancy (site, charge state) with the settings used."""
    from perovcalc.kinds.defects import VACANCY_COLUMNS, VacancyResult, vacancy_csv_rows
    from perovcalc.results import SETTINGS_COLUMNS, settings_record
    from perovcalc.results import write_csv as write

    records = [
        {**record, **settings_record(row, source)}
        for name, row in rows.items()
        for record in vacancy_csv_rows(name, VacancyResult.from_dict(row.data["result"]))
    ]
    write([*VACANCY_COLUMNS, *SETTINGS_COLUMNS], records, output)
