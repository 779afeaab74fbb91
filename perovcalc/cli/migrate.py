"""``perovcalc migrate CAMPAIGN.toml``: adopt the results a store of perovcalc 0.1 holds under
its task ids, once (``perovcalc run`` does it too before it runs anything)."""

from perovcalc.cli import DB_HELP

HELP = "move the results stored under perovcalc 0.1's task ids to the current ids"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML)")
    parser.add_argument("--db", help=DB_HELP.replace("results/<campaign name>", "<workdir>"))
    parser.add_argument(
        "--workdir",
        help="directory of the task folders (default: results/<campaign name>); an interrupted "
        "task's folder moves with its row",
    )


def run(args) -> int:
    import sys
    from pathlib import Path

    from perovcalc.campaign import load_campaign
    from perovcalc.runner import adopt_legacy_rows, default_store, default_workdir
    from perovcalc.store import Store, locate

    campaign = load_campaign(args.campaign)
    workdir = Path(args.workdir or default_workdir(campaign)).expanduser().resolve()
    store = Store(locate(args.db, default_store(campaign, workdir)), create=False)
    adopted = adopt_legacy_rows(campaign, store, workdir, sys.stdout)
    if not adopted:
        print(
            "nothing adopted: no result stored under a 0.1 task id is the same computation as "
            f"a task of {campaign.source} without a result"
        )
    return 0
