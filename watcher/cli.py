"""The ``watcher`` command (CONTRACT §3).

Exit codes: 0 success, 1 failure at run time, 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TextIO

from watcher import __version__, cases_cli, logs, models_cli, report_cli, web_cli
from watcher import config as config_mod
from watcher.errors import ConfigError, CredentialError, WatcherError

if TYPE_CHECKING:
    from watcher.store import Store

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watcher", description="Councillor Watcher: keeps "
                                "councillors' social media safe.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="config file (default: $WATCHER_CONFIG, else "
                        f"{config_mod.DEFAULT_PATH})")
    common.add_argument("--log-level", default=os.environ.get("WATCHER_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run the daemon")
    poll = sub.add_parser("poll", parents=[common], help="poll every account")
    poll.add_argument("--once", action="store_true", required=True,
                      help="poll once, detect, send due alerts, exit")
    demo = sub.add_parser("demo", parents=[common], help="run against a simulated council")
    demo.add_argument("--seconds", type=float, default=30.0, help="how long (default 30)")
    demo.add_argument("--dir", help="where to keep the demo database (default: a new "
                      "temporary directory)")
    demo.add_argument("--web", nargs="?", const="127.0.0.1:8080", metavar="HOST:PORT",
                      help="afterwards, serve the dashboard on the demo's data (default "
                      "127.0.0.1:8080) until Ctrl-C")
    sub.add_parser("check", parents=[common], help="validate config, database, credentials")
    sub.add_parser(
        "status", parents=[common], help="how every account and the outbox stand",
        description="Print, from the database, each account's last poll and its outcome, its "
        "last successful poll and last error, items stored, findings by label in the last "
        "24 h, and the alerts still pending with the age of the oldest.",
        epilog=f"Exit codes: {EXIT_OK} healthy; {EXIT_FAILURE} unhealthy (an enabled account's "
        "last poll failed, or an alert has been pending for more than an hour) or the "
        f"database cannot be read; {EXIT_USAGE} bad usage or configuration.")
    classify = sub.add_parser("classify", parents=[common], help="classify JSON Lines comments")
    classify.add_argument("--input", help="JSON Lines file (default: stdin)")
    classify.add_argument("--output", help="where to write (default: stdout)")
    findings = sub.add_parser("findings", parents=[common], help="list findings")
    findings.add_argument("--since", default="7d", help="how far back (default 7d)")
    findings.add_argument("--member", help="only this member id")
    findings.add_argument("--format", choices=["table", "jsonl", "csv"], default="table")
    findings.add_argument("--review", choices=["open", "hidden", "removed", "not_a_problem"],
                          help="only items with this decision from the dashboard "
                          "(not_a_problem: the feedback for tuning thresholds and allow-lists)")
    db = sub.add_parser("db", help="database administration")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    dbsub.add_parser("upgrade", parents=[common], help="create or migrate the schema")
    models_cli.add_parser(sub, common)
    cases_cli.add_parser(sub, common)
    report_cli.add_parser(sub, common)
    web_cli.add_parsers(sub, common)
    images = sub.add_parser("images", help="the council's register of known images")
    isub = images.add_subparsers(dest="images_command", required=True, metavar="SUBCOMMAND")
    iadd = isub.add_parser("add", parents=[common], help="register images (files or URLs)")
    kind = iadd.add_mutually_exclusive_group(required=True)
    kind.add_argument("--cleared", dest="kind", action="store_const", const="cleared",
                      help="the council's own or licensed to it: never flagged")
    kind.add_argument("--third-party", dest="kind", action="store_const", const="third_party",
                      help="licensed to others: a post that uses it is flagged")
    iadd.add_argument("sources", nargs="+", metavar="FILE_OR_URL")
    iadd.add_argument("--note", default="", help="what it is (shown in alerts)")
    isub.add_parser("list", parents=[common], help="list the register")
    irm = isub.add_parser("remove", parents=[common], help="remove an entry")
    irm.add_argument("id", type=int)
    meetings = sub.add_parser("meetings", help="the meeting calendars")
    msub = meetings.add_subparsers(dest="meetings_command", required=True, metavar="SUBCOMMAND")
    msub.add_parser("refresh", parents=[common], help="read the calendars now")
    mlist = msub.add_parser("list", parents=[common], help="list stored meetings")
    mlist.add_argument("--days", type=int, default=14, help="from today, this many days "
                       "ahead (default 14)")
    senders = sub.add_parser("senders", parents=[common],
                             help="repeat senders: authors with several findings")
    senders.add_argument("--since", default="30d", help="how far back (default 30d)")
    senders.add_argument("--member", help="only this member id")
    senders.add_argument("--min", type=int, default=2, dest="min_findings",
                         help="at least this many findings (default 2)")
    sar = sub.add_parser("sar", help="subject-access requests")
    sarsub = sar.add_subparsers(dest="sar_command", required=True, metavar="SUBCOMMAND")
    sexp = sarsub.add_parser("export", parents=[common],
                             help="everything stored about one sender, as JSON")
    sexp.add_argument("--platform", required=True, choices=config_mod.KNOWN_PLATFORMS)
    sexp.add_argument("--sender", required=True, help="the sender's platform id")
    sexp.add_argument("--out", required=True, help="folder to write to")
    retention = sub.add_parser("retention", help="retention (GDPR minimisation)")
    rsub = retention.add_subparsers(dest="retention_command", required=True,
                                    metavar="SUBCOMMAND")
    rsub.add_parser("purge", parents=[common], help="apply the retention periods now "
                    "(the daemon does so daily)")
    return p


def _load(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(config_mod.resolve_path(args.config))


def _store(config: config_mod.Config, *, upgrade: bool = False) -> Store:
    """Given the config, return its Store, the database password (if any) read from its
    credential, migrated if ``upgrade``. Raises StoreError for a bad URL or a failed
    migration, CredentialError for a missing password."""
    from watcher.store import for_config

    return for_config(config, upgrade=upgrade)


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.daemon import Daemon, build

    daemon = Daemon(build(_load(args)))

    def _stop(signum: int, _frame: Any) -> None:
        logs.get("watcher").info("daemon.signal", signal=signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    clean = daemon.run()
    if not clean:
        # A poll is stuck in a network call; its transaction is uncommitted, so nothing is
        # lost by leaving now, and the contract promises a stop within 10 s.
        sys.stdout.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    from watcher.daemon import build, poll_once

    outcomes, report = poll_once(build(_load(args)))
    for o in outcomes:
        print(f"{o.account:40} {o.status:13} new={o.new_items} findings={o.findings} "
              f"alerts={o.alerts}" + (f"  ({o.error})" if o.error else ""))
    print(f"alerts sent: {report.sent}, failed: {report.failed}, still queued: {report.pending}")
    failed = [o for o in outcomes if o.status not in ("ok", "skipped")]
    return EXIT_FAILURE if failed or report.failed else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from watcher.credentials import Credentials

    config = _load(args)
    print(f"config {config.source}: OK ({len(config.members)} members, "
          f"{sum(len(m.accounts) for m in config.members)} accounts)")
    ok = True
    try:
        store = _store(config)
        store.ping()
        print(f"database {store.safe_url}: reachable")
    except WatcherError as exc:
        print(f"database: FAILED: {exc}")
        ok = False
    creds = Credentials()
    for m in config.members:
        for a in m.accounts:
            for name in filter(None, (a.credential, a.credential_user)):
                try:
                    creds.get(name)
                    print(f"credential {name} ({m.id}, {a.key}): found")
                except CredentialError as exc:
                    print(f"credential ({m.id}, {a.key}): MISSING: {exc}")
                    ok = False
            if not a.credential:
                print(f"credential ({m.id}, {a.key}): MISSING: no credential named")
                ok = False
    if config.smtp.password_credential:
        try:
            creds.get(config.smtp.password_credential)
            print(f"credential {config.smtp.password_credential} (smtp): found")
        except CredentialError as exc:
            print(f"credential (smtp): MISSING: {exc}")
            ok = False
    print("all well" if ok else "problems found")
    return EXIT_OK if ok else EXIT_FAILURE


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _load(args)
    store = _store(config, upgrade=True)
    print(f"database {store.safe_url}: schema up to date")
    return EXIT_OK


def _read_jsonl(stream: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line number, object) or (line number, error message) per non-blank line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"line {number}: not JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            yield number, f'line {number}: expected an object with a "text" string'
            continue
        yield number, obj


def cmd_classify(args: argparse.Namespace) -> int:
    from detectors import registry
    from detectors.text import labels_over
    from watcher.config import TextDetectorConfig

    text_cfg = _load(args).text if (args.config or os.environ.get("WATCHER_CONFIG")) \
        else TextDetectorConfig()
    classifier = registry.text_classifier(text_cfg.engine, model_dir=text_cfg.model_dir,
                                            prefer_onnx=text_cfg.prefer_onnx)
    thresholds = text_cfg.thresholds
    # Invalid UTF-8 becomes U+FFFD rather than stopping the run: one bad byte must not lose
    # the rest of a million-line file.
    source = (open(args.input, encoding="utf-8", errors="replace") if args.input
              else io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    errors = 0
    chunk: list[tuple[int, dict[str, Any] | str]] = []

    def flush() -> None:
        nonlocal errors
        good = [obj for _, obj in chunk if isinstance(obj, dict)]
        results = iter(classifier.classify([o["text"] for o in good],
                                            [o.get("member") for o in good]) if good else [])
        for _, obj in chunk:
            if isinstance(obj, str):
                errors += 1
                print(obj, file=sys.stderr)
                out.write(json.dumps({"id": None, "error": obj}) + "\n")
                continue
            c = next(results)
            flagged = labels_over(c.scores, thresholds)
            out.write(json.dumps({
                "id": obj.get("id"),
                "labels": flagged,
                "scores": {k: round(v, 4) for k, v in c.scores.items()},
                "reasons": [r for lab in flagged for r in c.reasons.get(lab, ())],
            }, ensure_ascii=False) + "\n")
        chunk.clear()

    try:
        for entry in _read_jsonl(source):
            chunk.append(entry)
            if len(chunk) >= 256:
                flush()
        flush()
    finally:
        if args.output:
            out.close()
        if args.input:
            source.close()
    return EXIT_FAILURE if errors else EXIT_OK


def cmd_findings(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from watcher.store.models import AccountRow, FindingRow, ItemReviewRow, ItemRow

    config = _load(args)
    try:
        since = config_mod.parse_duration(args.since)
    except ValueError as exc:
        print(f"watcher findings: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    store = _store(config)
    cutoff = store.clock() - timedelta(seconds=since)
    query = (select(FindingRow, ItemRow, AccountRow, ItemReviewRow)
             .join(AccountRow, FindingRow.account_id == AccountRow.id)
             .outerjoin(ItemRow, FindingRow.item_id == ItemRow.id)
             .outerjoin(ItemReviewRow, ItemReviewRow.item_id == FindingRow.item_id)
             .where(FindingRow.created_at >= cutoff).order_by(FindingRow.created_at))
    if args.member:
        query = query.where(FindingRow.member_id == args.member)
    if args.review == "open":
        query = query.where(ItemReviewRow.item_id.is_(None))
    elif args.review:
        query = query.where(ItemReviewRow.state == args.review)
    rows = []
    with store.session() as s:
        for f, item, acct, review in s.execute(query):
            rows.append({
                "id": f.id, "created_at": f.created_at.isoformat(), "member": f.member_id,
                "platform": acct.platform, "account": acct.external_id, "label": f.label,
                "score": round(f.score, 3), "severity": f.severity,
                "reasons": json.loads(f.reasons_json),
                "link": item.permalink if item else None,
                "text": item.text[:500] if item else None,
                "review": review.state if review else None,
                "review_note": review.note if review else None})
    if args.format == "jsonl":
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
    elif args.format == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "reasons": "; ".join(r["reasons"])})
    else:
        print(f"{'when (UTC)':20} {'member':12} {'platform':8} {'label':15} {'score':5}  text")
        for r in rows:
            text = " ".join((r["text"] or "").split())[:60]
            print(f"{r['created_at'][:19]:20} {r['member']:12} {r['platform']:8} "
                  f"{r['label']:15} {r['score']:<5}  {text}")
        print(f"{len(rows)} finding(s) since {cutoff.isoformat(timespec='seconds')}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from watcher.status import format_report, gather

    store = _store(_load(args))
    try:
        report = gather(store)
    finally:
        store.dispose()
    print(format_report(report))
    return EXIT_OK if report.healthy else EXIT_FAILURE


def cmd_images(args: argparse.Namespace) -> int:
    from watcher import imageregister

    config = _load(args)
    store = _store(config, upgrade=True)
    if args.images_command == "list":
        print(imageregister.describe(imageregister.load(store)))
        return EXIT_OK
    if args.images_command == "remove":
        entry = imageregister.remove(store, args.id)
        print(f"removed #{entry.id} ({entry.kind}, {entry.note})")
        return EXIT_OK
    failed = 0
    for source in args.sources:
        try:
            added = imageregister.add(store, imageregister.read_source(source), kind=args.kind,
                                      source=source, note=args.note,
                                      max_distance=config.images.max_distance)
        except WatcherError as exc:
            print(f"{source}: NOT ADDED: {exc}", file=sys.stderr)
            failed += 1
            continue
        state = "added" if added.new else "already registered"
        print(f"{source}: {state} as #{added.entry.id} ({added.entry.kind}, "
              f"phash {added.entry.phash})")
        if added.conflict:
            print(f"  note: it looks like entry #{added.conflict[0]} of the other kind "
                  f"(distance {added.conflict[1]}); a cleared match wins")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_meetings(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from calendars.base import attendance
    from watcher.meetingwatch import MeetingWatch, meeting_from_row
    from watcher.store.models import MeetingRow

    config = _load(args)
    store = _store(config, upgrade=True)
    if args.meetings_command == "refresh":
        watch = MeetingWatch(config, store)
        if not watch.configured:
            print("no calendars configured ([meetings] moderngov_url, ical_urls)",
                  file=sys.stderr)
            return EXIT_USAGE
        report = watch.refresh()
        for source, n in report.stored.items():
            print(f"{source}: {n} meetings")
        for source, error in report.failed.items():
            print(f"{source}: FAILED: {error}")
        return EXIT_FAILURE if report.failed else EXIT_OK
    tz = ZoneInfo(config.timezone)
    now = datetime.now(UTC)
    with store.session() as s:
        rows = list(s.scalars(select(MeetingRow).where(
            MeetingRow.end_at >= now, MeetingRow.start_at <= now + timedelta(days=args.days))
            .order_by(MeetingRow.start_at)))
        meetings = [meeting_from_row(r) for r in rows]
    for m in meetings:
        who = [member.id for member in config.members
               if attendance(m, name=member.name, moderngov_id=member.moderngov_id,
                             attends=member.attends)[0].value == "attending"]
        state = "CANCELLED " if m.cancelled else ""
        print(f"{m.start.astimezone(tz):%a %d %b %H:%M}-{m.end.astimezone(tz):%H:%M}  "
              f"{state}{m.title}  attending: {', '.join(who) or '-'}")
    if not meetings:
        print("no meetings stored for that period ('watcher meetings refresh' reads them)")
    return EXIT_OK


def cmd_senders(args: argparse.Namespace) -> int:
    from watcher.senders import repeat_offenders

    config = _load(args)
    store = _store(config, upgrade=True)
    try:
        since = store.clock() - timedelta(seconds=config_mod.parse_duration(args.since))
    except ValueError as exc:
        print(f"watcher: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with store.session() as s:
        found = repeat_offenders(s, since=since, min_findings=args.min_findings,
                                 member_id=args.member)
    print(f"{'platform':9} {'sender id':20} {'name':24} {'findings':>8}  labels; members")
    for r in found:
        labels = ", ".join(f"{label} {n}" for label, n in r.labels)
        print(f"{r.platform:9} {r.author_id:20} {(r.author_name or '?')[:24]:24} "
              f"{r.findings:>8}  {labels}; {', '.join(r.members)}")
    print(f"{len(found)} repeat sender(s) since {since:%Y-%m-%d %H:%M} UTC; open a case against "
          "one with: watcher cases open --member ID --sender PLATFORM:ID --title ...")
    return EXIT_OK


def cmd_sar(args: argparse.Namespace) -> int:
    from watcher.retention import export_sar

    config = _load(args)
    store = _store(config, upgrade=True)
    path = export_sar(store, args.platform, args.sender, args.out,
                      actor=os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli")
    print(f"written: {path}")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    from watcher.retention import purge

    config = _load(args)
    store = _store(config, upgrade=True)
    report = purge(store, config)
    print(f"deleted {report.deleted} unflagged items, redacted {report.redacted}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from watcher.demo import run_demo

    if args.web:
        try:
            config_mod.parse_listen(args.web)
        except ValueError as exc:
            print(f"watcher demo: --web: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return run_demo(seconds=args.seconds, directory=args.dir, web=args.web)


COMMANDS = {"run": cmd_run, "poll": cmd_poll, "check": cmd_check, "classify": cmd_classify,
            "findings": cmd_findings, "status": cmd_status, "demo": cmd_demo,
            "models": models_cli.run, "images": cmd_images, "meetings": cmd_meetings,
            "sar": cmd_sar, "retention": cmd_retention, "cases": cases_cli.run, "senders": cmd_senders,
            "report": report_cli.run, "web": web_cli.run_web, "users": web_cli.run_users}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``watcher`` console script. Returns the exit code."""
    args = _parser().parse_args(argv)
    level = args.log_level if hasattr(args, "log_level") else "INFO"
    if args.command == "demo" and "--log-level" not in (argv or sys.argv):
        level = "WARNING"  # the demo prints its own story; logs would drown it
    # Logs go to stdout for the daemon (journald); to stderr for commands that print results.
    to_stderr = args.command in ("classify", "findings", "status", "demo", "check", "poll", "db",
                                 "models", "images", "meetings", "sar", "retention", "cases", "senders",
                                 "report", "users")
    logs.configure(level=level, stream=sys.stderr if to_stderr else sys.stdout)
    handler = cmd_db_upgrade if args.command == "db" else COMMANDS[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WatcherError as exc:
        print(f"watcher: {logs.redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
