"""``perovcalc reference [TABLE]``: list the reference tables, or print one with its sources."""

from __future__ import annotations

import argparse
import json

HELP = "list the experimental and literature reference tables, or print one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", nargs="?", help="table to print (default: list all tables)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _print_columns(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        )


def run(args: argparse.Namespace) -> int:
    from perovcalc import reference

    if args.table is None:
        infos = reference.list_tables()
        if args.format == "json":
            entries = [
                {
                    "name": i.name,
                    "description": i.description,
                    "rows": i.rows,
                    "tags": dict(i.tags),
                    "sources": list(i.sources),
                }
                for i in infos
            ]
            print(json.dumps(entries, indent=1))
            return 0
        _print_columns(
            ["table", "rows", "tags", "description"],
            [
                [
                    i.name,
                    str(i.rows),
                    " ".join(f"{t}:{n}" for t, n in i.tags.items()),
                    i.description,
                ]
                for i in infos
            ],
        )
        print(
            f"\ntags: {', '.join(reference.TAGS)} (see reference/README.md); files in "
            f"{reference.REFERENCE_DIR}"
        )
        return 0
    rows = reference.load_table(args.table)
    if args.format == "json":
        print(json.dumps([dict(r) for r in rows], indent=1))
        return 0
    for line in reference.table_description(args.table):
        print(f"# {line}")
    header = list(rows[0]) if rows else []
    _print_columns(header, [[_cell(r[c]) for c in header] for r in rows])
    return 0
