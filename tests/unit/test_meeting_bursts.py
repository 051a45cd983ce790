"""Meeting bursts (pure): how many own posts, quiet windows, edges and cancellations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calendars.base import Meeting
from detectors.meetings import OwnPost, find_burst, quiet_spans
from watcher.config import QuietWindow

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
MEETING = Meeting(source="moderngov", external_id="1", title="Planning Committee",
                  start=START, end=START + timedelta(hours=3), end_source="planned")


def post(minutes: float, n: int = 0) -> OwnPost:
    return OwnPost(item_row_id=n or int(minutes * 10), account_id=1, platform="x",
                   created_at=START + timedelta(minutes=minutes), permalink=f"https://x/{n}",
                   text=f"post at {minutes}")


def test_more_than_n_posts_is_a_burst() -> None:
    posts = [post(m) for m in (5, 30, 60, 90)]
    burst = find_burst(MEETING, posts, burst_posts=3)
    assert burst is not None and len(burst.posts) == 4
    assert burst.reasons == ("4 posts during the meeting (more than 3)",)


def test_n_posts_is_not() -> None:
    assert find_burst(MEETING, [post(m) for m in (5, 30, 60)], burst_posts=3) is None


def test_only_posts_inside_the_meeting_count() -> None:
    # One at the start counts; one at the end, and those before and after, do not.
    posts = [post(-30), post(-1), post(0), post(60), post(120), post(180), post(200)]
    assert find_burst(MEETING, posts, burst_posts=3) is None
    burst = find_burst(MEETING, posts, burst_posts=2)
    assert burst is not None and [p.created_at for p in burst.posts] == [
        START, START + timedelta(minutes=60), START + timedelta(minutes=120)]


def test_a_cancelled_meeting_never_bursts() -> None:
    from dataclasses import replace

    posts = [post(m) for m in range(0, 100, 10)]
    assert find_burst(replace(MEETING, cancelled=True), posts, burst_posts=1) is None


def test_one_post_while_a_vote_is_expected() -> None:
    quiet = [QuietWindow("planning", after=3600, length=1800)]
    assert quiet_spans(MEETING, quiet) == [(START + timedelta(hours=1),
                                            START + timedelta(hours=1, minutes=30))]
    burst = find_burst(MEETING, [post(70)], burst_posts=3, quiet=quiet,
                       timezone="Europe/London")
    assert burst is not None
    assert burst.reasons == ("1 post while a vote is expected (19:10)",)
    # Outside the window, or a window for another committee: nothing.
    assert find_burst(MEETING, [post(20)], burst_posts=3, quiet=quiet) is None
    assert find_burst(MEETING, [post(70)], burst_posts=3,
                      quiet=[QuietWindow("Licensing", 3600, 1800)]) is None


def test_quiet_window_without_length_runs_to_the_end_and_is_clipped() -> None:
    assert quiet_spans(MEETING, [QuietWindow("", after=7200)]) == [
        (START + timedelta(hours=2), MEETING.end)]
    assert quiet_spans(MEETING, [QuietWindow("", after=7200, length=7200)]) == [
        (START + timedelta(hours=2), MEETING.end)]
    assert quiet_spans(MEETING, [QuietWindow("", after=4 * 3600)]) == []


def test_both_reasons_together() -> None:
    quiet = [QuietWindow("Planning")]
    burst = find_burst(MEETING, [post(m) for m in (1, 2, 3, 4)], burst_posts=3, quiet=quiet,
                       timezone="UTC")
    assert burst is not None and len(burst.reasons) == 2
    assert burst.reasons[1] == "4 posts while a vote is expected (18:01, 18:02, 18:03, 18:04)"
