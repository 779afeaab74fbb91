"""Command-line interface: one module per subcommand, discovered at start-up.

Each module in this package (other than ``main``) defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules import heavy libraries
(GPAW, pymatgen) inside ``run`` so that ``perovcalc --help`` stays fast.
"""

DB_HELP = (
    "results store: an SQLite file, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB (a "
    "password belongs in ~/.pgpass or PGPASSWORD; default: results/<campaign name>/results.db)"
)


def add_results_arguments(parser, kind: str, action_help: str) -> None:
    """``action`` (table, plot or csv), ``campaign`` and ``--db`` of a subcommand that reads
    the finished ``kind`` tasks of a campaign."""
    parser.add_argument("action", choices=("table", "plot", "csv"), help=action_help)
    parser.add_argument("campaign", help=f"campaign file (TOML) with {kind} tasks")
    parser.add_argument("--db", help=DB_HELP)


def store(args, campaign):
    """The results store (a :class:`perovcalc.store.Location`) of a subcommand: ``--db``,
    else the campaign's default one."""
    from perovcalc.runner import default_store
    from perovcalc.store import locate

    return locate(args.db, default_store(campaign))


def finished(args, kind: str) -> tuple:
    """The campaign of ``args`` and its finished ``kind`` tasks in the store (name -> row, in
    dependency order); PerovcalcError when there are none."""
    from perovcalc.campaign import load_campaign
    from perovcalc.errors import PerovcalcError, StoreError
    from perovcalc.results import finished_rows

    campaign = load_campaign(args.campaign)
    db = store(args, campaign)
    try:
        found = finished_rows(campaign, db)
    except StoreError as err:
        raise StoreError(f"no finished {kind} task of {campaign.source}: {err}") from None
    rows = {name: row for name, row in found.items() if row.kind == kind}
    if not rows:
        raise PerovcalcError(f"no finished {kind} task of {campaign.source} in {db}")
    return campaign, rows
