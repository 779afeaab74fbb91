"""``perovcalc run CAMPAIGN.toml``: run (or resume) a campaign."""

HELP = "run or resume a campaign file (TOML) and print its results"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML), e.g. workflows/smoke.toml")
    parser.add_argument(
        "--db", help="results store: SQLite path or ASE db URL (default: <workdir>/results.db)"
    )
    parser.add_argument(
        "--ranks", help="MPI ranks per GPAW task (default: $PEROVCALC_RANKS or the number of cores)"
    )
    parser.add_argument(
        "--workdir",
        help="directory for task logs and checkpoints (default: results/<campaign name>)",
    )
    parser.add_argument("--retry-failed", action="store_true", help="run failed tasks again")


def run(args) -> int:
    from perovcalc.campaign import load_campaign
    from perovcalc.parallel import check_ranks, default_ranks
    from perovcalc.results import print_results
    from perovcalc.runner import default_workdir, run_campaign

    campaign = load_campaign(args.campaign)
    ranks = check_ranks(args.ranks, "--ranks") if args.ranks is not None else default_ranks()
    workdir = args.workdir or default_workdir(campaign)
    db = args.db or f"{workdir}/results.db"
    summary = run_campaign(campaign, db, ranks, workdir, retry_failed=args.retry_failed)
    print_results(campaign, db)
    for name, reason in summary.failed.items():
        print(f"failed: {name}: {reason}")
    return 0 if summary.ok else 1
