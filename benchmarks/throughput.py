"""Comments per second for the whole default text stack on this machine, and peak memory.

The stack is what the daemon runs on every new comment: normalisation and rules, the
tox-block model, and the council model (fine-tuned MiniLM) on every comment. Each stage
is timed on its own and together, on the same comments, in the same process; the rules alone
are the baseline the ratios are against. Comments are the council sets in the repository,
repeated to ``--n`` (lengths as real comments have them).

Target (issue "Detection"): >= 300 comments/s on 2 cores, peak memory under 500 MB.
For the Detoxify engine against naive per-comment ``Detoxify.predict``, see
``benchmarks/throughput_detoxify.py``.

Run: ``.venv/bin/python benchmarks/throughput.py [--n 3000] [--batch 256]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def comments(n: int) -> list[str]:
    texts: list[str] = []
    for name in ("council_eval.jsonl", "council_dev.jsonl"):
        for line in (ROOT / "tests/data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return [texts[i % len(texts)] + ("" if i < len(texts) else f" #{i}") for i in range(n)]


def rate(fn, texts: list[str], batch: int) -> float:  # type: ignore[no-untyped-def]
    fn(texts[:batch])  # warm-up: first-call allocations are not throughput
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    texts = comments(args.n)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    from detectors.ensemble import EnsembleClassifier
    from detectors.rules import RulesClassifier
    from detectors.text import normalise

    loaded = time.perf_counter()
    ensemble = EnsembleClassifier()
    load_seconds = time.perf_counter() - loaded
    rules = RulesClassifier()
    rows = [
        ("normalise + rules (baseline)", rate(rules.classify, texts, args.batch)),
        ("tox-block model", rate(ensemble.toxblock.predict, texts, args.batch)),
        ("council model, whole normalised comments", rate(
            lambda batch: ensemble.council.predict([normalise(t) for t in batch]), texts, 64)),
        ("whole default stack", rate(ensemble.classify, texts, args.batch)),
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = rows[0][1]
    print(f"{len(texts)} comments, batch {args.batch}, {os.cpu_count()} cores, models loaded in "
          f"{load_seconds:.1f} s\n")
    print("| stage | comments/s | ratio to baseline |\n|---|---|---|")
    for name, value in rows:
        print(f"| {name} | {value:,.0f} | {value / base:.2f} |")
    print(f"\npeak memory (max RSS): {peak:.0f} MB (interpreter and imports before loading: "
          f"{rss_start:.0f} MB); target >= 300 comments/s, < 500 MB")


if __name__ == "__main__":
    main()
