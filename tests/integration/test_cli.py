"""The command line in process: classify, findings, db upgrade, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platforms.simulated import SimComment, SimPost, SimulatedPlatform
from tests.conftest import MEMBERS, config_text
from watcher.cli import main
from watcher.mailsink import MailSink


def test_classify_keeps_input_order_and_reports_bad_lines(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "a", "text": "Thanks for fixing the streetlight."}\n'
        '{"id": "b", "text": "I know where you live.", "member": "Cllr Jane Smith"}\n'
        'this is not json\n'
        '\n'
        '{"id": "d", "text": "You are a useless idiot."}\n'
        '{"id": "e"}\n')
    out = tmp_path / "out.jsonl"
    code = main(["classify", "--input", str(source), "--output", str(out)])
    assert code == 1  # two bad lines
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in rows] == ["a", "b", None, "d", None]
    assert rows[0]["labels"] == [] and "threat" in rows[1]["labels"]
    assert "offensive" in rows[3]["labels"]
    assert set(rows[0]["scores"]) >= {"offensive", "threat", "defamation", "personal_data"}
    assert rows[1]["reasons"] and all(isinstance(r, str) for r in rows[1]["reasons"])
    assert "line 3: not JSON" in rows[2]["error"] and "line 6" in rows[4]["error"]
    assert "line 3" in capsys.readouterr().err


def test_findings_and_db_upgrade(db_url: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = [SimPost(0, "facebook", "111", "111_1", "Roadworks update."),
                SimComment(0, "facebook", "111", "1_b", "111_1", "You are a useless idiot.",
                           "52", "Bob")]
    with SimulatedPlatform(timeline) as sim, MailSink() as sink:
        path = tmp_path / "watcher.toml"
        path.write_text(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                    members=MEMBERS))
        assert main(["db", "upgrade", "--config", str(path)]) == 0
        monkeypatch.setenv("WATCHER_CRED_FB_JSMITH", "tok-fb")
        monkeypatch.setenv("WATCHER_CRED_X_TOK", "tok-x")
        assert main(["poll", "--once", "--config", str(path)]) == 0
        capsys.readouterr()
        assert main(["findings", "--config", str(path), "--format", "jsonl"]) == 0
        (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert row["label"] == "offensive" and row["member"] == "jsmith"
        assert row["link"].endswith("comment_id=1_b")
        assert main(["findings", "--config", str(path), "--member", "tok"]) == 0
        assert "0 finding(s)" in capsys.readouterr().out
        assert main(["findings", "--config", str(path), "--format", "csv"]) == 0
        assert capsys.readouterr().out.startswith("id,created_at,member")
        assert main(["findings", "--config", str(path), "--since", "soon"]) == 2


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_missing_model_fails_at_start_with_how_to_fix(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from detectors import registry

    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    path = tmp_path / "watcher.toml"
    path.write_text(config_text(f"sqlite:///{tmp_path / 'w.db'}", members=MEMBERS,
                                extra='[detectors.text]\nengine = "detoxify"\n'))
    assert main(["poll", "--once", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "watcher models import" in err and str(tmp_path / "state") in err


def test_classify_streams_stdin_with_invalid_utf8(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "watcher.toml"
    config.write_text('[detectors.text]\nengine = "rules"\n')
    lines = [b'{"id": "bad", "text": "caf\xe9 \xff you are a useless idiot"}']
    lines += [f'{{"id": "{i}", "text": "comment number {i}"}}'.encode() for i in range(20_000)]
    result = subprocess.run([sys.executable, "-m", "watcher.cli", "classify", "--config",
                             str(config)], input=b"\n".join(lines) + b"\n",
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode().splitlines()
    assert len(out) == 20_001
    first = json.loads(out[0])
    assert first["id"] == "bad" and "offensive" in first["labels"]
    assert [json.loads(line)["id"] for line in out[1:4]] == ["0", "1", "2"]


def test_images_add_list_remove(db_url: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.imagegen import jpeg, picture, resized

    path = tmp_path / "watcher.toml"
    path.write_text(config_text(db_url, members=MEMBERS))
    own, other = tmp_path / "townhall.jpg", tmp_path / "agency.jpg"
    own.write_bytes(jpeg(picture(21)))
    other.write_bytes(jpeg(picture(22)))
    (tmp_path / "page.jpg").write_bytes(b"<!DOCTYPE html><html></html>")
    args = ["--config", str(path)]
    assert main(["images", "add", "--cleared", str(own), *args]) == 0
    assert main(["images", "add", "--third-party", str(other), "--note", "Getty, 2025 leaflet",
                 *args]) == 0
    out = capsys.readouterr().out
    assert "townhall.jpg: added as #1 (cleared" in out and "agency.jpg: added as #2" in out
    # Again: nothing new; the other kind: refused; not an image or missing: exit 1, said why.
    assert main(["images", "add", "--cleared", str(own), *args]) == 0
    assert "already registered as #1" in capsys.readouterr().out
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(resized(own.read_bytes()))
    assert main(["images", "add", "--third-party", str(own), str(tmp_path / "page.jpg"),
                 str(tmp_path / "missing.jpg"), str(copy), *args]) == 1
    captured = capsys.readouterr()
    assert "already registered as cleared (entry #1)" in captured.err
    assert "page.jpg: NOT ADDED" in captured.err and "not an image" in captured.err
    assert "missing.jpg: NOT ADDED: cannot read" in captured.err
    assert "copy.jpg: added as #3" in captured.out and "looks like entry #1" in captured.out
    assert main(["images", "list", *args]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4 and "Getty, 2025 leaflet" in listed[2]
    assert main(["images", "remove", "3", *args]) == 0
    assert main(["images", "remove", "3", *args]) == 1
    assert "no image register entry #3" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --cleared or --third-party is required
        main(["images", "add", str(own), *args])


def test_meetings_refresh_and_list(db_url: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from calendars.simulated import SimAttendee, SimCommittee, SimMeeting, SimulatedModernGov

    soon = datetime.now(UTC) + timedelta(days=2)
    meeting = SimMeeting("9", "1", date=soon.replace(tzinfo=None, hour=18, minute=0),
                         attendees=(SimAttendee("7", "Councillor Jane Smith"),))
    path = tmp_path / "watcher.toml"
    with SimulatedModernGov([SimCommittee("1", "Planning Committee")], [meeting]) as mg:
        path.write_text(config_text(db_url, members=MEMBERS,
                                    extra=f'[meetings]\nmoderngov_url = "{mg.base_url}"\n'))
        assert main(["meetings", "refresh", "--config", str(path)]) == 0
        assert "moderngov: 1 meetings" in capsys.readouterr().out
        mg.mode = "html"
        assert main(["meetings", "refresh", "--config", str(path)]) == 1
        assert "moderngov: FAILED" in capsys.readouterr().out
    assert main(["meetings", "list", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Planning Committee  attending: jsmith" in out and "18:00-21:00" in out
    path.write_text(config_text(db_url, members=MEMBERS))
    assert main(["meetings", "refresh", "--config", str(path)]) == 2
