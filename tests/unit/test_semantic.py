"""Threats and civil sentences the models never saw, the phrase banks, and ``split_windows``.

The held-out sentences below are in neither bank nor in any training file. ``HELD_*`` were
written in session 1 for the threat bank (its contrast bank was then widened after looking at
their errors); ``FRESH_*`` were written after that. The council model was trained without
them (``scripts/train_council_model.py``), so they measure it on unseen phrasing: see
``RECALL_FLOOR`` and ``FPR_CEILING`` for what was measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors import semantic
from detectors.ensemble import EnsembleClassifier
from detectors.registry import text_classifier
from detectors.semantic import split_windows

# Measured with the shipped council model (default engine, threat score >= 0.5): threats
# 64 together: 0.66 in session 5, with the menace stage and the retrained model, civil 1 of
# 64 (that stage first flagged 3: "you'll get a kicking at the polls", "I know you live
# locally", "your office said..."; the rule and cues they showed too broad were narrowed).
# Before, 0.53 (session 2's model: 0.61; session 3's finds more of the larger fresh set
# and flags half as many of its civil comments, below); civil 0 of 64 ("Axe the tax!" was
# dropped from the civil set: a training file has it). Session 7 (learning rate 2e-4):
# threats 0.86, civil 1 of 64. Floors a little under, so a retrained model that keeps
# quality passes and one that loses it fails.
RECALL_FLOOR = 0.75
FPR_CEILING = 0.05
# tests/data/council_fresh.jsonl (200 threats, 200 civil, written by a helper that read
# nothing of the project; never trained on): measured recall 0.66, civil flagged 0.025 in
# session 3. Session 5 read its misses and wrote the menace stage and structural rules after
# them, so it is a development set now: recall 0.895 (with the retrained model), civil 0.025;
# session 6 (model retrained with council_train7, label smoothing, emoji as words): 0.935, 0.040;
# session 7 (rules that skip quoted threats, learning rate 2e-4): 0.970, 0.025.
FRESH_SET_RECALL_FLOOR = 0.9
FRESH_SET_CIVIL_CEILING = 0.04
# tests/data/council_fresh2.jsonl (250 threats, 250 civil), written in session 5 by a helper
# that read nothing of the project, after the menace stage was designed. First measurement
# (blind): recall 0.800 (0.692 before the menace stage), civil flagged 0.060 (0.048 before);
# after fixing three idioms its errors showed ("dead in the water"): 0.800 and 0.052; with the
# council model retrained on council_train6.jsonl: 0.840 and 0.056; session 6: 0.900, 0.044;
# session 7: 0.972, 0.048.
FRESH2_RECALL_FLOOR = 0.9
FRESH2_CIVIL_CEILING = 0.07
# tests/data/council_fresh3.jsonl (194 threats, 199 civil), written in session 7 by two helpers
# that read nothing of the project. First measurement (blind, session 6's model with session
# 7's illness-wish rules): recall 0.856, civil flagged 0.045; with the model retrained at
# learning rate 2e-4 (chosen on the other sets; this one was measured after): 0.923, 0.030.
FRESH3_RECALL_FLOOR = 0.88
FRESH3_CIVIL_CEILING = 0.07

# Threats, harm wishes and intimidation (written for this project; in no bank).
HELD_THREATS: tuple[str, ...] = (
    'Keep voting like that and your house might not be standing much longer.',
    "Funny how fast a wooden fence burns, isn't it councillor.",
    'I wonder how your little girl gets to school each morning.',
    "One of these nights you'll open your front door to a surprise you won't like.",
    "There's a bullet with your name on it.",
    "If I ever bump into you down the pub you'll be picking your teeth up off the floor.",
    "You deserve a good hiding and I'm the one to give it you.",
    "We're going to make an example of you.",
    "Can't wait for the day someone finally shuts you up for good.",
    'Hope you choke on your expenses.',
    'Shame if your brakes failed on that hill one day.',
    'You and your cronies will swing for this.',
    "I'll be at your door at midnight, see how brave you are then.",
    'Your grandkids should be careful who they talk to on the way home.',
    "It's easy enough to find out which house on Mill Lane is yours.",
    "I've parked across from your place three nights running.",
    "Next time you open your gob at a meeting I'll shut it permanently.",
    'Somebody ought to put this councillor six feet under.',
    "Better get a panic alarm fitted, you'll need it.",
    "You'll be found floating in the river one of these days.",
    "Let's see how you like a firework through your letterbox.",
    'Cross us again and your constituency office goes up in smoke.',
    "Real shame about your wife's car getting keyed, would be worse if it happened again.",
    "The lads are ready, just say the word and we'll sort her out.",
    'Everyone who lives near him should go round his house and give him what for.',
    "I'd happily swing for you and do the prison time.",
    'Pray you never run into me on a dark street.',
    "When they drag you through the streets I'll be cheering.",
    'I hope your house floods with you and your family trapped inside.',
    'Wishing you a painful end, you deserve nothing less.',
    "Someone's going to do you serious damage and nobody will blame them.",
    "We've got people watching your office every day.",
    "I know your daughter's name and where she works.",
    'Treason used to be punished by hanging, bring it back for you.',
    'Enjoy your surgery on Saturday, it might be a lively one. Bring a helmet.',
    "I'll wait for you after the council meeting, just you and me, no cameras.",
    'Petrol is cheap and your garage door is wooden.',
    'Got your reg number, got your address, got plenty of time.',
    'Every dog has its day and yours is coming, councillor, in a dark alley.',
    "You'll be leaving this town in an ambulance.",
    'I hope someone cuts your brakes.',
    'May you suffer every day for the rest of your miserable life.',
    "Mess with our kids' school and we'll mess with your kids.",
    "You won't be so cocky with a broken jaw.",
)

# Civil, blunt-political and figurative sentences (in no bank).
HELD_CIVIL: tuple[str, ...] = (
    'This planning decision will be the death of our village.',
    'The parking fines are daylight robbery, scrap them.',
    "I'd murder a decent cup of tea after that six-hour meeting.",
    "You're finished politically, nobody will vote for you again.",
    'Step down and let someone competent do the job.',
    'The new bus timetable is an absolute killer for shift workers.',
    'Our market has been left to bleed to death by this council.',
    "You'll get a kicking at the polls in May.",
    'We will bury this proposal at the planning inquiry.',
    'Shame on you for closing the youth centre.',
    'Your voting record is shameful and we will make sure everyone knows it.',
    'This policy is a ticking time bomb for adult social care.',
    'The council shot itself in the foot with this one.',
    "You've stabbed the residents of Oakfield in the back.",
    'The budget will slash services to the bone.',
    "I'm going to fight you on this every step of the way.",
    "We'll see you in court over the licensing decision.",
    "Could you come to our street party on Sunday? We'd love to have you.",
    'Thanks for fixing the streetlight so quickly, really appreciated.',
    'What time does the tip open on bank holidays?',
    'I know you live locally, so you must see how bad the traffic is.',
    'Please drive carefully near the school, the kids are back tomorrow.',
    'My house was burgled last week, can we get more police patrols?',
    "The fire at the old mill has left the street covered in ash, who's clearing it up?",
    'Congratulations on your re-election, well deserved.',
    "Get well soon, we missed you at the residents' meeting.",
    "Your office said they'd call me back but nobody did.",
    'Watch the full council meeting live on YouTube tonight at 7.',
    'Mind your step, the pavement outside the library is cracked.',
    'The crime rate on our estate is terrifying, people are scared to go out at night.',
    'Your party has butchered the NHS.',
    'This tax rise will crucify small businesses.',
    'You lot are dead in the water after this vote.',
    'The opposition will eat you alive in the debate.',
    'I could strangle whoever designed this car park.',
    'Time to drain the swamp at county hall.',
    "Let's give them hell at the consultation meeting.",
    'The queue at the recycling centre is killing me.',
    'Our campaign will hit you where it hurts: at the ballot box.',
    'The fireworks on the green scared my dog half to death.',
    'Rest in peace to the former mayor, a true servant of the town.',
    'I hope the sun shines for your charity walk on Saturday.',
    'Nobody will miss the old bus station, good riddance to that eyesore.',
    'Your days in the cabinet are over after this scandal.',
)

# Written after the banks were final; scored once.
FRESH_THREATS: tuple[str, ...] = (
    'Your kneecaps are on borrowed time, councillor.',
    "Someone's going to pour paraffin through your door one of these nights.",
    "I'd love five minutes alone with you in a quiet lane.",
    'Tell your missus to stop jogging by the canal on her own.',
    'I hope they find you in a ditch.',
    'The people of this town will string you up when they get the chance.',
    "You won't be opening any more community centres when I'm done with you.",
    "We'll be paying your nice semi on Church Road a visit tonight.",
    "I've got a tin of petrol in the shed with your name on it.",
    'Better start checking your car for surprises every morning.',
    "One day you'll walk out of that surgery and we'll be there.",
    'Hope your next holiday is a one-way trip in a coffin.',
    'Plenty of blokes round here would do you for a tenner.',
    "You're going to get hurt, and it'll be your own fault.",
    'I saw your lad at the bus stop yesterday, he looks just like you.',
    "Don't bother locking the door, it won't help.",
    'Somebody should put you out of our misery.',
    "We're organising a welcome party for you at your house, bring a first aid kit.",
    'Last councillor who crossed us needed a new face.',
    "I'll make sure you never speak at another meeting.",
)

FRESH_CIVIL: tuple[str, ...] = (
    'The leisure centre closure is a kick in the teeth for families.',
    "You'll be out on your ear at the next election.",
    'The consultation was a massacre of common sense.',
    'This bin strike is murder, the street stinks.',
    'Your council has strangled the life out of the market.',
    "I'd happily swing by the surgery on Saturday if you have time.",
    'Could you pay our allotment society a visit next month?',
    'The old cinema went up in flames in 1974, any plans for a plaque?',
    'Your speech last night was killer, well done.',
    "We'll make sure every voter knows what you did to the library.",
    'Our street was flooded again, my car is a write-off.',
    'Your wife did a lovely job opening the fete.',
    'The lads from the football club send their thanks for the new pitch.',
    "I nearly died laughing at the council's new logo.",
    'The council tax hike is highway robbery.',
    'Give them both barrels at the scrutiny committee, councillor!',
    'Fight fire with fire and object to every application they submit.',
    'Please can someone remove the dead fox outside number 12?',
    "The mayor's car was blocking the disabled bay again.",
    "I'll be outside the council offices on Monday with the petition, come and sign.",
)

ALL_THREATS = HELD_THREATS + FRESH_THREATS
ALL_CIVIL = HELD_CIVIL + FRESH_CIVIL


@pytest.fixture(scope="module")
def engine() -> EnsembleClassifier:
    clf = text_classifier("default")
    assert isinstance(clf, EnsembleClassifier)
    return clf


def _rate(engine: EnsembleClassifier, texts: tuple[str, ...]) -> float:
    return sum(c.scores["threat"] >= 0.5 for c in engine.classify(list(texts))) / len(texts)


def test_held_out_sets_are_in_no_bank_and_no_training_file() -> None:
    banks = {p.lower() for p in semantic.THREAT_PATTERNS + semantic.CONTRAST_PATTERNS}
    assert len(HELD_THREATS) >= 40 and len(HELD_CIVIL) >= 40
    held = {s.lower() for s in ALL_THREATS + ALL_CIVIL}
    assert not banks & held
    training = Path(__file__).resolve().parents[2] / "scripts" / "training_data"
    texts = {json.loads(line)["text"].lower() for f in training.glob("*.jsonl")
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not texts & held


def test_banks_are_big_and_distinct() -> None:
    assert len(semantic.THREAT_PATTERNS) >= 150
    assert len(set(semantic.THREAT_PATTERNS)) == len(semantic.THREAT_PATTERNS)
    assert len(set(semantic.CONTRAST_PATTERNS)) == len(semantic.CONTRAST_PATTERNS)
    assert not set(semantic.THREAT_PATTERNS) & set(semantic.CONTRAST_PATTERNS)


def test_unseen_threats_are_caught(engine: EnsembleClassifier) -> None:
    assert _rate(engine, ALL_THREATS) >= RECALL_FLOOR


def test_unseen_civil_sentences_are_rarely_called_threats(engine: EnsembleClassifier) -> None:
    assert _rate(engine, ALL_CIVIL) <= FPR_CEILING


@pytest.mark.parametrize(("name", "sizes", "recall_floor", "civil_ceiling"), [
    ("council_fresh.jsonl", (200, 200), FRESH_SET_RECALL_FLOOR, FRESH_SET_CIVIL_CEILING),
    ("council_fresh2.jsonl", (250, 250), FRESH2_RECALL_FLOOR, FRESH2_CIVIL_CEILING),
    ("council_fresh3.jsonl", (194, 199), FRESH3_RECALL_FLOOR, FRESH3_CIVIL_CEILING),
])
def test_the_independent_fresh_sets(engine: EnsembleClassifier, name: str,
                                    sizes: tuple[int, int], recall_floor: float,
                                    civil_ceiling: float) -> None:
    """Sets written by helpers that read nothing of the project: threat recall, and civil
    comments flagged with any label."""
    path = Path(__file__).resolve().parents[1] / "data" / name
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    results = engine.classify([r["text"] for r in rows])
    threats = [c for r, c in zip(rows, results, strict=True) if r["labels"] == ["threat"]]
    civil = [c for r, c in zip(rows, results, strict=True) if not r["labels"]]
    assert (len(threats), len(civil)) == sizes
    thresholds = {"offensive": 0.8, "threat": 0.5, "defamation": 0.5, "personal_data": 0.5}
    recall = sum(c.scores["threat"] >= 0.5 for c in threats) / len(threats)
    flagged = sum(any(c.scores[k] >= v for k, v in thresholds.items()) for c in civil)
    assert recall >= recall_floor
    assert flagged / len(civil) <= civil_ceiling


def test_the_briefs_examples_are_caught_with_a_reason(engine: EnsembleClassifier) -> None:
    texts = [
        "a can of petrol and a match would sort your office out",
        "people like you get what they deserve one dark night",
        "watch your back",
        "it'd be a shame if something happened to that nice car of yours",
    ]
    for text, c in zip(texts, engine.classify(texts), strict=True):
        assert c.scores["threat"] >= 0.5, text
        assert c.reasons["threat"]


def test_figurative_examples_stay_low(engine: EnsembleClassifier) -> None:
    texts = ["this decision will kill the high street", "kill the bill", "resign!"]
    assert all(c.scores["threat"] < 0.5 for c in engine.classify(texts))


def test_a_threat_at_the_end_of_a_long_comment_is_seen(engine: EnsembleClassifier) -> None:
    filler = "The roads in this ward are in a terrible state and nobody fixes them. " * 12
    (c,) = engine.classify([filler + "Someone should pay you a visit one dark night."])
    assert c.scores["threat"] >= 0.5


def test_empty_and_one_megabyte_texts(engine: EnsembleClassifier) -> None:
    huge = ("the council meeting was long and dull " * 30000)[:1_000_000]
    out = engine.classify(["", "   ", huge, "🤬" * 1000])
    assert len(out) == 4
    assert all(0.0 <= v <= 1.0 for c in out for v in c.scores.values())
    assert out[0].scores["council.threat"] == 0.0 and out[1].scores["council.threat"] == 0.0


def test_split_windows_is_bounded() -> None:
    assert split_windows("") == [""]
    assert split_windows("one two three") == ["one two three"]
    # A short multi-sentence text is read whole first, then sentence by sentence.
    assert split_windows("A can of petrol. A match. Your office, tonight.")[0] == (
        "A can of petrol. A match. Your office, tonight."
    )
    two = split_windows("Thanks for the meeting last night. I know where your kids go to school.")
    assert two[1:] == ["Thanks for the meeting last night.", "I know where your kids go to school."]
    long = " ".join(f"word{i}" for i in range(10_000))
    windows = split_windows(long)
    assert len(windows) == semantic.MAX_WINDOWS
    assert all(len(w.split()) <= semantic.WINDOW_WORDS for w in windows)
