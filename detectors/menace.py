"""Menace cues: the second look at comments the council model finds threat-like but not
sure enough to flag on its own.

The council model's threat threshold is held high (about 0.91) by civil comments it scores
highly: blunt politics ("your party is finished round here"), sympathy ("hope you're back on
your feet soon"), complaints. Below that threshold lie most of the threats it misses:
conditional threats, harm wishes, veiled menace, watching and following, threats to family.
What tells the two apart is rarely the sentence's shape and usually one concrete thing a
threat has and a complaint does not: a body part or weapon, hospital or funeral, the member's
children or home, a routine being watched, a countdown. So a comment the model scores at
least ``COUNCIL_THREAT_WITH_CUE`` is flagged when it addresses someone, names such a thing,
and, unless that thing is bodily harm, a weapon or death, is not election talk (votes, seats,
ballots: "your days are numbered come May").

Measured with ``benchmarks/eval.py`` (the figures are in the README's Detection section).
"""

from __future__ import annotations

import re

#: The council model's threat probability at which a comment with a strong menace cue
#: (bodily harm, a weapon, death) is flagged, and with a weaker one (watching, family, home,
#: a countdown), which ordinary comments name more often.
COUNCIL_THREAT_WITH_CUE = 0.5
COUNCIL_THREAT_WITH_WEAK_CUE = 0.8
#: The threat score such a comment gets (the label's default threshold is 0.5).
CUE_SCORE = 0.6

_POSSESSIVE = r"(?:your|ur|yer|his|her|their)"
# Cues no election talk explains away: bodily harm, weapons, death, hospital.
_STRONG_CUES = re.compile(r"""\b(?:
    hurt|hurting|harm|injur\w*|hospital|ambulance|a&e|stitches|wheelchair|crutches|
    legs?|kneecaps?|knees|teeth|jaw|skull|throat|neck|fists?|
    bat|baseball\ bat|knife|knives|blade|machete|hammer|crowbar|gun|shotgun|axe|petrol|
    acid|bricks?|something\ heavy|
    die|dies|died|dying|grave|funeral|coffin|obituary|obit|buried|in\ the\ ground|
    six\ feet\ under|body\ bag|in\ a\ box|
    # not the idioms: "over my dead body", "dead in the water", "political death warrant"
    (?<!political\ )dead(?!\ (?:body|in\ the\ water|cert|right|wrong|end|loss|heat|duck))|
    (?<!political\ )death(?!\ warrant|\ knell|\ of\ (?:the|our|this))|
    bury|(?:your|ur|updated?\ (?:your|ur))\ will|
    under\ a\ (?:train|bus|lorry|car)|flatten\w*|drown\w*|cancer|
    one\ piece|in\ pieces|gone\ missing
)\b""", re.X)
# Cues that election talk can explain ("your days are numbered come May").
_CUES = re.compile(r"""\b(?:
    # accidents and illness wished on someone
    accidents?|crash(?:es|ed)?|suffer\w*|
    # veiled menace
    breaking\ point|countdown|tick\ tock|days\ are\ numbered|enemies|warned|regret\w*|
    card'?s\ marked|marked\ (?:man|woman)|
    won'?t\ be\ pretty|
    safe|safely|unsafe|protecting|
    # watching and following
    watch(?:ing|ed)?|followed|following\ you|saw\ you|seen\ you|spotted\ you|clocked\ you|
    noticed|every\ (?:morning|night|evening|day|week|monday|tuesday|wednesday|
    thursday|friday|saturday|sunday)|side\ gate|back\ gate|gate|fence|front\ door|windows|
    insured|
    # family, home, staff
    """ + _POSSESSIVE + r"""\ (?:kids?|son|sons|daughters?|mum|mam|mother|dad|father|wife|
    husband|partner|family|children|grandchildren|school|house|home|car|staff|
    caseworker|assistant|secretary|pony|dog|cat)|
    # crowds and bounties
    round\ there|mob|storm|rough\ (?:him|her|them|you)\ up|violence|violent|
    personally|balaclavas?|make\ (?:his|her|their|your)\ life\ hell|£\d+
)\b""", re.X)
# Votes, seats and campaigns: "we'll make sure your majority's gone" is politics, unless the
# comment says it is not ("and I don't mean the election", "not at the ballot box").
_ELECTION_TALK = re.compile(
    r"\b(?:seat|seats|ballot|ballots|vote|votes|voted|voting|voters|election|elections|"
    r"re-?elect\w*|results|majority|campaign\w*|polls?|door-?knock\w*|in may|candidate|"
    r"deselect\w*)\b")
_NOT_ELECTION = re.compile(
    r"\b(?:don'?t|do not|didn'?t) mean (?:the|at the|in the) (?:election|ballot|polls?|vote)|"
    r"\bnot (?:at|in) the (?:ballot|polls?|election|count)|\bnot a re-?election\b")
# Only a comment that addresses or names a person can threaten someone.
_ADDRESSES = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur|ya|yer|he|she|him|her|his|hers|they|them|their|"
    r"cllr|councillor|councilor|mayor|leader|family|kids|wife|husband)\b")


def menace_cue(normalised: str, probability: float) -> str | None:
    """Given a comment's normalised (lower-case) text and the council model's threat
    probability for it, return the menace cue that makes it a threat (the matched words), or
    None: no cue strong enough for that probability, no one addressed, or election talk."""
    if probability < COUNCIL_THREAT_WITH_CUE or not _ADDRESSES.search(normalised):
        return None
    strong = _STRONG_CUES.search(normalised)
    if strong:
        return strong.group(0)
    if probability < COUNCIL_THREAT_WITH_WEAK_CUE:
        return None
    if _ELECTION_TALK.search(normalised) and not _NOT_ELECTION.search(normalised):
        return None
    found = _CUES.search(normalised)
    return found.group(0) if found else None
