"""Alert wording through the templates: what to do first, one link, the words as written in
the body and masked in the subject, HTML that cannot be injected, the sender's history."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.generator import BytesGenerator

import pytest

from alerts.base import Message
from alerts.email import build
from watcher import config
from watcher.domain import Account, Finding, Item, ItemKind, Severity
from watcher.messages import (
    SMS_LIMIT,
    mask_slurs,
    render_account_problem,
    render_item_alert,
    render_meeting_burst,
    render_pile_on,
    render_sms,
)
from watcher.policy import Flagged, plan_item_alerts
from watcher.senders import EarlierFinding, SenderHistory

CFG = config.parse("""
[member_services]
name = "Member Services"
emails = ["ms@c.gov.uk"]
[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
email = "jane@c.gov.uk"
mobile = "+447700900123"
[[members.accounts]]
platform = "facebook"
id = "111"
handle = "CllrJane"
credential = "fb-jsmith"
""")
MEMBER = CFG.members[0]
ACCOUNT = MEMBER.accounts[0]
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
LINK = "https://www.facebook.com/111/posts/1?comment_id=c1"


def item(text: str, author: str | None = "Bob", author_id: str | None = "52",
         link: str | None = LINK, own: bool = False) -> Item:
    return Item(platform="facebook", external_id="c1", kind=ItemKind.COMMENT, text=text,
                created_at=NOW, author_id=author_id, author_name=author, permalink=link,
                is_own=own)


def finding(label: str, severity: Severity, reason: str = "matched words") -> Finding:
    return Finding(item_id="c1", label=label, score=0.97, severity=severity, reasons=(reason,),
                   detector="rules", detector_version="1")


THREAT = finding("threat", Severity.URGENT, "matched 'I know where you live'")
OFFENSIVE = finding("offensive", Severity.HIGH)


def test_threat_says_999_then_101_and_operation_ford_and_member_services_first() -> None:
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item("I know where you live"), [THREAT])
    assert r.subject.startswith("URGENT: Threat comment on Cllr Jane Smith's Facebook")
    text = r.text
    todo = text.index("What to do:")
    # What to do comes first, before the link, the quote and the details.
    assert todo < text.index("Link:") < text.index("What they wrote") < text.index("Member:")
    assert text.index("call 999") < text.index("101") < text.index('"Operation Ford"')
    assert "If you are in immediate danger, call 999" in text
    assert "Tell Member Services" in text
    assert f"Link:     {LINK}" in text.splitlines()
    for needed in ("call 999", "101", "Operation Ford", "Member Services", LINK):
        assert needed in r.html
    # One big link: the item's, once, as the button.
    assert r.html.count("<a href=") == 1 and f'href="{LINK}"' in r.html.replace("&amp;", "&")


def test_other_labels_never_mention_999_or_operation_ford() -> None:
    for f in (OFFENSIVE, finding("defamation", Severity.HIGH),
              finding("personal_data", Severity.HIGH)):
        r = render_item_alert(CFG, MEMBER, ACCOUNT, item("words"), [f])
        assert "999" not in r.text and "Operation Ford" not in r.text
        assert not r.subject.startswith("URGENT")


@pytest.mark.parametrize(("text", "masked"), [
    ("you fucking cunt", "you f****** c***"),
    ("FUCK off", "F*** off"),
    ("What a twat!", "What a t***!"),
    ("Scunthorpe and cocktails", "Scunthorpe and cocktails"),
    ("shitake mushrooms, fuckwit", "shitake mushrooms, fuckwit"),
    ("(cunt)", "(c***)"),
])
def test_mask_slurs_masks_whole_listed_words_only(text: str, masked: str) -> None:
    assert mask_slurs(text) == masked


def test_subject_masks_slurs_and_the_body_keeps_the_words() -> None:
    words = "You fucking cunt, I know where you live"
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item(words), [THREAT])
    assert 'Facebook: "You f****** c***, I know where you live"' in r.subject
    assert "fucking" not in r.subject and "cunt" not in r.subject
    assert f'"{words}"' in r.text and words in r.html
    assert "fucking" not in r.card  # a Teams channel is shared: masked too


def test_subject_never_quotes_personal_data_or_the_members_own_post() -> None:
    private = render_item_alert(CFG, MEMBER, ACCOUNT, item("Her number is 07700 900456"),
                                [finding("personal_data", Severity.HIGH)])
    assert "07700" not in private.subject and "07700" in private.text
    own = render_item_alert(CFG, MEMBER, ACCOUNT, item("Our new leaflet", own=True),
                            [finding("copyright_image", Severity.NORMAL)])
    assert "leaflet" not in own.subject and "Who wrote it" not in own.text


def test_subjects_survive_the_trip_through_an_email_whatever_the_quote_length() -> None:
    """Python's default email folding moves a 70-77 character subject whole onto a
    continuation line; alerts/email.py folds only past 998, so a receiver reads every subject
    exactly as written."""
    for n in range(1, 90):
        r = render_item_alert(CFG, MEMBER, ACCOUNT, item("x" * n), [THREAT])
        email = build(Message(to=("a@b.c",), subject=r.subject, text=r.text, html=r.html,
                              message_id="<1@b.c>"), "w@b.c")
        # As smtplib.send_message writes it: the message's own policy, CRLF line ends.
        wire = io.BytesIO()
        BytesGenerator(wire).flatten(email, linesep="\r\n")
        parsed = message_from_bytes(wire.getvalue(), policy=policy.default)
        assert str(parsed["Subject"]) == r.subject, n


def test_html_escapes_what_commenters_write() -> None:
    r = render_item_alert(CFG, MEMBER, ACCOUNT,
                          item("<script>alert(1)</script> <b>hi</b>", author="<img src=x>"),
                          [finding("offensive", Severity.HIGH, "matched '<script>'")])
    assert "<script>" not in r.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    assert "<img src=x>" not in r.html and "&lt;img src=x&gt;" in r.html
    assert "<b>hi</b>" not in r.html
    assert "<script>alert(1)</script>" in r.text  # plain text stays as written
    assert "\\<script\\>" in r.card  # Markdown escaped for Teams


def test_a_link_that_is_not_http_is_never_made_a_link() -> None:
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item("idiot", link="javascript:alert(1)"),
                          [OFFENSIVE])
    assert "javascript:" not in r.html and "<a href=" not in r.html
    assert "(no link: the platform gave none)" in r.text


def test_long_comments_are_quoted_up_to_the_limit() -> None:
    words = "You useless idiot. " * 40  # 760 characters: quoted whole
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item(words), [OFFENSIVE])
    assert words.strip() in r.text and "(shortened)" not in r.text
    huge = render_item_alert(CFG, MEMBER, ACCOUNT, item("x" * 50_000), [OFFENSIVE])
    assert "(shortened)" in huge.text and len(huge.text) < 3000


def test_sender_history_is_shown() -> None:
    history = SenderHistory(
        platform="facebook", author_id="52", author_name="Bob",
        first_seen=datetime(2026, 10, 3, 9, 0, tzinfo=UTC), items_stored=7,
        findings=(EarlierFinding("offensive", datetime(2026, 10, 3, 9, 5, tzinfo=UTC)),
                  EarlierFinding("offensive", datetime(2026, 11, 2, 9, 5, tzinfo=UTC)),
                  EarlierFinding("threat", datetime(2026, 11, 20, 21, 0, tzinfo=UTC))))
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item("idiot"), [OFFENSIVE], history=history)
    assert "Bob (Facebook id 52)" in r.text
    assert ("First seen on Cllr Jane Smith's Facebook accounts on 03 Oct 2026; "
            "7 earlier comments stored.") in r.text
    assert ("Earlier findings: 2 offensive (03 Oct 2026, 02 Nov 2026); "
            "1 threat (20 Nov 2026).") in r.text
    assert "Earlier findings: 2 offensive" in r.html
    assert "earlier findings: 2 offensive, 1 threat" in r.card
    new = SenderHistory("facebook", "53", "Cy", None, 0, ())
    first = render_item_alert(CFG, MEMBER, ACCOUNT, item("idiot", "Cy", "53"), [OFFENSIVE],
                              history=new)
    assert "First time seen on Cllr Jane Smith's Facebook accounts." in first.text
    anonymous = render_item_alert(CFG, MEMBER, ACCOUNT, item("idiot", None, None), [OFFENSIVE])
    assert "did not say who wrote it" in anonymous.text


def test_policy_passes_the_history_to_the_alert() -> None:
    history = SenderHistory("facebook", "52", "Bob", NOW, 2,
                            (EarlierFinding("offensive", NOW),))
    flagged = Flagged(item=item("idiot"), item_row_id=4, findings=(OFFENSIVE,), history=history)
    (plan,) = plan_item_alerts(CFG, MEMBER, ACCOUNT, [flagged], recent_alerts=0)
    assert "Earlier findings: 1 offensive" in plan.rendered.text


def test_sms_is_short_and_says_what_to_do() -> None:
    text = render_sms(MEMBER, ACCOUNT, item("I know where you live", author="Bob"))
    assert text == ("URGENT: threat on Cllr Jane Smith's Facebook by Bob. If in danger call "
                    f"999; else 101 (Operation Ford). Details: {LINK}")
    long_name = render_sms(MEMBER, ACCOUNT, item("x", author="fuck " * 100,
                                                 link=LINK + "&x=" + "y" * 120))
    assert len(long_name) <= SMS_LIMIT and "fuck" not in long_name and "999" in long_name


def test_pile_on_counts_earlier_comments_and_says_later_ones_are_folded() -> None:
    items = [(item(f"idiot {n}"), [OFFENSIVE], "hidden" if n == 0 else None) for n in range(3)]
    r = render_pile_on(CFG, MEMBER, ACCOUNT, items, earlier=4)
    assert r.subject == "Pile-on: 7 flagged comments on Cllr Jane Smith's Facebook"
    assert "4 more flagged comments in the last 30 minutes were alerted one by one" in r.text
    assert "in the next 30 minutes are added to this pile-on" in r.text
    assert "1 already hidden automatically" in r.text and "<ol>" in r.html


def test_account_problem_and_meeting_burst_keep_their_wording() -> None:
    account = Account(member_id="jsmith", platform="x", external_id="2", handle="CllrJane",
                      credential="x-jsmith")
    problem = render_account_problem(CFG, MEMBER, account, "token <expired>", NOW)
    assert problem.subject == "Account problem: Cllr Jane Smith's X (CllrJane) cannot be checked"
    assert "x-jsmith" in problem.text and "token <expired>" in problem.text
    assert "token &lt;expired&gt;" in problem.html
    burst = render_meeting_burst(CFG, MEMBER, "Planning <Committee>", NOW, NOW, [
        (NOW, "X", "https://x.com/CllrJane/status/1", "Vote for me")], ["4 posts"])
    assert burst.subject.startswith("Reminder: 1 post during Planning <Committee> on ")
    assert "15:00 on X" in burst.text and "Planning &lt;Committee&gt;" in burst.html


def test_a_hidden_threat_still_starts_with_999() -> None:
    r = render_item_alert(CFG, MEMBER, ACCOUNT, item("I know where you live"), [THREAT],
                          hide_outcome="hidden")
    steps = r.text.split("What to do:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert steps[0].strip() == "1. If you are in immediate danger, call 999 now."
    assert "has already hidden it" in steps[-1]
    insult = render_item_alert(CFG, MEMBER, ACCOUNT, item("idiot"), [OFFENSIVE],
                               hide_outcome="failed: no permission")
    assert "1. Councillor Watcher could not hide it (failed: no permission)" in insult.text
