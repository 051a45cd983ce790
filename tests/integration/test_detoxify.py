"""The "detoxify" engine and ``watcher models``: import, offline strict loading, label mapping,
agreement with Detoxify itself, batching, ONNX.

No real weights exist here (and nothing may be downloaded), so each run builds a tiny
Detoxify-format checkpoint: a 2-layer BERT (hidden 32, 2 heads) with 6 outputs and random
weights, a vocab.txt written below, saved as Detoxify publishes its checkpoints:
``{"config": {"arch": {"args": ...}, "dataset": {"args": {"classes": ...}}}, "state_dict"}``.
Random weights are initialised wider than BERT's 0.02 so that different texts get visibly
different scores (otherwise every comparison would be between numbers near 0.5).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("detoxify")

import transformers  # noqa: E402

from detectors import registry  # noqa: E402
from detectors.base import TextClassifier  # noqa: E402
from detectors.detoxify_engine import (  # noqa: E402
    ORIGINAL_HEADS,
    DetoxifyClassifier,
    _OnnxBackend,
    export_fp32_onnx,
    export_onnx,
    to_classification,
)
from watcher import models, models_cli  # noqa: E402
from watcher.domain import TEXT_LABELS  # noqa: E402
from watcher.errors import DetectorError  # noqa: E402

JIGSAW_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = ("the a an you your are is i will we know where live find kill hurt idiot stupid "
         "useless councillor council vote road bins thanks for fixing streetlight disgrace "
         "liar meeting planning in may election watch back hope die scum").split()
TEXTS = [
    "Thanks for fixing the streetlight on our road.",
    "You are a useless idiot.",
    "I know where you live. Watch your back.",
    "We will vote you out in May, you liar.",
    "hope you die scum",
    "",
    "Planning meeting?",
    "The bins were not collected again, third week running, disgrace " * 3,
    "!!!",
    "Zyx qwv unknown wordz 12345",
]


# --------------------------------------------------------------------------------------------
# Building a tiny Detoxify-format model
# --------------------------------------------------------------------------------------------

def _write_config_dir(folder: Path) -> transformers.BertConfig:
    """Write config.json, vocab.txt and tokenizer_config.json for a tiny BERT; return the
    config."""
    folder.mkdir(parents=True)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?'-")
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS) - set(chars))
             + chars + [f"##{c}" for c in chars])
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "model_max_length": 128}), encoding="utf-8")
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=6,
        initializer_range=0.4)
    config.save_pretrained(folder)
    return config


def _save_checkpoint(path: Path, state_dict: dict[str, Any], config_dir: Path,
                     classes: list[str] | None = None) -> Path:
    """Save ``state_dict`` as Detoxify does. ``model_type`` is the local config folder, so
    Detoxify's own loader (which calls ``from_pretrained(model_type)``) stays offline."""
    torch.save({
        "config": {
            "arch": {"args": {"model_type": str(config_dir),
                              "model_name": "BertForSequenceClassification",
                              "tokenizer_name": "BertTokenizer", "num_classes": 6}},
            "dataset": {"args": {"classes": classes or JIGSAW_CLASSES}},
        },
        "state_dict": state_dict,
    }, path)
    return path


class Tiny:
    """The paths of one built model: checkpoint, config folder, and its state_dict."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_dir = root / "hf"
        config = _write_config_dir(self.config_dir)
        torch.manual_seed(1234)
        model = transformers.BertForSequenceClassification(config)
        self.state_dict = {k: v.clone() for k, v in model.state_dict().items()}
        self.checkpoint = _save_checkpoint(root / "original-tiny.ckpt", self.state_dict,
                                           self.config_dir)

    def variant(self, name: str, state_dict: dict[str, Any]) -> Path:
        """Save another checkpoint with the same config but the given state_dict."""
        return _save_checkpoint(self.root / name, state_dict, self.config_dir)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return Tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def imported(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model imported once into a model folder (tests copy it before changing it)."""
    dest = tmp_path_factory.mktemp("state") / "models" / "detoxify"
    models.import_detoxify(tiny.checkpoint, dest, config_dir=tiny.config_dir)
    return dest


@pytest.fixture(scope="module")
def classifier(imported: Path) -> DetoxifyClassifier:
    return DetoxifyClassifier(imported, prefer_onnx=False)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Hub offline, and any attempt to open a network connection fails the test."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any, *args: Any) -> Any:
        attempts.append(address)
        raise AssertionError(f"network connection attempted to {address!r}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == []


def _models_args(*argv: str) -> argparse.Namespace:
    """Parse ``watcher models ...`` the way the real CLI will, with models_cli's parser."""
    parser = argparse.ArgumentParser(prog="watcher")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    models_cli.add_parser(sub, common)
    return parser.parse_args(["models", *argv])


def _copy_model(imported: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "detoxify"
    shutil.copytree(imported, dest)
    return dest


# --------------------------------------------------------------------------------------------
# Import through the CLI handler
# --------------------------------------------------------------------------------------------

def test_models_import_command_stores_model_with_manifest(
        tiny: Tiny, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        no_network: list[Any]) -> None:
    dest = tmp_path / "state" / "models" / "detoxify"
    code = models_cli.run(_models_args("import", str(tiny.checkpoint),
                                       "--config-dir", str(tiny.config_dir),
                                       "--dest", str(dest)))
    assert code == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["source"] == "original-tiny.ckpt"
    assert manifest["heads"] == list(ORIGINAL_HEADS)
    assert manifest["imported_at"]
    assert set(manifest["files"]) == {"detoxify.ckpt", "config.json", "vocab.txt",
                                      "tokenizer_config.json"}
    for name, digest in manifest["files"].items():
        assert models.sha256_file(dest / name) == digest
    assert manifest["files"]["detoxify.ckpt"] == models.sha256_file(tiny.checkpoint)
    out = capsys.readouterr().out
    assert manifest["files"]["detoxify.ckpt"][:12] in out
    # no staging folders left behind
    assert [p.name for p in dest.parent.iterdir()] == ["detoxify"]

    assert models_cli.run(_models_args("list", "--root", str(dest.parent))) == 0
    assert manifest["files"]["detoxify.ckpt"][:12] in capsys.readouterr().out


def test_models_import_command_exit_codes_and_failed_import_keeps_old_model(
        tiny: Tiny, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "detoxify"
    ok = _models_args("import", str(tiny.checkpoint), "--config-dir", str(tiny.config_dir),
                      "--dest", str(dest))
    assert models_cli.run(ok) == 0
    before = (dest / "manifest.json").read_text()
    missing = _models_args("import", str(tmp_path / "nope.ckpt"), "--config-dir",
                           str(tiny.config_dir), "--dest", str(dest))
    assert models_cli.run(missing) == 2
    bad = tiny.variant("bad.ckpt", {"model." + k: v for k, v in tiny.state_dict.items()})
    code = models_cli.run(_models_args("import", str(bad), "--config-dir",
                                       str(tiny.config_dir), "--dest", str(dest)))
    assert code == 1
    assert "model." in capsys.readouterr().err
    assert (dest / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["detoxify"]
    # re-importing the good one replaces atomically and says so
    assert models_cli.run(ok) == 0
    assert "replaced" in capsys.readouterr().out


def test_import_completes_a_stock_config_without_labels(tiny: Tiny, tmp_path: Path) -> None:
    config_dir = tmp_path / "stock"
    shutil.copytree(tiny.config_dir, config_dir)
    raw = json.loads((config_dir / "config.json").read_text())
    for key in ("id2label", "label2id", "num_labels"):
        raw.pop(key, None)
    (config_dir / "config.json").write_text(json.dumps(raw))
    report = models.import_detoxify(tiny.checkpoint, tmp_path / "m", config_dir=config_dir)
    assert report.config_patched and report.notes
    stored = json.loads((tmp_path / "m" / "config.json").read_text())
    assert list(stored["id2label"].values()) == list(ORIGINAL_HEADS)


# --------------------------------------------------------------------------------------------
# Loading offline; agreement with Detoxify
# --------------------------------------------------------------------------------------------

def test_loads_and_predicts_offline_and_matches_detoxify(
        tiny: Tiny, imported: Path, no_network: list[Any]) -> None:
    from detoxify import Detoxify

    clf = DetoxifyClassifier(imported, prefer_onnx=False)
    assert isinstance(clf, TextClassifier)
    assert clf.name == "detoxify"
    assert clf.version == models.sha256_file(tiny.checkpoint)[:12]
    results = clf.classify(TEXTS, [None] * len(TEXTS))
    assert len(results) == len(TEXTS)
    for c in results:
        assert set(TEXT_LABELS) <= set(c.scores)
        assert all(0.0 <= v <= 1.0 for v in c.scores.values())
        assert c.scores["defamation"] == 0.0 and c.scores["personal_data"] == 0.0
        assert c.reasons["threat"][0].startswith("detoxify threat ")

    reference = Detoxify(checkpoint=str(tiny.checkpoint),
                         huggingface_config_path=str(tiny.config_dir)).predict(TEXTS)
    for head in ORIGINAL_HEADS:
        ours = [c.scores[f"jigsaw.{head}"] for c in results]
        assert ours == pytest.approx(reference[head], abs=1e-5), head
    # the random model must not be flat, or the comparison above proves little
    spread = [c.scores["jigsaw.threat"] for c in results]
    assert max(spread) - min(spread) > 0.05


def test_batching_gives_the_same_scores_as_one_by_one(imported: Path) -> None:
    batched = DetoxifyClassifier(imported, prefer_onnx=False, batch_size=4).classify(TEXTS)
    single = DetoxifyClassifier(imported, prefer_onnx=False, batch_size=1)
    one_by_one = [single.classify([t])[0] for t in TEXTS]
    for b, s in zip(batched, one_by_one, strict=True):
        assert b.scores == pytest.approx(s.scores, abs=1e-5)


def test_long_comments_are_truncated_not_refused(classifier: DetoxifyClassifier) -> None:
    long = "you are a useless idiot " * 5000
    (c,) = classifier.classify([long])
    (prefix,) = classifier.classify([" ".join(long.split()[:400])])
    assert c.scores == pytest.approx(prefix.scores, abs=1e-5)
    assert classifier.classify([]) == []


def test_label_mapping() -> None:
    heads = dict.fromkeys(ORIGINAL_HEADS, 0.1) | {"threat": 0.93, "insult": 0.7}
    c = to_classification(heads)
    assert c.scores["threat"] == pytest.approx(0.93)
    assert c.scores["offensive"] == pytest.approx(0.7)
    assert c.reasons == {"offensive": ("detoxify insult 0.70",),
                         "threat": ("detoxify threat 0.93",)}
    blunt = to_classification(dict.fromkeys(ORIGINAL_HEADS, 0.05) | {"toxicity": 0.9})
    assert blunt.scores["offensive"] == pytest.approx(0.765)  # below the default 0.8
    assert blunt.reasons["offensive"][0].startswith("detoxify toxicity 0.90")
    assert blunt.scores["jigsaw.toxicity"] == pytest.approx(0.9)


def test_registry_builds_detoxify_from_state_directory(
        imported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the registry may keep one classifier per engine per process: start each case afresh
    monkeypatch.setattr(registry, "_loaded", {}, raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(imported.parent.parent))
    clf = registry.text_classifier("detoxify")
    assert isinstance(clf, DetoxifyClassifier) and clf.model_dir == imported
    assert "detoxify" in registry.names() and "default" in registry.names()
    monkeypatch.setattr(registry, "_loaded", {}, raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "empty"))
    with pytest.raises(DetectorError, match="watcher models import"):
        registry.text_classifier("detoxify")


def test_registry_uses_the_configured_model_dir_and_onnx_choice(
        onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_loaded", {}, raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "empty"))  # not where the model is
    fast = registry.text_classifier("detoxify", model_dir=str(onnx_model))
    slow = registry.text_classifier("detoxify", model_dir=str(onnx_model), prefer_onnx=False)
    assert isinstance(fast, DetoxifyClassifier) and fast.model_dir == onnx_model
    assert fast.version.endswith("-int8") and not slow.version.endswith("-int8")
    assert registry.text_classifier("detoxify", model_dir=str(onnx_model)) is fast


# --------------------------------------------------------------------------------------------
# Failing loudly
# --------------------------------------------------------------------------------------------

def _bad_state_dicts(sd: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Broken state_dicts, each with a word the error must contain."""
    missing = dict(sd)
    del missing["bert.pooler.dense.bias"]
    extra = dict(sd) | {"classifier.extra.weight": torch.zeros(2)}
    wrong = dict(sd)
    wrong["bert.pooler.dense.bais"] = wrong.pop("bert.pooler.dense.bias")
    prefixed = {"model." + k: v for k, v in sd.items()}
    shape = dict(sd) | {"classifier.weight": torch.zeros(5, 32)}
    return {"missing": (missing, "bert.pooler.dense.bias"),
            "extra": (extra, "classifier.extra.weight"),
            "wrong": (wrong, "bert.pooler.dense.bais"),
            "prefixed": (prefixed, "'model.'"),
            "shape": (shape, "classifier.weight")}


@pytest.mark.parametrize("case", ["missing", "extra", "wrong", "prefixed", "shape"])
def test_import_refuses_a_state_dict_that_does_not_match(tiny: Tiny, tmp_path: Path,
                                                         case: str) -> None:
    state_dict, word = _bad_state_dicts(tiny.state_dict)[case]
    bad = tiny.variant(f"{case}.ckpt", state_dict)
    dest = tmp_path / "models" / "detoxify"
    with pytest.raises(DetectorError) as info:
        models.import_detoxify(bad, dest, config_dir=tiny.config_dir)
    assert word in str(info.value)
    assert not dest.exists() and list((tmp_path / "models").iterdir()) == []


def test_classifier_refuses_a_hand_placed_prefixed_checkpoint(
        tiny: Tiny, imported: Path, tmp_path: Path) -> None:
    """Even a folder whose manifest matches (made by hand, not by import) is loaded strictly."""
    folder = _copy_model(imported, tmp_path)
    tiny.variant("p.ckpt", {"model." + k: v for k, v in tiny.state_dict.items()})
    shutil.copyfile(tiny.root / "p.ckpt", folder / "detoxify.ckpt")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["detoxify.ckpt"] = models.sha256_file(folder / "detoxify.ckpt")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DetectorError, match=r"detoxify\.ckpt.*unexpected key.*'model\.'"):
        DetoxifyClassifier(folder, prefer_onnx=False)


def test_tolerates_only_a_genuine_legacy_position_ids_buffer(tiny: Tiny, tmp_path: Path
                                                             ) -> None:
    legacy = dict(tiny.state_dict) | {
        "bert.embeddings.position_ids": torch.arange(128).unsqueeze(0)}
    models.import_detoxify(tiny.variant("legacy.ckpt", legacy), tmp_path / "ok",
                           config_dir=tiny.config_dir)
    forged = dict(tiny.state_dict) | {"bert.embeddings.position_ids": torch.zeros(1, 128)}
    with pytest.raises(DetectorError, match="position_ids"):
        models.import_detoxify(tiny.variant("forged.ckpt", forged), tmp_path / "no",
                               config_dir=tiny.config_dir)


def test_wrong_config_is_refused(tiny: Tiny, tmp_path: Path) -> None:
    two_labels = tmp_path / "two"
    shutil.copytree(tiny.config_dir, two_labels)
    raw = json.loads((two_labels / "config.json").read_text())
    raw["id2label"] = {"0": "a", "1": "b"}
    (two_labels / "config.json").write_text(json.dumps(raw))
    with pytest.raises(DetectorError, match="declares 2 labels"):
        models.import_detoxify(tiny.checkpoint, tmp_path / "a", config_dir=two_labels)

    no_classes = tmp_path / "noclasses.ckpt"
    torch.save({"config": {"arch": {"args": {"model_type": "x"}}},
                "state_dict": tiny.state_dict}, no_classes)
    with pytest.raises(DetectorError, match="dataset"):
        models.import_detoxify(no_classes, tmp_path / "b", config_dir=tiny.config_dir)

    no_threat = _save_checkpoint(tmp_path / "nothreat.ckpt", tiny.state_dict, tiny.config_dir,
                                 classes=[*JIGSAW_CLASSES[:3], "other", *JIGSAW_CLASSES[4:]])
    with pytest.raises(DetectorError, match="threat"):
        models.import_detoxify(no_threat, tmp_path / "c", config_dir=tiny.config_dir)

    empty = tmp_path / "empty-config"
    empty.mkdir()
    (empty / "config.json").write_text((tiny.config_dir / "config.json").read_text())
    with pytest.raises(DetectorError, match="vocabulary"):
        models.import_detoxify(tiny.checkpoint, tmp_path / "d", config_dir=empty)


@pytest.mark.parametrize("remove", ["manifest.json", "detoxify.ckpt", "vocab.txt",
                                    "config.json"])
def test_missing_files_say_to_run_models_import(imported: Path, tmp_path: Path,
                                                remove: str) -> None:
    folder = _copy_model(imported, tmp_path)
    (folder / remove).unlink()
    with pytest.raises(DetectorError) as info:
        DetoxifyClassifier(folder)
    assert remove in str(info.value)
    assert "watcher models import" in str(info.value)


def test_a_changed_file_is_refused(imported: Path, tmp_path: Path) -> None:
    folder = _copy_model(imported, tmp_path)
    with open(folder / "vocab.txt", "a", encoding="utf-8") as fh:
        fh.write("extra\n")
    with pytest.raises(DetectorError, match="vocab.txt has changed"):
        DetoxifyClassifier(folder)


def test_no_model_folder_at_all(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="watcher models import"):
        DetoxifyClassifier(tmp_path / "nothing")


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_model(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    folder = tmp_path_factory.mktemp("onnx") / "detoxify"
    shutil.copytree(imported, folder)
    export_onnx(folder)
    return folder


def test_onnx_fp32_export_matches_torch(classifier: DetoxifyClassifier, tmp_path: Path
                                        ) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = export_fp32_onnx(classifier, tmp_path / "fp32.onnx")
    backend = _OnnxBackend(path, threads=1)
    encoded = classifier.tokenizer(TEXTS, padding=True, truncation=True, max_length=128,
                                   return_tensors="np")
    got = backend({k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
    want = classifier.head_scores(TEXTS)
    assert got == pytest.approx(want, abs=1e-4)


def test_onnx_int8_agrees_with_torch_within_tolerance(
        onnx_model: Path, classifier: DetoxifyClassifier, no_network: list[Any]) -> None:
    manifest = json.loads((onnx_model / "manifest.json").read_text())
    assert manifest["onnx"]["sha256"] == models.sha256_file(onnx_model / "model.int8.onnx")
    fast = DetoxifyClassifier(onnx_model, prefer_onnx=True)
    assert fast.version == classifier.version + "-int8" and fast.model is None
    ours = fast.classify(TEXTS)
    reference = classifier.classify(TEXTS)
    for a, b in zip(ours, reference, strict=True):
        for label in ("offensive", "threat", *(f"jigsaw.{h}" for h in ORIGINAL_HEADS)):
            # dynamic int8 quantisation: scores move a little, never across the scale
            assert a.scores[label] == pytest.approx(b.scores[label], abs=0.05), label
    # Dynamic quantisation picks activation scales per batch, so a text's int8 score moves a
    # little with its batch-mates (unlike fp32, where batching changes nothing): bounded here.
    for again, first in zip(fast.classify(TEXTS), ours, strict=True):
        assert again.scores == pytest.approx(first.scores, abs=1e-6)
    for text, first in zip(TEXTS, ours, strict=True):
        assert fast.classify([text])[0].scores == pytest.approx(first.scores, abs=0.05)
    # prefer_onnx=False ignores the file and runs torch
    assert DetoxifyClassifier(onnx_model, prefer_onnx=False).version == classifier.version


def test_an_onnx_file_the_manifest_does_not_vouch_for_is_refused(
        onnx_model: Path, tmp_path: Path) -> None:
    folder = _copy_model(onnx_model, tmp_path)
    with open(folder / "model.int8.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(DetectorError, match="model.int8.onnx"):
        DetoxifyClassifier(folder, prefer_onnx=True)


def test_models_import_with_onnx(tiny: Tiny, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    dest = tmp_path / "detoxify"
    code = models_cli.run(_models_args("import", str(tiny.checkpoint), "--config-dir",
                                       str(tiny.config_dir), "--dest", str(dest), "--onnx"))
    assert code == 0
    assert (dest / "model.int8.onnx").is_file()
    assert DetoxifyClassifier(dest).version.endswith("-int8")
    (listed,) = models.list_models(tmp_path)
    assert listed.onnx
