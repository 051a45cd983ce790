"""onnxruntime session options shared by every model the detectors run."""

from __future__ import annotations

from typing import Any

#: onnxruntime's ``kOrtSessionOptionsAvx2PrecisionMode``. On x86-64 CPUs without VNNI (AVX2,
#: AVX-512 without VNNI) the fast U8S8 int8 matrix multiply saturates paired products at 16
#: bits, so an int8 model scores differently there than on a VNNI CPU: the council model's
#: threat recall on the fresh set fell from 0.66 to 0.59 on an AVX2-only AMD EPYC. "1" makes
#: onnxruntime use exact U8U8 kernels on those CPUs (no effect elsewhere), so a model scores
#: the same on every server and its thresholds mean what they were chosen to mean.
X64_QUANT_PRECISION = "session.x64quantprecision"


def session_options(ort: Any, threads: int) -> Any:
    """Given the onnxruntime module and a thread count, return SessionOptions for CPU
    inference: that many threads inside each op, one graph at a time, all graph
    optimisations, exact int8 arithmetic on every x86-64 CPU, and onnxruntime's own warnings
    off (they would go to stderr, not our logs)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One graph, run op after op: parallelism inside ops is where the time goes.
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry(X64_QUANT_PRECISION, "1")
    return options
