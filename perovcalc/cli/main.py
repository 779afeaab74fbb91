"""Entry point of the ``perovcalc`` program."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import perovcalc
from perovcalc import cli
from perovcalc.errors import PerovcalcError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perovcalc",
        description="DFT workflows (GPAW) for CsPbI3-xBrx perovskite nanocrystals.",
    )
    parser.add_argument("--version", action="version", version=f"perovcalc {perovcalc.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"perovcalc.cli.{info.name}")
        name = info.name.replace("_", "-")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that has gone shows here, not at exit
        return code
    except PerovcalcError as err:
        print(f"perovcalc {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"perovcalc {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output (e.g. head) has gone: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:  # a file a command reads or writes, not caught nearer to it
        where = f"{err.filename}: " if err.filename else ""
        print(
            f"perovcalc {args.command}: error: {where}{err.strerror or err}; check that the "
            "file or folder exists and may be read or written",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
