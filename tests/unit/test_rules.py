"""Tests for detectors.rules.RulesClassifier and detectors.registry.

Three kinds of evidence:

* table-driven edge cases (obfuscation, invalid Unicode, a 1 MB comment);
* the project's labelled set tests/data/council_dev.jsonl: zero false positives on the items
  labelled [] and a recall floor per label;
* extra sentences written for this project: paraphrases the rules were not written from, and
  civil or blunt political disagreement that must not be flagged. Batch 1 was measured once
  before the rules were tuned on its misses; batch 2 was written afterwards and measured
  unseen.

Measured (default thresholds), recall per label:

=============  ==========  =================  =================
label          council_dev extra batch 1       extra batch 2
                           (first run / now)  (unseen / now)
=============  ==========  =================  =================
threat         8/8  1.00   17/24 0.71 / 1.00  16/16 1.00 / 1.00
offensive      8/8  1.00   18/20 0.90 / 1.00  11/12 0.92 / 1.00
defamation     7/7  1.00   12/12 1.00 / 1.00   7/7  1.00 / 1.00
personal_data  3/3  1.00    7/8  0.88 / 1.00   5/5  1.00 / 1.00
=============  ==========  =================  =================

False positives: council_dev 0/18 clean items; batch 1 negatives 1/60 first run, now 0/60;
batch 2 negatives 1/40 unseen, now 0/40. Precision is 1.00 on every label now.
The floors below are the measured values, so any regression fails.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from detectors.base import TextClassifier
from detectors.registry import names, text_classifier
from detectors.rules import RulesClassifier
from detectors.text import DEFAULT_THRESHOLDS
from watcher.domain import TEXT_LABELS, Classification

DATA = Path(__file__).resolve().parent.parent / "data" / "council_dev.jsonl"

# Recall floors: measured values (see module docstring).
DEV_RECALL_FLOOR = {"threat": 1.0, "offensive": 1.0, "defamation": 1.0, "personal_data": 1.0}
EXTRA_RECALL_FLOOR = {"threat": 1.0, "offensive": 1.0, "defamation": 1.0, "personal_data": 1.0}

CLASSIFIER = RulesClassifier()


def flagged(result: Classification) -> set[str]:
    """Given a classification, return the labels at or over the default thresholds."""
    return {label for label in TEXT_LABELS if result.scores[label] >= DEFAULT_THRESHOLDS[label]}


def classify(text: str, member: str | None = None) -> Classification:
    """Given one text, return the rules classifier's verdict on it."""
    return CLASSIFIER.classify([text], [member])[0]


def recall(rows: list[tuple[str, tuple[str, ...]]]) -> dict[str, tuple[int, int]]:
    """Given (text, labels) rows, return {label: (found, expected)} at default thresholds."""
    results = CLASSIFIER.classify([text for text, _ in rows])
    counts = {label: [0, 0] for label in TEXT_LABELS}
    for (_, labels), result in zip(rows, results):
        got = flagged(result)
        for label in labels:
            counts[label][1] += 1
            counts[label][0] += label in got
    return {label: (found, total) for label, (found, total) in counts.items()}


# --------------------------------------------------------------------------------------------
# Extra sentences (written for this project)
# --------------------------------------------------------------------------------------------

# Batch 1: paraphrases of the dev set's kinds of comment, and hard cases.
PARAPHRASES_1: list[tuple[str, tuple[str, ...]]] = [
    ('I will find out where you live and pay you a visit.', ('threat',)),
    ('Someone needs to put a bullet in that councillor.', ('threat',)),
    ('Hope you get run over by a bus, you traitor.', ('threat',)),
    ("You and your family aren't safe in this town anymore.", ('threat',)),
    ('We know where your kids go to school.', ('threat',)),
    ("Keep voting like that and you'll end up in the ground.", ('threat',)),
    ('Gonna torch the council offices tonight.', ('threat',)),
    ('You should be hanged for treason.', ('threat',)),
    ("I'd happily strangle you with my bare hands.", ('threat',)),
    ("Wait till I see you in the street, I'll smash your face in.", ('threat',)),
    ('Hope you die a slow painful death.', ('threat',)),
    ('Traitors like you get strung up.', ('threat',)),
    ("I'm outside your house right now.", ('threat',)),
    ("Nice car you've got, shame if someone set fire to it.", ('threat',)),
    ('D r o p  d e a d councillor', ('threat',)),
    ('I will k1ll you', ('threat',)),
    ('Someone should stab that clown.', ('threat',)),
    ('Your days are numbered, we know your address.', ('threat',)),
    ('Go and die in a ditch.', ('threat',)),
    ('You deserve to be shot.', ('threat',)),
    ('Watch your back, Cllr Smith.', ('threat',)),
    ('Ｉ ｋｎｏｗ ｗｈｅｒｅ ｙｏｕ ｌｉｖｅ', ('threat',)),
    ('I know where you l\u200bive.', ('threat',)),
    ("We're coming after you and your family.", ('threat',)),
    ('You absolute moron.', ('offensive',)),
    ('Shut your mouth, you fat pig.', ('offensive',)),
    ("He's a complete and utter knobhead.", ('offensive',)),
    ('Councillor Smith is a useless cretin.', ('offensive',)),
    ('F*ck you and your party.', ('offensive',)),
    ('Go back to where you came from.', ('offensive',)),
    ("You're thick as two short planks.", ('offensive',)),
    ('Ur an 1d10t', ('offensive',)),
    ('What an i d i o t', ('offensive',)),
    ('Not the sharpest tool in the box, is she?', ('offensive',)),
    ('You muрpet.', ('offensive',)),
    ('Women like you should stay in the kitchen.', ('offensive',)),
    ("You're a disgusting piece of sh*t.", ('offensive',)),
    ('Absolute waste of oxygen, this councillor.', ('offensive',)),
    ('Scumbag.', ('offensive',)),
    ('Typical lying tw*t.', ('offensive',)),
    ("She's a brainless bimbo.", ('offensive',)),
    ('What a spineless coward and a total prat.', ('offensive',)),
    ('What a pathetic little man.', ('offensive',)),
    ('Cllr Hughes has been taking backhanders from developers for years.', ('defamation',)),
    ('Mark Jones stole thousands from the youth club.', ('defamation',)),
    ('The leader fiddled his expenses and everyone knows it.', ('defamation',)),
    ('Councillor Ahmed was convicted of fraud in 2015.', ('defamation',)),
    ("She gave the contract to her brother's firm.", ('defamation',)),
    ('Everyone knows Cllr Green is bent.', ('defamation',)),
    ('Dave Smith is a convicted paedophile.', ('defamation', 'offensive')),
    ('He bought votes with free takeaways.', ('defamation',)),
    ('The portfolio holder for planning is on the take.', ('defamation',)),
    ('Your husband is a drug dealer.', ('defamation',)),
    ('Cllr Wood cooked the books on the leisure centre deal.', ('defamation',)),
    ('Councillor Price has a conviction for drink driving.', ('defamation',)),
    ('Her number is +44 7700 900123.', ('personal_data',)),
    ('Ring him on 020 7946 0018, he never answers.', ('personal_data',)),
    ('His address is 14 Mill Lane, Upminster.', ('personal_data',)),
    ('Send your complaints to j.smith1975@gmail.com', ('personal_data',)),
    ('He lives on Elm Road, number 22.', ('personal_data',)),
    ('Flat 3, 27 Station Road, RM1 2AB', ('personal_data',)),
    ('Her mobile: 07700-900-321', ('personal_data',)),
    ('email him: dave dot jones at yahoo dot com', ('personal_data',)),
]

# Batch 2: written after batch 1's misses were fixed, then measured unseen.
PARAPHRASES_2: list[tuple[str, tuple[str, ...]]] = [
    ('If you vote for the incinerator I will break your legs.', ('threat',)),
    ('Somebody ought to shoot the lot of them, starting with you.', ('threat',)),
    ('I hope your house burns down with you in it.', ('threat',)),
    ('People like you deserve a good kicking.', ('threat',)),
    ("We've got your home address now, councillor.", ('threat',)),
    ('Be careful walking home tonight, Cllr Baker.', ('threat',)),
    ("You won't see it coming.", ('threat',)),
    ("I'm going to make you suffer for this.", ('threat',)),
    ("One of these days someone will knife you and I'll laugh.", ('threat',)),
    ('k!ll yourself', ('threat',)),
    ("Wouldn't want anything to happen to those lovely kids of yours.", ('threat',)),
    ('Your office will not be safe after this vote.', ('threat',)),
    ("I'd love to see you hang.", ('threat',)),
    ('Just die already.', ('threat',)),
    ("We'll petrol bomb your car.", ('threat',)),
    ("You're a dead man, Hughes.", ('threat',)),
    ('Thick as mince, that one.', ('offensive',)),
    ("You're an embarrassment, you brain-dead cow.", ('offensive',)),
    ('Get back in the kitchen where you belong.', ('offensive',)),
    ("Pakis like him shouldn't be on the council.", ('offensive',)),
    ('What a vile excuse for a human being.', ('offensive',)),
    ('Fuck off back to London.', ('offensive',)),
    ("He's such a slimy little weasel.", ('offensive',)),
    ('Absolute c*nt.', ('offensive',)),
    ('You lot are scum.', ('offensive',)),
    ('She is thick as two short planks and twice as useless.', ('offensive',)),
    ('The deputy leader is a lying sack of shit.', ('offensive',)),
    ('Shut your gob, you ignorant pillock.', ('offensive',)),
    ('Cllr Osei has been pocketing the parking revenue.', ('defamation',)),
    ("Sarah Booth is a fraudster who fleeced the residents' association.", ('defamation',)),
    ('He took a bribe to approve the Tesco extension.', ('defamation',)),
    ('The chair of planning was arrested for child abuse.', ('defamation',)),
    ('Councillor Reid has been laundering money through the golf club.', ('defamation',)),
    ('You stole the money from the hardship fund.', ('defamation',)),
    ('Tom Ellis rigged the selection meeting.', ('defamation',)),
    ('Text her on 07911 123456 and tell her what you think.', ('personal_data',)),
    ("She's at 8 Orchard Close, RM14 2XY, go and knock.", ('personal_data',)),
    ('His personal email is tommy.ellis@outlook.com', ('personal_data',)),
    ('Call him at home: 01708 765432.', ('personal_data',)),
    ('He lives at number 17 Hillside Avenue.', ('personal_data',)),
]

# Civil or blunt political disagreement, everyday swearing, idioms that sound violent, public
# contact details: none of these may be flagged.
DISAGREEMENT_1: list[str] = [
    'This budget will kill the high street.',
    'The cuts are killing local businesses.',
    "We'll beat you at the ballot box in May.",
    'Voters are coming for your seat next year.',
    "You'll pay for this at the next election.",
    'Your days are numbered as council leader, the polls are clear.',
    "I'm absolutely gutted about the library closing.",
    'Someone will break their neck on these pavements.',
    'This policy is a disaster and you should resign.',
    "You've lied to residents about the bin collections.",
    "Shameful decision. I'll be campaigning against you.",
    'The council is an absolute joke.',
    'What a waste of money this scheme is.',
    "I know where you're coming from, but I still disagree.",
    'Do you know where the new recycling centre will be?',
    'The consultation felt rigged from the start.',
    'Was any money paid to the developer? Please publish the accounts.',
    'If any councillor took bribes they should go to prison.',
    "I hope nobody gets hurt at the junction before it's fixed.",
    'This drop dead gorgeous park deserves better funding.',
    'Bloody brilliant work on the new bus lane.',
    "That's a damn shame, the festival was great.",
    "You're dead wrong about the parking charges.",
    "I'd rather die in a ditch than vote for this budget.",
    "Stop wasting our money, you're a disgrace.",
    'Please call the council on 01708 434343 about the missed bin.',
    'The town hall is at Main Road, Romford RM1 3BB.',
    "The meeting's at Ashby Community Centre, 2 Chapel Street, AB1 3CD. All welcome.",
    'Jumble sale at the Methodist Hall, 31 Station Road, Saturday 10am.',
    'Your party has been captured by developers.',
    'Residents deserve better than this shambles.',
    'You should be ashamed of yourselves.',
    'Can we kill off this ridiculous proposal?',
    "I'll be at your surgery on Saturday to discuss the planning application.",
    'The fire at the old mill burnt the building down last year.',
    'Hang on, the meeting was moved to Thursday.',
    "You're killing it with the new parks programme!",
    'His handling of this is criminal.',
    'The traffic is a killer in the mornings.',
    'He has done a terrible job and should step down.',
    'She should be embarrassed by the state of the roads.',
    "You lot couldn't organise a bin collection.",
    'Fraser, you need to answer the question about the contract.',
    'Absolute shambles from start to finish.',
    "I'm so angry I could scream.",
    'Our councillor is great, she answered within a day.',
    'What a brilliant idea from Cllr Patel.',
    "They'll hang you out to dry at the next meeting.",
    'The pothole on Beech Grove is huge.',
    'I counted 12 cars on the road outside the school.',
    'Cuts will kill people, simple as that.',
    'I will kill this motion at committee.',
    'Shit weather for the fun run today.',
    'Fucking brilliant news about the pool reopening!',
    'Did Cllr Moss declare the donation from the developer?',
    'The fraud team at the council should look at the blue badge abuse.',
    "My neighbour's car was burgled twice this year.",
    'Labour broke their promise and the Tories are no better.',
    'You are completely out of touch with this ward.',
    'I will be objecting and I urge everyone to do the same.',
    'Over 3 years the charges on Park Road have doubled.',
    "You're a joke and so is your party.",
]

DISAGREEMENT_2: list[str] = [
    'Your decision to close the library is short-sighted and wrong.',
    'I will fight this plan with every legal means available.',
    'The council has shot itself in the foot with this one.',
    'These parking fines are daylight robbery.',
    'You have failed this ward and I will tell everyone at the doorstep.',
    'The leader should resign over this mess.',
    'This scheme is dead in the water.',
    'We will be at the town hall protest on Saturday.',
    "I'm coming to the surgery on Friday to raise the damp issue.",
    'Absolutely gutted the market is closing, it was the heart of the town.',
    'Fraud is rife in the blue badge system, please clamp down.',
    'Stop killing our green spaces with new flats.',
    'The consultation was a sham and everyone knows it.',
    'Who approved this? Heads should roll.',
    'I hope the people who dumped rubbish on Mill Lane get fined.',
    'The bin men deserve a medal for their work in the snow.',
    'Is it true the contract went to a firm owned by a councillor?',
    'Thanks Cllr Reid, you were brilliant at the meeting.',
    'What a shambles of a budget.',
    'Damn, I missed the deadline for the consultation.',
    'This is a slap in the face to pensioners.',
    'The roads are lethal, someone will get killed at that junction.',
    'You are totally out of your depth on the housing portfolio.',
    "I'd like to see the minutes where this was agreed.",
    'Time to vote the lot of you out.',
    'Our ward needs a councillor who listens, not you.',
    'The rats on the estate are getting worse, please send pest control.',
    'That decision was idiotic and you know it.',
    'Keep up the great work on the allopments.',
    'The cabinet member for finance has questions to answer about the overspend.',
    'Council tax up 5% again and services cut, shameful.',
    'Please email the team at housing@havering.gov.uk for repairs.',
    'Her husband runs the chip shop on the high street, lovely food.',
    'Meeting is at 7pm in Committee Room 2, 21 Main Road entrance.',
    'Our family has lived on Station Road for 30 years and never seen it this bad.',
    "I'm not saying he's wrong, but the figures don't add up.",
    "Congratulations on being elected, you'll be great.",
    'Be careful on the ice near the station tonight everyone.',
    'Crap service from the contractors again, third missed collection.',
    'The previous administration wasted a fortune on consultants.',
]

# Batch 3: everyday comments with words that look alarming out of context ("shoot him an
# email", "hang her picture", "convicted of speeding"). First run flagged 8/46; those rules
# were then narrowed, so this batch is a regression guard, not an unseen measurement.
EVERYDAY: list[str] = [
    'I hope the council gets this sorted soon.',
    'You are a star, thank you!',
    'What a star you are.',
    'He is a legend in this ward.',
    'The report is a joke.',
    "Let's kill two birds with one stone and do both roads.",
    'You guys are the best.',
    "I'll be at the meeting on your road next week.",
    'Shoot me an email when you can.',
    "Shoot him an email and he'll sort it.",
    'Can you hang her picture in the town hall?',
    "I'll hang her portrait in the library.",
    "We'll smash it at the fun run!",
    'Someone should take the lead on this.',
    'They shot the scene for the film on our estate.',
    'The kids will die of boredom without the youth club.',
    "I'd kill for a decent bus service.",
    "He's a bit of a character.",
    'You are absolutely right, thank you.',
    'You should be proud of the volunteers.',
    'I knew where you were going with that argument.',
    "What a pig's ear they made of the roundabout.",
    'The police arrested a man for burglary on my street.',
    'The thief who stole my bike was caught.',
    'My husband was convicted of speeding once, lol.',
    "Thanks for your help, you're a legend!",
    'Your team did a cracking job.',
    "I'm dying to see the new library.",
    'The council are killing the high street with parking charges.',
    'He hit the nail on the head.',
    'The fraud was committed by a former employee, according to the court.',
    'This is a dead end road, please put up a sign.',
    'Beat them at the polls!',
    "It's a crime what they've done to the park.",
    'The cuts are criminal.',
    "He's corrupt is what people say, but I don't believe it.",
    'The 20 mph limit on London Road is pointless.',
    "My postcode is RM3 7XX and I've had no collection.",
    'Call 101 to report it.',
    'Contact 0300 123 4567 for the non-emergency line.',
    'Black lives matter and so does this community.',
    'Gay pride in Romford was brilliant this year.',
    'Immigrants make up a large part of our NHS staff.',
    'This is pig ignorant planning.',
    'Shut up shop early on Sundays, is that the plan?',
    "I'll be at your house party tomorrow, thanks for the invite!",
]


# --------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------

EDGE_CASES: list[tuple[str, set[str]]] = [
    ("I will k1ll you", {"threat"}),
    ("I will K I L L you", {"threat"}),
    ("you i d i o t", {"offensive"}),
    ("What a f*cking idiot", {"offensive"}),
    ("f***ing tw@t", {"offensive"}),
    ("You are an id\u200diot", {"offensive"}),  # zero-width joiner inside the word
    ("I know where you l\u200bi\u200cve", {"threat"}),
    ("You are an \u0456d\u0456\u043et", {"offensive"}),  # Cyrillic і and о
    ("\u0406 know wh\u0435r\u0435 \u0443\u043eu live", {"threat"}),
    ("\uff39\uff4f\uff55 \uff4d\uff55\uff50\uff50\uff45\uff54", {"offensive"}),  # full-width
    ("kiiiill yourself", {"threat"}),
    ("drop dead\ud800", {"threat"}),  # lone surrogate after a real match
    ("\ud800", set()),
    ("\udfff\ud800\ud800", set()),
    ("", set()),
    ("   ", set()),
    ("Bloody hell, the traffic is terrible", set()),
    ("f*ck the traffic today", set()),  # swearing, but at nobody
]


@pytest.mark.parametrize(("text", "expected"), EDGE_CASES)
def test_edge_cases(text: str, expected: set[str]) -> None:
    assert flagged(classify(text)) == expected


@pytest.mark.parametrize(
    "text", [text for text, _ in EDGE_CASES] + ["Cllr Fraser \ud800 took bribes"]
)
def test_every_label_scored_in_range_and_reasons_encodable(text: str) -> None:
    result = classify(text)
    assert set(TEXT_LABELS) <= set(result.scores)
    for label in TEXT_LABELS:
        assert 0.0 <= result.scores[label] <= 1.0
    for label, reasons in result.reasons.items():
        assert label in result.scores
        for reason in reasons:
            reason.encode("utf-8")  # alerts and JSON must be able to carry it


def test_no_match_scores_near_zero() -> None:
    result = classify("Thanks for sorting the streetlight on our road.")
    assert all(score <= 0.05 for score in result.scores.values())
    assert result.reasons == {}


@pytest.mark.parametrize(
    ("text", "label", "quoted"),
    [
        ("I KNOW where you live, Cllr.", "threat", "matched 'I KNOW where you live'"),
        ("What a F***ING idiot", "offensive", "'What a F***ING idiot'"),
        ("His mobile is 07700 900456", "personal_data", "'07700 900456'"),
        ("Cllr Fraser pocketed the grant.", "defamation", "about 'Cllr Fraser'"),
    ],
)
def test_reasons_quote_the_original_words(text: str, label: str, quoted: str) -> None:
    reasons = classify(text).reasons[label]
    assert any(quoted in reason for reason in reasons), reasons


@pytest.mark.parametrize(
    "unit",
    [
        "Cllr Fraser pocketed the money. I know where you live. 07700 900456 ",
        "you are a ",
        "hope you ",
        "f*",
        "0 7",
        "\ud800x",
        "a",
    ],
)
def test_one_megabyte_comment(unit: str) -> None:
    text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    started = time.perf_counter()
    result = classify(text)
    elapsed = time.perf_counter() - started
    assert set(TEXT_LABELS) <= set(result.scores)
    # Measured at 0.3-2.3 s per MB and linear; a catastrophic regex would take minutes.
    assert elapsed < 20.0


def test_strength_bands() -> None:
    strong = classify("I know where you live.").scores["threat"]
    weak = classify("You'll regret this.").scores["threat"]
    assert strong >= 0.9
    assert 0.5 <= weak <= 0.7
    assert classify("Lovely park.").scores["threat"] <= 0.05


# --------------------------------------------------------------------------------------------
# Defamation needs a person, a statement and an allegation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "member", "is_defamation"),
    [
        ("Was the contract properly tendered?", None, False),
        ("Did Cllr Fraser take bribes from the builders?", None, False),
        ("Is it true Patel pocketed the grant", None, False),
        ("If Cllr Lee rigged the vote he should resign.", None, False),
        ("Cllr Lee never rigged anything, he won fair and square.", None, False),
        ("Cllr Lee did not take bribes.", None, False),
        ("Someone has been taking bribes.", None, False),  # nobody identifiable
        ("The system is rigged.", None, False),
        ("Fraser took bribes.", None, False),  # a lone first word is not known to be a name
        ("Fraser took bribes.", "Cllr Jane Fraser", True),  # ... unless it is the member's
        ("Cllr Lee took bribes.", None, True),
        ("Apparently Cllr Lee took bribes.", None, True),  # repeating a rumour still defames
        ("You pocketed the money from the hardship fund.", None, True),
    ],
)
def test_defamation_needs_person_and_statement(
    text: str, member: str | None, is_defamation: bool
) -> None:
    result = classify(text, member)
    assert ("defamation" in flagged(result)) is is_defamation, result


# --------------------------------------------------------------------------------------------
# The labelled set
# --------------------------------------------------------------------------------------------


def load_dev() -> list[tuple[str, str, tuple[str, ...]]]:
    """Return (id, text, labels) for every item of tests/data/council_dev.jsonl."""
    rows = []
    with DATA.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                rows.append((item["id"], item["text"], tuple(item["labels"])))
    return rows


def test_dev_set_has_no_false_positives_on_clean_items() -> None:
    clean = [(ident, text) for ident, text, labels in load_dev() if not labels]
    assert len(clean) >= 18
    results = CLASSIFIER.classify([text for _, text in clean])
    wrong = {ident: flagged(r) for (ident, _), r in zip(clean, results) if flagged(r)}
    assert wrong == {}


def test_dev_set_flags_no_label_it_should_not() -> None:
    rows = load_dev()
    results = CLASSIFIER.classify([text for _, text, _ in rows])
    wrong = {
        ident: flagged(r) - set(labels)
        for (ident, _, labels), r in zip(rows, results)
        if flagged(r) - set(labels)
    }
    assert wrong == {}


@pytest.mark.parametrize("label", TEXT_LABELS)
def test_dev_set_recall(label: str) -> None:
    rows = [(text, labels) for _, text, labels in load_dev()]
    found, total = recall(rows)[label]
    assert total > 0
    assert found / total >= DEV_RECALL_FLOOR[label], f"{label}: {found}/{total}"


# --------------------------------------------------------------------------------------------
# Extra sentences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", TEXT_LABELS)
def test_paraphrase_recall(label: str) -> None:
    found, total = recall(PARAPHRASES_1 + PARAPHRASES_2)[label]
    assert total > 0
    assert found / total >= EXTRA_RECALL_FLOOR[label], f"{label}: {found}/{total}"


def test_paraphrases_flag_no_extra_label() -> None:
    rows = PARAPHRASES_1 + PARAPHRASES_2
    results = CLASSIFIER.classify([text for text, _ in rows])
    wrong = {text: flagged(r) - set(labels) for (text, labels), r in zip(rows, results)}
    assert {text: extra for text, extra in wrong.items() if extra} == {}


@pytest.mark.parametrize("text", DISAGREEMENT_1 + DISAGREEMENT_2 + EVERYDAY)
def test_disagreement_is_not_flagged(text: str) -> None:
    assert flagged(classify(text)) == set()


# --------------------------------------------------------------------------------------------
# Classifier protocol and registry
# --------------------------------------------------------------------------------------------


def test_rules_classifier_implements_protocol() -> None:
    assert isinstance(CLASSIFIER, TextClassifier)
    assert (CLASSIFIER.name, CLASSIFIER.version) == ("rules", "1")


def test_classify_keeps_order_and_length() -> None:
    texts = ["Drop dead.", "Lovely park.", "Tw@t."]
    results = CLASSIFIER.classify(texts)
    assert [flagged(r) for r in results] == [{"threat"}, set(), {"offensive"}]
    assert CLASSIFIER.classify([]) == []


def test_classify_rejects_mismatched_members() -> None:
    with pytest.raises(ValueError):
        CLASSIFIER.classify(["a", "b"], ["Cllr X"])


def test_registry_rules_and_default_engines() -> None:
    from detectors.ensemble import EnsembleClassifier

    assert isinstance(text_classifier("rules"), RulesClassifier)
    assert isinstance(text_classifier("default"), EnsembleClassifier)
    assert {"default", "rules", "detoxify"} <= set(names())


@pytest.mark.parametrize("engine", ["", "bert", "DEFAULT"])
def test_registry_rejects_unknown_engines(engine: str) -> None:
    with pytest.raises(ValueError, match="default"):
        text_classifier(engine)


@pytest.mark.parametrize(("text", "offensive"), [
    ("Another yid on the planning committee, what a shock.", True),
    ("Lezza councillor pushing her agenda", True),
    ("Absolute weapon.", True),
    ("The Yiddish theatre reopens on Sunday", False),
    ("He was carrying a weapon when police arrived", False),
])
def test_british_slurs_and_slang_insults(text: str, offensive: bool) -> None:
    score = RulesClassifier().classify_one(text).scores["offensive"]
    assert (score >= 0.8) is offensive, (text, score)


ILLNESS_WISHES_AND_BLADES: list[tuple[str, bool]] = [
    # Wishes of illness, and regret that an illness spared them.
    ("I hope you have a heart attack in the middle of the budget vote", True),
    ("hope you get a brain tumour", True),
    ("Pity that stroke didn't finish you off last year", True),
    ("Shame the heart attack didn't take you.", True),
    ("Heard you've been poorly. Good. Hope it spreads.", True),
    # Sympathy passes through recovery words on its way to the illness: not a wish of harm.
    ("hope your mum beats cancer", False),
    ("Hope your dad recovers from the cancer soon", False),
    ("hoping you get better after the heart attack", False),
    ("Sorry to read about your stroke Brian. You've always been a fighter, you'll beat this.",
     False),
    ("Hope you have a stroke of luck at the count", False),
    ("Heard you've been poorly. Hope it clears up soon.", False),
    ("Ill thought out scheme, hope it gets worse so people notice", False),
    ("Hope the new recycling scheme spreads to every ward", False),
    # "cut you": a blade, not a budget.
    ("Im going to cut you, you sneaky little weasel", True),
    ("I'll cut you with a knife", True),
    ("we'll cut you some slack", False),
    ("I'm going to cut you off if you keep interrupting", False),
    ("they're going to cut you out of the budget", False),
    ("I'm going to cut you a cheque for the fete", False),
]

VEILED_MENACE_AND_SQUARING_UP: list[tuple[str, bool]] = [
    # Doom said not to be electoral.
    ("Your time's up, and not just at the ballot box.", True),
    ("You're finished. I mean it literally.", True),
    ("You won't make it to the next election, and I don't mean the votes.", True),
    ("We're coming. And not with votes.", True),
    ("You're finished at the ballot box in May.", False),
    ("Your time's up, and not just at the ballot box - in the courts as well.", False),
    ("We're coming for your seat, not at the ballot box but through the courts", False),
    ("We're coming for you, not at the ballot box, but in the High Court.", False),
    # Squaring up, and a "visit" with no one official paying it.
    ("Come outside and say that.", True),
    ("I'll be waiting for you after the meeting.", True),
    ("You'll get a visit.", True),
    ("You'll get a visit from the lads.", True),
    ("I'll be waiting for your reply to my email.", False),
    ("We'll be waiting for you at the count in May", False),
    ("We'll be waiting for you... at the polling station", False),
    ("We'll be waiting for you at the library steps with the petition", False),
    ("You'll get a visit from the planning inspector about this.", False),
]

MENACE_IDIOMS_ABOUT_POLITICS: list[tuple[str, bool]] = [
    # Idioms of menace that ordinary comments use about politics, news and visits.
    ("Remember what happened to the last leader who closed the library? Lost his seat.", False),
    ("Remember what happened to the last councillor who crossed us.", True),
    ("You've been warned by the auditors, now act.", False),
    ("You've been warned.", True),
    ("We'll pay you a visit at your surgery on Saturday to hand in the petition.", False),
    ("We'll pay you a visit.", True),
    ("Keep looking over your shoulder at the polls, Reform are coming.", False),
    ("Keep looking over your shoulder.", True),
]

QUOTED_THREATS: list[tuple[str, bool]] = [
    # A threat quoted to report or condemn it is not the commenter's.
    ('just been sent a screenshot of someone saying "i\'ll kill that councillor". Reported it',
     False),
    ("'shoot the lot of them' under a post about a bin strike. That is what passes for debate",
     False),
    ("Someone's sprayed \u2018we know where you live\u2019 on the councillor's office. Vile.",
     False),
    ('why is nobody condemning the man who shouted \u201cyou\'ll get what\'s coming to you\u201d',
     False),
    # With no word outside the quotes saying it is reported, the quote is the commenter's.
    ("I'll say it once: 'watch your back'", True),
    ('"Watch your back" - that\'s all I\'ll say', True),
    ('I\'ll kill you, "councillor"', True),
]


@pytest.mark.parametrize(("text", "threat"), ILLNESS_WISHES_AND_BLADES
                         + VEILED_MENACE_AND_SQUARING_UP + MENACE_IDIOMS_ABOUT_POLITICS
                         + QUOTED_THREATS)
def test_threat_phrasings_caught_or_left_alone(text: str, threat: bool) -> None:
    """Each list says what its rules must catch (True) and what they must leave alone."""
    score = RulesClassifier().classify_one(text).scores["threat"]
    assert (score >= 0.8) is threat, (text, score)
