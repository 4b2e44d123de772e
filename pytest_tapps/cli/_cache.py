"""``tapps cache ...``: invalidate, verify, recover and warm the caches."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, layout_of
from pytest_tapps.cli._output import print_json
from pytest_tapps.cli._runner import load_runner
from pytest_tapps.core._cache import (
    WarmReport,
    clear_profile,
    clear_tiered,
    invalidate,
    invalidate_all,
    recover,
    verify_cache,
    warm_from_folder,
    warm_with,
)
from pytest_tapps.core._errors import ConfigurationError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    cache = commands.add_parser("cache", help="invalidate, verify, recover and warm the caches")
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)

    inval = actions.add_parser(
        "invalidate", parents=[common], help="remove one Context7 library entry, or --all"
    )
    inval.add_argument("library_id", nargs="?", metavar="LIBRARY_ID")
    inval.add_argument("--all", action="store_true", help="remove every Context7 entry")
    inval.add_argument("--dry-run", action="store_true", help="show what would go")
    inval.set_defaults(handler=cmd_invalidate, changes=True)

    verify = actions.add_parser(
        "verify", parents=[common], help="list corrupted Context7 entries and why (exit 1 if any)"
    )
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(handler=cmd_verify, changes=False)

    rec = actions.add_parser(
        "recover",
        parents=[common],
        help="remove corrupted Context7 entries only (they are fetched again on next access)",
    )
    rec.add_argument("--dry-run", action="store_true", help="show what would go")
    rec.add_argument("--json", action="store_true", help="print JSON")
    rec.set_defaults(handler=cmd_recover, changes=True)

    warm = actions.add_parser(
        "warm",
        parents=[common],
        help="fill missing or corrupt Context7 entries (valid ones are left alone)",
        description=(
            "Warm the Context7 cache offline from a folder (one subfolder of documents per "
            "library id, or one file per library: react.md -> react), or with a fetcher "
            "module:attr called as fetcher(library_id) -> {name: content} for each --library."
        ),
    )
    source = warm.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", type=Path, metavar="DIR")
    source.add_argument("--fetcher", metavar="MODULE:ATTR")
    warm.add_argument(
        "--library",
        action="append",
        default=[],
        metavar="LIBRARY_ID",
        help="a library to warm with --fetcher (repeatable)",
    )
    warm.add_argument("--json", action="store_true", help="print JSON")
    warm.set_defaults(handler=cmd_warm, changes=True)

    for name, helptext, handler in (
        ("clear-tiered", "empty the tiered context cache", cmd_clear_tiered),
        ("clear-profile", "remove the project profile (rebuilt on next use)", cmd_clear_profile),
    ):
        clear = actions.add_parser(name, parents=[common], help=helptext)
        clear.add_argument("--dry-run", action="store_true", help="show what would go")
        clear.set_defaults(handler=handler, changes=True)


def cmd_invalidate(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    verb = "would remove" if args.dry_run else "removed"
    if args.all == bool(args.library_id):
        message = "name one LIBRARY_ID or pass --all (not both)"
        raise ConfigurationError(message)
    if args.all:
        removed = invalidate_all(layout, dry_run=args.dry_run)
        for library_id in removed:
            print(f"{verb} {layout.context7_entry(library_id)}")
        print(f"{verb} {len(removed)} Context7 entr{'y' if len(removed) == 1 else 'ies'}")
        return EXIT_OK if all(r.ok for r in removed.values()) else EXIT_PROBLEMS
    removal = invalidate(layout, args.library_id, dry_run=args.dry_run)
    if removal is None:
        print(f"no Context7 entry for {args.library_id!r}; nothing to remove")
        return EXIT_OK
    print(f"{verb} {layout.context7_entry(args.library_id)}")
    for path, why in removal.failures:
        print(f"could not remove {path}: {why}")
    return EXIT_OK if removal.ok else EXIT_PROBLEMS


def cmd_verify(args: argparse.Namespace) -> int:
    checks = verify_cache(layout_of(args))
    corrupt = [c for c in checks if not c.ok]
    if args.json:
        print_json(
            [
                {
                    "library_id": c.library_id,
                    "path": str(c.path),
                    "ok": c.ok,
                    "problems": list(c.problems),
                }
                for c in checks
            ]
        )
    else:
        for check in corrupt:
            print(f"{check.path}: corrupt: {'; '.join(check.problems)}")
        print(
            f"{len(checks)} entr{'y' if len(checks) == 1 else 'ies'} checked, "
            f"{len(corrupt)} corrupt" + ("; run 'tapps cache recover'" if corrupt else "")
        )
    return EXIT_PROBLEMS if corrupt else EXIT_OK


def cmd_recover(args: argparse.Namespace) -> int:
    corrupt = recover(layout_of(args), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if args.json:
        print_json(
            {
                "dry_run": args.dry_run,
                "removed": [
                    {"library_id": c.library_id, "path": str(c.path), "problems": list(c.problems)}
                    for c in corrupt
                ],
            }
        )
    else:
        for check in corrupt:
            print(f"{verb} corrupt entry {check.path}: {'; '.join(check.problems)}")
        print(f"{verb} {len(corrupt)} corrupt entr{'y' if len(corrupt) == 1 else 'ies'}")
    return EXIT_OK


def _print_warm(report: WarmReport, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "warmed": report.warmed,
                "already_valid": report.already_valid,
                "failed": [{"library_id": i, "why": w} for i, w in report.failed],
            }
        )
        return
    for library_id in report.warmed:
        print(f"warmed {library_id}")
    for library_id in report.already_valid:
        print(f"kept {library_id} (already valid)")
    for library_id, why in report.failed:
        print(f"could not warm {library_id}: {why}")


def cmd_warm(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    if args.source is not None:
        if args.library:
            message = "--library goes with --fetcher; with --from every library in DIR is warmed"
            raise ConfigurationError(message)
        report = warm_from_folder(layout, args.source, clock=args.clock)
    else:
        if not args.library:
            message = "--fetcher needs at least one --library LIBRARY_ID to warm"
            raise ConfigurationError(message)
        fetcher = load_runner(args.fetcher, option="--fetcher")
        report = warm_with(layout, fetcher, args.library, clock=args.clock)
    _print_warm(report, args.json)
    return EXIT_PROBLEMS if report.failed else EXIT_OK


def cmd_clear_tiered(args: argparse.Namespace) -> int:
    removed = clear_tiered(layout_of(args), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in removed:
        print(f"{verb} {path}")
    print(f"{verb} {len(removed)} tiered context cache item(s)")
    return EXIT_OK


def cmd_clear_profile(args: argparse.Namespace) -> int:
    removed = clear_profile(layout_of(args), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {removed}" if removed else "no project profile; nothing to remove")
    return EXIT_OK
