"""``perovcalc doctor``: report the installation; non-zero exit when something is missing."""

HELP = "check GPAW, ASE, pymatgen, spglib, MPI and PAW datasets"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from perovcalc.doctor import check_environment

    checks = check_environment()
    for c in checks:
        print(f"{'ok ' if c.ok else 'BAD'}  {c.name:<16} {c.found}")
    bad = [c for c in checks if not c.ok]
    for c in bad:
        print(f"perovcalc doctor: {c.name} is not usable: {c.found}. Fix: {c.hint}")
    return 1 if bad else 0
