"""Text normalisation and the text detector (DESIGN §5).

``normalise`` turns what people type to dodge filters (``k1ll``, ``i d i o t``, ``f*cking``,
Cyrillic look-alikes, zero-width joiners) into plain lower-case text that simple patterns can
match. ``normalise_mapped`` does the same but also remembers, for every character of the result,
where it came from in the original, so a rule can quote the commenter's own words back.

Every step is a single pass or a regex without nested unbounded quantifiers, so the whole thing
runs in linear time: a hostile 1 MB comment must not stall the poller.

``TextDetector`` turns a ``TextClassifier``'s scores into ``Finding``s.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import emoji

from detectors.base import Context, TextClassifier
from watcher.domain import TEXT_LABELS, Classification, Finding, Item, Severity

# --------------------------------------------------------------------------------------------
# Character-level folding
# --------------------------------------------------------------------------------------------

# Look-alikes NFKC leaves alone: Cyrillic and Greek letters that render like Latin ones, a few
# Latin letters with strokes, and typographic quotes/dashes (so "you’re" matches "you're").
# Applied after casefold, so only lower-case forms are needed.
_CONFUSABLES: dict[int, str] = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "г": "r", "е": "e", "ё": "e", "з": "3", "к": "k", "м": "m",
        "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
        "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "ӏ": "l", "ь": "b", "ѡ": "w", "ү": "y", "ɡ": "g",
        # Greek
        "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u",
        "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c",
        # Latin letters that do not decompose
        "ı": "i", "ɑ": "a", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "ħ": "h", "ŧ": "t",
        "ƅ": "b", "ɩ": "i", "ʏ": "y",
        # Punctuation
        "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-",
    }
)

# Invisible characters that are not category Cf but are used as padding to split words.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")

_FOLD_CACHE: dict[str, str] = {}
_FOLD_CACHE_MAX = 50_000

# The ASCII fast path: lower-case, and every control/space character becomes a plain space.
_ASCII_TABLE: dict[int, str] = {i: " " for i in range(32)}
_ASCII_TABLE.update({0x7F: " ", 0x60: "'"})


def _fold_char_uncached(ch: str) -> str:
    """Given one code point, return what it folds to (possibly several characters or none).

    NFKC, casefold, diacritics dropped, confusables mapped; format (zero-width, bidi) and other
    invisible characters vanish; any whitespace becomes one space. Never raises.
    """
    if ch.isspace():
        return " "
    category = unicodedata.category(ch)
    if category == "Cs":
        return "\ufffd"  # a lone surrogate; callers normally repair these first
    if category in ("Cf", "Cc", "Mn", "Me") or ch in _INVISIBLE:
        return ""
    folded = unicodedata.normalize("NFKC", ch).casefold()
    # Strip accents ("ïdiot", Zalgo marks) by decomposing and dropping the marks.
    decomposed = unicodedata.normalize("NFKD", folded)
    bare = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Cf"))
    bare = bare.translate(_CONFUSABLES)
    # NFKC can produce spaces (e.g. U+00A0, "¼" -> "1⁄4"); keep them as single spaces.
    return "".join(" " if c.isspace() else c for c in bare)


def _fold_char(ch: str) -> str:
    """Memoised ``_fold_char_uncached``: comments reuse few distinct characters."""
    folded = _FOLD_CACHE.get(ch)
    if folded is None:
        folded = _fold_char_uncached(ch)
        if len(_FOLD_CACHE) < _FOLD_CACHE_MAX:
            _FOLD_CACHE[ch] = folded
    return folded


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def repair(text: str) -> str:
    """Given any ``str``, return it with surrogate pairs joined and lone surrogates replaced
    by U+FFFD, so it can be encoded as UTF-8. Never raises."""
    if not _SURROGATE_RE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _fold(source: str) -> tuple[str, list[int]]:
    """Given repaired text, return its character-folded form and, for each of its characters,
    the index in ``source`` it came from."""
    if source.isascii():
        # Fast path: ASCII needs no NFKC, and casefold == lower; lengths are unchanged.
        return source.translate(_ASCII_TABLE).lower(), list(range(len(source)))
    out: list[str] = []
    offsets: list[int] = []
    for index, ch in enumerate(source):
        folded = _fold_char(ch)
        if not folded:
            continue
        out.append(folded)
        if len(folded) == 1:
            offsets.append(index)
        else:
            offsets.extend([index] * len(folded))
    return "".join(out), offsets


# --------------------------------------------------------------------------------------------
# Regex passes that keep the offset map
# --------------------------------------------------------------------------------------------

Replacement = str | tuple[str, Sequence[int]]


def _sub_mapped(
    pattern: re.Pattern[str],
    replace: Callable[[re.Match[str]], Replacement],
    text: str,
    offsets: list[int],
) -> tuple[str, list[int]]:
    """Given a pattern, a replacement function, text and its offset map, return the text with
    every match replaced and the offset map updated to match.

    ``replace`` returns either the new string (its characters are mapped to the match's
    characters position by position, the last one repeated) or ``(new, positions)`` where
    ``positions[i]`` is the index within the match that new character ``i`` came from.
    """
    pieces: list[str] = []
    new_offsets: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        pieces.append(text[last:start])
        new_offsets.extend(offsets[last:start])
        result = replace(match)
        if isinstance(result, tuple):
            replacement, positions = result
        else:
            replacement = result
            positions = [min(i, end - start - 1) for i in range(len(replacement))]
        pieces.append(replacement)
        new_offsets.extend(offsets[start + p] for p in positions)
        last = end
    if last == 0 and not pieces:
        return text, offsets
    pieces.append(text[last:])
    new_offsets.extend(offsets[last:])
    return "".join(pieces), new_offsets


# Words obfuscators hide. Used to undo masking ("f***ing") and to split a spaced-out run that
# swallowed an article ("a b i t c h" -> "a bitch"). Order matters for ambiguous masks: the
# first word that fits wins ("s**t" -> "shit").
SWEAR_VOCABULARY: tuple[str, ...] = (
    "fuck", "fucking", "fuckin", "fucked", "fucker", "fuckers", "fucks", "motherfucker",
    "shit", "shite", "shitty", "bullshit", "cunt", "cunts", "twat", "twats", "bitch",
    "bitches", "bastard", "bastards", "wanker", "wankers", "prick", "pricks", "dick",
    "dickhead", "cock", "arse", "arsehole", "asshole", "ass", "bollocks", "piss", "pissed",
    "tosser", "bellend", "knobhead", "slag", "slut", "whore", "nigger", "nigga", "paki",
    "faggot", "retard", "crap", "damn", "hell", "bloody", "idiot", "idiots", "moron",
    "morons", "kill", "die", "stab", "shoot", "scum", "muppet", "traitor",
)
_VOCAB_SET = frozenset(SWEAR_VOCABULARY)
_VOCAB_BY_INITIAL: dict[str, tuple[str, ...]] = {}
for _word in SWEAR_VOCABULARY:
    _VOCAB_BY_INITIAL[_word[0]] = _VOCAB_BY_INITIAL.get(_word[0], ()) + (_word,)

_SEP = "[ ._\\-]"
# Three or more single characters separated by spaces, dots, dashes or underscores
# ("i d i o t", "k.1.l.l"). Each repetition is one separator run then one character, from
# disjoint classes, so backtracking is bounded by the run length.
_SPACED_RE = re.compile(
    r"(?<![a-z0-9@$*'])[a-z0-9@$*](?:" + _SEP + r"{1,3}[a-z0-9@$*]){2,}(?![a-z0-9@$*'])"
)
_NOT_SEP_RE = re.compile(r"[^ ._\-]")
_SEP_RUN_RE = re.compile(r"[ ._\-]+")

# Leetspeak: every digit/symbol in a run of letters and leet characters that holds at least
# one letter ("1d10t", "00ps"), in one pass, so normalising twice changes nothing. Pure numbers
# ("07700 900456") are left alone; "!" only between letters ("sh!t", not "idiot!").
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
# The look-behind makes a match start only where a run starts, so a long run of digits with
# no letter is scanned once, not once from every position (which would be quadratic).
_LEET_RE = re.compile(r"(?<![a-z013457@$])[013457@$]*[a-z][a-z013457@$]*|(?<=[a-z])!(?=[a-z])")
_LEET_TABLE = str.maketrans({k: v for k, v in _LEET.items() if k != "!"})

# A token starting with a letter and containing mask characters ("f***ing", "c#nt", "sh_t").
_MASKED_RE = re.compile(r"(?<![a-z*#%_])[a-z]+[*#%_]+[a-z*#%_]*")
_MASK_RUN_RE = re.compile(r"[*#%_]+")
_MAX_MASKED_TOKEN = 24

_REPEAT_RE = re.compile(r"([a-z])\1{2,}")
_SPACES_RE = re.compile(r" {2,}")


def _collapse_spaced(match: re.Match[str]) -> Replacement:
    """Given a spaced-out run, return its characters joined, or the run unchanged if it has
    fewer than two letters (so "1 2 3" and "a 1 b" stay as they are)."""
    run = match.group(0)
    kept = [(i, c) for i, c in enumerate(run) if _NOT_SEP_RE.match(c)]
    letters = sum(1 for _, c in kept if c.isalpha())
    if letters < 2:
        return run
    # Wider gaps between groups mark word breaks: "d r o p  d e a d" -> "drop dead".
    gaps = [len(g) for g in _SEP_RUN_RE.findall(run)]
    if min(gaps) < max(gaps):
        return _collapse_words(run, min(gaps))
    word = "".join(c for _, c in kept)
    positions = [i for i, _ in kept]
    # "a b i t c h": the spaced run swallowed an article or "I"; keep it a separate word.
    if word not in _VOCAB_SET and word[0] in "ai" and word[1:] in _VOCAB_SET:
        return word[0] + " " + word[1:], [positions[0], positions[0] + 1, *positions[1:]]
    return word, positions


def _collapse_words(run: str, narrow: int) -> Replacement:
    """Given a spaced-out run whose separators vary in width, return it with the narrowest
    separators removed and each wider one turned into a single space."""
    out: list[str] = []
    positions: list[int] = []
    index = 0
    for match in _SEP_RUN_RE.finditer(run):
        out.append(run[index : match.start()])
        positions.extend(range(index, match.start()))
        if len(match.group(0)) > narrow:
            out.append(" ")
            positions.append(match.start())
        index = match.end()
    out.append(run[index:])
    positions.extend(range(index, len(run)))
    return "".join(out), positions


def _unleet(match: re.Match[str]) -> str:
    """Given a leetspeak run (or a lone "!" between letters), return it with every leet
    character replaced by the letter it stands for (same length, so offsets stay aligned)."""
    token = match.group(0)
    return "i" if token == "!" else token.translate(_LEET_TABLE)


@lru_cache(maxsize=4096)
def _unmask_token(token: str) -> str:
    """Given a token like "f***ing", return the vocabulary word it masks ("fucking"), or the
    token unchanged if none fits. A run of k mask characters stands for 1..k+2 letters."""
    if len(token) > _MAX_MASKED_TOKEN:
        return token
    core = token.rstrip("*#%_")
    trailing = len(token) - len(core)
    parts = _MASK_RUN_RE.split(core)
    runs = [len(r) for r in _MASK_RUN_RE.findall(core)]
    if trailing:
        parts.append("")
        runs.append(trailing)
    regex = "".join(
        re.escape(part) + (f"[a-z]{{1,{runs[i] + 2}}}" if i < len(runs) else "")
        for i, part in enumerate(parts)
    )
    compiled = re.compile(regex)
    for word in _VOCAB_BY_INITIAL.get(token[0], ()):
        if compiled.fullmatch(word):
            return word
    return token


def _unmask(match: re.Match[str]) -> str:
    """Given a masked token match, return the unmasked word (or the token unchanged)."""
    return _unmask_token(match.group(0))


# Letters English (almost) never doubles: a stretched run of these squeezes to one letter
# ("kiiiill" -> "kill", "fuuuck" -> "fuck"); other letters keep two ("killlll" -> "kill").
_SINGLE_LETTERS = frozenset("ahijkquvwxy")


def _squeeze_repeat(match: re.Match[str]) -> Replacement:
    """Given a run of 3+ identical letters, return one or two of them (see above)."""
    letter = match.group(1)
    if letter in _SINGLE_LETTERS:
        return letter, [0]
    return letter * 2, [0, 1]


# --------------------------------------------------------------------------------------------
# Public normalisation API
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalised:
    """A text in three forms, with maps back to the original.

    ``source`` is the input with surrogates repaired (safe to encode); ``folded`` is it after
    character folding only (NFKC, casefold, confusables, no zero-width characters; digits and
    punctuation intact, for phone numbers and emails); ``text`` is fully normalised (also
    spaced letters joined, leetspeak and masks undone, repeats squeezed). ``folded_offsets[i]``
    and ``offsets[i]`` are the indices in ``source`` of character ``i`` of each form.
    """

    source: str
    folded: str
    folded_offsets: tuple[int, ...] | list[int]
    text: str
    offsets: tuple[int, ...] | list[int]

    def quote(self, start: int, end: int, *, folded: bool = False, limit: int = 80) -> str:
        """Given a span [start, end) of ``text`` (or of ``folded``), return the original
        words it came from, with invisible characters removed and whitespace collapsed,
        cut to ``limit`` characters. Returns "" for an empty span."""
        offsets = self.folded_offsets if folded else self.offsets
        if end <= start or not offsets:
            return ""
        first = offsets[start]
        last = offsets[min(end, len(offsets)) - 1] + 1
        raw = self.source[first:last]
        cleaned = "".join(
            c for c in raw if unicodedata.category(c) not in ("Cf", "Cc") or c.isspace()
        )
        cleaned = " ".join(cleaned.split())
        if len(cleaned) > limit:
            cleaned = cleaned[: limit - 1] + "…"
        return cleaned


def normalise_mapped(text: str) -> Normalised:
    """Given any string (even with lone surrogates), return its ``Normalised`` forms.

    Linear in the length of ``text``. Raises ``TypeError`` if ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalise expects str, got {type(text).__name__}")
    source = repair(text)
    folded, folded_offsets = _fold(source)
    current, offsets = folded, folded_offsets
    # Join spaced letters before leetspeak, so "k 1 l l" becomes "k1ll" and then "kill".
    current, offsets = _sub_mapped(_SPACED_RE, _collapse_spaced, current, offsets)
    current, offsets = _sub_mapped(_LEET_RE, _unleet, current, offsets)
    # Unmask after leetspeak so "f*ck1ng" is "f*cking" by the time it is matched.
    current, offsets = _sub_mapped(_MASKED_RE, _unmask, current, offsets)
    # Unmasking can put a digit next to a letter again ("a*0" -> "arse0"): one more pass.
    current, offsets = _sub_mapped(_LEET_RE, _unleet, current, offsets)
    current, offsets = _sub_mapped(_REPEAT_RE, _squeeze_repeat, current, offsets)
    current, offsets = _sub_mapped(_SPACES_RE, lambda m: (" ", [0]), current, offsets)
    # Trim the ends, keeping the map aligned.
    lead = len(current) - len(current.lstrip(" "))
    stripped = current.strip(" ")
    offsets = offsets[lead : lead + len(stripped)]
    return Normalised(source, folded, folded_offsets, stripped, offsets)


def normalise(text: str) -> str:
    """Given any string, return it normalised for matching: NFKC, casefolded, zero-width and
    format characters removed, Cyrillic/Greek look-alikes and leetspeak mapped to Latin
    letters, spaced-out letters joined, masked swears unmasked, runs of 3+ identical letters
    cut to one or two ("kiiiill" -> "kill"), whitespace collapsed to single spaces.

    Examples: "K1LL" -> "kill", "i d i o t" -> "idiot", "f***ing" -> "fucking",
    "tw@t" -> "twat". Linear time; never raises on a ``str`` (lone surrogates become U+FFFD).
    Raises ``TypeError`` if ``text`` is not a ``str``.
    """
    return normalise_mapped(text).text


# --------------------------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------------------------

DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "offensive": 0.8,
    "threat": 0.5,
    "defamation": 0.5,
    "personal_data": 0.5,
}



def emoji_as_words(text: str) -> str:
    """Given a (normalised) text, return it with each emoji replaced by its CLDR name in
    words ("🔪" -> " kitchen knife "). The council model's word-piece vocabulary has no
    emoji: each one read as the same unknown token, so a megaphone in a protest call
    weighed like a knife or a coffin in a threat."""
    if emoji.emoji_count(text) == 0:
        return text
    named = emoji.replace_emoji(
        text, replace=lambda _chars, data: " " + data["en"].strip(":").replace("_", " ") + " ")
    return re.sub(r" {2,}", " ", named).strip()


def labels_over(scores: Mapping[str, float], thresholds: Mapping[str, float]) -> list[str]:
    """Given a classification's scores and thresholds, return the labels flagged: those with
    a threshold whose score reaches it, ``TEXT_LABELS`` first, in order."""
    order = list(TEXT_LABELS) + sorted(set(scores) - set(TEXT_LABELS))
    return [lab for lab in order
            if lab in scores and lab in thresholds and scores[lab] >= thresholds[lab]]


# Threats go to the member and member services at once (CONTRACT §5); the rest are HIGH.
_SEVERITY: Mapping[str, Severity] = {"threat": Severity.URGENT}


class TextDetector:
    """A ``Detector`` that classifies the text of third-party items with a ``TextClassifier``.

    Its ``name`` and ``version`` are the classifier's, and so are those on its findings, so a
    finding records exactly which engine produced it.
    """

    def __init__(self, classifier: TextClassifier) -> None:
        """Given a text classifier, return a detector that uses it."""
        self.classifier = classifier
        self.name: str = classifier.name
        self.version: str = classifier.version

    def detect(self, items: Sequence[Item], context: Context) -> list[Finding]:
        """Given a batch of items and the account's context, return one ``Finding`` per item
        and label whose score is at or over that label's threshold.

        The member's own items and items without text are skipped; the rest are classified in
        one batch call. Thresholds come from ``context.thresholds``, falling back to
        ``DEFAULT_THRESHOLDS``; labels with neither are ignored. Raises ``ValueError`` if the
        classifier returns a different number of results than texts it was given.
        """
        targets = [item for item in items if not item.is_own and item.text and item.text.strip()]
        if not targets:
            return []
        texts = [item.text for item in targets]
        members: list[str | None] = [context.member_name or None] * len(targets)
        results = self.classifier.classify(texts, members)
        if len(results) != len(targets):
            raise ValueError(
                f"classifier {self.name!r} returned {len(results)} results for {len(targets)} texts"
            )
        findings: list[Finding] = []
        for item, result in zip(targets, results):
            findings.extend(self._findings(item, result, context.thresholds))
        return findings

    def _findings(
        self, item: Item, result: Classification, thresholds: Mapping[str, float]
    ) -> list[Finding]:
        """Given an item, its classification and the configured thresholds, return the
        findings for the labels at or over threshold (``TEXT_LABELS`` order first)."""
        merged = {**DEFAULT_THRESHOLDS, **thresholds}
        findings: list[Finding] = []
        for label in labels_over(result.scores, merged):
            score, threshold = result.scores[label], merged[label]
            reasons = tuple(result.reasons.get(label, ()))
            if not reasons:
                # A finding must say why; fall back to the score itself.
                reasons = (f"{self.name} score {score:.2f} >= {threshold:.2f}",)
            findings.append(
                Finding(
                    item_id=item.external_id,
                    label=label,
                    score=float(score),
                    severity=_SEVERITY.get(label, Severity.HIGH),
                    reasons=reasons,
                    detector=self.classifier.name,
                    detector_version=self.classifier.version,
                )
            )
        return findings
