"""Fuzzing the configuration loader: whatever text it is given, ``config.parse`` returns a
Config or raises ConfigError, and every problem it reports names a key.

Two kinds of input: arbitrary text (mostly not TOML at all), and TOML documents generated from
the real schema (``config.TABLES`` and the per-table key maps) with values of the wrong type,
out-of-range numbers, huge and exotic strings, tables where scalars belong, unknown keys and
duplicate member ids. tomli_w is not a dependency, so the documents are written by the small
emitter below, which is itself checked to round-trip through ``tomllib``.

The bugs the fuzzing found in ``watcher/config.py`` (fixed) are pinned by the tests at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher import config
from watcher.errors import ConfigError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

def check_parse(text: str) -> config.Config | ConfigError:
    """Parse ``text``; return the Config or the ConfigError. Any other exception fails the test
    (pytest shows it with its traceback). Checks what every ConfigError must carry."""
    try:
        return config.parse(text, "fuzz.toml")
    except ConfigError as exc:
        assert exc.problems, "a ConfigError without problems"
        lines = text.count("\n") + 1
        for p in exc.problems:
            assert isinstance(p.key, str) and isinstance(p.message, str) and p.message
            assert p.line is None or 1 <= p.line <= lines, (p, lines)
            assert str(p) in str(exc)
        return exc


# ---------------------------------------------------------------------------------------------
# (a) arbitrary text

# Every code point but surrogates (a file read as UTF-8 cannot hold them).
ANY_CHAR = st.characters(blacklist_categories=("Cs",))
# Fragments that make arbitrary text look like TOML often enough to get past the first line.
TOML_BITS = st.sampled_from([
    "\n", "\r\n", " ", "=", "[", "]", "[[", "]]", "{", "}", ",", ".", "#", '"', "'", '"""',
    "'''", "\\", "\\u", "true", "1", "-1", "1.5", "inf", "nan", "1979-05-27T07:32:00Z",
    "members", "accounts", "polling", "interval", "smtp", "port", "id", "timezone",
    "[[members]]\n", "[[members.accounts]]\n", "[polling]\n", "[platforms.x]\n", "\u2028",
])


@FUZZ
@given(st.text(ANY_CHAR, max_size=400))
def test_arbitrary_text_is_a_config_or_a_config_error(text: str) -> None:
    check_parse(text)


@FUZZ
@given(st.lists(st.one_of(TOML_BITS, st.text(ANY_CHAR, max_size=8)), max_size=60).map("".join))
def test_toml_like_text_is_a_config_or_a_config_error(text: str) -> None:
    check_parse(text)


# ---------------------------------------------------------------------------------------------
# A small TOML emitter for the strategies' values

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Characters a TOML literal string cannot hold (all controls but tab; newlines are fine in a
# multi-line one except a lone CR).
_NOT_LITERAL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key, multiline=False)


def toml_string(s: str, multiline: bool = True) -> str:
    """A TOML string for ``s``. JSON's escaping is TOML's, with two catches: ``ensure_ascii``
    would write astral characters as surrogate-pair escapes, which TOML forbids, and JSON
    leaves DEL raw, which TOML forbids. Strings with newlines are sometimes written as
    multi-line literals, so that their lines reach the loader's line locator raw."""
    if (multiline and "\n" in s and "'''" not in s and not s.endswith("'")
            and not _NOT_LITERAL.search(s)):
        return "'''\n" + s + "'''"  # the newline after the opening quotes is trimmed
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v: Any) -> str:
    """An inline TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_document(doc: dict[str, Any], path: tuple[str, ...] = ()) -> str:
    """A TOML document for ``doc``: tables as ``[a.b]`` headers and lists of tables as
    ``[[a.b]]``, the way a council would write the file, so the line locator sees headers."""
    out: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, dict) and not _is_table_array(v):
            out.append(f"{toml_key(k)} = {toml_value(v)}")
    for k, v in doc.items():
        sub = path + (k,)
        name = ".".join(toml_key(p) for p in sub)
        if isinstance(v, dict):
            out.append(f"\n[{name}]")
            out.append(toml_document(v, sub))
        elif _is_table_array(v):
            for element in v:
                out.append(f"\n[[{name}]]")
                out.append(toml_document(element, sub))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Values: right, wrong, and strange

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
# Lines that look like TOML structure, inside string values, for the line locator.
TRICKY_LINES = st.sampled_from(["[members]", "[[members]]", "[[members.accounts]]", "id = 1",
                                "[ polling ]", "x = '''", "[.]", "[a.'b.c']", "#[x]",
                                "  [[ x ]]  "])
STRINGS = st.one_of(
    TEXT,
    st.lists(st.one_of(TEXT, TRICKY_LINES), min_size=2, max_size=4).map("\n".join),
    st.integers(1000, 20_000).map(lambda n: "9" * n),  # huge, and numeric (int() limits)
    st.sampled_from(["", " ", "\t", "\u200b", "é", "😀" * 50, "Europe/London", "5m", "1h30m",
                     "0s", "-5m", "5", "5 minutes", "1e400s", "9" * 400 + "w", "nan", "inf",
                     "sqlite:///x.db", "a@b.co", "+447700900123", "http://x", "facebook", "x",
                     "default", "..", "/etc/passwd", "Europe/London/", "jsmith"]),
)
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 65535, 65536, 10_001, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
)
DATETIMES = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                 timezones=st.one_of(st.none(), st.just(dt.timezone.utc))),
    st.dates(), st.times(),
)
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans(), DATETIMES)
UNKNOWN_KEYS = st.one_of(st.sampled_from(["jiter", "colour", "Interval", "id ", "ïd", "a.b"]),
                         st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                                 max_size=12))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(UNKNOWN_KEYS, inner, max_size=3)),
    max_leaves=8,
)


def like(default: Any) -> st.SearchStrategy[Any]:
    """Values of the kind the schema expects for a key whose default is ``default``."""
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.one_of(st.just(default), NUMBERS)
    if isinstance(default, list):
        return st.lists(st.one_of(st.just("a@b.gov.uk"), STRINGS), max_size=3)
    if isinstance(default, dict):
        return st.dictionaries(st.sampled_from(["offensive", "threat", "defamation",
                                                "personal_data", "spam"]), NUMBERS, max_size=4)
    if isinstance(default, str):
        return st.one_of(st.just(default), STRINGS)
    return STRINGS  # no default (None) or a required key


def key_value(default: Any) -> st.SearchStrategy[Any]:
    """A value for one key: mostly the right kind (in range or not), else anything at all."""
    return st.one_of(like(default), like(default), VALUES)


def table(keys: dict[str, tuple[Any, Any]], valid: dict[str, st.SearchStrategy[Any]] | None
          = None) -> st.SearchStrategy[Any]:
    """A table of ``keys`` (some left out), plus unknown keys now and then, or something that
    is not a table at all."""
    valid = valid or {}
    known = {name: st.one_of(valid[name], key_value(None)) if name in valid else
             key_value(default) for name, (_, default) in keys.items()}
    tables = st.builds(lambda known, unknown: {**known, **unknown},
                       st.fixed_dictionaries({}, optional=known),
                       st.dictionaries(UNKNOWN_KEYS, VALUES, max_size=2))
    return st.one_of(tables, tables, tables, SCALARS, st.lists(SCALARS, max_size=2))


# A small pool, so that member ids, account ids and group names collide.
MEMBER_IDS = st.sampled_from(["jsmith", "tok", "a-1", "Bad Id", ""])
VALID_MEMBER = {"id": MEMBER_IDS, "name": st.sampled_from(["Cllr Jane Smith", "", " "]),
                "email": st.sampled_from(["jane@council.gov.uk", "not-an-email"]),
                "group": st.sampled_from(["Labour", "Independent", ""])}
VALID_ACCOUNT = {"platform": st.sampled_from(["facebook", "x", "myspace"]),
                 "id": st.sampled_from(["111", "222", ""]),
                 "credential": st.sampled_from(["fb-jsmith", ""])}
VALID_GROUP = {"name": st.sampled_from(["Labour", "Independent", ""])}


@st.composite
def members(draw: st.DrawFn) -> Any:
    member = draw(table(config.MEMBER_KEYS, VALID_MEMBER))
    if isinstance(member, dict) and draw(st.booleans()):
        member["accounts"] = draw(st.one_of(
            st.lists(table(config.ACCOUNT_KEYS, VALID_ACCOUNT), max_size=3), SCALARS))
    return member


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A config document built on the real schema, most of it wrong in some way."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["timezone"] = draw(st.one_of(st.sampled_from(["Europe/London", "UTC", "Mars/Base"]),
                                         VALUES))
    for name in draw(st.lists(st.sampled_from(sorted(config.TABLES)), unique=True)):
        doc[name] = draw(table(config.TABLES[name]))
    if draw(st.booleans()):
        doc["platforms"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(list(config.KNOWN_PLATFORMS) + ["myspace"]),
                            table(config.PLATFORM_KEYS), max_size=3), SCALARS))
    if draw(st.booleans()):
        doc["detectors"] = draw(st.one_of(
            st.dictionaries(st.sampled_from(["text", "image"]), table(config.TEXT_KEYS),
                            max_size=2), SCALARS))
    if draw(st.booleans()):
        doc["groups"] = draw(st.one_of(st.lists(table(config.GROUP_KEYS, VALID_GROUP),
                                                min_size=1, max_size=3), SCALARS))
    if draw(st.booleans()):
        doc["members"] = draw(st.one_of(st.lists(members(), min_size=1, max_size=4), SCALARS))
    doc.update(draw(st.dictionaries(UNKNOWN_KEYS.filter(lambda k: k not in config.TOP_KEYS),
                                    VALUES, max_size=1)))
    return doc


# ---------------------------------------------------------------------------------------------
# (b) structured fuzzing


@FUZZ
@given(documents())
def test_emitter_round_trips(doc: dict[str, Any]) -> None:
    """The emitter writes valid TOML for every document the strategy makes (else the other
    properties would only ever exercise the syntax-error path)."""
    text = toml_document(doc)
    assert _same(tomllib.loads(text), doc), text


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@FUZZ
@given(documents())
def test_schema_fuzzed_documents_are_a_config_or_a_config_error(doc: dict[str, Any]) -> None:
    text = toml_document(doc)
    result = check_parse(text)
    if isinstance(result, ConfigError):
        for p in result.problems:
            # Each problem names a key of the document (or a required one missing from it),
            # never a syntax error: the document is valid TOML.
            assert p.key != "<syntax>", p
            assert any(p.key == k or p.key.startswith((k + ".", k + "["))
                       for k in set(doc) | config.TOP_KEYS), p
        return
    # Accepted: then nothing unknown was in it, and every member id is unique.
    assert set(doc) <= config.TOP_KEYS
    ids = [m.id for m in result.members]
    assert len(ids) == len(set(ids))
    assert all(isinstance(a.interval_seconds, float) for m in result.members for a in m.accounts)


@FUZZ
@given(st.lists(st.sampled_from(["jsmith", "tok", "a-1"]), min_size=2, max_size=5))
def test_duplicate_member_ids_are_reported_on_the_duplicate(ids: list[str]) -> None:
    doc = {"members": [{"id": i, "name": "N", "email": "n@council.gov.uk"} for i in ids]}
    result = check_parse(toml_document(doc))
    dupes = {f"members[{n}].id" for n, i in enumerate(ids) if i in ids[:n]}
    if dupes:
        assert isinstance(result, ConfigError)
        assert dupes <= {p.key for p in result.problems}
    else:
        assert not isinstance(result, ConfigError)


# ---------------------------------------------------------------------------------------------
# Bugs the fuzzing found in watcher/config.py (fixed), pinned.


@pytest.mark.parametrize("text", [
    'note = """\n[.]\n"""\n',
    "note = '''\n[[ . ]]\n'''\n",
    'note = "a\u2028[.]\u2028"\n',
])
def test_dotted_header_inside_a_string_is_a_config_or_a_config_error(text: str) -> None:
    tomllib.loads(text)  # valid TOML
    check_parse(text)


def test_line_numbers_count_only_toml_newlines() -> None:
    text = 'alerts = "\x85"\njiter = []'
    error = check_parse(text)
    assert isinstance(error, ConfigError)
    assert [p.line for p in error.problems if p.key == "jiter"] == [2]


@pytest.mark.parametrize("text", ["a = " + "[" * 5000 + "]" * 5000,
                                  "a = " + "{b = " * 5000 + "}" * 5000])
def test_deeply_nested_value_is_a_config_error(text: str) -> None:
    check_parse(text)
