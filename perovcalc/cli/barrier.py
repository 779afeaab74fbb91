"""``perovcalc barrier table|plot|csv CAMPAIGN.toml``: halide migration barriers."""

from perovcalc.cli import add_results_arguments, finished

HELP = "halide migration barriers of a campaign: table (with literature), profiles or CSV"
CSV_SOURCE = "computed with perovcalc (perovcalc barrier csv {campaign})"
COLUMNS = [
    "task", "environment", "model", "host", "host_atoms", "host_rattle_A", "species", "site",
    "to", "hop", "forward_eV", "reverse_eV", "reaction_eV", "intermediates", "other_moved_A",
    "converged", "residual_eV_A", "n_images", "fmax_eV_A", "band_evaluations",
    "endpoint_evaluations", "intermediate_evaluations", "wall_s", "spinpol",
]  # fmt: skip


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
        labels = {f"{b.task.name}: " + ", ".join(map(str, b.conditions.values())): b.result
                  for b in bands}  # fmt: skip
        path = args.output or "barrier_profiles.png"
        report.profile_figure(labels).savefig(path, dpi=150, bbox_inches="tight")
        print(path)
    else:
        print(report.barrier_table([(b.task.name, b.env, b.result, b.text) for b in bands]))
        print()
        print(report.migration_literature())
    return 0


def write_csv(bands: list, output: str | None, source: str) -> None:
    """One CSV row per barrier (report.migration.Band) with its cost and the settings used."""
    from perovcalc.results import SETTINGS_COLUMNS, settings_record
    from perovcalc.results import write_csv as write

    records = []
    for band in bands:
        r, s = band.result, band.result["settings"]
        cost = r.get("total_cost") or r["cost"]
        records.append(
            {
                "task": band.task.name,
                "environment": band.env,
                "model": band.conditions.get("model", ""),
                "host": r["host"]["formula"],
                "host_atoms": band.row.natoms + 1,
                "host_rattle_A": r["host"].get("rattle", 0.0),
                "species": r["species"],
                "site": r["site"],
                "to": r["to"],
                "hop": band.conditions.get("hop", ""),
                "forward_eV": f"{r['forward_barrier']:.4f}",
                "reverse_eV": f"{r['reverse_barrier']:.4f}",
                "reaction_eV": f"{r['reaction_energy']:.4f}",
                "intermediates": "; ".join(
                    f"{m['energy']:+.4f} eV at {m['hop_fraction']:.2f} of the hop"
                    for m in r.get("intermediates", [])
                ),
                "other_moved_A": f"{r['hop']['max_other_displacement']:.2f}",
                "converged": "yes" if r["converged"] else "no",
                "residual_eV_A": f"{r['residual']:.3f}",
                "n_images": s["n_images"],
                "fmax_eV_A": s["fmax"],
                "band_evaluations": cost["evaluations"],
                "endpoint_evaluations": r["endpoint_evaluations"],
                "intermediate_evaluations": r.get("intermediate_evaluations", 0),
                "wall_s": f"{cost['wall_time']:.0f}",
                "spinpol": s.get("spinpol", ""),
                **settings_record(band.row, source),
            }
        )
    write([*COLUMNS, *SETTINGS_COLUMNS], records, output)
