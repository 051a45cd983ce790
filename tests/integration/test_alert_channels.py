"""SMS through GOV.UK Notify and cards in Teams, end to end through ``poll_once``: the
simulated platform, the real store and policy, the real notifications-python-client against
SimulatedNotify (which checks its signed JWT), a Teams webhook stand-in and a real SMTP server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts.simulated import SimulatedNotify, SimulatedTeams, make_api_key
from platforms.simulated import SimComment, SimulatedPlatform
from tests.conftest import FB, MEMBERS, SMALL_TIMELINE, X, config_text
from watcher import config
from watcher.credentials import Credentials
from watcher.daemon import Parts, build, poll_once
from watcher.mailsink import MailSink
from watcher.store.models import ActionRow, AlertRow, Base

TOKENS = {FB: "channels-fb-token", X: "channels-x-token"}
TOM_MOBILE = "+447700900456"
#: Tom (X) has a mobile; Jane (Facebook) has none.
CHANNEL_MEMBERS = MEMBERS.replace('email = "tom@test-council.gov.uk"',
                                  f'email = "tom@test-council.gov.uk"\nmobile = "{TOM_MOBILE}"')
#: The small afternoon, plus a threat on Jane's page (she has no mobile: email only).
TIMELINE = [*SMALL_TIMELINE,
            SimComment(0, "facebook", FB, "1_t", "111_1", "I will find you and hurt you.", "59",
                       "Moe")]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@pytest.fixture
def notify() -> Iterator[SimulatedNotify]:
    with SimulatedNotify() as n:
        yield n


@pytest.fixture
def teams() -> Iterator[SimulatedTeams]:
    with SimulatedTeams() as t:
        yield t


def env(**extra: str) -> dict[str, str]:
    return {"WATCHER_CRED_FB_JSMITH": TOKENS[FB], "WATCHER_CRED_X_TOK": TOKENS[X], **extra}


def notify_config(n: SimulatedNotify) -> str:
    return (f'notify_api_key_credential = "notify-key"\n'
            f'notify_sms_template_id = "{n.template_id}"\n'
            f'notify_base_url = "{n.base_url}"\n')


def make(db_url: str, sim: SimulatedPlatform, sink: MailSink, extra: str,
         environ: dict[str, str], clock: Clock | None = None) -> Parts:
    cfg = config.parse(config_text(db_url, smtp_port=sink.port, sim_url=sim.base_url,
                                   members=CHANNEL_MEMBERS, extra=extra))
    return build(cfg, credentials=Credentials(environ), clock=clock or Clock())


def rows(parts: Parts) -> list[AlertRow]:
    with parts.store.session() as s:
        return list(s.scalars(select(AlertRow).order_by(AlertRow.id)))


def dump(parts: Parts) -> str:
    """Every row of every table, as text."""
    out = []
    with parts.store.session() as s:
        for table in Base.metadata.sorted_tables:
            out += [repr(tuple(r)) for r in s.execute(table.select())]
    return "\n".join(out)


# ------------------------------------------------------------------------------------ SMS


def test_a_threat_texts_the_member_through_gov_uk_notify(db_url: str, sink: MailSink,
                                                         notify: SimulatedNotify) -> None:
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, notify_config(notify),
                     env(WATCHER_CRED_NOTIFY_KEY=notify.api_key))
        outcomes, report = poll_once(parts)
        assert all(o.status == "ok" for o in outcomes), outcomes
        assert report.sent == 4 and report.failed == 0 and report.pending == 0
        alerts = rows(parts)
        assert Counter(a.channel for a in alerts) == {"email": 3, "sms": 1}
        (sms_row,) = [a for a in alerts if a.channel == "sms"]
        (threat_email,) = [a for a in alerts if a.dedupe_key + ":sms" == sms_row.dedupe_key]
        with parts.store.session() as s:
            sent = [json.loads(a.detail_json) for a in s.scalars(select(ActionRow).where(
                ActionRow.action == "alert.sent", ActionRow.alert_id == sms_row.id))]
        parts.store.dispose()
    (sms,) = notify.received
    assert sms.phone_number == TOM_MOBILE and sms.template_id == notify.template_id
    assert sms.reference == sms_row.dedupe_key and sms_row.dedupe_key.endswith(":sms")
    text = sms.personalisation["message"]
    assert text.startswith("URGENT: threat on Cllr Tom Okafor's X by anon. If in danger call "
                           "999; else 101 (Operation Ford). Details: https://")
    assert "9002" in text and len(text) < 300 and sms.body == text
    assert json.loads(sms_row.recipients_json) == {"to": [TOM_MOBILE], "cc": []}
    assert sms_row.status == "sent" and sms_row.kind == "item" and threat_email.kind == "item"
    # The actions log (append-only) keeps only the number's last digits.
    assert sent == [{"channel": "sms", "recipients": ["…456"]}]
    # Three emails: the insult, and both threats; Jane has no mobile, so no SMS for hers.
    assert len(sink.messages) == 3


def test_channels_that_are_not_configured_get_no_rows(db_url: str, sink: MailSink,
                                                      notify: SimulatedNotify) -> None:
    half = f'notify_api_key_credential = "notify-key"\nnotify_base_url = "{notify.base_url}"\n'
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, half, env(WATCHER_CRED_NOTIFY_KEY=notify.api_key))
        poll_once(parts)
        assert {a.channel for a in rows(parts)} == {"email"}
        assert set(parts.outbox.channels) == {"email"}
        parts.store.dispose()
    assert notify.received == []


def test_a_bad_notify_key_is_retried_and_logged_and_never_stored(
        db_url: str, sink: MailSink, notify: SimulatedNotify,
        capsys: pytest.CaptureFixture[str]) -> None:
    wrong = make_api_key(service_id=notify.service_id)  # the service's id, another secret
    environ = env(WATCHER_CRED_NOTIFY_KEY=wrong)
    clock = Clock()
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, notify_config(notify), environ, clock)
        _, report = poll_once(parts)
        assert report.failed == 1 and report.pending == 1 and report.sent == 3
        (sms_row,) = [a for a in rows(parts) if a.channel == "sms"]
        assert sms_row.status == "pending" and sms_row.attempts == 1
        error = sms_row.last_error or ""
        assert "403" in error and "AuthError" in error and "API key not found" in error
        assert "[REDACTED]" not in error  # the message never held the key to begin with
        clock.now += timedelta(seconds=3)  # past the back-off (at most 2.4 s here)
        poll_once(parts)  # the same bad key: failed again, with a longer wait
        assert [a.attempts for a in rows(parts) if a.channel == "sms"] == [2]
        stored = dump(parts)
        environ["WATCHER_CRED_NOTIFY_KEY"] = notify.api_key  # member services fix the key
        clock.now += timedelta(seconds=5)
        _, report = poll_once(parts)
        assert report.sent == 1 and report.pending == 0
        parts.store.dispose()
    output = capsys.readouterr()
    logged = output.out + output.err
    assert logged.count('"event": "alert.delivery_failed"') == 2
    assert '"channel": "sms"' in logged and "API key not found" in logged
    for secret in (wrong, wrong[-36:], notify.api_key, notify.api_key[-36:]):
        assert secret not in logged and secret not in stored
    assert len(notify.received) == 1 and len(sink.messages) == 3


def test_notify_down_is_retried_and_the_emails_still_go(db_url: str, sink: MailSink,
                                                        notify: SimulatedNotify) -> None:
    clock = Clock()
    notify.fail(500, times=1)
    with SimulatedPlatform(TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, notify_config(notify),
                     env(WATCHER_CRED_NOTIFY_KEY=notify.api_key), clock)
        _, report = poll_once(parts)
        # The SMS failed; the threat's email (and the others) went all the same.
        assert (report.sent, report.failed, report.pending) == (3, 1, 1)
        (sms_row,) = [a for a in rows(parts) if a.channel == "sms"]
        assert "GOV.UK Notify refused the SMS (500)" in (sms_row.last_error or "")
        notify.stop()  # now not answering at all
        clock.now += timedelta(seconds=3)
        _, report = poll_once(parts)
        (sms_row,) = [a for a in rows(parts) if a.channel == "sms"]
        assert report.failed == 1 and "cannot reach GOV.UK Notify" in (sms_row.last_error or "")
        with SimulatedNotify(api_key=notify.api_key, template_id=notify.template_id) as back:
            parts.outbox.channels["sms"].base_url = back.base_url  # type: ignore[attr-defined]
            clock.now += timedelta(seconds=5)
            _, report = poll_once(parts)
            assert report.sent == 1 and report.pending == 0
            assert len(back.received) == 1
        parts.store.dispose()
    assert len(sink.messages) == 3


# ---------------------------------------------------------------------------------- Teams


def teams_config(extra: str = "") -> str:
    return 'teams_webhook_credential = "teams-hook"\n' + extra


def cards(t: SimulatedTeams) -> list[dict]:
    return [c["attachments"][0]["content"] for c in t.cards]


def test_alerts_at_or_above_the_minimum_severity_post_teams_cards(
        db_url: str, sink: MailSink, teams: SimulatedTeams) -> None:
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, teams_config(), env(WATCHER_CRED_TEAMS_HOOK=teams.url))
        _, report = poll_once(parts)
        assert report.sent == 4 and report.failed == 0
        alerts = rows(parts)
        parts.store.dispose()
    assert Counter(a.channel for a in alerts) == {"email": 2, "teams": 2}
    emails = {a.dedupe_key: a for a in alerts if a.channel == "email"}
    for row in (a for a in alerts if a.channel == "teams"):
        assert row.dedupe_key.removesuffix(":teams") in emails
        assert json.loads(row.recipients_json) == {"to": [], "cc": []}
    by_title = {c["body"][0]["text"]: c for c in cards(teams)}
    assert set(by_title) == {a.subject for a in emails.values()}
    threat = next(c for t, c in by_title.items() if t.startswith("URGENT"))
    assert threat["body"][0]["color"] == "Attention"
    lines = [b["text"] for b in threat["body"][1:]]
    assert lines[0].startswith("**What to do:** If you are in immediate danger, call 999")
    assert any("I know where you live" in line for line in lines)
    (action,) = threat["actions"]
    assert action["type"] == "Action.OpenUrl" and "9002" in action["url"]
    assert not any(line.startswith("Link:") for line in lines)


def test_teams_minimum_severity_urgent_posts_threats_only(db_url: str, sink: MailSink,
                                                          teams: SimulatedTeams) -> None:
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, teams_config('teams_min_severity = "urgent"\n'),
                     env(WATCHER_CRED_TEAMS_HOOK=teams.url))
        poll_once(parts)
        parts.store.dispose()
    (card,) = cards(teams)
    assert card["body"][0]["text"].startswith("URGENT: Threat")


def test_teams_down_or_refusing_is_retried_and_the_url_never_leaks(
        db_url: str, sink: MailSink, teams: SimulatedTeams,
        capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    teams.fail(500, "Webhook unavailable", times=1)
    environ = env()  # no webhook credential yet: that fails too, and is retried
    with SimulatedPlatform(SMALL_TIMELINE, tokens=TOKENS, handles={X: "CllrTom"}) as sim:
        parts = make(db_url, sim, sink, teams_config(), environ, clock)
        _, report = poll_once(parts)
        # Both emails went; the first card failed and the second waits for the next run.
        assert (report.sent, report.failed, report.pending) == (2, 1, 2)
        first = next(a for a in rows(parts) if a.channel == "teams" and a.attempts)
        assert "credential 'teams-hook' not found" in (first.last_error or "")
        environ["WATCHER_CRED_TEAMS_HOOK"] = teams.url
        clock.now += timedelta(seconds=3)
        _, report = poll_once(parts)
        assert report.failed == 1 and report.sent == 0
        first = next(a for a in rows(parts) if a.channel == "teams" and a.attempts)
        assert "answered HTTP 500: Webhook unavailable" in (first.last_error or "")
        # A classic connector refuses with a 200 and the reason as text.
        teams.fail(200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId x")
        clock.now += timedelta(seconds=5)
        _, report = poll_once(parts)
        assert report.failed == 1
        assert any("did not post the card: Microsoft Teams endpoint returned HTTP error 429"
                   in (a.last_error or "") for a in rows(parts))
        clock.now += timedelta(seconds=5)
        _, report = poll_once(parts)
        assert report.pending == 0 and report.sent == 2
        stored = dump(parts)
        parts.store.dispose()
    assert len(teams.cards) == 2 and len(sink.messages) == 2
    output = capsys.readouterr()
    for text in (stored, output.out, output.err):
        assert teams.secret not in text
