"""``tapps cache ...``: invalidate, verify, recover and warm the caches."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, NotFoundError, layout_of
from pytest_tapps.cli._output import Printed, emit, json_text, text
from pytest_tapps.cli._runner import load_runner
from pytest_tapps.core._cache import (
    EntryCheck,
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
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._shown import quoted


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
    warm.set_defaults(handler=cmd_warm, changes=True, needs_project=False)

    for name, helptext, handler in (
        ("clear-tiered", "empty the tiered context cache", cmd_clear_tiered),
        ("clear-profile", "remove the project profile (rebuilt on next use)", cmd_clear_profile),
    ):
        clear = actions.add_parser(name, parents=[common], help=helptext)
        clear.add_argument("--dry-run", action="store_true", help="show what would go")
        clear.set_defaults(handler=handler, changes=True)


def invalidate_printed(
    layout: Layout, library_id: str | None, *, every: bool, dry_run: bool = False
) -> Printed:
    """``tapps cache invalidate``: remove one library's Context7 entry, or all of them
    (``every``), and what it prints; exit 1 if something could not be removed."""
    verb = "would remove" if dry_run else "removed"
    if every == bool(library_id):
        message = "name one LIBRARY_ID or pass --all (not both)"
        raise ConfigurationError(message)
    if every or library_id is None:
        removed = invalidate_all(layout, dry_run=dry_run)
        lines = [f"{verb} {layout.context7_entry(name)}" for name in removed]
        lines.append(f"{verb} {len(removed)} Context7 entr{'y' if len(removed) == 1 else 'ies'}")
        ok = all(r.ok for r in removed.values())
        return Printed(EXIT_OK if ok else EXIT_PROBLEMS, text(lines))
    removal = invalidate(layout, library_id, dry_run=dry_run)
    if removal is None:
        message = (
            f"no Context7 entry {quoted(library_id)} in "
            f"{layout.context7_entry(library_id).parent}; "
            "nothing was removed ('tapps cache verify' lists the entries)"
        )
        raise NotFoundError(message)
    lines = [f"{verb} {layout.context7_entry(library_id)}"]
    lines += [f"could not remove {path}: {why}" for path, why in removal.failures]
    return Printed(EXIT_OK if removal.ok else EXIT_PROBLEMS, text(lines))


def cmd_invalidate(args: argparse.Namespace) -> int:
    return emit(
        invalidate_printed(layout_of(args), args.library_id, every=args.all, dry_run=args.dry_run)
    )


def verify_printed(checks: list[EntryCheck], *, as_json: bool) -> Printed:
    """What ``tapps cache verify`` prints: each corrupt entry and why; exit 1 if any."""
    corrupt = [c for c in checks if not c.ok]
    code = EXIT_PROBLEMS if corrupt else EXIT_OK
    if as_json:
        data = [
            {
                "library_id": c.library_id,
                "path": str(c.path),
                "ok": c.ok,
                "problems": list(c.problems),
            }
            for c in checks
        ]
        return Printed(code, json_text(data))
    lines = [f"{check.path}: corrupt: {'; '.join(check.problems)}" for check in corrupt]
    lines.append(
        f"{len(checks)} entr{'y' if len(checks) == 1 else 'ies'} checked, "
        f"{len(corrupt)} corrupt" + ("; run 'tapps cache recover'" if corrupt else "")
    )
    return Printed(code, text(lines))


def cmd_verify(args: argparse.Namespace) -> int:
    return emit(verify_printed(verify_cache(layout_of(args)), as_json=args.json))


def recover_printed(corrupt: list[EntryCheck], *, dry_run: bool, as_json: bool) -> Printed:
    """What ``tapps cache recover`` prints: each corrupt entry it removed and why."""
    verb = "would remove" if dry_run else "removed"
    if as_json:
        removed = [
            {"library_id": c.library_id, "path": str(c.path), "problems": list(c.problems)}
            for c in corrupt
        ]
        return Printed(EXIT_OK, json_text({"dry_run": dry_run, "removed": removed}))
    lines = [f"{verb} corrupt entry {c.path}: {'; '.join(c.problems)}" for c in corrupt]
    lines.append(f"{verb} {len(corrupt)} corrupt entr{'y' if len(corrupt) == 1 else 'ies'}")
    return Printed(EXIT_OK, text(lines))


def cmd_recover(args: argparse.Namespace) -> int:
    corrupt = recover(layout_of(args), dry_run=args.dry_run)
    return emit(recover_printed(corrupt, dry_run=args.dry_run, as_json=args.json))


def warm_printed(report: WarmReport, *, as_json: bool) -> Printed:
    """What ``tapps cache warm`` prints: what it warmed, kept and could not warm (exit 1)."""
    code = EXIT_PROBLEMS if report.failed else EXIT_OK
    if as_json:
        data = {
            "warmed": report.warmed,
            "already_valid": report.already_valid,
            "failed": [{"library_id": i, "why": w} for i, w in report.failed],
        }
        return Printed(code, json_text(data))
    lines = [f"warmed {library_id}" for library_id in report.warmed]
    lines += [f"kept {library_id} (already valid)" for library_id in report.already_valid]
    lines += [f"could not warm {library_id}: {why}" for library_id, why in report.failed]
    return Printed(code, text(lines))


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
        fetcher = load_runner(args.fetcher, option="--fetcher", takes=("library_id",))
        report = warm_with(layout, fetcher, args.library, clock=args.clock)
    return emit(warm_printed(report, as_json=args.json))


def clear_tiered_printed(removed: list[Path], *, dry_run: bool) -> Printed:
    """What ``tapps cache clear-tiered`` prints: each item of the tiered cache it removed."""
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {path}" for path in removed]
    lines.append(f"{verb} {len(removed)} tiered context cache item(s)")
    return Printed(EXIT_OK, text(lines))


def cmd_clear_tiered(args: argparse.Namespace) -> int:
    removed = clear_tiered(layout_of(args), dry_run=args.dry_run)
    return emit(clear_tiered_printed(removed, dry_run=args.dry_run))


def clear_profile_printed(removed: Path | None, *, dry_run: bool) -> Printed:
    """What ``tapps cache clear-profile`` prints: the profile it removed, if there was one."""
    verb = "would remove" if dry_run else "removed"
    line = f"{verb} {removed}" if removed else "no project profile; nothing to remove"
    return Printed(EXIT_OK, text([line]))


def cmd_clear_profile(args: argparse.Namespace) -> int:
    removed = clear_profile(layout_of(args), dry_run=args.dry_run)
    return emit(clear_profile_printed(removed, dry_run=args.dry_run))
