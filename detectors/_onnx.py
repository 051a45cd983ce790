"""onnxruntime session options shared by every model the detectors run."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

#: onnxruntime's ``kOrtSessionOptionsAvx2PrecisionMode``. On x86-64 CPUs without VNNI (AVX2,
#: AVX-512 without VNNI) the fast U8S8 int8 matrix multiply saturates paired products at 16
#: bits, so an int8 model scores differently there than on a VNNI CPU: the council model's
#: threat recall on the fresh set fell from 0.66 to 0.59 on an AVX2-only AMD EPYC. "1" makes
#: onnxruntime use exact U8U8 kernels, so a model scores the same on every server and its
#: thresholds mean what they were chosen to mean. On a VNNI CPU the fast kernels are exact
#: already, and the mode only slows them: on this project's 2-core Xeon the council model
#: gave identical probabilities on 1,112 comments with and without it, at 1,065 comments/s
#: without and 599 with, and a BERT-base int8 model ran three times as fast without it.
X64_QUANT_PRECISION = "session.x64quantprecision"
#: /proc/cpuinfo flags of the VNNI instructions (AVX-512 VNNI, and AVX-VNNI on newer cores).
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Given the path of the kernel's CPU description, say whether the CPU has VNNI. False
    when it cannot be read (not Linux): the exact kernels are then asked for, which is never
    wrong, only slower."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_VNNI_FLAGS & set(line.partition(":")[2].split()))
    return False


@cache
def _needs_exact_int8() -> bool:
    return not cpu_has_vnni()


def session_options(ort: Any, threads: int) -> Any:
    """Given the onnxruntime module and a thread count, return SessionOptions for CPU
    inference: that many threads inside each op, one graph at a time, all graph
    optimisations, exact int8 arithmetic on every x86-64 CPU (asked for where the fast kernels
    are not exact already: no VNNI), and onnxruntime's own warnings off (they would go to
    stderr, not our logs)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One graph, run op after op: parallelism inside ops is where the time goes.
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if _needs_exact_int8():
        options.add_session_config_entry(X64_QUANT_PRECISION, "1")
    return options
