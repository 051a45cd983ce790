"""`watcher classify` on a file of a million lines: time, lines per second and peak memory.

`classify` must stream (issue "Detection", item 6): read a batch, classify it, write it, and
never hold the file. This benchmark writes ``--lines`` JSON Lines comments (the council sets
in the repository, repeated and numbered, with a malformed line every 100,000 lines), runs
``watcher classify`` on them as a subprocess with the chosen engine, and checks the output:
one result per good line, in order, and one error per malformed line. Peak memory is the
child's maximum resident set size; a streaming run stays flat whatever the file's length,
which ``--lines`` at two sizes shows.

Run: ``.venv/bin/python benchmarks/classify_stream.py [--lines 1000000] [--engine rules]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.throughput import comments  # noqa: E402

BAD_EVERY = 100_000


def write_input(path: Path, lines: int) -> int:
    """Write ``lines`` lines to ``path``; return how many of them are malformed."""
    base = comments(2_000)
    bad = 0
    with path.open("w", encoding="utf-8") as f:
        for i in range(lines):
            if i and i % BAD_EVERY == 0:
                f.write("this line is not JSON\n")
                bad += 1
            else:
                f.write(json.dumps({"id": f"c{i}", "text": f"{base[i % len(base)]} [{i}]"}) + "\n")
    return bad


def run(lines: int, engine: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, cfg = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl", Path(tmp) / "w.toml"
        bad = write_input(src, lines)
        cfg.write_text(f'[detectors.text]\nengine = "{engine}"\n', encoding="utf-8")
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "watcher.cli", "classify", "--config", str(cfg),
             "--input", str(src), "--output", str(dst)],
            cwd=ROOT, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if not dst.exists():
            raise SystemExit(f"classify wrote nothing (exit {proc.returncode}): "
                             f"{proc.stderr[-2000:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        # A bad line is answered in place with {"id": null, "error": "line N: ..."}.
        out_ids, errors = [], 0
        with dst.open(encoding="utf-8") as f:
            for line in f:
                result = json.loads(line)
                if "error" in result:
                    errors += 1
                else:
                    out_ids.append(result["id"])
        want = [f"c{i}" for i in range(lines) if not (i and i % BAD_EVERY == 0)]
        if out_ids != want:
            raise SystemExit(f"output does not match input: {len(out_ids)} results for "
                             f"{len(want)} good lines")
        if errors != bad:
            raise SystemExit(f"expected {bad} line errors, the output has {errors}")
        return {"lines": lines, "seconds": elapsed, "per_s": lines / elapsed,
                "peak_mb": peak_mb, "bad": bad}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--engine", default="rules", choices=("rules", "default"))
    args = ap.parse_args()
    r = run(args.lines, args.engine)
    print(f"engine {args.engine}: {r['lines']:,} lines ({r['bad']} malformed) in "
          f"{r['seconds']:.0f} s = {r['per_s']:,.0f} lines/s; peak RSS {r['peak_mb']:.0f} MB; "
          "every good line answered once, in order")


if __name__ == "__main__":
    main()
