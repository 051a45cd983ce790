"""The menace stage (``detectors/menace.py``) and the structural threat rules: what tips a
threat-like comment over, and the idioms and election talk that must not."""

from __future__ import annotations

import pytest

from detectors.menace import COUNCIL_THREAT_WITH_CUE, COUNCIL_THREAT_WITH_WEAK_CUE, menace_cue
from detectors.rules import RulesClassifier
from detectors.text import normalise


@pytest.mark.parametrize(("text", "cue"), [
    ("raise my rent again and you'll need a hospital", "hospital"),
    ("your kids go to oakfield primary don't they", None),  # weak cue, probability too low
    ("i'd hate for your car to end up in the canal", None),
    ("someone should put you in the ground", "in the ground"),
])
def test_strong_cues_count_at_the_lower_probability(text: str, cue: str | None) -> None:
    assert menace_cue(normalise(text), COUNCIL_THREAT_WITH_CUE) == cue


def test_weak_cues_need_the_higher_probability() -> None:
    text = normalise("nice house you've got, your kids play out front every evening")
    assert menace_cue(text, COUNCIL_THREAT_WITH_WEAK_CUE - 0.01) is None
    assert menace_cue(text, COUNCIL_THREAT_WITH_WEAK_CUE) is not None


@pytest.mark.parametrize("text", [
    "you're dead in the water come election day",
    "you've signed your own political death warrant with this",
    "over my dead body will you build on our green",
    "your days are numbered, we'll see you at the ballot box in may",
    "we're watching how you vote on thursday",
    "the library closure is the death of the high street and you know it",
])
def test_idioms_and_election_talk_are_not_menace(text: str) -> None:
    assert menace_cue(normalise(text), 0.99) is None


def test_election_words_do_not_excuse_bodily_harm() -> None:
    text = normalise("vote the wrong way and you'll be picking your teeth up off the floor")
    assert menace_cue(text, COUNCIL_THREAT_WITH_CUE) == "teeth"
    said_not = normalise("your days are numbered, and i don't mean the election")
    assert menace_cue(said_not, COUNCIL_THREAT_WITH_WEAK_CUE) == "days are numbered"


def test_nobody_addressed_is_no_threat() -> None:
    assert menace_cue(normalise("a knife crime on the high street again"), 0.99) is None


RULES = RulesClassifier()


@pytest.mark.parametrize("text", [
    "next meeting i'm bringing a bat and you're first",
    "going to put my fist through your teeth",
    "refuse our appeal and you'll never walk the high street safely again",
    "get ready for a proper hiding, you rat",
    "keep the road closed and see what happens to you",
    "somebody please push this woman under a train",
    "£500 to whoever puts her in hospital",
    "he'll be at the rotary dinner friday. someone do the honours",
    "i'd make the most of this christmas if i were you",
    "would hate for it to happen twice",
])
def test_structural_threat_rules_catch(text: str) -> None:
    c = RULES.classify_one(text)
    assert c.scores["threat"] >= 0.5, text
    assert c.reasons["threat"]


@pytest.mark.parametrize("text", [
    "a resident was threatened by a man with a bat during a parking dispute",
    "the shopkeeper was threatened with a knife in a robbery, please help",
    "let's see what happens at the vote on thursday",
    "make the most of this christmas, the lights are lovely this year",
    "i hate to think what happened to the old library",
    "who's up for doing the honours and cutting the ribbon?",
])
def test_structural_threat_rules_leave_reports_and_ordinary_talk(text: str) -> None:
    assert RULES.classify_one(text).scores["threat"] < 0.5, text
