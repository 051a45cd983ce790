"""A rules-based ``TextClassifier`` (engine "default"): regular expressions over normalised text.

Every rule carries a human reason naming the words it matched, quoted from the original
comment. Scores: a strong match is >= 0.9, a weaker one 0.5-0.7, a hint below the default
thresholds (so it is recorded but not flagged), no match 0.0.

Design notes:

* Patterns run on ``detectors.text.normalise`` output (lower case, single spaces, leetspeak
  and masks undone), so they are written in lower case with literal spaces.
* Linear time: no pattern nests unbounded quantifiers. Gaps between key words are a bounded
  number of bounded words (``_gap``), so each start position costs a constant.
* Political disagreement, however blunt, is not offensive (CONTRACT §4): insults must be
  aimed at a person ("you ...", "what a ...", "he is a ..."), words like "liar", "clown" or
  "disgrace" only score as hints, and threat phrases that are also election talk ("coming for
  you in May", "you'll pay at the ballot box") are excluded by look-aheads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import phonenumbers

from detectors.text import Normalised, normalise_mapped
from watcher.domain import TEXT_LABELS, Classification

MAX_REASONS = 5
# A rule reports at most this many matches; enough to explain, bounded on hostile input.
_MAX_MATCHES_PER_RULE = 3

# --------------------------------------------------------------------------------------------
# Pattern building blocks
# --------------------------------------------------------------------------------------------

_WORD = r"[a-z0-9'\-]{1,25}"
# A word that is not a negation: used where "hope nobody gets hurt" must not read as a wish.
_NEGATION_WORDS = (
    r"not|never|no|nobody|noone|no-one|none|don't|doesn't|won't|wont|isn't|aren't|wasn't|"
    r"didn't|can't|cant|shouldn't|wouldn't|nothing"
)
_POSITIVE_WORD = rf"(?!(?:{_NEGATION_WORDS})\b){_WORD}"
# Words of recovery and sympathy: "hope your dad recovers from the cancer" is a kind wish, so a
# wish of harm may not pass through them on its way to the illness.
_RECOVERY_WORDS = (
    r"beats?|beating|beaten|recovers?|recovering|recovery|survives?|surviving|fights?|fighting|"
    r"better|well|wellness|through|from|after|over|free|clear|remission|scare|treatment|"
    r"treated|heal|heals|healing|mend|mends|pull|pulls|sorry|sympathies|thoughts|prayers"
)
_WISH_WORD = rf"(?!(?:{_NEGATION_WORDS}|{_RECOVERY_WORDS})\b){_WORD}"


def _gap(n: int, word: str = _WORD) -> str:
    """Given a count, return a regex for up to ``n`` more words (each optionally after a
    comma), to sit between two key words: ``"you" + _gap(2) + _SEP + "idiot"``."""
    return rf"(?:,? {word}){{0,{n}}}"


_SEP = r",? "


def _alt(words: Iterable[str]) -> str:
    """Given regex alternatives, return them as one non-capturing group, longest first so a
    longer phrase wins over its prefix."""
    return "(?:" + "|".join(sorted(words, key=len, reverse=True)) + ")"


# Election talk: a threat-like phrase followed by these is about votes, not violence.
_ELECTORAL_AHEAD = (
    r"(?!" + _gap(6) + r",? (?:in may|at the|ballot|ballots|polls?|elections?|vote|votes|voters"
    r"|voting|polling|re-?election|seat|seats|majority|box)\b)"
)

_YOU = r"(?:you|u|ya|yer|youse|yous)"
# "you're" and its misspellings ("your an idiot", "ur a muppet").
_YOU_ARE = (
    r"(?:(?:you|u|ya)(?: lot| people| guys| two| all| both| lads| lots)? ?(?:'re|are|r|re)"
    r"(?: all| both)?|ur|your|yer)"
)
_THIRD = (
    r"(?:he|she|they|this one|that one|this (?:man|woman|guy|bloke|lad|idiot|councillor|cllr)"
    r"|that (?:man|woman|guy|bloke|lad|councillor|cllr)|the (?:councillor|cllr|leader|mayor)"
    r"|(?:cllr|councillor) [a-z'\-]{2,25})"
)
_THIRD_IS = (
    rf"{_THIRD}(?:'s| is| was| are| were|'re| be| being| looks like| sounds like| acts like)"
)

# "her" followed by an ordinary word is a possessive ("hang her picture"), not an object.
_HER_OBJECT = (
    r"her(?! (?!(?:in|to|up|down|and|with|for|now|again|already|dead|too|then|if|or|so|on|at|"
    r"off|out|because|when|till|until|soon|today|tonight|properly|good|badly)\b)[a-z])"
)
_PERSON_OBJECT = (
    r"(?:you|u|ya|yer|him|" + _HER_OBJECT + r"|them|the lot of you|all of you|every one of you"
    r"|each of you"
    r"|(?:cllr|councillor) [a-z'\-]{2,25}|the councillor|this councillor|that councillor"
    r"|the leader|the mayor"
    r"|(?:your|ur|yer|his|her|their) (?:kids|family|children|wife|husband|partner|son|daughter"
    r"|mum|mam|dad|mother|father|staff)"
    # "hang your head (in shame)" is an idiom
    r"|(?<!hang )(?<!hangs )(?<!hanging )(?<!hung )"
    r"(?:your|ur|yer|his|her) (?:face|head|throat|neck|legs?|arms?|jaw|teeth|skull|nose"
    r"|kneecaps|fingers|lights|block|brains)(?! on (?:the|these|those|this|that|a)\b| tripping"
    r"| falling| slipping)"
    r"|(?:that|this|the) (?:clown|idiot|moron|muppet|traitor|scumbag|scum|bastard|bitch|prat|"
    r"twat|cunt|rat|snake|fool|man|woman|guy|bloke|lady|lot|councillor|cllr|leader|mayor|"
    r"creep|pervert|nonce|paedo|parasite|weasel|pig|cow|tosser|wanker|prick|coward|liar|"
    r"hypocrite|joke|loser))\b"
    # "shoot him an email" is office talk
    r"(?! (?:an? |the )?(?:email|e-mail|message|text|line|dm|note|invite|link|reminder|pm|"
    r"letter|reply|quick)\b)"
)

# --------------------------------------------------------------------------------------------
# Offensive vocabulary
# --------------------------------------------------------------------------------------------

# Personal insults: offensive when aimed at someone. Plural forms are added by the pattern.
_STRONG_INSULTS = (
    "idiot", "moron", "imbecile", "cretin", "muppet", "weasel", "scumbag", "scum", "scrounger",
    "parasite", "pig", "slag", "slut", "whore", "bitch", "bastard", "dickhead", "dick",
    "prick", "knob", "knobhead", "nob", "bellend", "tosser", "wanker", "twat", "cunt",
    "arsehole", "asshole", "arse", "dimwit", "halfwit", "nitwit", "numpty", "pillock",
    "plonker", "prat", "git", "buffoon", "dunce", "lowlife", "low-life", "degenerate",
    "vermin", "cockroach", "maggot", "leech", "retard", "mong", "spastic", "spaz", "sleazebag",
    "creep", "pervert", "perv", "freak", "shithead", "fuckwit", "dipshit", "douchebag",
    "douche", "dumbass", "jackass", "thicko", "div", "minger", "skank", "cow", "swine", "hag",
    "numbskull", "airhead", "bimbo", "gobshite", "turd", "animal", "motherfucker",
    "cocksucker", "scumbucket", "waste of space", "waste of oxygen", "waste of skin",
    "waste of air", "lump of lard", "tub of lard", "lardarse", "lard arse", "fatso",
    "piece of shit", "piece of crap", "piece of filth", "sack of shit", "subhuman",
    "sub-human", "nonce", "paedo", "pedo", "paedophile", "pedophile",
)
# Words that in a political row are blunt disagreement rather than abuse: hints only.
_WEAK_INSULTS = (
    "clown", "fool", "joke", "loser", "coward", "liar", "hypocrite", "disgrace", "traitor",
    "snake", "rat", "puppet", "jobsworth", "dinosaur", "crook", "fraud", "charlatan",
    "chancer", "parasite class",
)
_INSULT_ADJECTIVES = (
    "stupid", "thick", "fat", "ugly", "useless", "pathetic", "spineless", "brainless",
    "gormless", "inbred", "worthless", "vile", "dumb", "fucking", "fuckin", "effing", "bloody",
    "absolute", "total", "complete", "utter", "proper", "little", "old", "silly", "sad",
    "lying", "two-faced", "disgusting", "smug", "arrogant", "ignorant", "incompetent",
    "clueless", "greedy", "nasty", "horrible", "dirty", "filthy", "slimy", "sneaky",
    "gutless", "miserable", "pompous", "deluded", "braindead", "brain-dead", "sleazy",
    "snivelling", "jumped-up", "wretched", "evil", "bent", "crooked", "massive", "big",
    "such a", "such an", "a", "an", "the", "one", "right", "bald", "smelly", "senile",
    "demented", "retarded", "mental", "psycho", "shit", "crap", "dozy", "daft", "dopey",
)
_OBSCENE_INSULTS = (
    "cunt", "twat", "wanker", "motherfucker", "cocksucker", "dickhead", "bellend", "tosser",
    "knobhead", "shithead", "fuckwit", "arsehole", "asshole", "dipshit",
)
_SLURS = (
    "nigger", "nigga", "paki", "wog", "coon", "chink", "spic", "kike", "raghead", "towelhead",
    "gyppo", "pikey", "faggot", "poof", "poofter", "dyke", "tranny", "shemale", "retard",
    "retarded", "spastic", "spaz", "mong", "gollywog", "jungle bunny", "sand nigger",
    "yid", "lezza", "lezzer", "lesbo", "dago", "wop", "gook", "polack", "sambo", "darkie",
)
_GROUPS = (
    r"immigrants?", r"migrants?", r"foreigners?", r"muslims?", r"jews?", r"blacks?", r"asians?",
    r"gays?", r"lesbians?", r"queers?", r"poles?", r"romanians?", r"gypsies", r"gipsies",
    r"travellers?", r"pakis?", r"africans?", r"refugees?", r"asylum seekers?", r"women",
    r"females?", r"trannies", r"trans people", r"indians?", r"chinese", r"arabs?",
    r"eastern europeans?", r"people of (?:your|her|his) (?:colour|race|religion|kind)",
)
# Adjectives of contempt: "what a pathetic little man".
_CONTEMPT_ADJECTIVES = (
    "pathetic", "vile", "disgusting", "useless", "spineless", "stupid", "thick", "ugly",
    "worthless", "horrible", "nasty", "evil", "repulsive", "odious", "slimy", "sad",
    "gormless", "brainless", "wretched", "loathsome", "revolting", "despicable", "contemptible",
    "obnoxious", "smarmy", "greasy", "creepy", "sleazy", "dim", "dense", "pitiful", "fat",
)
_CASUAL_SWEARS = (
    "fuck", "fucking", "fuckin", "fucked", "shit", "shite", "shitty", "bullshit", "bollocks",
    "piss", "pissed", "arse",
)
_MILD_SWEARS = ("bloody", "damn", "hell", "crap", "crappy", "sod")


def _plural(words: Iterable[str]) -> str:
    """Given nouns, return an alternation matching each in singular or plural."""
    return _alt(re.escape(w).replace(r"\ ", " ").replace(r"\-", "-") + "(?:e?s)?" for w in words)


_STRONG = _plural(_STRONG_INSULTS)
_WEAK = _plural(_WEAK_INSULTS)
_ADJ = _alt(re.escape(a).replace(r"\ ", " ").replace(r"\-", "-") for a in _INSULT_ADJECTIVES)
_ADJ_GAP = rf"(?: {_ADJ}){{0,4}}"

# --------------------------------------------------------------------------------------------
# Threat vocabulary
# --------------------------------------------------------------------------------------------

_VIOLENT_VERBS = (
    r"kill(?:s|ed|ing)?", r"murder(?:s|ed|ing)?", r"stab(?:s|bed|bing)?", r"shoot(?:s|ing)?",
    r"shot", r"strangl(?:e|es|ed|ing)", r"throttl(?:e|es|ed|ing)", r"butcher(?:s|ed|ing)?",
    r"slaughter(?:s|ed|ing)?", r"behead(?:s|ed|ing)?", r"lynch(?:es|ed|ing)?",
    r"hang(?:s|ed|ing)?", r"hung", r"knif(?:e|es|ed|ing)", r"glass(?:ed|ing)?",
    r"torch(?:es|ed|ing)?", r"fire-?bomb(?:s|ed|ing)?", r"petrol[- ]bomb(?:s|ed|ing)?",
    r"gut(?:s|ted|ting)?", r"slit(?:s|ting)?", r"execut(?:e|es|ed|ing)",
    r"smash(?:es|ed|ing)?", r"batter(?:s|ed|ing)?", r"punch(?:es|ed|ing)?",
    r"kick(?:s|ed|ing)?", r"hurt(?:s|ing)?", r"bash(?:es|ed|ing)?", r"break(?:s|ing)?",
    r"broke", r"deck(?:s|ed|ing)?", r"burn(?:s|ed|t|ing)?", r"shank(?:s|ed|ing)?",
    r"drown(?:s|ed|ing)?", r"chok(?:e|es|ed|ing)", r"attack(?:s|ed|ing)?", r"maim(?:s|ed|ing)?",
    r"cripple", r"run over", r"slap(?:s|ped|ping)?", r"headbutt(?:s|ed|ing)?", r"rape",
    r"acid attack", r"throw acid (?:at|on|in)", r"chuck acid (?:at|on|in)", r"blow up",
    r"put a bullet in", r"put a knife in", r"stick a knife in", r"take out", r"do in",
)
# Verbs violent enough that "stab him" with no stated subject is still a threat or a call to
# violence; "kill"/"hurt"/"burn" bare are too often hyperbole ("the heat will kill you").
_HARD_VIOLENT_VERBS = (
    r"murder", r"stab", r"shoot", r"strangle", r"throttle", r"behead", r"lynch", r"knife",
    r"shank", r"slit (?:your|his|her|their) throats?", r"string up", r"hang", r"execute",
)
_SUBJECTS = (
    r"i", r"i'll", r"ill", r"i'd", r"id", r"i'm", r"im", r"we", r"we'll", r"we're", r"we'd",
    r"someone", r"somebody", r"some1", r"someone's", r"anyone", r"people", r"they", r"they'll",
    r"let's", r"lets", r"gonna", r"going to", r"wanna", r"want to", r"need to", r"should",
    r"ought to", r"i'?ll be", r"i will", r"we will", r"i swear",
)
_HARM_OUTCOMES = (
    r"die", r"dies", r"died", r"dying", r"dead", r"death", r"killed", r"murdered", r"stabbed",
    r"stabs? (?:you|him|her|them)", r"shot", r"shoots? (?:you|him|her|them)", r"hurt",
    r"run over", r"hit by an? (?:bus|car|truck|train|lorry|van)", r"cancer", r"rot",
    r"burns?", r"burned", r"burnt", r"burns? down", r"suffer", r"suffers", r"attacked",
    r"beaten(?: up)?", r"lynched", r"hanged", r"hung", r"strung up", r"drowns?", r"drowned",
    r"chokes?", r"raped", r"assaulted", r"knifed", r"glassed", r"set on fire", r"torched",
    r"in a (?:ditch|box|coffin|body bag|wheelchair)", r"in hospital", r"crash(?:es)?",
    r"kill (?:you|him|her|them)", r"a bullet", r"bullet", r"disappears?", r"six feet under",
    r"(?:a |another )?heart attack", r"(?:a |another )?stroke(?! of)",
    r"(?:a )?(?:brain )?tumou?r", r"(?:an )?aneurysm", r"(?:a )?brain bleed",
)
_DESERVED_HARM = (
    r"a bullet", r"bullet", r"shot", r"hanged", r"hung", r"strung up", r"killed", r"dead",
    r"to die", r"die", r"stabbed", r"lynched", r"put down", r"taken out(?! (?:for|to|of))",
    r"a kicking", r"a good kicking", r"a beating", r"a good beating", r"shooting", r"hanging",
    r"drowned", r"burned", r"burnt", r"torched", r"put against a wall", r"lined up",
    r"beheaded", r"executed", r"a slap", r"a punch", r"a knife", r"knifed", r"six feet under",
    r"in the ground", r"in a box", r"in a ditch", r"shot dead", r"the rope", r"the noose",
    r"a bullet in (?:the|your|his|her) head", r"battered", r"beaten up", r"glassed",
)
_HOME_WORDS = (
    r"house", r"home", r"door", r"doorstep", r"front door", r"flat", r"gaff", r"place",
    r"kids'? school", r"children'?s school", r"bedroom window", r"garden", r"drive",
    r"driveway", r"street", r"road",
)
_ARSON_VERBS = (
    r"(?:burn|torch|fire-?bomb|petrol[- ]bomb|blow up|bomb|smash up|set fire to|brick|"
    r"set alight)"
)
_ARSON_TARGETS = (
    r"(?:office|offices|house|home|car|surgery|place|flat|shop|town hall|council offices|"
    r"civic centre|council chamber|building|gaff|windows?)"
)
_FAMILY_OR_PROPERTY = (
    r"family", r"kids", r"children", r"wife", r"husband", r"partner", r"mum", r"mam",
    r"mother", r"dad", r"father", r"son", r"daughter", r"house", r"home", r"office", r"car",
    r"staff", r"surgery", r"constituency office", r"kid", r"grandchildren", r"family home",
)


@dataclass(frozen=True)
class Rule:
    """One pattern: the label it supports, the score a match gives, a short note for the
    reason string, and the compiled regex (run on normalised text)."""

    label: str
    score: float
    note: str
    pattern: re.Pattern[str]


def _rule(label: str, score: float, note: str, regex: str) -> Rule:
    """Given a label, score, note and regex source, return a compiled ``Rule``."""
    return Rule(label, score, note, re.compile(regex))


# Optional subject before "know where you live", so the reason quotes "I know where ...".
_KNOWER = r"(?:\b(?:i|we|they|people|everyone|someone|i've|we've)(?: all| now| already| do)? )?"

_THREAT_RULES: tuple[Rule, ...] = (
    # --- violence aimed at the member or someone named ---
    _rule("threat", 0.95, "threat of violence",
          rf"\b{_alt(_SUBJECTS)}\b{_gap(3)} {_alt(_VIOLENT_VERBS)} {_PERSON_OBJECT}"
          r"(?! out to dry| laughing| with (?:kindness|laughter))"),
    _rule("threat", 0.9, "call for violence against a person",
          rf"\b{_alt(_HARD_VIOLENT_VERBS)}(?:s|ed|ing|e)? {_PERSON_OBJECT}"
          r"(?! out to dry)"),
    _rule("threat", 0.95, "threat of violence",
          r"\b(?:smash|kick|cave|punch|slit|cut|wring|rip|knock|bash|stamp on|stove|batter|"
          r"glass|stab|shoot|blow)(?:s|ed|ing)? (?:your|ur|yer|his|her|their) (?:fucking |"
          r"stupid |fat |ugly )?(?:face|head|throat|neck|jaw|teeth|skull|nose|kneecaps|"
          r"lights|block|brains)(?:'s)?(?: in| out| off)?\b"),
    _rule("threat", 0.95, "threat of violence",
          r"\bbeat (?:you|u|ya|him|her|them)(?: up| senseless| to a pulp| black and blue|"
          r" to death)\b|\bbeat the (?:shit|crap|hell|living daylights|life) out of\b"),
    _rule("threat", 0.95, "threat of violence",
          r"\bput (?:you|u|ya|him|her|them) (?:in|into|six feet) (?:the ground|a box|a coffin|"
          r"hospital|a wheelchair|an early grave|a body bag|under)\b"),
    _rule("threat", 0.55, "violent words aimed at a person",
          r"\b(?:kill|hurt|burn)(?:s|ed|ing)? (?:you|u|ya|him|her)\b"
          r"(?! out to dry| laughing| with kindness| to say| off)"),
    # "cut" alone is mostly budgets and slack ("we'll cut you some slack", "cut you off"):
    # only a first-person "cut you" that ends there, or goes on to a blade, is a threat.
    _rule("threat", 0.9, "threat of violence",
          r"\b(?:i'?m|im|i'?ll|ill|i will|i'?m going to|im going to|gonna|going to|we'?ll|we will|"
          r"i swear i'?ll|someone'?s going to|someone will|someone should) (?:fucking )?cut "
          r"(?:you|u|ya|him|her)(?:(?= *(?:[,.!?]|$| you | with (?:a|my|this) (?:knife|blade|"
          r"stanley))))"),
    _rule("threat", 0.95, "threat to hunt the member down",
          r"\bhunt(?:ed|ing|s)? (?:you|u|ya|him|her|them|the lot of you) down\b"),
    _rule("threat", 0.85, "threat to find the member",
          r"\b(?:i'?ll|i will|we'?ll|we will|gonna|going to|i'?m going to) (?:find|track) "
          r"(?:you|u|ya|him|her)\b(?: down)?"),
    _rule("threat", 0.8, "threat of reprisal",
          r"\b(?:i'?ll|i will|we'?ll|we will|gonna|going to) get (?:you|u|ya|him|her)"
          r"(?= for (?:this|that|it)|[.!,]|$)"),
    _rule("threat", 0.85, "threat of reprisal",
          r"\b(?:i'?ll|i will|we'?ll|we will|gonna|going to|i'?m going to|we'?re going to) "
          r"(?:make (?:you|u|ya|him|her|them) (?:pay|suffer|bleed|regret)|"
          r"teach (?:you|u|ya|him|her|them) a lesson|"
          r"do (?:you|u|ya|him|her|them) in|have (?:you|u|ya|him|her|them) done|"
          r"take (?:you|u|ya|him|her|them) out(?! for| to))\b" + _ELECTORAL_AHEAD),
    # --- wishes of death or harm ---
    _rule("threat", 0.95, "wish of death or harm",
          rf"\b(?:hope|hoping|hopefully|wish|wishing|pray|praying|can't wait till|can't wait "
          rf"until)\b(?: that)?(?: {_POSITIVE_WORD})? (?:you|u|ya|someone|somebody|some1|he|she"
          rf"|they|your|ur|his|her|their|one day you|cllr|councillor)\b{_gap(4, _WISH_WORD)}"
          rf" (?:gets? |get |is |are |were |was |will |'ll )?{_alt(_HARM_OUTCOMES)}\b"),
    _rule("threat", 0.95, "wish of death or harm",
          r"\b(?:love|like|want|pay|wait|glad|happy) to see (?:you|u|ya|him|her|them|the lot of"
          r" you)(?: all)? (?:hang|hanged|hung|shot|dead|die|suffer|burn|strung up|lynched|"
          r"stabbed|beaten|in a box|in the ground|in a coffin|six feet under)\b"),
    _rule("threat", 0.95, "says the member deserves violence or death",
          rf"(?:\b(?:you|u|ya|he|she|they|him|her|them|the lot of you|all of you|people like you"
          rf"|scum like you|traitors|(?:cllr|councillor) [a-z'\-]{{2,25}}|the councillor|"
          rf"this councillor)(?:'re|'s| are| is)?(?: all| both| really| just)?|^|[.!?] )"
          rf" ?(?:deserves?|deserved|should|ought to|needs? to|need){_gap(2)}{_SEP}"
          rf"{_alt(_DESERVED_HARM)}\b"),
    _rule("threat", 0.9, "says the member will end up dead or hurt",
          r"\b(?:you'?ll|you will|you'?re going to|you are going to|he'?ll|she'?ll|you could|"
          r"you might|you may|gonna) (?:end up|wind up|be|finish up) (?:in the ground|in a box|"
          r"in a coffin|in hospital|in a ditch|dead|six feet under|in a wheelchair|in a body "
          r"bag|in an early grave|pushing up daisies|floating in the river)\b"),
    _rule("threat", 0.9, "wish of death",
          r"\bdrop dead\b(?! (?:gorgeous|good|beautiful|handsome|funny|brilliant|stunning|"
          r"fabulous|lovely|sexy|cool))"),
    _rule("threat", 0.9, "wish of death",
          r"\b(?:go|just|please|pls|plz|why don't you|why not) (?:and |just )?die\b|"
          r"(?<!rather )(?<!rather just )\bdie in a (?:ditch|fire|hole|car crash)\b|"
          r"\bdo (?:us|the world|everyone|the town|the borough)(?: all)? a favou?r and "
          r"(?:die|drop dead|kill|jump|top|hang|neck|end|disappear for good)\b"),
    _rule("threat", 0.95, "incitement to self-harm",
          r"\b(?:kys|kill (?:yourself|urself|yourselves|ya self|yaself)|neck (?:yourself|urself)"
          r"|top (?:yourself|urself)|hang (?:yourself|urself)|unalive (?:yourself|urself)|"
          r"end (?:yourself|urself)|slit (?:your|ur) (?:own )?wrists?|jump off (?:a|the) "
          r"(?:bridge|cliff|building|roof))\b(?! laughing| with laughter)"),
    _rule("threat", 0.75, "wish of harm",
          r"\b(?:rot|burn|roast) in hell\b"),
    # "Pity that stroke didn't finish you off": regret that an illness or accident spared them.
    _rule("threat", 0.9, "wish of death",
          r"\b(?:shame|pity|gutted|sad|unlucky|too bad|a pity|a shame|sorry)(?: that)? (?:the|that|"
          r"your|ur|his|her|their|this) (?:[a-z]+ )?(?:stroke|heart attack|cancer|tumou?r|"
          r"illness|crash|accident|fall|fire|covid|car crash|bus|ambulance|operation|surgery)s? "
          r"(?:didn'?t|did not|never|failed to|couldn'?t|could not|wasn'?t enough to) "
          r"(?:finish|kill|get|take|do|see) (?:you|u|ya|him|her|them)(?: off| in| out)?\b"),
    # "Heard you've been poorly. Good. Hope it spreads.": glad of an illness, wishing it worse.
    _rule("threat", 0.85, "wish of harm",
          r"\b(?:poorly|(?:been|feeling|fallen|seriously|terminally|gravely|so|very) ill|sick|"
          r"unwell|cancer|tumou?r|diagnos[a-z]*|in hospital|stroke|heart attack|chemo)\b"
          r".{0,80}?\bhope (?:it|the [a-z]+) (?:spreads|gets worse|comes back|kills (?:you|him|"
          r"her)|finishes (?:you|him|her) off|takes (?:you|him|her))\b"),
    _rule("threat", 0.85, "tells the member they are dead",
          r"\b(?:you'?re|you are|ur|you r|u r|your|he'?s|she'?s) (?:a )?dead(?: (?:man|woman|meat"
          r"|men))?\b(?! (?:wrong|right|on|set|serious|to|against|certain|sure|good|boring|lucky"
          r"|inside|tired|keen|behind|last|easy|end|loss|cert|duck|weight|heat|cheap|in the "
          r"water|funny|cute|ringer|centre|center|straight|slow|quiet|proud|excited|jealous))"),
    _rule("threat", 0.9, "tells the member they are dead",
          r"\bdead (?:man|woman) walking\b" + _ELECTORAL_AHEAD),
    # --- intimidation: knowing and visiting the member's home ---
    _rule("threat", 0.95, "intimidation: knows where the member lives",
          _KNOWER + r"\b(?:know|knows|knew|found out|find out|worked out|figured out|got|have|"
          r"seen)(?: exactly)? where (?:you|u|ya|he|she|they) (?:live|lives|living|work|works|"
          r"sleep|"
          r"sleeps|park|parks|drink|drinks|shop|shops|walk|walks|stay|stays|go to|get off|hang "
          r"out|hide|are staying|are tonight)\b"),
    _rule("threat", 0.95, "intimidation: knows where the member's family is",
          _KNOWER + r"\b(?:know|knows|knew|found out|find out|worked out|got|seen)(?: exactly)?"
          r" where "
          r"(?:your|ur|yer|his|her|their) (?:kids?|children|family|wife|husband|partner|mum|mam"
          r"|mother|dad|father|son|daughter|house|home|car)\b"),
    _rule("threat", 0.9, "intimidation: has the member's address",
          r"\b(?:know|knows|got|have|found|now have|found out|we've got|i've got) (?:your|ur|his"
          r"|her) (?:home |house |private )?(?:address|postcode|number plate|reg)\b"),
    _rule("threat", 0.9, "intimidation: turning up at the member's home",
          rf"\b(?:i'?ll|i will|we'?ll|we will|i'?m|we'?re|i am|we are|see you|be waiting|"
          rf"coming|come|going|gonna|turn(?:ing)? up|pop(?:ping)? round|call(?:ing)? round|"
          rf"visit(?:ing)? you|waiting)\b{_gap(3)} (?:at|outside|round|on|to|near|by) "
          rf"(?:your|ur|yer|his|her) {_alt(_HOME_WORDS)}\b"
          r"(?! (?:party|warming|viewing|number|parties|ideas?|plans?))"),
    _rule("threat", 0.75, "intimidation: outside the member's home",
          r"\b(?:outside|watching|parked outside|sat outside) (?:your|ur|yer|his|her) "
          r"(?:house|home|door|flat|front door|kids'? school|children'?s school)\b"),
    _rule("threat", 0.8, "intimidation: a 'visit'",
          r"\bpay (?:you|u|ya|him|her|them) a (?:little |wee |personal |quick )?visit\b"
          # a visit with a purpose ("to hand in the petition") is a visit
          r"(?!(?: [a-z']+){0,6} (?:to (?:hand|deliver|discuss|talk|ask|show|present|raise|"
          r"drop)|with (?:the|a|our) (?:petition|letter|residents|evidence)|for a (?:chat|"
          r"cuppa|word)))|"
          r"\b(?:you'?ll|you will|u'?ll|he'?ll|she'?ll) (?:be )?(?:get(?:ting)?|have|receive) a "
          r"(?:little |wee |personal |late[- ]night |proper )?visit(?: *[.!]+ *$| *$| from (?:the "
          r"|some of )?(?:lads|boys|us|me|my mates|my friends|friends of mine))|"
          r"\b(?:i'?m|we'?re|i am|we are|we'?ll be|i'?ll be|we have been|we've been|i've been) "
          r"watching (?:you|u|ya|him|her)\b"),
    _rule("threat", 0.9, "intimidation",
          r"\b(?:watch|mind) (?:your|ur|yer) back\b|\blook(?:ing)? over (?:your|ur) shoulder\b"
          + _ELECTORAL_AHEAD + r"|"
          r"\bsleep with one eye open\b|\b(?:won'?t|will never|never) see it coming\b|"
          # "accidents happen at that junction" is road safety
          r"\baccidents happen\b(?! (?:at|on|near|round|outside|along|every|all the time|there"
          r"|here))|\b(?:shame|pity) if (?:something|anything|someone|somebody|"
          r"some1) (?:[a-z']{1,20} )?(?:happened|happens|were to happen|was to happen|set fire|"
          r"set light|burnt|burned|torched|smashed|broke|keyed|damaged|vandalised|scratched|"
          r"found (?:you|out where))\b|"
          r"\b(?:wouldn'?t|would not|don'?t|do not) want (?:anything|something)(?: bad| nasty)?"
          r" to happen to\b"),
    _rule("threat", 0.8, "intimidation",
          r"\b(?:you'?d better|you better|better) (?:be ready|watch yourself|watch out|be "
          r"careful|keep looking|run)\b|\b(?:you'?ve been|consider yourself) warned\b"
          # warned by someone, or about something, is news, not menace
          r"(?! (?:by|about|that|of|over|before|repeatedly|several|many|twice|again|in))|"
          r"\b(?:get|getting) what'?s coming(?: to (?:you|him|her|them))?\b|"
          r"\bcareful (?:walking|driving|going|on your way) home\b"),
    _rule("threat", 0.6, "veiled threat",
          r"\b(?:you'?ll|you will|he'?ll|she'?ll|they'?ll) (?:regret|pay for) (?:this|that|it)\b"
          + _ELECTORAL_AHEAD
          + r"|\byour days are numbered\b" + _ELECTORAL_AHEAD
          + r"|\byou'?ll get yours\b|\bwatch yourself\b"),
    _rule("threat", 0.95, "threat to the member's family, home or office",
          rf"\b(?:(?:your|ur|yer|his|her|their)(?: {_WORD})? {_alt(_FAMILY_OR_PROPERTY)}|you|"
          rf"he|she)(?: and (?:your|his|her) {_WORD})? (?:won'?t|wont|will not|isn'?t|is not|"
          rf"aren'?t|are not|wouldn'?t|would not|may not|might not|will never|can'?t|cannot|"
          rf"will no longer|ain'?t|never) (?:be |stay |remain |feel |going to be |gonna be )?"
          rf"(?:safe|protected|secure)\b"),
    _rule("threat", 0.8, "threat to the member's safety",
          r"\b(?:not|isn'?t|won'?t be|will not be|no longer) safe for (?:you|u|him|her|your "
          r"\w+)\b|\bkeep an eye on (?:your|ur|yer) (?:kids|family|children|wife|husband|house|"
          r"back)\b"),
    _rule("threat", 0.9, "intimidation: coming for the member",
          r"\b(?:i'?m|we'?re|i am|we are|they'?re|they are|someone'?s|someone is|people are|"
          r"i'?ll be|we'?ll be|is|are|'re|'s) coming (?:for|after|to get) (?:you|u|ya|yer|him|"
          r"her|them|your (?:family|kids|children|wife|husband))\b" + _ELECTORAL_AHEAD),
    # --- arson and property attacks ---
    # Present/future tense only, aimed at the member's property or after a stated intent: a
    # report ("the fire burnt the mill down") is not a threat.
    _rule("threat", 0.95, "threat of arson or attack on property",
          rf"\b{_ARSON_VERBS} (?:your|ur|yer|his|her|their)(?: [a-z'\-]{{1,20}}){{0,2}}? "
          rf"{_ARSON_TARGETS}\b(?: down| up)?"),
    _rule("threat", 0.95, "threat of arson or attack on property",
          rf"\b{_alt(_SUBJECTS)}\b{_gap(2)} {_ARSON_VERBS} (?:the|this|that|our|them|those)"
          rf"(?: [a-z'\-]{{1,20}}){{0,2}}? {_ARSON_TARGETS}\b(?: down| up)?"),
    _rule("threat", 0.9, "threat of arson",
          r"\bburn (?:you|u|ya|him|her|them|it|the place|the lot|the town hall|the council)"
          r"(?: all)? (?:down|out)\b"),
    # --- traitor talk ---
    _rule("threat", 0.9, "threat: 'what happens to traitors'",
          r"\bwhat happens to (?:traitors|grasses|snitches|rats|people like you|the likes of "
          r"you|scum like you|those who|anyone who|councillors who|people who)\b"),
    _rule("threat", 0.95, "threat against 'traitors'",
          r"\b(?:traitors?|people|scum|rats|grasses)(?: like (?:you|u|ya|him|her|them|that|"
          r"this))? (?:get|deserve|will get|will be|should be|are|must be|end up|always end up) "
          r"(?:hanged|hung|"
          r"shot|the rope|strung up|what'?s coming|executed|lynched|dealt with)\b|"
          r"\b(?:string|hang)(?:ing|ed)? (?:[a-z']{1,20} ){0,3}?(?:from|on) (?:a |the )?"
          r"lamp ?posts?\b"),
    _rule("threat", 0.8, "threat: gallows talk",
          r"\b(?:bring back|get|fetch|ready|prepare) the (?:rope|noose|gallows|guillotine)\b"
          r"|\b(?:guillotines?|gallows|nooses?|lamp ?posts?) for (?:the|all|every|you|them)\b"),
    _rule("threat", 0.9, "wish of death",
          r"\bstep in front of (?:a|the) (?:train|bus|lorry|truck)\b|"
          r"\bthe only good (?:[a-z]+ ){0,2}[a-z]+ is a dead (?:[a-z]+ ){0,2}[a-z]+\b|"
          r"^(?:(?:die|dead)[ .!]*){1,}$"),
    _rule("threat", 0.85, "wish of harm",
          r"\bhope (?:the|your|his|her|their) (?:cancer|tumou?r|illness|disease) "
          r"(?:spreads|comes back|gets (?:you|him|her|worse)|kills)\b|"
          r"\bhope (?:you|he|she|they) (?:get|gets|catch|catches) (?:cancer|covid|aids|ebola)\b"),
    _rule("threat", 0.85, "says harm is coming to the member",
          r"\b(?:you'?re|you are|ur|you r|u r|he'?s|she'?s) (?:gonna|going to|gunna|gonna end "
          r"up|going to end up) (?:get|getting|be|being) (?:shot|stabbed|hurt|done in|battered|"
          r"knifed|glassed|jumped|killed|murdered|smashed)\b"),
    _rule("threat", 0.85, "says the member deserves violence",
          r"\b(?:wants|needs|deserves|could do with|is asking for) (?:gutting|shooting|"
          r"stabbing|hanging|a bullet|a beating|a kicking|a slap|stringing up|knifing|"
          r"a good hiding|burning)\b"),
    _rule("threat", 0.8, "threat of retribution",
          r"\b(?:you'?ll|you will|u'?ll|you're gonna|you are going to) pay for (?:this|that|it)"
          r"\b(?!,? (?:at|in) the (?:ballot|polls|election|next election))"),
    # Doom spelled out as not electoral: "your time's up, and not just at the ballot box",
    # "you're finished. I mean it literally", "we're coming. and not with votes".
    _rule("threat", 0.85, "veiled threat, said not to be about the election",
          r"\b(?:finished|done for|time'?s up|days are numbered|won'?t make it|won'?t last|"
          r"won'?t see|(?:you'?re|you are) next|coming for (?:you|him|her)|(?:we'?re|we are|"
          r"they'?re|they are) coming(?= *[.!,])|it'?s over|over for (?:you|him|her)|you'?re "
          r"gone)\b[^.!?]{0,40}[.!?,]* *(?:and |but )?(?:i mean (?:it |that )?literally|i don'?t "
          r"mean (?:politically|the (?:votes?|election|ballot(?: box)?|polls?))|not (?:at|in) the "
          r"(?:ballot(?: box)?|polls?|election)(?!(?: box)? *,? *(?:but|-|–|—))|not just "
          r"(?:at|in) the (?:ballot(?: box)?|polls?|election) *[.!]* *$|(?:and )?not with "
          r"(?:votes|ballots|leaflets)|not politically)(?!\w)"),
    # Squaring up: "come outside and say that", "I'll be waiting for you after the meeting".
    _rule("threat", 0.8, "intimidation: a challenge to fight",
          r"\b(?:come|step) outside and say (?:that|it)\b|"
          r"\b(?:i'?ll|we'?ll|i will|we will|the lads will|they'?ll) be waiting for (?:you|u|ya|"
          r"him|her)(?: (?:after|outside|when|in the car ?park|at (?:your|ur) (?:car|house|home|"
          r"door))|(?= *[.!…]|$))(?![.!… ]*,? *(?:at|in) the (?:polls?|polling|ballot|count|"
          r"election|hustings))" + _ELECTORAL_AHEAD),
    # --- threats by their structure: a weapon brought, a blow described, a harm promised ---
    _rule("threat", 0.9, "threat with a weapon",
          r"\b(?:i|we|i'?ll|we'?ll|i'?m|we'?re|i am|we are|i will|we will|gonna|going to)"
          r"(?: [a-z']+){0,5}? (?:bring|bringing|brought|got|carry|carrying|fetch|fetching|"
          r"with)(?: me)? (?:a|my|the|some) (?:(?:baseball |cricket )?bat|knife|blade|machete|"
          r"hammer|crowbar|gun|shotgun|axe|something heavy|petrol can|can of petrol)\b"
          r"(?=.{0,80}\b(?:you|your|ur|him|her|them|first)\b)"),
    _rule("threat", 0.9, "threat of violence",
          r"\b(?:my|a) (?:fist|boot|foot|knee|head|knife|blade|bat) (?:through|in|into|across) "
          r"(?:your|ur|yer|his|her|their) [a-z]+"),
    _rule("threat", 0.85, "threat of violence",
          r"\b(?:you'?ll|you will|u'?ll|you'?re|you are|you'?re going to|you are going to) "
          r"(?:be )?(?:get(?:ting)? hurt|be(?:ing)? hurt|getting a (?:proper )?(?:hiding|kicking|"
          r"beating)|picking (?:your|ur) teeth|needing an ambulance|need(?:ing)? stitches|"
          r"never walk(?: [a-z]+){0,3} (?:safe|safely|again)|not (?:be )?walking home safe|"
          r"regret (?:ever )?(?:being born|the day))\b"),
    _rule("threat", 0.85, "threat of violence",
          r"\b(?:get ready for|you'?re getting|you are getting|you'?ll get|you will get|due) "
          r"a (?:proper |good )?(?:hiding|kicking|beating|battering|doing)\b"
          + _ELECTORAL_AHEAD),
    _rule("threat", 0.8, "veiled threat",
          r"\bsee what happens(?: to (?:you|u|ya|him|her|them|your [a-z]+))\b"
          r"|\b(?:and|or) see what happens\b" + _ELECTORAL_AHEAD),
    _rule("threat", 0.95, "call for violence against a person",
          r"\b(?:push|shove|throw|chuck)(?:es|ed|ing)? (?:you|u|him|her|them|this [a-z]+|that "
          r"[a-z]+|the [a-z]+) (?:under|in front of|off|into) (?:a|the) (?:train|bus|lorry|"
          r"car|canal|river|bridge|cliff)\b"),
    _rule("threat", 0.9, "call for violence against a person",
          r"\bgive (?:him|her|them|you|this [a-z]+|that [a-z]+) what (?:he|she|they|you|it)"
          r"(?:'s| has| have|'ve| is| are|'re) (?:got )?(?:coming|asking for)\b"
          r"|\b(?:someone|somebody|anyone|who'?ll|who will) do the honou?rs\b"
          r"|\b(?:£|\$)\d[\d,]* (?:to|for) (?:whoever|anyone|the first)\b"
          r"|\b(?:whoever|anyone who|first one to) (?:puts?|hurts?|batters?|smacks?|punch"
          r"(?:es)?|glass(?:es)?|stabs?|knocks?) (?:him|her|them|this|that)\b"
          r"|\brough (?:him|her|them) up\b"),
    _rule("threat", 0.8, "veiled threat",
          r"\bmake the most of (?:this|your|the) (?:christmas|summer|birthday|weekend|holiday|"
          r"year|freedom|time)\b(?=.{0,30}\bif i (?:were|was) you\b)"
          r"|\b(?:would|i'?d) hate for (?:it|that|something|anything) (?:like that )?to "
          r"happen (?:again|twice|to you)\b"
          r"|\bcan'?t (?:control|be responsible for) what (?:they|the lads|people|he|she) "
          r"(?:do|does|might do|will do)\b"
          r"|\bgone missing for (?:a lot )?less\b"
          r"|\b(?:remember|don'?t forget|think about|look) what happened to (?:jo cox|david "
          r"amess)\b"
          # "remember what happened to the last leader who shut it? lost his seat": politics
          r"|\b(?:remember|don'?t forget|think about|look) what happened to (?:that|the|an?) \b"
          r"(?!.{0,100}\b(?:seat|seats|votes?|voted|election|ballot|polls?|majority|deselected|"
          r"kicked out|booted out|lost (?:his|her|their|the) (?:seat|job|majority))\b)"
          r"|\bhope you'?ve (?:updated|made|written|sorted) (?:your|ur) will\b"
          r"|\b(?:goodbye|bye bye|so long),? (?:councillor|cllr|mate)\b(?=[.!]*$)"),
    _rule("threat", 0.85, "veiled threat",
          r"\byour days are numbered\b(?=.{0,40}\b(?:don'?t|do not) mean (?:the|at the) "
          r"(?:election|ballot|polls?|vote))"
          r"|\b(?:see|seeing) you (?:very |real )?soon\b(?=.{0,20}\bnot (?:at|in) the "
          r"(?:ballot|polls?|election|count))"),
)

# Publishing where someone lives together with a call to act on it: intimidation (CONTRACT §4).
_VISIT_CALL_RE = re.compile(
    r"\b(?:pay (?:him|her|them|the [a-z]+) a (?:little )?visit|go (?:round|over|nuts|and see)"
    r"|pop round|knock on (?:his|her|their) door|visit (?:him|her|them)|you know what to do"
    r"|let'?s (?:all )?go|we should (?:all )?go|get round there|have a word with (?:him|her))\b")

_OFFENSIVE_RULES: tuple[Rule, ...] = (
    # --- emoji used as insults ---
    _rule("offensive", 0.85, "obscene gesture (middle-finger emoji)", r"\U0001f595"),
    _rule("offensive", 0.85, "insult in emoji aimed at a person",
          r"\b(?:you'?re|you are|ur|u r|what|he'?s|she'?s|such) (?:a |an |such a )?"
          r"[\U0001f921\U0001f437\U0001f416\U0001f400\U0001f401\U0001f40d\U0001f4a9"
          r"\U0001f921\U0001f92e\U0001f40d\U0001f98a]"),
    _rule("offensive", 0.95, "racist abuse in emoji",
          r"[\U0001f412\U0001f435\U0001f98d\U0001f34c]\s*[\U0001f412\U0001f435\U0001f98d"
          r"\U0001f34c]|\b(?:jungle|go back|back home|monkey|ape)\b.{0,20}"
          r"[\U0001f412\U0001f435\U0001f98d\U0001f34c]"),
    # --- insults aimed at a person ---
    _rule("offensive", 0.95, "insult aimed at the member",
          rf"\b{_YOU}{_ADJ_GAP}{_SEP}{_STRONG}\b(?!')"),
    _rule("offensive", 0.95, "insult aimed at the member",
          rf"\b{_YOU_ARE}\b(?! (?:not|never|no)\b)(?: (?:just|nothing but|nowt but|such|"
          rf"truly|really|genuinely|basically|literally|clearly|obviously|still|officially|now))?"
          rf"{_ADJ_GAP}{_SEP}{_STRONG}\b(?!')"),
    _rule("offensive", 0.9, "insult aimed at a person",
          rf"\b{_THIRD_IS}\b(?! (?:not|never|no)\b)(?: (?:just|nothing but|such|truly|really|"
          rf"clearly|obviously|basically|literally|still))?{_ADJ_GAP}{_SEP}{_STRONG}\b(?!')"),
    _rule("offensive", 0.9, "insult",
          rf"\bwhat an?{_ADJ_GAP}{_gap(1)}{_SEP}{_STRONG}\b(?!')"
          rf"|\bsuch an?{_ADJ_GAP}{_SEP}{_STRONG}\b(?!')"),
    _rule("offensive", 0.9, "insult aimed at a group of people",
          rf"\b(?:bunch|load|pack|shower|set|gang|band|crowd|lot|nest|herd) of{_ADJ_GAP}{_SEP}"
          rf"{_STRONG}\b(?!')"),
    _rule("offensive", 0.9, "insult",
          rf"\b{_alt(a for a in _INSULT_ADJECTIVES if ' ' not in a and len(a) > 3)} "
          rf"{_STRONG}\b(?!')"),
    _rule("offensive", 0.9, "insult",
          rf"(?:^|[.!?] )(?:you |an? |absolute |total |complete |utter |stupid |fucking |fat |"
          rf"thick |bloody |useless )*{_STRONG}(?=[.!?,]|$)"),
    _rule("offensive", 0.9, "obscene insult", rf"\b{_plural(_OBSCENE_INSULTS)}\b"),
    _rule("offensive", 0.95, "slur", rf"\b{_plural(_SLURS)}\b"),
    # British slang: "absolute weapon" is an insult, a weapon alone is not.
    _rule("offensive", 0.85, "insult", r"\b(?:absolute|total|utter|complete|proper|such an?) "
          r"(?:weapon|melt|bellend|roaster)\b"),
    _rule("offensive", 0.9, "insult about intelligence",
          r"\b(?:dumb|dumber|thick|thicker|daft|dafter|stupid|stupider|dim|dimmer)(?:er)? "
          r"(?:as|than) (?:an? )?(?:box|bag|sack|bucket|bag|pile|bunch|load) of (?:rocks|"
          r"hammers|spanners|bricks|frogs|spuds|potatoes|sand|hair|mince|stones|wood)\b|"
          r"\bthick as (?:two short planks|mince|pig ?shit|shit|a brick|a plank|thieves)\b|"
          r"\b(?:not|isn'?t|aren'?t) the (?:sharpest|brightest) (?:tool|knife|pencil|bulb|crayon"
          r"|spoon)\b|\blights are on but (?:nobody|no one|no-one)'?s? (?:is )?home\b|"
          r"\b(?:one|two|single|couple of|no) brain ?cells?\b|\broom temperature iq\b|"
          r"\biq of an? \w+|\bbrains? of an? (?:goldfish|gnat|rock|plank|sheep|pea|amoeba|"
          r"chicken)\b"),
    _rule("offensive", 0.9, "dehumanising insult",
          r"\b(?:fat|lard|blubber) ?(?:pig|cow|slob|lump|bastard|git|sow|whale|arse|ass|"
          r"heifer)s?\b|\bface like a (?:slapped arse|smacked arse|bulldog|pig|horse|dog)|"
          r"\bscum of the earth\b|\bnasty piece of (?:work|shit|crap|filth)\b|"
          r"\bshould (?:be|have been) (?:sterilised|neutered|drowned at birth|aborted)\b|"
          r"\bwaste of (?:a )?(?:space|oxygen|skin|air|good air|a human|a person|a seat)\b"),
    _rule("offensive", 0.85, "contemptuous insult",
          rf"\b(?:what an?|{_YOU_ARE}|{_THIRD_IS})(?: {_ADJ}){{0,2}} {_alt(_CONTEMPT_ADJECTIVES)}"
          rf"(?: {_ADJ}){{0,2}} (?:man|woman|person|creature|specimen|individual|human being|"
          rf"little man|little woman|excuse for a (?:man|woman|human|human being|councillor))\b"),
    _rule("offensive", 0.85, "insult aimed at a person",
          rf"\b(?:is|'s|was|are|were)(?: just| nothing but| such| truly| really| clearly)? "
          rf"(?:an?|one|the)(?: {_WORD}){{0,2}} {_STRONG}\b(?!')(?! (?:of|for|to|in|at|on)\b)"),
    # --- obscenity aimed at someone ---
    _rule("offensive", 0.9, "obscenity aimed at the member",
          r"\b(?:fuck|fuk|fck|f) (?:you|u|ya|off|yourself|yourselves|the lot of you|him|her|"
          r"them)\b|\bgo (?:fuck|screw|fk) (?:yourself|urself|yourselves)\b|\bget fucked\b|"
          r"\beat (?:shit|a dick|a bag of dicks)\b|\bsuck (?:my|a|on my) (?:dick|cock|balls|knob)"
          r"\b|\bup yours\b|\b(?:stick|shove|ram) (?:it|that|this|them|your [a-z]+) up (?:your|"
          r"ur|yer) (?:arse|ass)\b|\bkiss my (?:arse|ass)\b|\bshut (?:the fuck up|your (?:fucking"
          r" )?(?:mouth|gob|face|trap|hole|cakehole))\b|\bpiss off\b"),
    # --- discrimination ---
    _rule("offensive", 0.95, "discriminatory language",
          rf"\b{_alt(_GROUPS)} like (?:you|u|ya|her|him|them|yourself|that)\b"),
    _rule("offensive", 0.95, "discriminatory language",
          r"\bgo back (?:to|where) (?:your (?:own )?(?:country|countries)|where (?:you|u|they|he"
          r"|she) (?:came|come|belong)|africa|asia|india|pakistan|poland|romania|the jungle|"
          r"your (?:own )?(?:kind|people))\b|\bget back (?:in|to) (?:the|your) kitchen\b"),
    _rule("offensive", 0.95, "hate speech about a group",
          rf"\b{_alt(_GROUPS)} (?:are|r|is)(?: all| just| nothing but)? (?:scum|vermin|animals|"
          r"terrorists|criminals|rapists|parasites|disgusting|filth|a disease|cockroaches|rats|"
          r"subhuman|sub-human|inferior|savages|the problem|a plague|a cancer)\b"),
    _rule("offensive", 0.85, "discriminatory language",
          r"\b(?:your|ur|their) kind (?:aren'?t|are not|isn'?t|is not|don'?t|do not|shouldn'?t|"
          r"should not|has no|have no|are never) (?:welcome|wanted|belong|be allowed|place)|"
          r"\b(?:women|females|a woman|girls)(?: like you)? (?:shouldn'?t|should not|can'?t|"
          r"cannot|don'?t) (?:be (?:in|allowed)|belong|run|hold|stand|vote|be councillors)\b"),
    # --- weaker: not flagged at the default threshold, recorded as hints ---
    _rule("offensive", 0.6, "insult word (not clearly aimed at anyone)", rf"\b{_STRONG}\b(?!')"),
    _rule("offensive", 0.6, "name-calling (often political)",
          rf"\b(?:{_YOU}|{_YOU_ARE}|{_THIRD_IS})\b(?! (?:not|never|no)\b){_ADJ_GAP}{_SEP}{_WEAK}\b"
          rf"|\bwhat an?{_ADJ_GAP}{_SEP}{_WEAK}\b"),
    _rule("offensive", 0.45, "swearing (not aimed at anyone)", rf"\b{_alt(_CASUAL_SWEARS)}\b"),
    _rule("offensive", 0.2, "mild swearing", rf"\b{_alt(_MILD_SWEARS)}\b"),
    _rule("offensive", 0.5, "rude dismissal", r"\bshut up\b|\bbite me\b|\bget lost\b"),
)

# --------------------------------------------------------------------------------------------
# Personal data (run on folded text: digits and punctuation intact)
# --------------------------------------------------------------------------------------------

_MOBILE_RE = re.compile(
    r"(?<![\d+])(?:\+ ?44 ?\(?0?\)? ?|0044 ?|\(?0)7\d{3}\)?[ .\-]?\d{3}[ .\-]?\d{3}(?!\d)"
)
_LANDLINE_RE = re.compile(
    r"(?<![\d+])(?:\+ ?44 ?\(?0?\)? ?|0044 ?|\(?0)[12]\d{1,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}"
    r"(?!\d)"
)
_SERVICE_NUMBER_RE = re.compile(
    r"(?<![\d+])(?:\+ ?44 ?|\(?0)[358]\d{2,3}\)?[ .\-]?\d{3}[ .\-]?\d{3,4}(?!\d)"
)
_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._%+\-])[a-z0-9._%+\-]{1,64} ?(?:@| ?\(at\) ?| ?\[at\] ?) ?"
    r"([a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63}){0,4}\.[a-z]{2,24})\b"
)
# "dave dot jones at yahoo dot com", "j.smith (at) gmail [dot] com": spelt out to dodge filters.
_SPELT_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._\-])[a-z0-9._\-]{1,40}(?: (?:dot|\.) [a-z0-9_\-]{1,40}){0,3} ?"
    r"(?:\(at\)|\[at\]| at ) ?([a-z0-9\-]{1,40}(?: ?(?:\(dot\)|\[dot\]| dot |\.) ?"
    r"[a-z]{2,10}){1,3})\b"
)
_FREEMAIL = re.compile(
    r"(?:^|\.)(?:gmail|googlemail|hotmail|outlook|live|yahoo|icloud|me|aol|btinternet|sky|"
    r"virginmedia|talktalk|protonmail|proton|gmx|mail|ymail|msn|ntlworld|blueyonder|tiscali|"
    r"btopenworld|plus(?:net)?)\."
)
_PUBLIC_EMAIL = re.compile(r"\.gov\.uk$|\.parliament\.uk$|\.nhs\.(?:uk|net)$|\.police\.uk$")
_STREET_SUFFIXES = (
    r"road", r"rd", r"street", r"st", r"avenue", r"ave", r"lane", r"ln", r"close", r"drive",
    r"dr", r"grove", r"gardens", r"gdns", r"crescent", r"cres", r"way", r"place", r"pl",
    r"court", r"ct", r"terrace", r"hill", r"row", r"walk", r"mews", r"square", r"sq", r"rise",
    r"view", r"parade", r"vale", r"gate", r"wharf", r"green", r"park", r"chase", r"croft",
    r"meadow", r"meadows", r"fields", r"end", r"villas", r"cottages", r"yard", r"broadway",
)
_ADDRESS_RE = re.compile(
    r"(?<![\w£$.,/])(?:(?:flat|apartment|apt|unit) \d{1,4}[a-z]?,? )?\d{1,4}[a-z]?,? "
    r"(?:(?!(?:on|the|in|of|at|to|for|and|a|an|my|our|your|their|his|her|down|up|along|from|"
    r"with|by|more|other|cars?|times?|years?|days?|weeks?|people|houses|homes|new|old|big|"
    r"small|extra|different|separate)\b)[a-z][a-z'\-]{1,20} ){1,3}"
    + _alt(_STREET_SUFFIXES) + r"\b(?!-)"
)
_POSTCODE_RE = re.compile(r"\b[a-z]{1,2}\d[a-z\d]? ?\d[abd-hjlnp-uw-z]{2}\b")
_NI_NUMBER_RE = re.compile(r"\b[a-ceghj-pr-tw-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[a-d]\b")
_LIVES_AT_RE = re.compile(
    r"\b(?:lives?|living|staying|stays|resides?) (?:at|on|in)\b|\b(?:home |house |private )?"
    r"address(?:'s| is|:)|\b(?:his|her|their|the member'?s|your) (?:home|house|flat)(?: is)? "
    r"(?:at|on)\b"
)
_STREET_ONLY_RE = re.compile(
    r"\b(?:lives?|living|staying|stays|resides?) (?:at|on) (?:[a-z][a-z'\-]{1,20} ){1,3}"
    + _alt(_STREET_SUFFIXES) + r"\b"
)
_PUBLIC_BUILDING_RE = re.compile(
    r"\b(?:town hall|civic (?:centre|center|offices)|council offices|city hall|county hall|"
    r"library|police station|surgery is at|office is at|constituency office|council house|"
    r"meeting is|meeting at|committee room|venue|entrance|the council on|"
    r"council'?s (?:number|line|phone)|helpline|switchboard|contact cent(?:re|er)"
    r"|customer services|hotline|reception|call centre|freephone"
    # Venues for meetings and events: their address is published so people can come.
    r"|(?:community|leisure|sports|youth|resource|visitor|arts|day|family|children'?s|"
    r"enterprise|heritage) cent(?:re|er)|(?:church|village|parish|community|scout|memorial|"
    r"methodist|baptist|mission|masonic|guide|miners'?|british legion) hall|sports club|"
    r"all welcome|everyone welcome|open to all|meeting'?s at|drop-?in|food ?bank|"
    r"polling station|opening hours|event at|open day|coffee morning)\b"
)
_OWN_DETAILS_RE = re.compile(
    r"\b(?:my|our) (?:postcode|post code|address|number|phone|mobile|email|e-mail|house|home|"
    r"flat|landline)\b|\b(?:i live|we live|i'm at|we're at|contact me|call me|ring me|text me|"
    r"email me|message me|reach me)\b"
)
_THIRD_PERSON_RE = re.compile(r"\b(?:he|she|his|her|him|they|their|them|he's|she's)\b")
_PERSONAL_DATA_CONTEXT_RE = re.compile(
    r"\b(?:his|her|their|the (?:councillor|cllr)'?s?) (?:mobile|phone|number|email|e-mail|"
    r"address|mob)\b|\b(?:ring|call|text|message|whatsapp|email|e-mail) (?:him|her|them)\b"
)

# --------------------------------------------------------------------------------------------
# Defamation
# --------------------------------------------------------------------------------------------

_ALLEGATIONS: tuple[tuple[float, str, re.Pattern[str]], ...] = tuple(
    (score, note, re.compile(regex))
    for score, note, regex in (
        (0.9, "alleges theft of money", r"\bpocket(?:ed|ing)\b|\bpockets (?:the|our|public|"
         r"council|taxpayers'?|grant|money|cash|funds|donations|profits?)\b|\blin(?:e|es|ed|ing)"
         r" (?:his|her|their|your|own|the|its) (?:own )?pockets?\b"),
        (0.9, "alleges embezzlement or fraud", r"\bembezzl\w*|\bfraud(?:ster|sters|ulent|"
         r"ulently)?\b|\bdefraud\w*|\bmoney[- ]launder\w*|\blaunder(?:s|ed|ing)? (?:money|cash|"
         r"funds)\b|\btax (?:evasion|dodger|cheat|fraud)\b|\bevad(?:es|ed|ing) tax(?:es)?\b|"
         r"\bbenefits? (?:fraud|cheat)\b|\binsider (?:dealing|trading)\b|\bcook(?:s|ed|ing) "
         r"the books\b|\bfalsif(?:y|ies|ied|ying)\b|\bforg(?:ed|ery|ing)\b|\bperjur\w*|"
         r"\blied under oath\b|\bfiddl(?:es|ed|ing|er|ers) (?:\w+ )?(?:expenses|books|accounts|"
         r"figures|votes?|claims|the system)\b|\bexpenses (?:fiddl\w*|fraud|cheat)"),
        (0.9, "alleges bribery or corruption", r"\bbrib(?:e|es|ed|ery|ing)\b|\bbackhanders?\b|"
         r"\bkickbacks?\b|\bbrown envelopes?\b|\bbungs?\b|\bon the take\b|\bin the pay of\b|"
         r"\bon the payroll of\b|\bpaid off by\b|\bbought (?:off|and paid for)\b|\bcorrupt(?:ion"
         r"|ly)?\b|\bbent (?:as|councillor|cllr|copper|politician)\b|\bis bent\b|\bcrook(?:s|ed)?"
         r"\b|\b(?:a|known|career|convicted|common) criminals?\b(?! (?:waste|offences?|"
         r"investigations?|records?|acts?|justice|damage|case|matters?|gangs?|charges?|courts?"
         r"|lawyers?|negligence|behaviour|activity|use))|\bfix(?:ed|es|ing)? (?:the )?"
         r"(?:tender|contract|vote|election|planning|result|process|decision)s?\b"),
        (0.9, "alleges electoral fraud", r"\brig(?:ged|ging|s)? (?:the |a |his |her |their )?"
         r"(?:[a-z']{1,20} ){0,2}?(?:votes?|ballots?|elections?|count|result|tender|contract|"
         r"process|selection|consultation)\b|\bvote[- ]rigging\b|\bballot[- ]stuffing\b|"
         r"\b(?:electoral|election|postal vote) fraud\b|\bpaid (?:people|voters|residents|them|"
         r"folk|someone|locals|students|others) to vote\b|\bbuy(?:s|ing)? votes\b|\bbought "
         r"(?:the )?votes\b|\bvote[- ]buying\b|\bcash for (?:votes|questions|access|honours|"
         r"contracts|planning)\b|\bpaid for votes\b"),
        (0.9, "alleges a criminal record", r"\bcriminal record\b|\bprevious convictions?\b|"
         r"\bconvicted (?:of|for)\b|\bconvictions? for\b|\bserved time\b|\b(?:done|did) time\b|"
         r"\bbeen (?:inside|in prison|in jail|to prison|to jail)\b|\bjailed (?:for|in)\b|"
         r"\bex-?con\b|\bon bail\b|\barrested for\b|\bcharged with\b|\bcautioned for\b|"
         r"\bbanged up\b|\bwent to (?:prison|jail)\b|\bin (?:prison|jail) for\b"),
        (0.9, "alleges theft or dishonesty", r"\bshoplift\w*|\bburglar\w*|\bburgled\b|"
         r"\bthie(?:f|ves|ving)\b|\btheft\b|\bstole\b|\bsteals\b|\bstealing\b|\bstolen (?:from|"
         r"money|funds|cash)\b|\brobbed\b|\brobbery\b|\bdrug[- ]?deal\w*|\bdeals? drugs\b|"
         r"\bdealing drugs\b|\bcoke ?head\b"),
        (0.9, "alleges sexual or violent crime", r"\bpaedo\w*|\bpedo\w*|\bpaedophil\w*|\bnonce\b|"
         r"\bchild (?:abuser|molester|abuse)\b|\babus(?:es|ed|ing) (?:children|kids|a child|his "
         r"kids|her kids|his wife|her husband|staff)\b|\bsex offender\b|\brapist\b|\braped\b|"
         r"\bgroom(?:er|ed|ing|s) (?:children|kids|girls|boys|teenagers)\b|\bwife[- ]beater\b|"
         r"\bbeats (?:his|her) (?:wife|husband|partner|kids)\b|\bdomestic abuser\b|"
         r"\bassaulted\b|\bsexual(?:ly)? harass\w*|\bflash(?:ed|er|ing) (?:at )?(?:children|"
         r"kids|women)\b"),
        (0.75, "alleges misconduct", r"\b(?:gave|gives|giving|handed|hands|awarded|awards|"
         r"steered|steers|steering) (?:the |a |all the |every |them |their |his |her )?"
         r"(?:[a-z']{1,20} )?contracts? to (?:his|her|their|your) (?:mates?|friends?|pals?|"
         r"brother|sister|son|daughter|wife|husband|cousin|family|relatives|donors?|own)\b|"
         r"\bjobs for (?:his|her|the|their) (?:mates|boys|friends|family)\b|\bcronyism\b|"
         r"\bnepotism\b|\bin the pockets? of\b|\bin (?:the )?developers'? pockets?\b|"
         r"\bdrink[- ]driv\w*|\bdrunk[- ]driv\w*|\bturned up drunk\b|\bbullied (?:staff|"
         r"officers|members|colleagues)\b|\bhid (?:his|her|their) (?:interests?|shares|"
         r"donations)\b|\bfailed to declare\b|\bundeclared (?:interests?|gifts|donations)\b"),
        (0.85, "alleges sexual misconduct",
         r"\bgrop(?:ed|es|ing)\b|\bsexually (?:harass|assault|abus)\w*|\bmolest\w*|"
         r"\bindecent(?:ly)? (?:assault|expos)\w*|\bexposed (?:himself|herself)\b"),
        (0.85, "alleges drug crime",
         r"\bdeals? (?:coke|cocaine|drugs|weed|heroin|crack|pills)\b|\bdrug dealer\b|"
         r"\b(?:cannabis|weed|skunk) (?:farm|factory)\b"),
        (0.85, "alleges fraud or corruption",
         r"\bforg(?:es|ed|ing|ery)\b|\bfake address\b|\brig(?:s|ged|ging)? (?:the|votes|"
         r"tender|tendering|contract|ballot|election|count)\b|\bsecret (?:stake|share|shares|"
         r"interest|payments?)\b|\bbought (?:his|her|their) (?:votes|seat)\b|\btook (?:cash|"
         r"money|backhanders?|£\S+|\d+k)\b.{0,60}\b(?:from|in return for|to drop|to approve|"
         r"to wave)\b|\bin return for (?:the|his|her|their) vote\b|\bpaid (?:himself|"
         r"herself|themselves) twice\b|\bcorrupt to the core\b|\bclaim(?:s|ed|ing)? "
         r"(?:single person|benefits?|expenses)\b.{0,40}\b(?:while|whilst|but|when)\b|"
         r"\blets? (?:it|them|both|the flats?) out\b|\bsub-?lets?\b|\bknowingly (?:lied|"
         r"misled)\b|\blied to (?:full |the )?(?:council|committee|police|auditors)\b|"
         r"\bdrives? (?:round |around )?(?:uninsured|without insurance|banned|disqualified)\b"),
        (0.45, "alleges lying (often political)", r"\blied\b|\bliars?\b|\bdishonest\b|"
         r"\bcheat(?:ed|s|ing)?\b"),
    )
)

_TITLE_RE = re.compile(
    r"\b(?:cllr|councillor|councilor|counciller|mr|mrs|ms|miss|dr|sir|dame|lord|lady|mayor|"
    r"alderman|baroness|rev|reverend)\.? [a-z][a-z'\-]{1,30}"
)
_ROLE_RE = re.compile(
    r"\b(?:the|this|that|our|your|their|his|her) (?:local |ward |deputy |former |new |"
    r"current )?(?:councillor|cllr|leader|council leader|mayor|chair|chairman|chairwoman|"
    r"chairperson|chief executive|ceo|cabinet member|portfolio holder|ward councillor|mp|"
    r"officer|planning officer|lead member|treasurer|clerk|head teacher|headteacher|husband|"
    r"director|finance director|housing director|chief exec|deputy leader|head of [a-z]+|"
    r"wife|partner|son|daughter|brother|sister)\b|\b(?:cabinet member|portfolio holder|lead "
    r"member|spokesperson|executive member|member|councillor|cllr|mp) for [a-z]+"
)
_PRONOUN_RE = re.compile(r"\b(?:he|she|him|his|hers|himself|herself|you|your|yourself|u|ur)\b")
_QUESTION_START_RE = re.compile(
    r"^(?:was|were|did|does|do|has|have|had|is|are|could|would|should|can|will|may|might|why"
    r"|how|who|whose|what|when|where|which|isn't|wasn't|didn't|doesn't|hasn't|haven't)\b"
)
_CONDITIONAL_RE = re.compile(r"\b(?:if|whether|unless|suppose|supposing|imagine if)\b")
_REPORTED_RE = re.compile(
    r"\b(?:allegedly|alleged|accused|accusations?|allegations?|rumou?rs?|rumou?red|claims? "
    r"that|people say|they say|some say|word is|investigat\w*|reportedly|apparently|i heard|"
    r"i've heard|not saying|i wonder|"
    r"wondering|is it true)\b"
)
_DISPUTED_RE = re.compile(
    r"\b(?:don'?t|do not|doesn'?t|never) believe\b|\bnot true\b|\buntrue\b|\bsmears?\b|"
    r"\bnonsense\b|\bfake news\b"
)
_NEGATION_BEFORE_RE = re.compile(
    r"(?:\b(?:not|never|no|nothing|nobody|no one|cleared of|innocent of|denies|denied|"
    r"wrongly accused of)\b|n't)(?: [a-z'\-]{1,25}){0,2} ?$"
)
# Capitalised words that are not people's names even mid-sentence.
_NOT_NAMES = frozenset(
    """I I'm I've I'll I'd A An The This That These Those It Its It's He She They We You Your
    His Her Their Our My Me Him Them Us Everyone Everybody Someone Somebody Nobody No Not
    Anyone Anybody People Person There Here What When Where Why How Who Which Whose And But Or
    So If Then Also Just Only Even Still Yet Well Yes Now Today Tomorrow Yesterday Tonight
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May
    June July August September October November December Council Councils Councillor
    Councillors Cllr Cllrs Cabinet Member Members Mayor Leader Labour Tory Tories Conservative
    Conservatives Conservative Liberal Democrat Democrats Lib Dem Dems Green Greens Reform
    Independent Independents Party Government Minister Ministers Parliament MP MPs Police
    Court Courts Town Hall Borough County City District Ward Estate Road Street Lane Avenue
    Residents Resident Developers Developer Builders Contractors Officers Officer Planning
    Housing Highways Committee Full Everyone's Nobody's Someone's Hope Thanks Thank Please
    Shocking Disgraceful Pleased Well Good Great Bad Why Was Did Does Do Has Have Is Are Can
    Could Would Should Will Let Lets Don't Didn't Can't Won't Isn't Wasn't Apparently
    Allegedly Clearly Obviously Surely Honestly Seriously Sadly Funny Interesting Another
    Every All Some Most Many Few Both Each Either Neither One Two Three First Last Next
    Britain British England English UK NHS BBC Facebook Twitter X Instagram Google Asda Tesco
    Sainsbury's Lidl Aldi Morrisons Christmas Easter God Jesus OK Ok Oh Lol LOL Mr Mrs Ms Dr
    Sir Lord Lady""".split()
)
_CAPITALISED_RE = re.compile(r"\b[A-Z][a-z]+(?:['\-][A-Z]?[a-z]+)?\b")
_MEMBER_NAME_STOP = frozenset({"cllr", "councillor", "mr", "mrs", "ms", "dr", "miss", "the"})


@dataclass(frozen=True)
class _Hit:
    """A scored match: the score it gives its label and the reason string."""

    score: float
    reason: str


def _reason(doc: Normalised, start: int, end: int, note: str, *, folded: bool = False) -> str:
    """Given a match span on ``doc`` (normalised text, or folded text if ``folded``) and a
    note, return "matched '<original words>' (<note>)"."""
    quote = doc.quote(start, end, folded=folded) or doc.text[start:end]
    return f"matched '{quote}' ({note})"


def _run_rules(doc: Normalised, rules: Sequence[Rule],
               skip: Sequence[tuple[int, int]] = ()) -> list[_Hit]:
    """Given a normalised text, rules and spans of it to pass over, return a hit for each
    match (a few per rule) that does not lie wholly inside one of those spans."""
    hits: list[_Hit] = []
    for rule in rules:
        count = 0
        for match in rule.pattern.finditer(doc.text):
            if count >= _MAX_MATCHES_PER_RULE:
                break
            if match.end() == match.start():
                continue
            if any(start <= match.start() and match.end() <= end for start, end in skip):
                continue
            count += 1
            hits.append(_Hit(rule.score, _reason(doc, *match.span(), rule.note)))
    return hits


# Words in quotation marks: straight or curly double quotes, or single quotes that open after
# a space and close before one (so "I'll" does not open or close a quote).
_QUOTED_RE = re.compile(
    r'"[^"\n]{3,300}"|\u201c[^\u201d\n]{3,300}\u201d|'
    r"(?:^|(?<=[\s:(]))['\u2018][^\n]{3,300}?['\u2019](?=[\s.,!?;:)]|$)")
# Words around a quotation that say it is being reported, not said to the member.
_REPORTING_RE = re.compile(
    r"\b(?:said|saying|says|shouted|shouting|yelled|wrote|writing|written|posted|posting|"
    r"post|comments?|screenshots?|messages?|tweets?|tweeted|called|calling|threatened|"
    r"threatening|threats?|sent|heard|reported|reporting|police|condemn\w*|ashamed|vile|"
    r"disgusting|unacceptable|graffiti|sprayed|letters?|emails?)\b")


def _reported_spans(text: str) -> list[tuple[int, int]]:
    """Given a normalised text, return the spans of the quotations it reports ("someone
    posted 'I'll kill that councillor'. Vile."): a threat quoted to report or condemn it is
    not a threat by the commenter. Empty when nothing outside the quotes says it is reported
    ("I'll say it once: 'watch your back'" has no reporting word outside)."""
    spans = [m.span() for m in _QUOTED_RE.finditer(text)]
    if not spans:
        return []
    outside = text
    for start, end in reversed(spans):
        outside = outside[:start] + " " + outside[end:]
    return spans if _REPORTING_RE.search(outside) else []


# --- personal data ---


def _personal_data_hits(doc: Normalised) -> list[_Hit]:
    """Given a normalised text, return hits for phone numbers, emails, home addresses,
    postcodes and National Insurance numbers (matched on the folded text)."""
    text = doc.folded
    hits: list[_Hit] = []
    context = bool(_LIVES_AT_RE.search(text) or _PERSONAL_DATA_CONTEXT_RE.search(text))
    public = bool(_PUBLIC_BUILDING_RE.search(text))
    # A resident giving their own details to the member is not publishing someone else's.
    own = bool(_OWN_DETAILS_RE.search(text)) and not (
        _PERSONAL_DATA_CONTEXT_RE.search(text) or _THIRD_PERSON_RE.search(text)
    )

    def add(score: float, match: re.Match[str] | tuple[int, int], note: str) -> None:
        if own:
            # Still published for all to see on the member's page: the member should remove
            # it, but it is the commenter's choice, so it scores lower than someone else's.
            # A strong identifier (phone, email, house and street) still counts; a postcode
            # or a street alone, given by its own resident, does not.
            score = min(score, 0.6) if score >= 0.8 else min(score, 0.45)
            note += ", apparently the commenter's own"
        span = match.span() if isinstance(match, re.Match) else match
        hits.append(_Hit(score, _reason(doc, *span, note, folded=True)))

    seen_numbers: set[str] = set()
    for start, end, digits, personal in _phone_numbers(text):
        seen_numbers.add(digits[-10:])
        if not personal:
            add(0.3, (start, end), "non-geographic number, usually an organisation's")
            continue
        add(0.95 if context or digits.startswith(("447", "07")) else
            (0.4 if public else 0.8), (start, end), "phone number")
    for match in _limited(_NHS_RE.finditer(text)):
        if _nhs_checksum_ok(re.sub(r"\D", "", match.group(1))):
            add(0.95, match, "NHS number")
    for match in _limited(_DOB_RE.finditer(text)):
        add(0.85, match, "date of birth")
    if _PERSON_RE.search(text):
        for match in _limited(_PLATE_RE.finditer(text)):
            add(0.7, match, "vehicle registration of a named person")

    for match in _limited(_MOBILE_RE.finditer(text)):
        if re.sub(r"\D", "", match.group(0))[-10:] not in seen_numbers:
            add(0.95, match, "UK mobile number")
    for match in _limited(_LANDLINE_RE.finditer(text)):
        digits = sum(c.isdigit() for c in match.group(0))
        if digits in (10, 11, 12, 13) and \
                re.sub(r"\D", "", match.group(0))[-10:] not in seen_numbers:
            add(0.95 if context else (0.4 if public else 0.75), match, "UK phone number")
    for match in _limited(_SERVICE_NUMBER_RE.finditer(text)):
        add(0.3, match, "non-geographic number, usually an organisation's")
    for match in _limited(_EMAIL_RE.finditer(text)):
        domain = match.group(1)
        if _PUBLIC_EMAIL.search(domain):
            add(0.35, match, "email address at a public body")
        elif _FREEMAIL.search("." + domain):
            add(0.95, match, "personal email address")
        else:
            add(0.8, match, "email address")
    for match in _limited(_SPELT_EMAIL_RE.finditer(text)):
        spelt = match.group(0)
        if "dot" not in spelt and "(at)" not in spelt and "[at]" not in spelt:
            continue  # plain "at": ordinary English ("look at the state of it")
        domain = re.sub(r" ?(?:\(dot\)|\[dot\]| dot ) ?", ".", match.group(1))
        if _FREEMAIL.search("." + domain):
            add(0.9, match, "personal email address, spelt out")
        elif not _PUBLIC_EMAIL.search(domain):
            add(0.6, match, "email address, spelt out")
    for match in _limited(_ADDRESS_RE.finditer(text)):
        add(0.4 if public else (0.95 if context else 0.85), match, "house number and street")
    for match in _limited(_STREET_ONLY_RE.finditer(text)):
        add(0.4 if public else 0.85, match, "says which street someone lives on")
    for match in _limited(_POSTCODE_RE.finditer(text)):
        add(0.3 if public else (0.95 if context else 0.6), match, "UK postcode")
    for match in _limited(_NI_NUMBER_RE.finditer(text)):
        add(0.9, match, "National Insurance number")
    return hits


_NUMBER_WORDS = {"oh": "0", "o": "0", "zero": "0", "nought": "0", "one": "1", "two": "2",
                 "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                 "eight": "8", "nine": "9"}
# Ten or more digits written one at a time, spaced ("0 7 7 0 0 ...") or spelt out
# ("oh one one three, four nine six ..."): a number dressed up to slip past a filter.
_DIGIT_RUN_RE = re.compile(
    r"(?<![\w])(?:(?:\d|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")[ ,.\-]{1,3}){9,14}(?:\d|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")(?![\w])")
_NHS_RE = re.compile(r"\bnhs (?:number|no\.?|num)\b[^\d]{0,12}(\d{3}[ \-]?\d{3}[ \-]?\d{4})\b")
_DOB_RE = re.compile(
    r"\b(?:dob|d\.o\.b\.?|date of birth|born on|birthday is)\b[: ]{0,3}"
    r"\d{1,2}(?:[/.\-]\d{1,2}[/.\-]\d{2,4}|(?:st|nd|rd|th)? [a-z]{3,9},? \d{4})")
_PLATE_RE = re.compile(r"\b[a-z]{2}\d{2} ?[a-z]{3}\b")
_PERSON_RE = re.compile(r"\b(?:cllr|councillor|he|she|his|her|him|bloke|man|woman|lady|guy)\b"
                        r"|\b[a-z]+'s (?:car|van|range rover|audi|bmw|merc|transit)\b")


_PERSONAL_NUMBER_TYPES = frozenset({
    phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE, phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.UNKNOWN,
})


def _phone_numbers(text: str) -> list[tuple[int, int, str, bool]]:
    """Given folded text, return (start, end, digits, personal) for each valid phone number,
    found by Google's libphonenumber, including numbers written digit by digit or in words.
    ``personal`` is False for numbers organisations use (0300/0800/0845, premium, shared)."""
    found: list[tuple[int, int, str, bool]] = []
    for match in phonenumbers.PhoneNumberMatcher(text, "GB", leniency=phonenumbers.Leniency.VALID,
                                                 max_tries=_MAX_MATCHES_PER_RULE * 4):
        number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        personal = phonenumbers.number_type(match.number) in _PERSONAL_NUMBER_TYPES
        found.append((match.start, match.end, number.lstrip("+"), personal))
    for run in _limited(_DIGIT_RUN_RE.finditer(text)):
        digits = "".join(_NUMBER_WORDS.get(tok, tok)
                         for tok in re.findall(r"\d|[a-z]+", run.group(0)))
        try:
            parsed = phonenumbers.parse(digits, "GB")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed) and \
                not any(s <= run.start() < e for s, e, _, _ in found):
            found.append((run.start(), run.end(), digits, True))
    return found[:_MAX_MATCHES_PER_RULE]


def _nhs_checksum_ok(digits: str) -> bool:
    """Given ten digits, say whether they pass the NHS number's modulus-11 check."""
    if len(digits) != 10:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _limited(matches: Iterable[re.Match[str]]) -> list[re.Match[str]]:
    """Given an iterator of matches, return at most the first few (bounded work on spam)."""
    out: list[re.Match[str]] = []
    for match in matches:
        out.append(match)
        if len(out) >= _MAX_MATCHES_PER_RULE:
            break
    return out


# --- defamation ---


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Given text and a span in it, return the [start, end) of the sentence holding the span,
    the end including the terminating punctuation run."""
    begin = max(text.rfind(c, 0, start) for c in ".!?\n") + 1
    stops = [i for i in (text.find(c, end) for c in ".!?\n") if i != -1]
    stop = min(stops) if stops else len(text)
    while stop < len(text) and text[stop] in ".!?":
        stop += 1
    return begin, stop


def _member_names(member: str | None) -> list[str]:
    """Given the member's display name ("Cllr Jane Fraser"), return the lower-case name parts
    worth looking for ("jane", "fraser")."""
    if not member:
        return []
    parts = re.findall(r"[^\W\d_]{3,}", member.casefold())
    return [p for p in parts if p not in _MEMBER_NAME_STOP]


def _names_in_original(doc: Normalised, start: int, end: int) -> list[str]:
    """Given a sentence span of ``doc.text``, return the capitalised names in the original
    sentence ("Anne Moss", "Patel"), skipping common capitalised words and a lone
    sentence-initial capital (which is usually just the first word)."""
    if end <= start:
        return []
    raw = doc.source[doc.offsets[start] : doc.offsets[end - 1] + 1]
    raw = unicodedata.normalize(
        "NFKC", "".join(c for c in raw if unicodedata.category(c) != "Cf")
    )
    if raw.isupper():
        return []  # ALL CAPS says nothing about names
    # Group capitalised non-stop words separated by single spaces into runs ("Anne Moss").
    runs: list[list[re.Match[str]]] = []
    for token in _CAPITALISED_RE.finditer(raw):
        if token.group(0) in _NOT_NAMES:
            continue
        if runs and raw[runs[-1][-1].end() : token.start()] == " ":
            runs[-1].append(token)
        else:
            runs.append([token])
    names: list[str] = []
    for run in runs:
        initial = not raw[: run[0].start()].strip(" \"'(")
        if initial and len(run) == 1:
            continue
        names.append(" ".join(t.group(0) for t in run))
    return names


def _identified_person(doc: Normalised, start: int, end: int, member: str | None) -> str | None:
    """Given a sentence span of ``doc.text`` and the member's name, return words naming an
    identifiable person in it (title + name, a role, a pronoun, a capitalised name, the
    member's name), or None."""
    sentence = doc.text[start:end]
    for pattern in (_TITLE_RE, _ROLE_RE):
        match = pattern.search(sentence)
        if match:
            return doc.quote(start + match.start(), start + match.end())
    for name in _member_names(member):
        match = re.search(rf"\b{re.escape(name)}\b", sentence)
        if match:
            return doc.quote(start + match.start(), start + match.end())
    names = _names_in_original(doc, start, end)
    if names:
        return names[0]
    match = _PRONOUN_RE.search(sentence)
    if match:
        return match.group(0)
    return None


def _defamation_hits(doc: Normalised, member: str | None) -> list[_Hit]:
    """Given a normalised text and the member's name, return hits for allegations of crime,
    corruption or dishonesty. Full score needs an identifiable person in the same sentence and
    a statement (not a question or a condition); otherwise the hit is a low-scored hint."""
    text = doc.text
    hits: list[_Hit] = []
    for base, note, pattern in _ALLEGATIONS:
        for match in _limited(pattern.finditer(text)):
            start, end = _sentence_bounds(text, *match.span())
            sentence = text[start:end]
            before = text[start : match.start()]
            quote = doc.quote(*match.span())
            person = _identified_person(doc, start, end, member)
            if _NEGATION_BEFORE_RE.search(before):
                hits.append(_Hit(0.15, f"matched '{quote}' ({note}, but negated)"))
            elif "?" in sentence[-3:] or _QUESTION_START_RE.match(sentence.strip(" \"'(")):
                hits.append(_Hit(0.3, f"matched '{quote}' ({note}, but asked, not stated)"))
            elif _DISPUTED_RE.search(sentence):
                hits.append(_Hit(0.3, f"matched '{quote}' ({note}, but disputed)"))
            elif _CONDITIONAL_RE.search(before):
                hits.append(_Hit(0.3, f"matched '{quote}' ({note}, but conditional)"))
            elif person is None:
                hits.append(_Hit(min(base, 0.4), f"matched '{quote}' ({note}, no identifiable "
                                                  "person)"))
            else:
                score = base if not _REPORTED_RE.search(sentence) else min(base, 0.65)
                hedge = "" if score == base else ", repeated as rumour or report"
                hits.append(_Hit(score, f"matched '{quote}' ({note} about '{person}'{hedge})"))
    return hits


# --------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------


def _summarise(hits: Sequence[_Hit]) -> tuple[float, tuple[str, ...]]:
    """Given the hits for one label, return its score (the best hit's, 0.0 if none) and up to
    ``MAX_REASONS`` distinct reasons, best first."""
    if not hits:
        return 0.0, ()
    ordered = sorted(hits, key=lambda h: h.score, reverse=True)
    reasons: list[str] = []
    for hit in ordered:
        if hit.reason not in reasons:
            reasons.append(hit.reason)
        if len(reasons) >= MAX_REASONS:
            break
    return round(ordered[0].score, 4), tuple(reasons)


class RulesClassifier:
    """A ``TextClassifier`` made of hand-written rules; needs no model and no network."""

    name = "rules"
    version = "1"

    def classify(
        self, texts: Sequence[str], members: Sequence[str | None] | None = None
    ) -> list[Classification]:
        """Given texts and optionally the member whose page each is on, return one
        ``Classification`` per text, in order, with a score in [0, 1] for every label in
        ``TEXT_LABELS`` and reasons for each label that matched anything.

        Raises ``ValueError`` if ``members`` is given with a different length than ``texts``.
        """
        if members is not None and len(members) != len(texts):
            raise ValueError(f"{len(members)} members given for {len(texts)} texts")
        return [
            self.classify_one(text, members[i] if members is not None else None)
            for i, text in enumerate(texts)
        ]

    def classify_one(self, text: str, member: str | None = None) -> Classification:
        """Given one text and optionally the member's name, return its ``Classification``."""
        doc = normalise_mapped(text if isinstance(text, str) else str(text))
        by_label: dict[str, list[_Hit]] = {label: [] for label in TEXT_LABELS}
        by_label["threat"] = _run_rules(doc, _THREAT_RULES, _reported_spans(doc.text))
        by_label["offensive"] = _run_rules(doc, _OFFENSIVE_RULES)
        by_label["personal_data"] = _personal_data_hits(doc)
        by_label["defamation"] = _defamation_hits(doc, member)
        visit = _VISIT_CALL_RE.search(doc.folded)
        if visit and any(h.score >= 0.5 for h in by_label["personal_data"]):
            by_label["threat"].append(_Hit(0.9, _reason(
                doc, *visit.span(), "intimidation: someone's details published with a call "
                "to go there", folded=True)))
        scores: dict[str, float] = {}
        reasons: dict[str, tuple[str, ...]] = {}
        for label in TEXT_LABELS:
            score, why = _summarise(by_label.get(label, []))
            scores[label] = score
            if why:
                reasons[label] = why
        return Classification(scores=scores, reasons=reasons)
