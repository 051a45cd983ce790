"""The council comment model: loading, failing loudly, scoring, and the score mapping."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectors.council import MODEL_DIR, CouncilModel, to_score
from watcher.domain import TEXT_LABELS
from watcher.errors import DetectorError


@pytest.fixture(scope="module")
def model() -> CouncilModel:
    return CouncilModel()


def test_shipped_model_gives_every_contract_label(model: CouncilModel) -> None:
    assert set(model.labels) == set(TEXT_LABELS)
    assert all(0.5 <= t < 1.0 for t in model.thresholds.values())
    out = model.predict(["Thanks for the update.", "", "x" * 100_000])
    assert out.shape == (3, len(model.labels)) and out.dtype == np.float32
    assert ((out >= 0) & (out <= 1)).all()
    assert model.predict([]).shape == (0, len(model.labels))


def test_batching_and_order_do_not_change_a_text_s_scores(model: CouncilModel) -> None:
    texts = [f"Comment number {i} about the bins on Elm Road." for i in range(150)]
    texts[77] = "I will burn your house down with you in it."
    together = model.predict(texts)
    assert np.argmax(together[:, model.labels.index("threat")]) == 77
    alone = model.predict([texts[77]])
    # int8 dynamic quantisation scales per batch: close, not bit-identical
    assert np.abs(alone[0] - together[77]).max() < 0.1


@pytest.mark.parametrize("text,label,flagged", [
    ("I will burn your house down with you in it.", "threat", True),
    ("Thank you for getting the streetlight fixed so quickly.", "threat", False),
    ("You are a useless thick muppet.", "offensive", True),
    ("The consultation closes on Friday, please respond.", "offensive", False),
    ("Cllr Dawson pocketed the grant money for the youth club.", "defamation", True),
    ("Did Cllr Dawson declare an interest in the youth club grant?", "defamation", False),
    ("Her mobile is 07700 900123 and she lives at 4 Mill Lane, LS6 2QT.", "personal_data", True),
])
def test_clear_cases_fall_on_the_right_side_of_the_threshold(
        model: CouncilModel, text: str, label: str, flagged: bool) -> None:
    (probs,) = model.predict([text])
    p = float(probs[model.labels.index(label)])
    assert (p >= model.thresholds[label]) is flagged, p


def copy_model(tmp_path: Path) -> Path:
    dest = tmp_path / "council"
    shutil.copytree(MODEL_DIR, dest)
    return dest


@pytest.mark.parametrize("name", ["labels.json", "model.onnx", "tokenizer.json"])
def test_a_missing_file_fails_at_load_naming_it_and_the_fix(tmp_path: Path, name: str) -> None:
    folder = copy_model(tmp_path)
    (folder / name).unlink()
    with pytest.raises(DetectorError) as err:
        CouncilModel(folder)
    assert name in str(err.value) and "train_council_model.py" in str(err.value)


@pytest.mark.parametrize("name", ["labels.json", "model.onnx", "tokenizer.json"])
def test_a_corrupt_file_fails_at_load_naming_it(tmp_path: Path, name: str) -> None:
    folder = copy_model(tmp_path)
    (folder / name).write_bytes(b"\x00not what it should be{")
    with pytest.raises(DetectorError, match=name.replace(".", r"\.")):
        CouncilModel(folder)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(format=99), "format"),
    (lambda d: d["labels"].update(spam={"threshold": 0.5}), "labels"),
    (lambda d: d["labels"]["threat"].update(threshold=1.5), "threshold"),
    (lambda d: d["labels"].pop("threat"), "probabilities"),
])
def test_a_labels_file_that_does_not_fit_is_refused(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = copy_model(tmp_path)
    data = json.loads((folder / "labels.json").read_text())
    edit(data)
    (folder / "labels.json").write_text(json.dumps(data))
    with pytest.raises(DetectorError, match=message):
        CouncilModel(folder)


@given(st.floats(0.0, 1.0), st.floats(0.01, 0.99), st.floats(0.01, 0.99))
def test_to_score_maps_the_model_threshold_onto_the_configured_one(
        p: float, threshold: float, configured: float) -> None:
    score = to_score(p, threshold, configured)
    assert 0.0 <= score <= 1.0 + 1e-12
    assert (score >= configured - 1e-9) == (p >= threshold - 1e-12) or abs(p - threshold) < 1e-9
    assert to_score(threshold, threshold, configured) == pytest.approx(configured)
    assert to_score(0.0, threshold, configured) == 0.0
    assert to_score(1.0, threshold, configured) == pytest.approx(1.0)


def test_a_comments_probabilities_do_not_depend_on_its_batch() -> None:
    """The int8 model scales activations per run: batching would make a comment's score
    depend on its neighbours. The same comment must score the same wherever it comes."""
    from detectors.council import CouncilModel

    model = CouncilModel()
    text = "nice car you have there, would be a shame if something happened to it"
    alone = model.predict([text])[0]
    neighbours = ["ok", "the consultation is a sham and the whole cabinet should resign " * 6,
                  "thanks for fixing the lights"]
    among = model.predict(neighbours + [text] + neighbours)[len(neighbours)]
    assert (alone == among).all()


def test_int8_models_use_exact_arithmetic_on_every_x86_cpu(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """Without VNNI, onnxruntime's fast int8 kernels saturate and a model scores differently
    from one server to another (the fresh-set threat recall fell from 0.66 to 0.59 on an AVX2
    EPYC); every session the detectors open there asks for the exact kernels. With VNNI the
    fast kernels are exact, and asking only slows them."""
    import onnxruntime as ort

    from detectors import _onnx
    from detectors._onnx import X64_QUANT_PRECISION, session_options

    for vnni in (False, True):
        monkeypatch.setattr(_onnx, "_needs_exact_int8", lambda vnni=vnni: not vnni)
        options = session_options(ort, 2)
        if vnni:
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry(X64_QUANT_PRECISION)
        else:
            assert options.get_session_config_entry(X64_QUANT_PRECISION) == "1"
        assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1


@pytest.mark.parametrize(("flags", "vnni"), [
    ("fpu vme sse sse2 avx avx2 fma", False),
    ("fpu avx2 avx512f avx512bw avx512_vnni", True),
    ("fpu avx2 avx_vnni", True),
])
def test_vnni_is_read_from_the_cpu_flags(tmp_path: Path, flags: str, vnni: bool) -> None:
    from detectors._onnx import cpu_has_vnni

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: {flags}\n", encoding="ascii")
    assert cpu_has_vnni(cpuinfo) is vnni
    assert cpu_has_vnni(tmp_path / "missing") is False


def test_scores_are_the_same_with_and_without_the_exact_kernels(monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """Whatever this CPU is, the council model scores the same with the exact kernels asked
    for as with whatever session_options chooses: on a VNNI CPU the fast kernels are exact."""
    from detectors import _onnx

    texts = ["I know where you live", "thanks for fixing the lights", "🔪 see you soon"]
    chosen = CouncilModel(threads=1).predict(texts)
    monkeypatch.setattr(_onnx, "_needs_exact_int8", lambda: True)
    exact = CouncilModel(threads=1).predict(texts)
    assert (chosen == exact).all()
