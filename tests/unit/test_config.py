"""Config: the contract's example loads; every problem is reported with its key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher import config
from watcher.errors import ConfigError

CONTRACT_EXAMPLE = (Path(__file__).parent.parent / "data" / "contract_example.toml").read_text()


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "test.toml")
    return [(p.key, p.line, p.message) for p in info.value.problems]


def test_contract_example_loads_into_typed_frozen_objects() -> None:
    c = config.parse(CONTRACT_EXAMPLE)
    assert c.timezone == "Europe/London"
    assert c.polling.interval == 300 and c.polling.jitter == 30
    assert c.meetings.default_duration == 3 * 3600
    (member,) = c.members
    assert member.id == "jsmith" and member.group == "Residents Association"
    (account,) = member.accounts
    assert account.platform == "facebook" and account.credential == "fb-jsmith"
    assert account.interval_seconds == 300
    assert c.text.thresholds["offensive"] == 0.8
    assert c.platforms["facebook"].api_version == "v21.0"
    with pytest.raises(AttributeError):
        c.polling.interval = 1  # type: ignore[misc]


def test_defaults_apply_when_sections_are_missing() -> None:
    c = config.parse('[[members]]\nid = "a"\nname = "A"\nemail = "a@x.gov.uk"\n')
    assert c.database.url.startswith("sqlite:///")
    assert c.smtp.port == 25 and c.member_services.emails
    assert c.platforms["x"].base_url == "https://api.twitter.com"


def test_every_problem_is_reported_together_with_key_and_line() -> None:
    text = """\
timezone = "Mars/Olympus"
colour = "blue"

[polling]
interval = "5 minutes"
jiter = "30s"

[[groups]]
name = "Greens"

[[members]]
id = "jsmith"
name = "Cllr Jane Smith"
group = "Reds"

[[members.accounts]]
platform = "myspace"
id = "1"

[[members]]
id = "jsmith"
name = "Cllr J Smith Again"
email = "not-an-email"
"""
    found = problems(text)
    keys = {(key, line) for key, line, _ in found}
    assert ("timezone", 1) in keys
    assert ("colour", 2) in keys
    assert ("polling.interval", 5) in keys
    assert ("polling.jiter", 6) in keys
    assert ("members[0].group", 14) in keys
    assert ("members[0].accounts[0].platform", 17) in keys
    assert ("members[1].id", 21) in keys  # duplicate
    assert ("members[1].email", 23) in keys
    missing_email = [p for p in found if p[0] == "members[0].email"]
    assert missing_email and missing_email[0][2] == "is required"
    messages = " ".join(m for _, _, m in found)
    assert "duplicate member id 'jsmith'" in messages
    assert "unknown platform 'myspace'" in messages


def test_unknown_key_in_nested_table_names_the_known_keys() -> None:
    ((key, line, message),) = problems('[smtp]\nhost = "mail"\nprot = 25\n')
    assert (key, line) == ("smtp.prot", 3)
    assert "port" in message


def test_toml_syntax_error_has_a_line() -> None:
    ((key, line, _),) = problems('[smtp]\nhost = "mail\n')
    assert key == "<syntax>" and line == 2


def test_account_registered_twice_is_an_error() -> None:
    text = """
[[members]]
id = "a"
name = "A"
email = "a@x.gov.uk"
[[members.accounts]]
platform = "x"
id = "9"
[[members]]
id = "b"
name = "B"
email = "b@x.gov.uk"
[[members.accounts]]
platform = "x"
id = "9"
"""
    ((key, line, message),) = problems(text)
    assert key == "members[1].accounts[0].id" and line == 15
    assert "already registered to member 'a'" in message


def test_thresholds_inline_table_is_checked() -> None:
    found = problems('[detectors.text]\nthresholds = { offensive = 2, rude = 0.5 }\n')
    assert found[0][0] == "detectors.text.thresholds" and found[0][1] == 2


@pytest.mark.parametrize("text,key,words", [
    ('[polling]\ninterval = "0s"\n', "polling.interval", "longer than 0"),
    ('[alerts]\nretry_max = "9999999999w"\n', "alerts.retry_max", "at most 366 days"),
])
def test_durations_must_be_sane(text: str, key: str, words: str) -> None:
    ((found_key, _line, message),) = problems(text)
    assert found_key == key and words in message


def test_a_jitter_of_zero_is_allowed() -> None:
    assert config.parse('[polling]\njitter = "0s"\n').polling.jitter == 0


def test_detoxify_model_dir_and_onnx_choice() -> None:
    c = config.parse('[detectors.text]\nengine = "detoxify"\nmodel_dir = "/srv/models/tox"\n'
                     'prefer_onnx = false\n')
    assert (c.text.engine, c.text.model_dir, c.text.prefer_onnx) == \
        ("detoxify", "/srv/models/tox", False)
    defaults = config.parse("")
    assert (defaults.text.model_dir, defaults.text.prefer_onnx) == ("", True)
    ((key, _line, message),) = problems('[detectors.text]\nprefer_onnx = "yes"\n')
    assert key == "detectors.text.prefer_onnx" and "true or false" in message


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "missing.toml")
    assert "cannot read" in str(info.value)


@pytest.mark.parametrize("text,seconds", [
    ("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25),
    (" 2 h ", 7200),
])
def test_durations(text: str, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m", "5 minutes", "5x", "-1s", "1h junk", 300])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        config.parse_duration(bad)  # type: ignore[arg-type]


def test_config_path_resolution() -> None:
    assert str(config.resolve_path("a.toml", {"WATCHER_CONFIG": "b.toml"})) == "a.toml"
    assert str(config.resolve_path(None, {"WATCHER_CONFIG": "b.toml"})) == "b.toml"
    assert str(config.resolve_path(None, {})) == config.DEFAULT_PATH


def test_metrics_are_off_by_default_and_listen_on_loopback() -> None:
    c = config.parse("")
    assert (c.metrics.enabled, c.metrics.host, c.metrics.port) == (False, "127.0.0.1", 9464)
    assert c.metrics.listen == "127.0.0.1:9464"


@pytest.mark.parametrize("listen,host,port", [
    ("127.0.0.1:9100", "127.0.0.1", 9100), ("0.0.0.0:9464", "0.0.0.0", 9464),
    ("localhost:0", "localhost", 0), ("[::1]:9464", "::1", 9464),
    ("metrics.council.local:9464", "metrics.council.local", 9464),
])
def test_metrics_listen_addresses(listen: str, host: str, port: int) -> None:
    c = config.parse(f'[metrics]\nenabled = true\nlisten = "{listen}"\n')
    assert (c.metrics.enabled, c.metrics.host, c.metrics.port) == (True, host, port)
    assert c.metrics.listen == listen


@pytest.mark.parametrize("listen,expected", [
    ("9464", 'expected "host:port"'), (":9464", 'expected "host:port"'),
    ("127.0.0.1:http", 'expected "host:port"'), ("127.0.0.1:70000", "port must be from 0"),
    ("[nothost]:9464", "is not an IPv6 address"), ("bad host:9464", "not an IP address"),
    ("::1:9464", 'expected "host:port"'),
])
def test_bad_metrics_listen_is_reported_with_key_and_line(listen: str, expected: str) -> None:
    ((key, line, message),) = problems(f'[metrics]\nenabled = true\nlisten = "{listen}"\n')
    assert (key, line) == ("metrics.listen", 3)
    assert expected in message


def test_metrics_keys_are_checked() -> None:
    found = problems('[metrics]\nenabled = "yes"\nport = 9464\n')
    assert ("metrics.enabled", 2) in {(k, n) for k, n, _ in found}
    ((message),) = [m for k, _, m in found if k == "metrics.port"]
    assert "unknown key 'port'" in message and "listen" in message


def test_image_detector_settings() -> None:
    c = config.parse('[detectors.images]\ncouncil_names = ["Havering Council"]\n'
                     'agencies = ["Acme Pictures"]\nmax_distance = 6\nmax_megabytes = 5\n'
                     'max_megapixels = 30\ntimeout = "10s"\ncomments = false\n')
    im = c.images
    assert im.enabled and not im.comments and im.council_names == ("Havering Council",)
    assert im.agencies == ("Acme Pictures",) and im.max_distance == 6
    assert im.max_bytes == 5_000_000 and im.max_pixels == 30_000_000 and im.timeout == 10
    assert config.parse("").images.agencies == ()  # () = the built-in list


def test_image_detector_problems_have_keys_and_lines() -> None:
    found = problems('[detectors.images]\nmax_distance = 99\nfoo = 1\n[detectors.videos]\n')
    assert ("detectors.images.max_distance", 2,
            "expected a whole number from 0 to 32, got 99") in found
    assert any(k == "detectors.images.foo" and line == 3 for k, line, _ in found)
    assert any(k == "detectors.videos" and "known: images, text" in m for k, _, m in found)


def test_meeting_durations_and_quiet_windows() -> None:
    c = config.parse('[meetings]\ndurations = { "Full Council" = "4h", "Planning" = "2h30m" }\n'
                     'quiet = [{ title = "Full Council", after = "1h", length = "30m" },\n'
                     '         { title = "Budget" }]\n')
    mt = c.meetings
    assert mt.duration_for("Extraordinary full council") == 4 * 3600
    assert mt.duration_for("Strategic Planning Committee") == 2.5 * 3600
    assert mt.duration_for("Audit Committee") == mt.default_duration == 3 * 3600
    assert mt.quiet == (config.QuietWindow("Full Council", 3600, 1800),
                        config.QuietWindow("Budget", 0, None))


@pytest.mark.parametrize("text, words", [
    ('quiet = [{ title = "X", length = "0s" }]', "entry 1: must be longer than 0"),
    ('quiet = [{ title = "X", when = "1h" }]', "entry 1: unknown key 'when'"),
    ('quiet = ["Full Council"]', "entry 1: expected a table"),
    ('durations = { "Full Council" = "forever" }', "'Full Council': expected a duration"),
    ('durations = ["3h"]', "expected a table"),
])
def test_bad_meeting_settings(text: str, words: str) -> None:
    found = problems(f"[meetings]\n{text}\n")
    assert len(found) == 1 and words in found[0][2] and found[0][1] == 2, found


def test_an_absurdly_long_time_zone_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        config.parse(f'timezone = "{"9" * 1000}"\n')
