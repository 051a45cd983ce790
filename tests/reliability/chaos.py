"""Building blocks of the reliability suite.

* :func:`build_timeline`: a few hundred posts, comments, replies and mentions on two Facebook
  pages and two X accounts, each comment civil, insulting or threatening, from a seeded RNG;
* :func:`build_schedule`: what goes wrong and when (platform faults, SIGKILLs and a SIGTERM,
  mail server outages, rotated tokens, the SQLite database locked by another writer), from
  the same RNG;
* :class:`DaemonRunner`: ``watcher run`` as a subprocess that can be killed and restarted, each
  run's stdout and stderr kept in files of their own;
* :class:`SqliteLock`: another process's writer holding the database's write lock;
* readers of what a run left behind: database rows (:func:`snapshot`), a text dump of every
  table (:func:`dump_database`), the daemon's logs (:func:`check_logs`), links in mails.

Everything random comes from one ``random.Random(seed)``, so a seed names a run: the same
comments, the same faults at the same offsets. Only the interleaving with the daemon's own
timing varies, and the assertions hold for every interleaving.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from random import Random
from typing import Any

from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from platforms.simulated import FAULT_KINDS, Event, SimComment, SimMention, SimPost
from watcher.outbox import LEASE
from watcher.store import sha256_text
from watcher.store.models import (
    AccountRow,
    AlertFindingRow,
    AlertRow,
    FindingRow,
    ItemRow,
    PollStateRow,
)

# --------------------------------------------------------------------------------- the council

SERVICES = "ms@test-council.gov.uk"
SENDER = "watcher@test-council.gov.uk"
SMTP_USER = "watcher-mailer"


@dataclass(frozen=True)
class AccountSpec:
    """One registered account: whose it is, where, and the credential its token is in."""

    member: str
    platform: str
    external_id: str
    credential: str
    handle: str = ""


MEMBERS = {
    "jsmith": ("Cllr Jane Smith", "jane@test-council.gov.uk"),
    "tok": ("Cllr Tom Okafor", "tom@test-council.gov.uk"),
    "apatel": ("Cllr Asha Patel", "asha@test-council.gov.uk"),
}
ACCOUNTS = (
    AccountSpec("jsmith", "facebook", "111", "fb-jsmith"),
    AccountSpec("tok", "x", "222", "x-tok", "CllrTom"),
    AccountSpec("apatel", "facebook", "333", "fb-apatel"),
    AccountSpec("apatel", "x", "444", "x-apatel", "CllrAsha"),
)
HANDLES = {a.external_id: a.handle for a in ACCOUNTS if a.handle}

# Sentences the rules engine certainly flags (checked at the start of the test, so that a
# change to the rules shows up as that, not as a "lost" alert), and civil ones it must not.
THREATS = (
    "I know where you live, watch your back.",
    "I hope someone stabs you on your way home.",
    "I will find you and hurt you.",
    "You deserve to be shot.",
    "Someone should burn your house down with you in it.",
    "I'm going to kill you.",
    "Watch your back, we know where you live.",
    "I hope you die in a fire.",
)
INSULTS = (
    "You are a useless idiot and a disgrace.",
    "You stupid muppet, nobody voted for you.",
    "You absolute moron, resign now.",
    "What a pathetic idiot you are.",
    "Shut up you stupid cow.",
    "You are a total waste of space, you clown.",
    "You stupid prat, read the report.",
)
CIVIL = (
    "Great news, thank you!",
    "Your party broke every promise. Vote them all out in May.",
    "I disagree strongly with this and will object.",
    "When is the next ward surgery?",
    "Thanks for sorting the potholes on Church Street.",
    "The bins were not collected again this week.",
    "Will the library stay open on Saturdays?",
    "This decision is a mistake and I will be writing to the paper.",
    "Good to see the council listening for once.",
    "Can you share the consultation link please?",
    "The bus cuts will hurt older residents in the village.",
    "I hope the meeting goes well tonight.",
)
POOLS = {"threat": THREATS, "offensive": INSULTS, None: CIVIL}


def config_text(db_url: str, smtp_port: int, sim_url: str) -> str:
    """The daemon's config: every account polled each second (jitter up to 1 s), two-second
    HTTP and SMTP timeouts, the rules engine (no model to load at each restart), outbox
    retries of one to two seconds, and SMTP AUTH with a password from a credential file."""
    members = []
    for mid, (name, email) in MEMBERS.items():
        members.append(f'[[members]]\nid = "{mid}"\nname = "{name}"\nemail = "{email}"\n')
        for a in ACCOUNTS:
            if a.member == mid:
                handle = f'handle = "{a.handle}"\n' if a.handle else ""
                members.append(f'[[members.accounts]]\nplatform = "{a.platform}"\n'
                               f'id = "{a.external_id}"\n{handle}credential = "{a.credential}"\n')
    return f"""\
[database]
url = "{db_url}"

[polling]
interval = "1s"
jitter = "1s"
timeout = "2s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "{SENDER}"
username = "{SMTP_USER}"
password_credential = "smtp-password"
timeout = "2s"

[member_services]
emails = ["{SERVICES}"]

[platforms.facebook]
base_url = "{sim_url}"

[platforms.x]
base_url = "{sim_url}"

[detectors.text]
engine = "rules"

[alerts]
outbox_interval = "1s"
retry_initial = "1s"
retry_max = "2s"

""" + "\n".join(members)


# --------------------------------------------------------------------------------- timeline


@dataclass
class Timeline:
    """The scripted events and what the daemon should make of them."""

    events: list[Event]
    #: (platform, external id) of every post, comment, reply and mention
    items: set[tuple[str, str]]
    #: (platform, external id) -> the label it must be flagged with, None for civil ones
    comments: dict[tuple[str, str], str | None]
    #: (platform, external id) -> account id it is on
    account_of: dict[tuple[str, str], str]
    #: (platform, external id) -> text
    text: dict[tuple[str, str], str]
    duration: float

    @property
    def flagged(self) -> dict[tuple[str, str], str]:
        """The comments that must be flagged, with their label."""
        return {k: v for k, v in self.comments.items() if v is not None}


def _label(rng: Random) -> str | None:
    draw = rng.random()
    return "threat" if draw < 0.1 else "offensive" if draw < 0.3 else None


def build_timeline(rng: Random, duration: float, regular: int = 220, fb_burst: int = 110,
                   x_burst: int = 50) -> Timeline:
    """Given the RNG and how long comments keep arriving (seconds), return the timeline.

    Each account has posts at the start and two more later (on X, new conversations the
    daemon has to discover); ``regular`` comments arrive at random times on random accounts;
    one Facebook post gets ``fb_burst`` comments in the same second (more than one comment
    page, so the adapter's batch requests and one-second watermark are exercised) and one X
    account ``x_burst`` replies and mentions at once (several pages of mentions).
    """
    slots: list[tuple[float, int, str, str]] = []  # (at, 0 post / 1 comment, account, tag)
    for a in ACCOUNTS:
        starts = [0.0, 0.0] if a.platform == "facebook" else [0.0]
        later = [rng.uniform(0.2, 0.4) * duration, rng.uniform(0.55, 0.8) * duration]
        slots += [(round(at, 2), 0, a.external_id, "post") for at in starts + later]
    for _ in range(regular):
        a = rng.choice(ACCOUNTS)
        slots.append((round(rng.uniform(0.3, duration), 2), 1, a.external_id, "regular"))
    fb_page = rng.choice([a for a in ACCOUNTS if a.platform == "facebook"]).external_id
    fb_at = round(rng.uniform(0.35, 0.6) * duration, 2)
    slots += [(fb_at, 1, fb_page, "burst")] * fb_burst
    x_acct = rng.choice([a for a in ACCOUNTS if a.platform == "x"]).external_id
    x_at = round(rng.uniform(0.35, 0.6) * duration, 2)
    slots += [(x_at, 1, x_acct, "burst")] * x_burst
    slots.sort(key=lambda s: (s[0], s[1]))

    spec = {a.external_id: a for a in ACCOUNTS}
    events: list[Event] = []
    posts: dict[str, list[str]] = {a.external_id: [] for a in ACCOUNTS}
    replies: dict[str, list[str]] = {}  # post id -> comment ids on it
    comments: dict[tuple[str, str], str | None] = {}
    account_of: dict[tuple[str, str], str] = {}
    texts: dict[tuple[str, str], str] = {}
    x_seq = fb_seq = 0
    burst_post: dict[str, str] = {}

    def x_id() -> str:
        nonlocal x_seq
        x_seq += 1
        # Snowflake-like: numeric, rising with time (X compares since_id as a number).
        return str(1_850_000_000_000_000_000 + x_seq * 4096)

    for at, is_comment, account, tag in slots:
        a = spec[account]
        if not is_comment:
            if a.platform == "facebook":
                pid = f"{account}_{len(posts[account]) + 1:04d}"
            else:
                pid = x_id()
            text = rng.choice(("New crossing on Mill Lane opens on Monday.",
                               "Speaking at Full Council tonight on the bus cuts.",
                               "Surgery this Saturday at the library, 10 till 12.",
                               "Budget consultation closes on Friday: have your say."))
            events.append(SimPost(at, a.platform, account, pid, text))
            posts[account].append(pid)
            replies[pid] = []
            key = (a.platform, pid)
            account_of[key], texts[key] = account, text
            continue
        label = _label(rng)
        text = rng.choice(POOLS[label])
        author = rng.randrange(40)
        if tag == "burst":
            # The newest post at the burst's first comment takes the whole burst.
            post = burst_post.setdefault(account, posts[account][-1])
        else:
            post = rng.choice(posts[account][-3:])
        if a.platform == "facebook":
            fb_seq += 1
            cid = f"{post}_{fb_seq:05d}"
            parent = rng.choice(replies[post]) if replies[post] and rng.random() < 0.25 \
                else None
            events.append(SimComment(at, "facebook", account, cid, post, text,
                                     str(5000 + author), f"Resident {author}", parent))
        else:
            cid = x_id()
            shape = rng.random()
            if shape < 0.25:
                # A tweet at the member outside their conversations: not a reply to anything.
                events.append(SimMention(at, account, cid, f"@{a.handle} {text}",
                                         str(6000 + author), f"Voter {author}"))
                key = ("x", cid)
                comments[key], account_of[key], texts[key] = label, account, events[-1].text
                continue
            elif shape < 0.5 and replies[post]:
                # A reply to a reply, without the member's handle: only the conversation
                # search finds it, not the mentions timeline.
                events.append(SimComment(at, "x", account, cid, post, text,
                                         str(6000 + author), f"Voter {author}",
                                         rng.choice(replies[post])))
            else:
                events.append(SimComment(at, "x", account, cid, post, f"@{a.handle} {text}",
                                         str(6000 + author), f"Voter {author}"))
            text = events[-1].text
        replies[post].append(cid)
        key = (a.platform, cid)
        comments[key], account_of[key], texts[key] = label, account, text
    items = set(account_of)
    return Timeline(events=events, items=items, comments=comments, account_of=account_of,
                    text=texts, duration=duration)


# --------------------------------------------------------------------------------- schedule


@dataclass(order=True)
class Step:
    """One thing to do to the run, ``at`` seconds after the simulated platform started."""

    at: float
    seq: int
    action: str = field(compare=False)
    args: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class Plan:
    steps: list[Step]
    kills: int
    terms: int
    mail_outages: int
    db_locks: int
    rotations: list[str]
    injected: Counter[str]


def build_schedule(rng: Random, duration: float, *, sqlite: bool, kills: int = 3,
                   terms: int = 1, mail_outages: int = 2, db_locks: int = 2) -> Plan:
    """Given the RNG and the timeline's length, return what goes wrong and when.

    * platform faults about every two seconds (each kind of ``FAULT_KINDS`` at least once,
      in the first half), each for one or two requests, on a platform and often one account;
    * ``kills`` SIGKILLs of the daemon and ``terms`` SIGTERMs (``systemctl restart``), at
      least four seconds apart, each followed by a restart a moment later;
    * ``mail_outages`` stops of the SMTP server for three to six seconds, after which a new
      one listens on the same port;
    * one Facebook and one X token rotated on the platform: the old one is refused from then
      on, and the new one is written to the credential file once the daemon has noticed
      (its account problem is open) and at least three seconds have passed;
    * on SQLite, ``db_locks`` times another writer holds ``BEGIN EXCLUSIVE`` for two to four
      seconds. No SIGKILL or SIGTERM falls within a second of a lock: a daemon killed while
      it waits to record a mail as sent leaves that alert leased (``watcher.outbox.LEASE``,
      two minutes) and the copy is sent again only then, which would add two minutes to the
      run (the window is real and reported, but a test of it does not belong in every CI
      run); a SIGTERM then takes the whole stop deadline (8 s) and stalls the schedule.
      For the same reason the test holds a SIGKILL back while the outbox is sending.
    """
    steps: list[Step] = []
    seq = iter(range(1_000_000))

    def add(at: float, action: str, **args: Any) -> None:
        steps.append(Step(round(at, 2), next(seq), action, args))

    injected: Counter[str] = Counter()
    kinds = list(FAULT_KINDS)
    rng.shuffle(kinds)
    first_half = sorted(rng.uniform(1, duration / 2) for _ in kinds)
    later: list[float] = []
    at = 1.0
    while True:
        at += rng.expovariate(0.5)
        if at >= duration:
            break
        later.append(at)
    weighted = kinds + [k for k in kinds if k != "expired_token"]  # expired tokens: rarer
    for when, kind in list(zip(first_half, kinds)) + [(t, rng.choice(weighted)) for t in later]:
        platform = rng.choice(("facebook", "x"))
        accounts = [a.external_id for a in ACCOUNTS if a.platform == platform]
        account = rng.choice(accounts) if rng.random() < 0.5 else None
        add(when, "fault", kind=kind, times=rng.randint(1, 2), platform=platform,
            account=account)
        injected[kind] += 1

    def windows(count: int, low: float, high: float, length: tuple[float, float],
                gap: float, avoid: Iterable[tuple[float, float]] = ()
                ) -> list[tuple[float, float]]:
        """``count`` windows starting in [low, high), ``gap`` apart from each other and a
        second apart from the ``avoid`` ones (drawn again from scratch when they do not
        fit, so that some early draw cannot leave no room for the rest)."""
        taken = list(avoid)
        for _ in range(1000):
            found: list[tuple[float, float]] = []
            for _ in range(100):
                start = rng.uniform(low, high)
                span = rng.uniform(*length)
                if all(start > e + gap or start + span + gap < s for s, e in found) and all(
                        start > e + 1 or start + span + 1 < s for s, e in taken):
                    found.append((start, start + span))
                    if len(found) == count:
                        return sorted(found)
        raise ValueError(f"cannot fit {count} windows in [{low}, {high})")

    locks = windows(db_locks, 3, duration, (2, 4), 3) if sqlite else []
    for start, end in locks:
        add(start, "lock")
        add(end, "unlock")
    stops = windows(kills + terms, 3, duration + 3, (0.2, 1.5), 4, avoid=locks)
    graceful = set(rng.sample(range(len(stops)), terms))
    for n, (start, restart) in enumerate(stops):
        add(start, "term" if n in graceful else "kill")
        add(restart, "restart")
    for start, end in windows(mail_outages, 3, duration - 4, (3, 6), 3):
        add(start, "mail_down")
        add(end, "mail_up")
    rotations = []
    for platform, low, high in (("facebook", 0.15, 0.35), ("x", 0.45, 0.65)):
        account = rng.choice([a for a in ACCOUNTS if a.platform == platform]).external_id
        start = rng.uniform(low, high) * duration
        add(start, "rotate", account=account)
        add(start + 3, "renew", account=account)
        rotations.append(account)
    steps.sort()
    return Plan(steps=steps, kills=kills, terms=terms, mail_outages=mail_outages,
                db_locks=db_locks if sqlite else 0, rotations=rotations, injected=injected)


# --------------------------------------------------------------------------------- processes


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             detail: Callable[[], str] = lambda: "") -> None:
    """Poll ``condition`` every 0.2 s; raise AssertionError naming ``what`` (and ``detail()``)
    if it is still false after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}. {detail()}")


@dataclass
class Run:
    """One ``watcher run`` process and where its output went."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    started: float
    killed_at: float | None = None
    #: how long it took to stop after SIGTERM, if it was stopped that way
    stop_seconds: float | None = None


class DaemonRunner:
    """Starts ``watcher run --config`` as a subprocess with the given environment, kills it
    with SIGKILL, restarts it, and finally stops it with SIGTERM. Each run writes stdout
    (the JSON logs) and stderr (stdlib logging, Python's own crash output) to its own files."""

    def __init__(self, config: Path, logs: Path, env: dict[str, str]) -> None:
        self.config = config
        self.logs = logs
        self.env = env
        self.runs: list[Run] = []
        logs.mkdir(parents=True, exist_ok=True)

    @property
    def current(self) -> Run | None:
        run = self.runs[-1] if self.runs else None
        return run if run is not None and run.proc.poll() is None else None

    def start(self) -> None:
        assert self.current is None, "the daemon is already running"
        n = len(self.runs) + 1
        out, err = self.logs / f"run{n}.stdout.log", self.logs / f"run{n}.stderr.log"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "watcher.cli", "run", "--config", str(self.config)],
                stdout=stdout, stderr=stderr, env=self.env, stdin=subprocess.DEVNULL)
        self.runs.append(Run(proc, out, err, time.time()))

    def kill(self) -> None:
        """SIGKILL the running daemon (if it has died on its own, that shows in its logs and
        exit status, which the test checks)."""
        run = self.current
        if run is None:
            return
        run.killed_at = time.time()
        run.proc.send_signal(signal.SIGKILL)
        run.proc.wait(10)

    def stop(self) -> tuple[int, float]:
        """SIGTERM the running daemon; return its exit status and how long it took."""
        run = self.current
        assert run is not None, "the daemon is not running"
        started = time.monotonic()
        run.proc.send_signal(signal.SIGTERM)
        try:
            code = run.proc.wait(15)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait(5)
            raise AssertionError("the daemon did not stop within 15 s of SIGTERM") from None
        run.stop_seconds = time.monotonic() - started
        return code, run.stop_seconds

    def close(self) -> None:
        """Kill whatever is still running (test teardown)."""
        for run in self.runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait(5)


def daemon_env(credentials: Path) -> dict[str, str]:
    """The daemon's environment: ours without any WATCHER_CRED_* (every secret comes from
    the credential directory, as under systemd's LoadCredential=) and unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_CRED_")}
    env.pop("WATCHER_LOG_LEVEL", None)
    env.update(CREDENTIALS_DIRECTORY=str(credentials), PYTHONUNBUFFERED="1")
    return env


def write_credential(directory: Path, name: str, value: str) -> None:
    """Replace a credential file atomically: the daemon re-reads it at every poll and must
    never see it half written."""
    tmp = directory / f".{name}.tmp"
    tmp.write_text(value + "\n", encoding="utf-8")
    tmp.replace(directory / name)


class SqliteLock:
    """Another writer on the SQLite file: ``acquire`` takes the write lock with BEGIN EXCLUSIVE
    (waiting up to 20 s for the daemon's own write to finish), ``release`` rolls back.
    ``spans`` has the wall-clock (start, end) of each time it was held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.spans: list[tuple[float, float]] = []

    @property
    def held(self) -> float:
        """Seconds the lock was held in all."""
        return sum(b - a for a, b in self.spans)

    def acquire(self) -> None:
        assert self.conn is None
        self.conn = sqlite3.connect(self.path, timeout=20, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")
        self._since = time.time()

    def release(self) -> None:
        if self.conn is None:
            return
        self.conn.execute("ROLLBACK")
        self.conn.close()
        self.conn = None
        self.spans.append((self._since, time.time()))


# --------------------------------------------------------------------------------- the store


def engine_for(url: str) -> Engine:
    """A connection-per-use engine: nothing of ours stays open between two reads."""
    return create_engine(url, poolclass=NullPool)


@dataclass
class Snapshot:
    items: list[tuple[str, str, str | None, str]]  # platform, external id, permalink, text
    item_findings: list[tuple[str, str, str, int]]  # platform, external id, label, finding
    problem_findings: list[tuple[str, int]]  # account external id, finding id
    alerts: list[AlertRow]
    alert_findings: list[tuple[int, int]]  # alert id, finding id
    poll_state: dict[str, PollStateRow]  # by account external id
    bad_hashes: list[str]  # external ids of items whose raw_sha256 is not their raw's


def snapshot(engine: Engine) -> Snapshot:
    """Read back what the daemon stored."""
    with Session(engine) as s:
        accounts = {a.id: a for a in s.scalars(select(AccountRow))}
        items = {i.id: i for i in s.scalars(select(ItemRow))}
        findings = list(s.scalars(select(FindingRow)))
        return Snapshot(
            items=[(i.platform, i.external_id, i.permalink, i.text) for i in items.values()],
            item_findings=[(items[f.item_id].platform, items[f.item_id].external_id, f.label,
                            f.id) for f in findings if f.item_id is not None],
            problem_findings=[(accounts[f.account_id].external_id, f.id) for f in findings
                              if f.item_id is None],
            alerts=list(s.scalars(select(AlertRow))),
            alert_findings=[(af.alert_id, af.finding_id)
                            for af in s.scalars(select(AlertFindingRow))],
            poll_state={accounts[p.account_id].external_id: p
                        for p in s.scalars(select(PollStateRow))},
            bad_hashes=[i.external_id for i in items.values()
                        if i.raw_sha256 != sha256_text(i.raw)],
        )


def stored_items(engine: Engine) -> set[tuple[str, str]]:
    with engine.connect() as c:
        return {(p, e) for p, e in c.execute(select(ItemRow.platform, ItemRow.external_id))}


def problem_open(engine: Engine, external_id: str) -> bool:
    with Session(engine) as s:
        return bool(s.scalar(select(PollStateRow.problem_open).join(
            AccountRow, AccountRow.id == PollStateRow.account_id).where(
            AccountRow.external_id == external_id)))


def outbox_state(engine: Engine) -> tuple[int, int, dict[int, datetime]]:
    """Return (alerts, pending alerts, {alert id: when its lease was taken} for the pending
    alerts someone has claimed and not yet released)."""
    with Session(engine) as s:
        rows = list(s.execute(select(AlertRow.id, AlertRow.status, AlertRow.claimed_until)))
    now = datetime.now(UTC)
    claimed = {i: until - LEASE for i, status, until in rows
               if status == "pending" and until is not None and until > now}
    return len(rows), sum(status == "pending" for _, status, _ in rows), claimed


def dump_database(engine: Engine) -> str:
    """Every row of every table, as text (for looking for secrets)."""
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as c:
        for table in meta.sorted_tables:
            out.append(f"-- {table.name}")
            out += [repr(tuple(row)) for row in c.execute(table.select())]
    return "\n".join(out)


# --------------------------------------------------------------------------------- mail


_URL = re.compile(r"https?://[^\s\"'<>]+")


def mail_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, f"mail {message['Message-ID']} has no text part"
    return str(body.get_content())


def mail_links(message: EmailMessage) -> set[str]:
    """The links in a mail's text part (each flagged item's permalink is one)."""
    return set(_URL.findall(mail_text(message)))


# --------------------------------------------------------------------------------- logs

#: stderr lines that are expected fault handling: APScheduler skipping or delaying a run while
#: the previous one still waits on a held request or a locked database.
STDERR_ALLOWED = (
    re.compile(r"^apscheduler\.\S+: Run time of job .* was missed by "),
    re.compile(r"^apscheduler\.\S+: Execution of job .* skipped: maximum number of running "
               r"instances reached"),
)


@dataclass
class LogReport:
    events: Counter[str]
    problems: list[str]
    text: str  # everything the daemon wrote, for looking for secrets
    #: SIGTERMs after which a job was still running at the stop deadline
    unclean_stops: int = 0


def check_logs(runs: Iterable[Run], allowed_errors: Iterable[str] = ()) -> LogReport:
    """Read every run's output. Problems: a line on stdout that is not a JSON log event (the
    last line of a SIGKILLed run may be cut short: that one is let off), a traceback
    anywhere, an event at level error or critical or carrying an exception (unless its name
    is in ``allowed_errors``), and anything on stderr but the lines of ``STDERR_ALLOWED``."""
    events: Counter[str] = Counter()
    problems: list[str] = []
    texts = []
    unclean = 0
    allowed = set(allowed_errors)
    for n, run in enumerate(runs, 1):
        out = run.stdout.read_text(encoding="utf-8", errors="replace")
        err = run.stderr.read_text(encoding="utf-8", errors="replace")
        texts += [out, err]
        lines = out.splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                assert isinstance(event, dict) and "event" in event
            except (ValueError, AssertionError):
                if not (run.killed_at and i == len(lines) - 1):
                    problems.append(f"run {n} stdout: not a JSON event: {line[:300]}")
                continue
            name = str(event["event"])
            events[name] += 1
            if name == "daemon.stopped" and event.get("clean") is False:
                unclean += 1
            bad = event.get("level") in ("error", "critical") or "exception" in event
            if bad and name not in allowed:
                problems.append(f"run {n}: {line[:1500]}")
        for line in err.splitlines():
            if line.strip() and not any(p.match(line) for p in STDERR_ALLOWED):
                problems.append(f"run {n} stderr: {line[:500]}")
        if "Traceback" in out + err:
            problems.append(f"run {n}: a traceback was written")
    return LogReport(events=events, problems=problems, text="\n".join(texts),
                     unclean_stops=unclean)
