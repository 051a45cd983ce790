"""API requests per poll cycle and per 100 new comments, against the lower bound.

A simulated council (50 members by default, each with a Facebook page and an X account) goes
through a day of realistic activity on the simulated platform; every account is polled every
``--interval`` through the real adapters (facebook-sdk, tweepy) over HTTP, as the daemon does.
The simulator's request log counts what was actually sent.

Lower bound: every account must be asked at least once per cycle, and a poll that brings n new
items cannot take fewer than ceil(n / 100) requests (100 is the largest page both APIs allow:
Graph ``limit`` on comments, X ``max_results``). So per account and cycle the bound is
max(1, ceil(new / 100)).

Run: ``.venv/bin/python benchmarks/api_calls.py [--members 50] [--hours 24] [--interval 5m]``
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from platforms.base import PlatformSettings  # noqa: E402
from platforms.facebook import FacebookPlatform  # noqa: E402
from platforms.simulated import SimComment, SimMention, SimPost, SimulatedPlatform  # noqa: E402
from platforms.x import XPlatform  # noqa: E402
from watcher import logs  # noqa: E402
from watcher.config import parse_duration  # noqa: E402
from watcher.domain import Account  # noqa: E402

PAGE = 100
TOKEN = "bench-token"


class Clock:
    """Simulated wall time, moved by the benchmark rather than by the machine."""

    def __init__(self) -> None:
        self.now = time.time() - 3 * 86400  # start in the past so nothing is 'in the future'

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Member:
    fb: str
    x: str
    handle: str


def council_day(members: int, seconds: float, rng: random.Random) -> tuple[list[Member], list]:
    """Return the members and a timeline of one day of activity (heavy-tailed: most posts draw
    a handful of comments, a few draw hundreds)."""
    people = [Member(fb=f"10{i:013d}", x=f"15{i:017d}", handle=f"Cllr{i:02d}")
              for i in range(members)]
    events: list = []
    n = 0

    def snowflake(at: float) -> str:
        # X ids grow with time (snowflakes); since_id paging relies on it.
        nonlocal n
        n += 1
        return str(1_600_000_000_000_000_000 + int(at * 1000) * 100_000 + n)

    def comments_for_post() -> int:
        return int(rng.paretovariate(1.3) * 3) if rng.random() > 0.02 else rng.randint(150, 400)

    for m in people:
        for p in range(rng.randint(1, 4)):
            at = rng.uniform(0, seconds * 0.8)
            post = f"{m.fb}_{p}"
            events.append(SimPost(at, "facebook", m.fb, post, f"Update {p} from the ward."))
            comment_ids = []
            for _ in range(comments_for_post()):
                n += 1
                cat = min(seconds - 1, at + rng.expovariate(1 / 5400))
                cid = f"{p}_{n}"
                parent = rng.choice(comment_ids) if comment_ids and rng.random() < 0.2 else None
                events.append(SimComment(cat, "facebook", m.fb, cid, post, f"Comment {n}",
                                         str(9000 + n), f"Resident {n}", parent_id=parent))
                comment_ids.append(cid)
        for t in range(rng.randint(1, 4)):
            at = rng.uniform(0, seconds * 0.8)
            tid = snowflake(at)
            events.append(SimPost(at, "x", m.x, tid, f"Tweet {t} from the ward."))
            for _ in range(comments_for_post()):
                rat = min(seconds - 1, at + rng.expovariate(1 / 3600))
                events.append(SimComment(rat, "x", m.x, snowflake(rat), tid,
                                         f"@{m.handle} reply {n}", str(7000 + n), f"user{n}"))
        for _ in range(int(rng.expovariate(1 / 6))):
            mat = rng.uniform(0, seconds - 1)
            events.append(SimMention(mat, m.x, snowflake(mat), f"@{m.handle} mention {n}",
                                     str(7000 + n), f"user{n}"))
    return people, events


def run(members: int, hours: float, interval: float, seed: int) -> dict:
    rng = random.Random(seed)
    seconds = hours * 3600
    people, timeline = council_day(members, seconds, rng)
    clock = Clock()
    handles = {m.x: m.handle for m in people}
    with SimulatedPlatform(timeline, clock=clock, handles=handles) as sim:
        sim.x_rate_limit = 10**9  # measure requests, not the simulator's limits
        settings = PlatformSettings(base_url=sim.base_url, api_version="v21.0")
        adapters = {"facebook": FacebookPlatform(settings, lambda _n: TOKEN),
                    "x": XPlatform(settings, lambda _n: TOKEN)}
        for adapter in adapters.values():
            if hasattr(adapter, "clock"):
                adapter.clock = clock  # the adapters' look-back windows follow simulated time
        accounts = [Account(m.x[:0] + "m", "facebook", m.fb, credential="c") for m in people]
        accounts += [Account("m", "x", m.x, handle=m.handle, credential="c") for m in people]
        cursors: dict[str, str | None] = {a.key: None for a in accounts}
        requests: Counter[str] = Counter()
        reported: Counter[str] = Counter()
        bound: Counter[str] = Counter()
        new_items: Counter[str] = Counter()
        idle_requests: dict[str, list[int]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        duplicates = 0
        cycles = int(seconds // interval) + 1
        started = time.perf_counter()
        for cycle in range(cycles):
            clock.now = sim.started_at + cycle * interval
            for account in accounts:
                before = len(sim.requests_log)
                batch = adapters[account.platform].fetch(account, cursors[account.key])
                cursors[account.key] = batch.cursor
                sent = len(sim.requests_log) - before
                requests[account.platform] += sent
                reported[account.platform] += batch.requests
                fresh = [i for i in batch.items if i.kind.value != "post" or not i.is_own]
                for item in batch.items:
                    key = (account.key, item.external_id)
                    duplicates += key in seen
                    seen.add(key)
                new_items[account.platform] += len(fresh)
                bound[account.platform] += max(1, math.ceil(len(batch.items) / PAGE))
                if not batch.items:
                    idle_requests[account.platform].append(sent)
        # One more cycle long after the day: every account idle.
        clock.now = sim.started_at + seconds + 3 * interval
        for account in accounts:
            before = len(sim.requests_log)
            batch = adapters[account.platform].fetch(account, cursors[account.key])
            assert not batch.items, f"{account.key} still had items after the day"
            idle_requests[account.platform].append(len(sim.requests_log) - before)
        elapsed = time.perf_counter() - started
    total_events = Counter("facebook" if getattr(e, "platform", "x") == "facebook" else "x"
                           for e in timeline if not (isinstance(e, SimPost) and e.author_id is None))
    return {"requests": requests, "reported": reported, "bound": bound, "new": new_items,
            "idle": idle_requests, "cycles": cycles, "accounts": len(accounts) // 2,
            "elapsed": elapsed, "duplicates": duplicates, "expected": total_events}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--hours", type=float, default=24)
    ap.add_argument("--interval", default="5m")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    logs.configure(level="WARNING", json=True, stream=sys.stderr)
    r = run(args.members, args.hours, parse_duration(args.interval), args.seed)
    print(f"{args.members} members x (Facebook page + X account), {args.hours:g} h, poll every "
          f"{args.interval}: {r['cycles']} cycles, {r['elapsed']:.0f} s wall\n")
    print("| platform | new third-party items | requests (lower bound) | ratio | requests per "
          "poll cycle (bound) | idle poll: requests (bound; target) | requests beyond the "
          "idle ones per 100 new items (bound) |")
    print("|---|---|---|---|---|---|---|")
    polls = r["cycles"] * r["accounts"]
    for platform, target in (("facebook", 1), ("x", 2)):
        req, bnd, new = r["requests"][platform], r["bound"][platform], r["new"][platform]
        idle = r["idle"][platform]
        idle_mean = sum(idle) / len(idle)
        extra, extra_bound = req - idle_mean * polls, bnd - polls
        print(f"| {platform} | {new} | {req} ({bnd}) | {req / bnd:.2f} | "
              f"{req / r['cycles']:.1f} ({bnd / r['cycles']:.1f}) | "
              f"{min(idle)}–{max(idle)}, mean {idle_mean:.2f} (1; {target}) | "
              f"{100 * extra / max(new, 1):.1f} ({100 * extra_bound / max(new, 1):.1f}) |")
    mismatch = {p: (r["requests"][p], r["reported"][p]) for p in r["requests"]
                if r["requests"][p] != r["reported"][p]}
    print(f"\nitems returned twice: {r['duplicates']}; third-party items scripted: "
          f"{dict(r['expected'])}; Batch.requests disagreeing with the server's log: "
          f"{mismatch or 'none'}")


if __name__ == "__main__":
    main()
