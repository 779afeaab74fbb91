"""``perovcalc report``: HTML + Markdown report and summary.json of a campaign's results."""

from perovcalc.cli import DB_HELP, store

HELP = "write report.html, report.md and summary.json comparing results with experiment"
DEFAULT = "workflows/kbr_passivation_demo.toml"


def add_arguments(parser) -> None:
    parser.add_argument(
        "campaign", nargs="?", default=DEFAULT, help=f"campaign file (default {DEFAULT})"
    )
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument(
        "-o", "--output", help="output directory (default: results/<campaign>/report)"
    )


def run(args) -> int:
    from perovcalc.campaign import load_campaign
    from perovcalc.report import write_report
    from perovcalc.runner import default_workdir
    from perovcalc.store import Store

    campaign = load_campaign(args.campaign)
    workdir = default_workdir(campaign)
    db = store(args, campaign)
    Store(db, create=False)  # a store that is missing or broken stops here, before any output
    path = write_report(campaign, db, args.output or workdir / "report")
    print(f"report: {path}")
    print(f"summary: {path.parent / 'summary.json'}")
    return 0
