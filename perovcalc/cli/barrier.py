"""``perovcalc barrier table|plot|csv CAMPAIGN.toml``: halide migration barriers."""

from perovcalc.cli import add_results_arguments, finished

HELP = "halide migration barriers of a campaign: table (with literature), profiles or CSV"
CSV_SOURCE = "computed with perovcalc (perovcalc barrier csv {campaign})"


def add_arguments(parser) -> None:
    add_results_arguments(
        parser,
        "migration_barrier",
        "print the table, draw the energy profiles, or write every barrier as a CSV row",
    )
    parser.add_argument(
        "-o", "--output", help="PNG file of the profiles (default barrier_profiles.png) or CSV file"
    )


def run(args) -> int:
    from perovcalc.files import output_path, plot_path
    from perovcalc.report import migration as report

    if args.output:  # before the results are read: a path that cannot be written stops here
        (plot_path if args.action == "plot" else output_path)(args.output, "--output")
    campaign, rows = finished(args, "migration_barrier")
    done = [(campaign.tasks[name], row) for name, row in rows.items()]
    bands = report.barrier_bands(done)
    if args.action == "csv":
        write_csv(bands, args.output, CSV_SOURCE.format(campaign=args.campaign))
    elif args.action == "plot":
        from perovcalc.path import profile_figure

        labels = {f"{b.task.name}: " + ", ".join(map(str, b.conditions.values())):
                  b.result.profile() for b in bands}  # fmt: skip
        path = args.output or "barrier_profiles.png"
        profile_figure(labels).savefig(path, dpi=150, bbox_inches="tight")
        print(path)
    else:
        print(report.barrier_table([(b.task.name, b.env, b.result, b.text) for b in bands]))
        print()
        print(report.migration_literature())
    return 0


def write_csv(bands: list, output: str | None, source: str) -> None:
    """One CSV row per barrier (report.migration.Band) with its cost and the settings used."""
    from perovcalc.kinds.migration import BARRIER_COLUMNS, barrier_csv_row
    from perovcalc.results import SETTINGS_COLUMNS, settings_record
    from perovcalc.results import write_csv as write

    records = [
        {
            **barrier_csv_row(
                band.task.name,
                band.env,
                band.conditions,
                band.result,
                band.row.natoms + 1,
            ),
            **settings_record(band.row, source),
        }
        for band in bands
    ]
    write([*BARRIER_COLUMNS, *SETTINGS_COLUMNS], records, output)
