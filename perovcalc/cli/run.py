"""``perovcalc run CAMPAIGN.toml``: run (or resume) a campaign, locally or on a cluster."""

HELP = "run or resume a campaign file (TOML) and print its results"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML), e.g. workflows/smoke.toml")
    parser.add_argument(
        "--db",
        help="results store: an SQLite file, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB "
        "(a password belongs in ~/.pgpass or PGPASSWORD; default: <workdir>/results.db)",
    )
    parser.add_argument(
        "--ranks", help="MPI ranks per GPAW task (default: $PEROVCALC_RANKS or the number of cores)"
    )
    parser.add_argument(
        "--jobs",
        help="tasks at once on this machine (default 1); keep jobs x ranks <= the cores, e.g. "
        "--jobs 2 --ranks 1 on two cores for campaigns of small cells",
    )
    parser.add_argument(
        "--workdir",
        help="directory for task logs and checkpoints (default: results/<campaign name>)",
    )
    parser.add_argument("--retry-failed", action="store_true", help="run failed tasks again")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="TASK",
        help="run only these tasks and the tasks they depend on",
    )
    parser.add_argument(
        "--profile",
        help="cluster profile (TOML, see workflows/profiles/): run the tasks in SLURM or PBS "
        "batch jobs through Parsl, with the ranks per task of the profile",
    )
    parser.add_argument(
        "--in-allocation",
        action="store_true",
        help="with --profile: run inside the current batch job (as `perovcalc submit` jobs do)",
    )


def run(args) -> int:
    import signal
    from contextlib import nullcontext
    from pathlib import Path

    from perovcalc.campaign import load_campaign
    from perovcalc.errors import InputError
    from perovcalc.parallel import check_ranks, default_ranks
    from perovcalc.results import print_results
    from perovcalc.runner import LocalExecutor, default_store, default_workdir, run_campaign
    from perovcalc.store import locate

    campaign = load_campaign(args.campaign)
    if args.only:
        campaign = campaign.subset(args.only)
    workdir = Path(args.workdir or default_workdir(campaign)).expanduser()
    db = locate(args.db, default_store(campaign, workdir))
    if args.profile is None:
        if args.in_allocation:
            raise InputError("--in-allocation", True, "only together with --profile")
        ranks = check_ranks(args.ranks, "--ranks") if args.ranks is not None else default_ranks()
        jobs = check_ranks(args.jobs, "--jobs") if args.jobs is not None else 1
        executor = nullcontext(LocalExecutor(max_running=jobs))
    else:
        from perovcalc.hpc import ParslExecutor, load_profile

        for option, value in (("--ranks", args.ranks), ("--jobs", args.jobs)):
            if value is not None:
                raise InputError(option, value, "none with --profile (see its [task] table)")
        profile = load_profile(args.profile)
        ranks = profile.ranks_per_task
        executor = ParslExecutor(profile, workdir, campaign.name, args.in_allocation)
        # on SIGTERM (kill, or the walltime of the job we run in) shut Parsl down as on Ctrl-C:
        # its interchange stops and its batch jobs are cancelled
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    with executor as chosen:
        summary = run_campaign(
            campaign, db, ranks, workdir, executor=chosen, retry_failed=args.retry_failed
        )
    print_results(campaign, db)
    for name, reason in summary.failed.items():
        print(f"failed: {name}: {reason}")
    for name in summary.interrupted:
        print(f"interrupted: {name} (run again to resume it from its checkpoint)")
    return 0 if summary.ok else 1
