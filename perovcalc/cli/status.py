"""``perovcalc status CAMPAIGN.toml``: tasks with their state and times."""

from perovcalc.cli import DB_HELP

HELP = "list the tasks of a campaign: pending, running, done, failed (with reason), times"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML)")
    parser.add_argument("--db", help=DB_HELP)


def run(args) -> int:
    from perovcalc.campaign import load_campaign
    from perovcalc.results import print_status
    from perovcalc.runner import default_workdir

    campaign = load_campaign(args.campaign)
    print_status(campaign, args.db or f"{default_workdir(campaign)}/results.db")
    return 0
