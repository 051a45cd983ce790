"""``watcher report ...``: the monthly safety summary for group leaders.

::

    watcher report monthly --month YYYY-MM [--out DIR] [--send [--force]]

``--out`` writes each group's HTML page, CSV and charts into DIR; ``--send`` emails each group's
leaders (once per month: ``--force`` sends again). With neither, the files are written to the
current folder.

Exit codes as the rest of the CLI: 0 success, 1 failure at run time (a folder that cannot be
written, a database that cannot be read, a leader the mail server refused), 2 bad usage or
configuration (a malformed month, ``--force`` without ``--send``, an invalid config file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from watcher import config as config_mod
from watcher import logs, reports
from watcher.errors import ConfigError, ReportError, WatcherError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _month(text: str) -> str:
    """argparse type: a month written ``YYYY-MM``."""
    try:
        reports.parse_month(text)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_parser(subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
               ) -> argparse.ArgumentParser:
    """Given the ``watcher`` sub-command set and the parser of common options (``--config``,
    ``--log-level``), register ``report`` with its ``monthly`` sub-command and return its
    parser."""
    p = subparsers.add_parser("report", help="monthly safety summaries for group leaders")
    sub = p.add_subparsers(dest="report_command", required=True, metavar="SUBCOMMAND")
    monthly = sub.add_parser(
        "monthly", parents=[common_parent], help="make (and send) one month's summaries",
        description="Make each group's safety summary for one calendar month (in the "
        "config's time zone): counts, changes on the month before and charts, never the text "
        "of a comment. Members with no group are summarised under \"No group\".",
        epilog=f"Exit codes: {EXIT_OK} done; {EXIT_FAILURE} a folder could not be written, "
        "the database could not be read or a leader's mail server refused the summary; "
        f"{EXIT_USAGE} bad usage or configuration.")
    monthly.add_argument("--month", required=True, type=_month, metavar="YYYY-MM",
                         help="the calendar month, e.g. 2026-03")
    monthly.add_argument("--out", metavar="DIR", help="write each group's HTML, CSV and "
                         "chart PNGs into DIR (default without --send: the current folder)")
    monthly.add_argument("--send", action="store_true", help="email each group's summary to "
                         "its leaders, unless it was sent before")
    monthly.add_argument("--force", action="store_true", help="with --send: send even to "
                         "groups that were sent this month's summary before")
    return p


def _print_outcome(outcome: reports.SendOutcome, timezone: str) -> None:
    """Print, group by group, what sending did."""
    zone = ZoneInfo(timezone)
    print(f"sent ({reports.month_title(outcome.month)}):")
    for g in outcome.groups:
        if g.status == "no_leaders":
            print(f"  {g.group}: not sent: the group has no leader_emails")
        elif g.status == "already_sent":
            when = g.previously_sent_at.astimezone(zone).strftime("%d %b %Y %H:%M") \
                if g.previously_sent_at else "before"
            print(f"  {g.group}: already sent on {when}; --force sends it again")
        else:
            if g.delivered:
                print(f"  {g.group}: sent to {', '.join(g.delivered)}")
            for address, why in g.refused:
                print(f"  {g.group}: NOT SENT to {address}: {why}")


def _monthly(args: argparse.Namespace) -> int:
    from watcher.credentials import Credentials
    from watcher.store import for_config

    if args.force and not args.send:
        print("watcher report monthly: --force only goes with --send", file=sys.stderr)
        return EXIT_USAGE
    config = config_mod.load(config_mod.resolve_path(args.config))
    store = for_config(config, upgrade=False)
    try:
        store.upgrade()
        report = reports.build_monthly(store, config, args.month)
        print(f"{reports.month_title(args.month)}: {len(report.groups)} group(s)"
              + ("" if report.has_data else f"; {reports.no_data_text(args.month)}"))
        if args.out or not args.send:
            out = Path(args.out or ".")
            paths = reports.write_monthly(report, out)
            print(f"written to {out.resolve()}:")
            for path in paths:
                print(f"  {path.name}")
        if not args.send:
            return EXIT_OK
        # Imported here: the daemon module brings the platforms and detectors with it.
        from watcher.daemon import build_channel

        outcome = reports.send_monthly(store, config, build_channel(config, Credentials()),
                                       args.month, force=args.force, report=report)
        _print_outcome(outcome, config.timezone)
        return EXIT_OK if outcome.ok else EXIT_FAILURE
    finally:
        store.dispose()


def run(args: argparse.Namespace) -> int:
    """Given parsed ``watcher report ...`` arguments, run the sub-command and return the exit
    code. Errors are printed to stderr (never raised), so the handler can be called directly."""
    name = f"watcher report {args.report_command}"
    try:
        return _monthly(args)
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WatcherError as exc:  # ReportError, StoreError, CredentialError
        print(f"{name}: {logs.redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
