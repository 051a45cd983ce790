"""Convert tox-block 0.1.2's Keras BiLSTM to ONNX for ``detectors.toxblock`` (run once).

Run this in a SEPARATE virtual environment: the product itself never needs TensorFlow.
Recreate that environment (CPU only)::

    python3.11 -m venv /tmp/conv
    /tmp/conv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx onnxruntime
    # --no-deps: tox-block pins an old TensorFlow and pulls pandas/scikit-learn, none of which
    # the conversion needs; keras-preprocessing is the class tox-block's tokenizer was pickled
    # from; tf-keras is Keras 2, which the model was saved with (Keras 3 reads it wrongly).
    /tmp/conv/bin/pip install --no-deps tox-block==0.1.2 keras-preprocessing==1.1.2 tf-keras==2.21.0
    /tmp/conv/bin/python scripts/convert_toxblock.py

Why tf-keras and not Keras 3: the LSTM's ``recurrent_activation`` is ``hard_sigmoid``, which in
Keras 2 (what tox-block trained with, 2.2.4-tf) is ``clip(0.2 x + 0.5, 0, 1)`` but in Keras 3 is
``clip(x / 6 + 0.5, 0, 1)``; Keras 3 also refuses the file's initializer configs.

What it reads from tox-block (never a hard-coded copy): ``config.MAX_SEQUENCE_LENGTH``,
``config.MAX_FEATURES``, ``config.LIST_CLASSES``, ``config.RESCALE_PROBA``; from
``data_processing/preprocessors.py`` (parsed, not imported: importing it needs pandas and
scikit-learn) the arguments ``TokenSequencer`` passes to ``Tokenizer`` and ``pad_sequences``,
the rest being keras-preprocessing's defaults; and from the pickled tokenizer itself its
``filters``, ``lower``, ``split``, ``oov_token``, ``num_words`` and vocabulary. It also checks
that ``prediction.py`` does not apply tox-block's stop-word remover (it does not).

What it writes into ``detectors/models/toxblock/``:

* ``model.onnx``: input ``input_1`` float32 ``[batch, maxlen]`` (word indices, as the Keras
  model took them), output ``dense_1`` float32 ``[batch, 6]`` sigmoid probabilities; opset 17.
* ``tokenizer.json``: the settings and ``words`` (``words[i]`` has Keras index ``i + 1``), only
  the words the model can use (index < num_words), plus the SHA-256 of ``model.onnx``.
* ``LICENSE``: tox-block's MIT licence, from its wheel's dist-info. ``README.md``: origin,
  conversion, command line, sizes and SHA-256s.

Re-running it gives the same scores but not the same ``model.onnx`` bytes: TensorFlow and
tf2onnx name and order some nodes differently from run to run. So ``tokenizer.json`` records
the SHA-256 of the ``model.onnx`` it was written with, and the product refuses a mismatch.

It then checks, on ~200 texts, that ``detectors.toxblock``'s pure-Python tokenizer gives
exactly Keras's padded sequences and that its onnxruntime scores equal the Keras model's
(max abs diff printed); if not (diff > 1e-4), it exits non-zero and writes nothing.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import inspect
import json
import os
import pickle
import platform
import random
import shutil
import sys
import tempfile
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

# Keras 2 (tf-keras) semantics for the h5 file; quiet TensorFlow's start-up chatter.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "detectors" / "models" / "toxblock"
TOX_BLOCK_VERSION = "0.1.2"
OPSET = 17
TOLERANCE = 1e-4
SAMPLE_SEED = 20240612

sys.path.insert(0, str(REPO))  # for detectors.toxblock, which the check runs

# Hand-written comments of the kind the product sees, civil and abusive, for the check.
HAND_WRITTEN: tuple[str, ...] = (
    "Thank you for attending the residents' meeting on Tuesday, very helpful.",
    "When will the potholes on Mill Lane be fixed? It's been six months.",
    "Great work on the new library opening hours!",
    "I disagree with the planning decision but appreciate you explaining it.",
    "Could you raise the bin collection problem at the next full council?",
    "You're a useless idiot and everyone in this ward knows it.",
    "Shut up you stupid fat cow",
    "What a pathetic excuse for a councillor. Resign, loser!",
    "I will kill you if you vote for this",
    "I know where you live. Watch your back.",
    "You deserve to be shot, traitor",
    "F*** off you corrupt b*stard",
    "fuck you and your fucking party, you piece of shit",
    "go back to where you came from",
    "All you people are the same, dirty scum",
    "The consultation closes on 3rd May; details at http://example.gov.uk/consult?id=42",
    "@cllr_smith thanks!! :) see you at the surgery",
    "don't you dare ignore us again",
    "don’t worry, we’ll keep campaigning",
    "Hello,world...this;is:weird—punctuation!!!",
    "ÉCOLE Straße İstanbul naïve café",
    "tab\tseparated\nnew line\r\nwindows line",
    "no\u00a0break\u00a0spaces here",
    "🙂 you 💩 are 🤡",
    "123 1,000 3.14 £5m budget",
    "",
    "   ",
    "!!!???...",
)


# --------------------------------------------------------------------------------------------
# Reading tox-block
# --------------------------------------------------------------------------------------------


class _TokenSequencerState:
    """Stands in for tox-block's ``TokenSequencer`` (an sklearn transformer) when unpickling,
    so neither pandas nor scikit-learn is needed; only its attributes are used."""


class _WhitelistUnpickler(pickle.Unpickler):
    """Unpickles tox-block's encoder, refusing every class it is not expected to hold."""

    def find_class(self, module: str, name: str) -> Any:
        """Return the class for ``module.name`` if whitelisted; raise ``UnpicklingError``."""
        if (module, name) == ("tox_block.data_processing.preprocessors", "TokenSequencer"):
            return _TokenSequencerState
        if (module, name) == ("keras_preprocessing.text", "Tokenizer"):
            from keras_preprocessing.text import Tokenizer

            return Tokenizer
        if (module, name) in {("collections", "OrderedDict"), ("collections", "defaultdict")}:
            return {"OrderedDict": OrderedDict, "defaultdict": defaultdict}[name]
        if (module, name) == ("builtins", "int"):
            return int
        raise pickle.UnpicklingError(f"unexpected class in tox-block encoder: {module}.{name}")


def load_encoder(path: Path) -> Any:
    """Given tox-block's ``encoder_0.1.2.pkl``, return its ``TokenSequencer`` state
    (attributes ``max_features``, ``max_sequence_length``, ``tokenizer``)."""
    with path.open("rb") as fh:
        return _WhitelistUnpickler(fh).load()


def call_keywords(source: str, class_name: str, func_name: str) -> dict[str, str]:
    """Given a module's source, return the keyword arguments (as source text) of the one call
    to ``*.func_name(...)`` inside ``class_name``. Raises ``SystemExit`` if there is not
    exactly one such call, or it passes extra positional arguments we cannot interpret."""
    tree = ast.parse(source)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    calls = [
        n
        for c in classes
        for n in ast.walk(c)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == func_name
    ]
    if len(calls) != 1:
        raise SystemExit(f"expected one {func_name}() call in {class_name}, found {len(calls)}")
    call = calls[0]
    if len(call.args) > 1:
        raise SystemExit(f"{func_name}() in {class_name} has positional settings; update script")
    return {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg is not None}


def read_settings(config: Any, tokenizer: Any, preprocessors_src: str) -> dict[str, Any]:
    """Given tox-block's config module, its unpickled Keras tokenizer and the source of its
    preprocessors module, return the preprocessing settings the product must reproduce.

    Raises ``SystemExit`` if the pieces disagree with each other.
    """
    from keras_preprocessing.sequence import pad_sequences
    from keras_preprocessing.text import Tokenizer

    tok_kwargs = call_keywords(preprocessors_src, "TokenSequencer", "Tokenizer")
    pad_kwargs = call_keywords(preprocessors_src, "TokenSequencer", "pad_sequences")
    if tok_kwargs != {"num_words": "self.max_features"}:
        raise SystemExit(f"TokenSequencer builds Tokenizer({tok_kwargs}); update this script")
    if pad_kwargs != {"maxlen": "self.max_sequence_length"}:
        raise SystemExit(f"TokenSequencer calls pad_sequences({pad_kwargs}); update this script")
    pad_defaults = {k: v.default for k, v in inspect.signature(pad_sequences).parameters.items()}
    tok_defaults = {k: v.default for k, v in inspect.signature(Tokenizer).parameters.items()}
    settings = {
        "num_words": tokenizer.num_words,
        "filters": tokenizer.filters,
        "lower": tokenizer.lower,
        "split": tokenizer.split,
        "char_level": tokenizer.char_level,
        "oov_token": tokenizer.oov_token,
        "maxlen": config.MAX_SEQUENCE_LENGTH,
        "padding": pad_defaults["padding"],
        "truncating": pad_defaults["truncating"],
        "value": int(pad_defaults["value"]),
        "dtype": pad_defaults["dtype"],
    }
    # The pickled tokenizer must be the one the config describes, built with the defaults.
    expect = {
        "num_words": config.MAX_FEATURES,
        "filters": tok_defaults["filters"],
        "lower": tok_defaults["lower"],
        "split": tok_defaults["split"],
        "char_level": False,
        "oov_token": tok_defaults["oov_token"],
    }
    wrong = {k: (settings[k], v) for k, v in expect.items() if settings[k] != v}
    if wrong:
        raise SystemExit(f"tox-block tokenizer differs from its config/defaults: {wrong}")
    return settings


def check_prediction_path(prediction_src: str) -> None:
    """Raise ``SystemExit`` if tox-block's ``prediction.py`` applies the stop-word/URL
    remover: the product reproduces only the tokenizer, which is all prediction uses."""
    names = {n.id for n in ast.walk(ast.parse(prediction_src)) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(ast.parse(prediction_src)) if isinstance(n, ast.Attribute)}
    if "HyperlinkUsernameIPStopwordRemover" in names:
        raise SystemExit("tox-block prediction applies its remover; update this script")


def pruned_words(word_index: dict[str, int], num_words: int) -> list[str]:
    """Given Keras's full ``word_index`` and ``num_words``, return the usable words in index
    order (``words[i]`` has index ``i + 1``). Raises ``SystemExit`` if indices 1..num_words-1
    are not all present exactly once."""
    by_index = {i: w for w, i in word_index.items() if i < num_words}
    if sorted(by_index) != list(range(1, num_words)):
        raise SystemExit("tox-block's word_index is not contiguous below num_words")
    return [by_index[i] for i in range(1, num_words)]


# --------------------------------------------------------------------------------------------
# Conversion and check
# --------------------------------------------------------------------------------------------


def convert(h5_path: Path, maxlen: int, n_labels: int) -> tuple[Any, bytes]:
    """Given the Keras h5 file, return the tf-keras model and its ONNX serialisation.

    Raises ``SystemExit`` if the model's input or output shape is not what the tokenizer and
    labels need.
    """
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    model = tf_keras.models.load_model(str(h5_path), compile=False)
    if tuple(model.input_shape) != (None, maxlen) or tuple(model.output_shape) != (
        None,
        n_labels,
    ):
        raise SystemExit(f"unexpected model shapes {model.input_shape} -> {model.output_shape}")
    spec = (tf.TensorSpec((None, maxlen), tf.float32, name=model.input_names[0]),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    proto.producer_version = tf2onnx.__version__
    return model, proto.SerializeToString()


def sample_texts(words: list[str], n_random: int) -> list[str]:
    """Return the check's texts: the hand-written ones, then ``n_random`` seeded random texts
    of 1-160 tokens mixing common, rare and unknown words with punctuation and case."""
    rng = random.Random(SAMPLE_SEED)
    junk = ["qzxv", "asdfgh", "councillorz", "xxyyzz", "lol!!!", "#tag", "@you", "(see)"]
    texts = list(HAND_WRITTEN)
    for _ in range(n_random):
        tokens = []
        for _ in range(rng.randint(1, 160)):
            roll = rng.random()
            if roll < 0.6:
                word = words[min(int(rng.expovariate(1 / 300)), len(words) - 1)]
            elif roll < 0.9:
                word = rng.choice(words)
            else:
                word = rng.choice(junk)
            if rng.random() < 0.1:
                word = word.upper()
            tokens.append(word + rng.choice(["", "", "", ",", ".", "!", "?", "'s"]))
        texts.append(" ".join(tokens))
    return texts


def check(
    keras_model: Any, tokenizer: Any, settings: dict[str, Any], out_dir: Path, texts: list[str]
) -> float:
    """Given the Keras model and tokenizer and the written files, return the max abs
    difference between onnxruntime's and Keras's scores on ``texts``.

    Raises ``SystemExit`` if the product's tokenizer does not give exactly Keras's sequences.
    """
    from tf_keras.preprocessing.sequence import pad_sequences

    from detectors.toxblock import ToxBlockModel

    keras_seq = pad_sequences(
        tokenizer.texts_to_sequences(texts),
        maxlen=settings["maxlen"],
        padding=settings["padding"],
        truncating=settings["truncating"],
        value=settings["value"],
        dtype=settings["dtype"],
    )
    product = ToxBlockModel(out_dir)
    ours = product.encode(texts)
    if not np.array_equal(keras_seq, ours):
        bad = [i for i in range(len(texts)) if not np.array_equal(keras_seq[i], ours[i])]
        raise SystemExit(f"tokenizer mismatch with Keras on texts {bad[:10]}")
    keras_scores = keras_model.predict(keras_seq.astype(np.float32), verbose=0, batch_size=256)
    onnx_scores = product.predict(texts)
    return float(np.max(np.abs(keras_scores - onnx_scores)))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def tokenizer_json(
    settings: dict[str, Any], words: list[str], labels: list[str], extra: dict[str, Any]
) -> str:
    """Return ``tokenizer.json``'s text: readable settings, then the word list on one line
    (one word per line would add ~120 KB of indentation)."""
    head = {
        "format": 1,
        "source": f"tox-block {TOX_BLOCK_VERSION}, trained_models/encoder_{TOX_BLOCK_VERSION}.pkl",
        "labels": labels,
        **{k: v for k, v in settings.items() if k != "dtype"},
        **extra,
    }
    text = json.dumps(head, indent=2, ensure_ascii=False)
    assert text.endswith("\n}")
    words_text = json.dumps(words, ensure_ascii=False, separators=(",", ":"))
    return text[:-2] + ',\n  "words": ' + words_text + "\n}\n"


def licence_bytes() -> bytes:
    """Return tox-block's LICENSE exactly as its wheel's dist-info holds it (CRLF endings
    included). Raises ``SystemExit`` if it is missing or not the MIT licence."""
    dist = importlib.metadata.distribution("tox-block")
    files = [f for f in dist.files or () if f.name == "LICENSE" and ".dist-info" in str(f)]
    if len(files) != 1:
        raise SystemExit("tox-block's LICENSE not found in its dist-info")
    data = Path(str(files[0].locate())).read_bytes()
    if b"MIT License" not in data:
        raise SystemExit("tox-block's dist-info LICENSE is not the MIT licence")
    return data


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def readme(
    out_dir: Path, settings: dict[str, Any], labels: list[str], diff: float, n_texts: int
) -> str:
    """Return ``README.md``'s text for the files already in ``out_dir``."""
    versions = {
        p: importlib.metadata.version(p)
        for p in ("tox-block", "tensorflow-cpu", "tf-keras", "tf2onnx", "onnx", "onnxruntime")
    }
    rows = "\n".join(
        f"| `{name}` | {(out_dir / name).stat().st_size:,} | `{sha256(out_dir / name)}` |"
        for name in ("model.onnx", "tokenizer.json", "LICENSE")
    )
    shown = {k: v for k, v in settings.items() if k != "dtype"}
    return f"""# tox-block {TOX_BLOCK_VERSION}, converted to ONNX

The default text model of Councillor Watcher (`detectors/toxblock.py`), shipped in the package
so that nothing is downloaded at run time and neither TensorFlow nor torch is installed.

**Origin.** [tox-block](https://github.com/Pascal-Bliem/tox-block) {TOX_BLOCK_VERSION} by Pascal
Bliem, MIT licence (`LICENSE`, copied from the wheel's dist-info), from PyPI. Its
`trained_models/lstm_model_{TOX_BLOCK_VERSION}.h5` is a Keras 2.2.4-tf model: embedding
(20,000 × 50, GloVe 6B-initialised) → bidirectional LSTM (50 units each way, `hard_sigmoid`
recurrent activation) → global max-pool → dense 50 relu → dense 6 sigmoid, trained on the
Jigsaw Toxic Comment Classification data (Kaggle 2018; data CC0, comment text CC BY-SA 3.0).
Outputs, in order: {", ".join(f"`{x}`" for x in labels)}.

**Conversion.** `scripts/convert_toxblock.py`, in a separate virtual environment (its header
says how to create it), from the repository root:

    /tmp/conv/bin/python scripts/convert_toxblock.py

loaded with tf-keras (Keras 2 semantics: Keras 3 would change `hard_sigmoid`), converted with
tf2onnx `from_keras`, opset {OPSET}, with {", ".join(f"{k} {v}" for k, v in versions.items())}
on Python {platform.python_version()}.

**Tokenizer.** `tokenizer.json` holds tox-block's pickled Keras tokenizer (`encoder_{TOX_BLOCK_VERSION}.pkl`)
pruned to the {settings["num_words"] - 1:,} words the model can use (index < `num_words`;
`words[i]` has index `i + 1`), with the settings read from tox-block's config, its
`TokenSequencer` and the tokenizer itself:

```json
{json.dumps(shown, indent=2, ensure_ascii=False)}
```

tox-block's stop-word/URL remover is not part of its prediction path, so it is not reproduced.
tox-block's optional min-max rescaling of the probabilities is not applied; its constants are
kept in `tokenizer.json` as `tox_block_rescale`.

Re-running the script gives identical scores but not identical `model.onnx` bytes (TensorFlow
and tf2onnx name and order some nodes differently per run), so `tokenizer.json` records the
SHA-256 of the `model.onnx` written with it and `detectors/toxblock.py` refuses a mismatch.

**Check.** On {n_texts} texts (hand-written comments and seeded random ones), the product's
pure-Python tokenizer gave exactly Keras's padded sequences, and onnxruntime's scores differed
from Keras's by at most {diff:.3g} (limit {TOLERANCE:g}).

| file | bytes | sha256 |
| --- | ---: | --- |
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    """Convert, check and write the files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    parser.add_argument("--random-texts", type=int, default=172, help="random texts to check")
    args = parser.parse_args(argv)

    import tox_block
    from tox_block.config import config

    if tox_block.__version__ != TOX_BLOCK_VERSION:
        raise SystemExit(f"need tox-block {TOX_BLOCK_VERSION}, found {tox_block.__version__}")
    package = Path(tox_block.__file__).resolve().parent
    encoder = load_encoder(Path(config.ENCODER_PATH))
    tokenizer = encoder.tokenizer
    if encoder.max_sequence_length != config.MAX_SEQUENCE_LENGTH:
        raise SystemExit("pickled TokenSequencer's max_sequence_length differs from config")
    settings = read_settings(
        config, tokenizer, (package / "data_processing" / "preprocessors.py").read_text()
    )
    check_prediction_path((package / "prediction.py").read_text())
    labels = list(config.LIST_CLASSES)
    words = pruned_words(tokenizer.word_index, settings["num_words"])
    print("preprocessing settings:", json.dumps({k: v for k, v in settings.items()}))

    keras_model, onnx_bytes = convert(Path(config.MODEL_PATH), settings["maxlen"], len(labels))
    licence = licence_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        (stage / "model.onnx").write_bytes(onnx_bytes)
        extra = {
            "tox_block_rescale": {k: list(v) for k, v in config.RESCALE_PROBA.items()},
            "model_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        }
        (stage / "tokenizer.json").write_text(
            tokenizer_json(settings, words, labels, extra), encoding="utf-8"
        )
        (stage / "LICENSE").write_bytes(licence)
        texts = sample_texts(words, args.random_texts)
        diff = check(keras_model, tokenizer, settings, stage, texts)
        print(f"Keras vs onnxruntime on {len(texts)} texts: max abs diff {diff:.3g}")
        if not diff <= TOLERANCE:
            print(f"FAILED: difference above {TOLERANCE:g}; nothing written", file=sys.stderr)
            return 1
        (stage / "README.md").write_text(
            readme(stage, settings, labels, diff, len(texts)), encoding="utf-8"
        )
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("model.onnx", "tokenizer.json", "LICENSE", "README.md"):
            shutil.copyfile(stage / name, args.out / name)
    for name in ("model.onnx", "tokenizer.json", "LICENSE", "README.md"):
        path = args.out / name
        print(f"{path}: {path.stat().st_size:,} bytes sha256 {sha256(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
