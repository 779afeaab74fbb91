"""``perovcalc status CAMPAIGN.toml``: tasks with their state and times."""

from perovcalc.cli import DB_HELP, store

HELP = "list the tasks of a campaign: pending, running, done, failed (with reason), times"


def add_arguments(parser) -> None:
    parser.add_argument("campaign", help="campaign file (TOML)")
    parser.add_argument("--db", help=DB_HELP)


def run(args) -> int:
    from perovcalc.campaign import load_campaign
    from perovcalc.results import print_status

    campaign = load_campaign(args.campaign)
    print_status(campaign, store(args, campaign))
    return 0
