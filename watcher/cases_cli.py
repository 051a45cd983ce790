"""``watcher cases ...``: member services' harassment case log and evidence packs.

::

    watcher cases open --member ID --title T [--item ITEM ...] [--sender PLATFORM:ID]
                       [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--assignee NAME]
    watcher cases list [--status S] [--member ID] [--format table|jsonl]
    watcher cases show ID [--format text|json]
    watcher cases update ID [--status S] [--assignee A] [--police-ref R] [--platform-ref R]
                            [--note TEXT]
    watcher cases add ID [--item ITEM ...] [--sender PLATFORM:ID] [--since D] [--until D]
    watcher cases export ID --out DIR

An ITEM is a store item id (as ``watcher findings`` shows) or ``PLATFORM:EXTERNAL_ID``. Dates
are days in the config's time zone, both included. Who acts is ``$SUDO_USER``, else
``$USER``, else "cli".

Exit codes as the rest of the CLI: 0 success, 1 failure at run time (no such case, an item
that is not the member's, a folder that cannot be written, the database), 2 bad usage (a
malformed --sender, --item or date; a bad configuration).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watcher import cases
from watcher import config as config_mod
from watcher.errors import CaseError, ConfigError, WatcherError

if TYPE_CHECKING:
    from watcher.store import Store

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line value that is malformed (exit code 2, not 1)."""


def add_parser(subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
               ) -> argparse.ArgumentParser:
    """Given the ``watcher`` sub-command set and the parser of common options (``--config``,
    ``--log-level``), register ``cases`` with its sub-commands and return its parser."""
    p = subparsers.add_parser("cases", help="harassment cases and police evidence packs")
    sub = p.add_subparsers(dest="cases_command", required=True, metavar="SUBCOMMAND")
    item_help = "a store item id (see 'watcher findings') or PLATFORM:EXTERNAL_ID; repeatable"
    sender_help = "every item by this sender on the member's accounts, e.g. x:1234567"

    op = sub.add_parser("open", parents=[common_parent], help="open a case")
    op.add_argument("--member", required=True, help="the councillor's member id")
    op.add_argument("--title", required=True, help="what the case is about")
    op.add_argument("--item", action="append", default=[], metavar="ITEM", help=item_help)
    op.add_argument("--sender", metavar="PLATFORM:ID", help=sender_help)
    op.add_argument("--since", metavar="YYYY-MM-DD", help="the sender's items from this day")
    op.add_argument("--until", metavar="YYYY-MM-DD", help="the sender's items up to this day "
                    "(included)")
    op.add_argument("--assignee", default="", help="who in member services handles it")

    ls = sub.add_parser("list", parents=[common_parent], help="list cases")
    ls.add_argument("--status", choices=cases.STATUSES)
    ls.add_argument("--member", help="only this member's cases")
    ls.add_argument("--format", choices=["table", "jsonl"], default="table")

    sh = sub.add_parser("show", parents=[common_parent], help="show a case, items, timeline")
    sh.add_argument("id", type=int, metavar="ID")
    sh.add_argument("--format", choices=["text", "json"], default="text")

    up = sub.add_parser("update", parents=[common_parent],
                        help="change status, assignee or references, or add a note")
    up.add_argument("id", type=int, metavar="ID")
    up.add_argument("--status", choices=cases.STATUSES)
    up.add_argument("--assignee")
    up.add_argument("--police-ref", dest="police_ref", help="the police's reference (crime or "
                    "incident number)")
    up.add_argument("--platform-ref", dest="platform_ref", help="the platform's report "
                    "reference")
    up.add_argument("--note", help="a note for the case's timeline")

    ad = sub.add_parser("add", parents=[common_parent], help="add items to a case")
    ad.add_argument("id", type=int, metavar="ID")
    ad.add_argument("--item", action="append", default=[], metavar="ITEM", help=item_help)
    ad.add_argument("--sender", metavar="PLATFORM:ID", help=sender_help)
    ad.add_argument("--since", metavar="YYYY-MM-DD")
    ad.add_argument("--until", metavar="YYYY-MM-DD")

    ex = sub.add_parser("export", parents=[common_parent],
                        help="write the case's evidence pack (a zip) for the police")
    ex.add_argument("id", type=int, metavar="ID")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder to write it into")
    return p


# ---------------------------------------------------------------------------------------------
# Parsing values


def actor() -> str:
    """Who runs the command: the user behind sudo, else the login user, else "cli"."""
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli"


def parse_sender(text: str | None) -> tuple[str, str] | None:
    """Given ``PLATFORM:ID`` (or None), return (platform, id). Raises UsageError if malformed."""
    if text is None:
        return None
    platform, sep, sender_id = text.strip().partition(":")
    if not sep or platform not in config_mod.KNOWN_PLATFORMS or not sender_id.strip():
        raise UsageError(f"--sender {text!r}: expected PLATFORM:ID with PLATFORM one of "
                         f"{', '.join(config_mod.KNOWN_PLATFORMS)}, e.g. x:1234567")
    return platform, sender_id.strip()


def parse_day(text: str | None, tz: str, *, end: bool, option: str) -> datetime | None:
    """Given ``YYYY-MM-DD`` in time zone ``tz``, return the aware start of that day, or with
    ``end`` the start of the next (so the day itself is included). Raises UsageError."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected a date as YYYY-MM-DD") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))


# ---------------------------------------------------------------------------------------------
# Sub-commands


def _store(config: config_mod.Config) -> Store:
    """The config's store, migrated."""
    from watcher.store import for_config

    return for_config(config)


def _range(args: argparse.Namespace, config: config_mod.Config
           ) -> tuple[tuple[str, str] | None, datetime | None, datetime | None]:
    sender = parse_sender(args.sender)
    since = parse_day(args.since, config.timezone, end=False, option="--since")
    until = parse_day(args.until, config.timezone, end=True, option="--until")
    if (since or until) and sender is None:
        raise UsageError("--since and --until limit a sender's items: give --sender too")
    if since and until and until <= since:
        raise UsageError(f"--until {args.until} is before --since {args.since}")
    return sender, since, until


def _open(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    sender, since, until = _range(args, config)
    if not args.item and sender is None:
        raise UsageError("name the items (--item) and/or a sender (--sender)")
    item_ids = cases.resolve_items(store, args.member, args.item)
    case_id = cases.open_case(store, member_id=args.member, title=args.title, actor=actor(),
                              item_ids=item_ids, sender=sender, since=since, until=until,
                              assignee=args.assignee)
    detail = cases.show(store, case_id)
    print(f"opened case {case_id} for {args.member} with {len(detail.items)} item(s)")
    return EXIT_OK


def _local(config: config_mod.Config, at: datetime) -> str:
    """A stored (UTC) time as member services read it: the council's local time."""
    return at.astimezone(ZoneInfo(config.timezone)).strftime("%Y-%m-%d %H:%M")


def _list(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    found = cases.list_cases(store, status=args.status, member_id=args.member)
    if args.format == "jsonl":
        for c in found:
            print(json.dumps(c.as_dict(), ensure_ascii=False, sort_keys=True))
        return EXIT_OK
    print(f"{'id':>5} {'status':18} {'member':12} {'items':>5} {'opened':17} "
          f"{'assignee':14} title")
    for c in found:
        print(f"{c.id:>5} {c.status:18} {c.member_id:12} {c.items:>5} "
              f"{_local(config, c.opened_at):17} {c.assignee[:14]:14} "
              f"{' '.join(c.title.split())[:60]}")
    print(f"{len(found)} case(s)")
    return EXIT_OK


def _show(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    detail = cases.show(store, args.id)
    c = detail.case
    if args.format == "json":
        print(json.dumps({
            "case": c.as_dict(),
            "items": [{**{k: v for k, v in i.__dict__.items() if k != "findings"},
                       "findings": [f.__dict__ for f in i.findings]} for i in detail.items],
            "timeline": [n.__dict__ for n in detail.timeline],
        }, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
            ensure_ascii=False, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"case {c.id}: {c.title}")
    print(f"  member {c.member_id}; status {c.status}; assignee {c.assignee or '-'}")
    print(f"  police ref {c.police_reference or '-'}; platform ref {c.platform_reference or '-'}")
    if c.sender_platform:
        print(f"  against sender {c.sender_platform}:{c.sender_id}")
    print(f"  opened {_local(config, c.opened_at)} by {c.opened_by}"
          + (f"; closed {_local(config, c.closed_at)}" if c.closed_at else "")
          + f" ({config.timezone})")
    print(f"items ({len(detail.items)}):")
    for i in detail.items:
        labels = ",".join(sorted({f.label for f in i.findings})) or "-"
        text = " ".join(i.text.split())[:60]
        print(f"  {i.item_id:>6} {i.platform}:{i.external_id} {_local(config, i.created_at)} "
              f"{(i.author_name or i.author_id or '?')[:20]} [{labels}] {text}")
    print("timeline:")
    for n in detail.timeline:
        print(f"  {_local(config, n.at)} {n.actor} {n.kind}: {n.text}")
    return EXIT_OK


def _update(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    cases.update(store, args.id, actor=actor(), status=args.status, assignee=args.assignee,
                 police_reference=args.police_ref, platform_reference=args.platform_ref,
                 note=args.note)
    c = cases.show(store, args.id).case
    print(f"case {c.id}: status {c.status}; assignee {c.assignee or '-'}; "
          f"police ref {c.police_reference or '-'}; platform ref {c.platform_reference or '-'}")
    return EXIT_OK


def _add(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    sender, since, until = _range(args, config)
    if not args.item and sender is None:
        raise UsageError("name the items (--item) and/or a sender (--sender)")
    item_ids = cases.resolve_items(store, cases.case_member(store, args.id), args.item)
    added = cases.add_items(store, args.id, actor=actor(), item_ids=item_ids, sender=sender,
                            since=since, until=until)
    print(f"added {added} item(s) to case {args.id}")
    return EXIT_OK


def _export(args: argparse.Namespace, config: config_mod.Config, store: Store) -> int:
    from watcher.evidence import export_pack

    path = export_pack(store, config, args.id, args.out, actor=actor())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}")
    print(f"sha256 {digest}  (quote it when you send the pack)")
    return EXIT_OK


_HANDLERS = {"open": _open, "list": _list, "show": _show, "update": _update, "add": _add,
             "export": _export}


def run(args: argparse.Namespace) -> int:
    """Given parsed ``watcher cases ...`` arguments, run the sub-command and return the exit
    code. Errors are printed to stderr (never raised), so the handler can be called directly.
    """
    name = args.cases_command
    where = f"watcher cases {name}"
    try:
        config = config_mod.load(config_mod.resolve_path(args.config))
    except ConfigError as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = None
    try:
        store = _store(config)
        return _HANDLERS[name](args, config, store)
    except UsageError as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CaseError as exc:
        print(f"{where}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except WatcherError as exc:
        from watcher import logs

        print(f"{where}: {logs.redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if store is not None:
            store.dispose()
