"""Fixtures of the reliability suite: a place to report each run's summary line.

A summary is printed (seen with ``pytest -s``), attached to the test's report as a
``record_property`` (seen in JUnit XML), and repeated in a "reliability summary" section at
the end of the terminal report, so CI logs show the counts even without ``-s``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

SUMMARIES = pytest.StashKey[list[str]]()


@pytest.fixture
def report_summary(request: pytest.FixtureRequest,
                   record_property: Callable[[str, object], None]) -> Callable[..., None]:
    """Return ``report(line, **counts)``: prints the line and records it and each count."""

    def report(line: str, **counts: object) -> None:
        print(line)
        record_property("reliability_summary", line)
        for name, value in counts.items():
            record_property(name, value)
        request.config.stash.setdefault(SUMMARIES, []).append(f"{request.node.name}: {line}")

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARIES, [])
    if lines:
        terminalreporter.section("reliability summary")
        for line in lines:
            terminalreporter.write_line(line)
