"""Fit the semantic threat head and write ``detectors/models/minilm/threat_head.json``.

Runs in the product's own environment (numpy, onnxruntime, tokenizers; no torch)::

    .venv/bin/python scripts/train_threat_head.py

The head is a logistic model over two features of a text (``detectors.semantic``): its mean
cosine similarity to its K nearest THREAT_PATTERNS and to its K nearest CONTRAST_PATTERNS.
Each bank phrase is a training example with leave-one-out features (its own entry is left out
of its bank), so the fit sees the similarities a new, unseen text would get rather than the
1.0 of a phrase matching itself. Classes are weighted equally; a small L2 penalty keeps the
three weights finite. The file records the SHA-256 of both banks: ``ThreatBank`` refuses a
head fitted on other banks. Deterministic: same banks and model, same file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detectors import semantic  # noqa: E402

L2 = 1e-3
THRESHOLD = 0.5


def loo_features(
    vecs: np.ndarray, own: np.ndarray, other: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Given embeddings of one bank's phrases, that bank's embeddings (same rows) and the other
    bank's, return (similarity to own bank without itself, similarity to the other bank)."""
    own_sims = vecs @ own.T
    np.fill_diagonal(own_sims, -1.0)  # leave the phrase itself out
    return semantic.knn_features(own_sims, k), semantic.knn_features(vecs @ other.T, k)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Given features (n, d) and 0/1 labels, return weights (d + 1,), bias last, of a
    class-balanced, L2-penalised logistic regression fitted by Newton's method."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    sample_w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    penalty = l2 * np.diag(np.r_[np.ones(x.shape[1]), 0.0])
    w = np.zeros(xb.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (sample_w * (p - y)) + penalty @ w
        hess = (xb * (sample_w * p * (1 - p))[:, None]).T @ xb + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def main(argv: list[str] | None = None) -> int:
    """Fit, report leave-one-out recall and false-positive rate, write the head file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=semantic.MODEL_DIR / semantic.HEAD_FILE)
    parser.add_argument("--k", type=int, default=semantic.K_NEAREST)
    args = parser.parse_args(argv)

    encoder = semantic.MiniLMEncoder()
    threats = encoder.encode(semantic.THREAT_PATTERNS)
    contrasts = encoder.encode(semantic.CONTRAST_PATTERNS)
    tt, tc = loo_features(threats, threats, contrasts, args.k)
    cc, ct = loo_features(contrasts, contrasts, threats, args.k)
    x = np.vstack([np.c_[tt, tc], np.c_[ct, cc]])
    y = np.r_[np.ones(len(threats)), np.zeros(len(contrasts))]
    w = fit_logistic(x, y)

    p = 1.0 / (1.0 + np.exp(-(x @ w[:-1] + w[-1])))
    recall = float((p[y == 1] >= THRESHOLD).mean())
    fpr = float((p[y == 0] >= THRESHOLD).mean())
    head = {
        "w_threat": round(float(w[0]), 6),
        "w_contrast": round(float(w[1]), 6),
        "bias": round(float(w[2]), 6),
        "k": args.k,
        "threshold": THRESHOLD,
        "bank_sha256": semantic.bank_hash(),
        "threat_patterns": len(semantic.THREAT_PATTERNS),
        "contrast_patterns": len(semantic.CONTRAST_PATTERNS),
        "leave_one_out": {"recall": round(recall, 4), "false_positive_rate": round(fpr, 4)},
        "made_by": "scripts/train_threat_head.py",
    }
    args.out.write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(head, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
