"""`watcher poll --once` against the simulated server, configured only through CONTRACT keys:
`base_url` per platform and credentials by environment variable."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from platforms.simulated import SimComment, SimMention, SimPost, SimulatedPlatform
from watcher.mailsink import MailSink

pytestmark = pytest.mark.e2e

FB, X = "104612345678901", "1589000000000000001"
TIMELINE = [
    SimPost(0, "facebook", FB, f"{FB}_1", "Library opening hours are changing."),
    SimComment(0, "facebook", FB, "1_1", f"{FB}_1", "Good to hear, thanks.", "51", "Ann"),
    SimComment(0, "facebook", FB, "1_2", f"{FB}_1", "Stupid bitch doesn't know anything.",
               "52", "Bob"),
    SimComment(0, "facebook", FB, "1_3", f"{FB}_1", "Agreed, about time!", "53", "Cy",
               parent_id="1_1"),
    SimPost(0, "x", X, "1850000000000000001", "Full Council tonight."),
    SimComment(0, "x", X, "1850000000000000002", "1850000000000000001",
               "We'll burn your office down.", "61", "arsonist"),
    SimComment(0, "x", X, "1850000000000000003", "1850000000000000001",
               "Why wasn't this in your manifesto?", "62", "voter"),
    SimMention(0, X, "1850000000000000004", "@CllrJaneSmith thanks for the help today",
               "63", "fan"),
]


def contract_config(db: Path, sim_url: str, smtp_port: int) -> str:
    return f"""\
timezone = "Europe/London"

[database]
url = "sqlite:///{db}"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
sender = "social-media-watcher@example.gov.uk"

[member_services]
name = "Member Services"
emails = ["member.services@example.gov.uk"]

[platforms.facebook]
base_url = "{sim_url}"
api_version = "v21.0"

[platforms.x]
base_url = "{sim_url}"

[[groups]]
name = "Residents Association"
leader_emails = ["leader@example.gov.uk"]

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane.smith@example.gov.uk"
group = "Residents Association"

[[members.accounts]]
platform = "facebook"
id = "{FB}"
handle = "CllrJaneSmith"
credential = "fb-jsmith"

[[members.accounts]]
platform = "x"
id = "{X}"
handle = "CllrJaneSmith"
credential = "x-jsmith"
"""


def test_poll_once_with_contract_keys_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}
    env.update({"WATCHER_CRED_FB_JSMITH": "real-looking-page-token",
                "WATCHER_CRED_X_JSMITH": "real-looking-bearer-token"})
    tokens = {FB: env["WATCHER_CRED_FB_JSMITH"], X: env["WATCHER_CRED_X_JSMITH"]}
    db = tmp_path / "watcher.db"
    with SimulatedPlatform(TIMELINE, tokens=tokens, handles={X: "CllrJaneSmith"}) as sim, \
            MailSink() as sink:
        path = tmp_path / "watcher.toml"
        path.write_text(contract_config(db, sim.base_url, sink.port))
        command = [sys.executable, "-m", "watcher.cli", "poll", "--once", "--config", str(path)]
        for _ in range(2):  # the second poll finds nothing new and sends nothing more
            result = subprocess.run(command, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, result.stdout + result.stderr
        assert len(sink.messages) == 2
        subjects = sorted(m["Subject"] for m, _ in sink.messages)
        assert subjects[0].startswith("Offensive comment on Cllr Jane Smith's Facebook")
        assert subjects[1].startswith("URGENT: Threat reply on Cllr Jane Smith's X")
        assert all(t not in result.stdout + result.stderr for t in tokens.values())
    with sqlite3.connect(db) as conn:
        stored = [r[0] for r in conn.execute("select external_id from items order by id")]
    assert sorted(stored) == sorted(e.id for e in TIMELINE)  # every item, once
