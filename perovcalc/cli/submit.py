"""``perovcalc submit CAMPAIGN.toml --profile P.toml``: run a campaign as one batch job."""

HELP = "submit a campaign as a SLURM/PBS batch job (or print the batch script with --dry-run)"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML)")
    parser.add_argument(
        "--profile", required=True, help="cluster profile (TOML, see workflows/profiles/)"
    )
    parser.add_argument(
        "--db",
        help="results store: an SQLite file, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB "
        "(default: <workdir>/results.db); a password is never written into the script: give "
        "it in ~/.pgpass (or PGPASSFILE) on the cluster",
    )
    parser.add_argument(
        "--workdir", help="directory for task logs, checkpoints, the batch script and job output"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the batch script instead of submitting it"
    )


def run(args) -> int:
    import shlex
    import sys
    from pathlib import Path

    from perovcalc.campaign import load_campaign
    from perovcalc.errors import OutputError
    from perovcalc.hpc import batch_script, load_profile, submit_batch_script
    from perovcalc.runner import default_store, default_workdir
    from perovcalc.store import locate

    campaign = load_campaign(args.campaign)
    profile = load_profile(args.profile)
    workdir = Path(args.workdir or default_workdir(campaign)).expanduser().resolve()
    db = locate(args.db, default_store(campaign, workdir))
    script = batch_script(
        profile,
        campaign.name,
        Path(args.campaign).resolve(),
        Path(args.profile).resolve(),
        workdir,
        db,
    )
    if db.password is not None:
        print(
            f"perovcalc submit: the password of {db} is not written into the script; "
            "the job reads it from ~/.pgpass (or PGPASSFILE) on the cluster",
            file=sys.stderr,
        )
    if args.dry_run:
        print(script, end="")
        return 0
    path = workdir / f"submit.{'sbatch' if profile.scheduler == 'slurm' else 'pbs'}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
    except OSError as err:
        raise OutputError(f"cannot write the batch script {path}: {err.strerror}") from None
    job = submit_batch_script(profile, path)
    status = shlex.join(["perovcalc", "status", args.campaign, "--db", db.url])
    print(f"submitted batch job {job} ({path}); follow it with: {status}")
    return 0
