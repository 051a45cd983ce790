"""What the transformer stages share: windows of long texts, ONNX loading, the phrase banks.

* ``split_windows`` cuts a long comment into pieces a 64-token model can read whole, so a
  threat at the end of a long comment is still seen (``detectors.ensemble``).
* ``load_tokenizer``, ``load_session`` and ``bert_feeds`` load and feed a BERT-style ONNX
  model on onnxruntime and ``tokenizers`` alone: no torch (``detectors.council``).
* ``THREAT_PATTERNS`` and ``CONTRAST_PATTERNS`` are phrase banks written for this project:
  threats of violence to the member, family, home, car, office or surgery, death and harm
  wishes, "know where you live", veiled menace; and civil, blunt-political and figurative
  sentences that share words with threats ("this decision will kill the high street", "kill
  the bill"). Session 1 matched comments against them by sentence-embedding similarity; the
  council model now learns from them (``scripts/train_council_model.py`` trains on both).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from detectors._onnx import session_options
from watcher.errors import DetectorError

# Words per window when a long text is split, and how many windows a text may use: enough for
# the longest comment a platform allows (Facebook ~8,000 characters), bounded for 1 MB inputs.
WINDOW_WORDS = 80
# Shorter sentences are joined to the next one: alone they carry too little to embed.
MIN_SENTENCE_WORDS = 4
MAX_WINDOWS = 32


def cores() -> int:
    """Return the number of CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def bert_feeds(ids: list[list[int]]) -> dict[str, np.ndarray]:
    """Given token id lists, return a BERT model's three inputs, padded to the longest."""
    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)  # 0 is [PAD]
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for r, row in enumerate(ids):
        input_ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids)}


def load_tokenizer(path: Path, max_tokens: int, what: str = "model"):  # -> tokenizers.Tokenizer
    """Given tokenizer.json's path, return a Tokenizer truncating to ``max_tokens`` and not
    padding (padding is done per batch). Raises ``DetectorError`` naming the file."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise DetectorError(f"the 'tokenizers' package is needed for {path}: {exc}") from exc
    if not path.is_file():
        raise DetectorError(f"{what} tokenizer file missing: {path}")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise DetectorError(f"{what} tokenizer file unreadable: {path}: {exc}") from exc
    # The shipped file pads every text to 128: undo that, we pad to the longest in a batch.
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    return tok


def load_session(path: Path, threads: int, what: str = "model"):  # -> onnxruntime.InferenceSession
    """Given model.onnx's path and a thread count, return an onnxruntime session on CPU.

    Raises ``DetectorError`` naming the file if it is missing, unreadable or not the encoder.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise DetectorError(f"the 'onnxruntime' package is needed for {path}: {exc}") from exc
    if not path.is_file():
        raise DetectorError(f"{what} model file missing: {path}")
    options = session_options(ort, threads)
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's exceptions are not a public hierarchy
        raise DetectorError(f"{what} model file unreadable: {path}: {exc}") from exc
    names = {i.name for i in session.get_inputs()}
    if names != {"input_ids", "attention_mask", "token_type_ids"}:
        raise DetectorError(f"{what} model file has unexpected inputs {sorted(names)}: {path}")
    return session


# --------------------------------------------------------------------------------------------
# Splitting long texts
# --------------------------------------------------------------------------------------------

_WORDY = re.compile(r"\w")


def has_words(window: str) -> bool:
    """Say whether a window holds a letter or digit: one without says nothing a model can
    judge, and scores 0 rather than whatever "[CLS] [SEP]" happens to be near."""
    return _WORDY.search(window) is not None
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_windows(
    text: str, words: int = WINDOW_WORDS, limit: int = MAX_WINDOWS
) -> list[str]:
    """Given a text, return the pieces to embed: at most ``limit`` strings of at most
    ``words`` words each. An empty text gives ``[""]``; linear in the length of the text.

    A one-sentence text of up to ``words`` words comes back whole. A text of several
    sentences gives, when it is short enough, itself whole (so "A can of petrol. A match.
    Your office." is read together) and then each sentence, fragments of fewer than
    ``MIN_SENTENCE_WORDS`` words joined to the next, so a threat after a paragraph of
    complaint is embedded on its own and not averaged away. A run-on sentence is cut into
    pieces of ``words`` words.
    """
    if not isinstance(text, str):
        text = str(text)
    # Only the part that can fill ``limit`` windows is looked at: bounded work on 1 MB input.
    head = text[: limit * words * 30]
    all_words = head.split()
    sentences = [p.split() for p in _SENTENCE_END.split(head)]
    sentences = [p for p in sentences if p]
    if len(sentences) <= 1 and len(all_words) <= words:
        return [" ".join(all_words)]
    windows: list[str] = []
    if len(all_words) <= words:
        windows.append(" ".join(all_words))
    current: list[str] = []
    for parts in sentences:
        current.extend(parts)
        if len(current) < MIN_SENTENCE_WORDS:
            continue  # a fragment ("Right.", "Mark my words.") joins the next sentence
        while current and len(windows) < limit:
            windows.append(" ".join(current[:words]))
            current = current[words:]
        if len(windows) >= limit:
            break
    if current and len(windows) < limit:
        windows.append(" ".join(current))
    # A text that is one sentence plus fragments yields the same string twice: keep one.
    return list(dict.fromkeys(windows))[:limit] or [""]


# --------------------------------------------------------------------------------------------
# The banks
# --------------------------------------------------------------------------------------------

# Threats, harm and death wishes, and intimidation a UK councillor might be sent. Varied on
# purpose: target (member, family, home, car, office, surgery), register (slang, formal,
# veiled), and person (I / we / someone / people like you).
THREAT_PATTERNS: tuple[str, ...] = (
    # violence against the member
    "I'm going to kill you.",
    "I will hurt you badly.",
    "I'll smash your face in next time I see you.",
    "Someone is going to stab you one of these days.",
    "I'll put you in hospital.",
    "You're going to get a proper kicking.",
    "I will break your legs.",
    "Next time I see you in the street you won't walk away.",
    "I'll knock your teeth down your throat.",
    "We will beat you to a pulp.",
    "I'm going to put a bullet in your head.",
    "I'll slit your throat.",
    "I swear I will strangle you with my bare hands.",
    "I'm coming to get you.",
    "We are coming for you.",
    "I'll run you over if I see you crossing the road.",
    "Come to the meeting and you'll leave on a stretcher.",
    "Show your face at the market again and see what happens.",
    "You'll be carried out of the town hall in a box.",
    "I will make you pay for this with blood.",
    "I'll do time for you, I don't care.",
    "One punch is all it would take.",
    "A baseball bat would knock some sense into you.",
    "I'll throw acid in your face.",
    "You'd better hope I never catch you on your own.",
    "Wait till I get my hands on you.",
    "I'll be waiting for you in the car park after the meeting.",
    "I'm going to hunt you down.",
    # family
    "Your kids aren't safe.",
    "I know which school your children go to.",
    "It would be a pity if your daughter didn't come home one night.",
    "Your wife should be careful walking home alone.",
    "We'll go after your family next.",
    "Your family will pay for what you've done.",
    "Think about your children before you vote for this.",
    "How would you feel if something happened to your kids?",
    "Your son plays in the park on his own, doesn't he.",
    "Tell your husband to lock the doors at night.",
    # home, car, office, surgery
    "I know where you live.",
    "We know your address and we're coming round.",
    "I've been outside your house, nice curtains.",
    "Lovely house you've got, be a shame if it burned down.",
    "Your windows will be going in tonight.",
    "I'll put a brick through your window.",
    "Nice car. Be a shame if something happened to it.",
    "Your car will be on fire by the morning.",
    "Someone should slash the tyres on that car of yours.",
    "We'll smash your office up.",
    "Your constituency office will be burned to the ground.",
    "Your surgery on Saturday will be your last.",
    "I'll be coming to your surgery and I won't be alone.",
    "Your next advice surgery won't end well for you.",
    "We'll be waiting outside your front door.",
    "Don't be surprised when you find something nasty through your letterbox.",
    "Check under your car before you drive anywhere.",
    # arson
    "A can of petrol and a lighter would sort your house out.",
    "Someone should torch the council offices with you lot inside.",
    "I'll burn your house down with you in it.",
    "Petrol through the letterbox, that's what you need.",
    "Your home would go up nicely with a bit of petrol.",
    "One match and your office is gone.",
    "I hope your house catches fire while you sleep.",
    "We'll set fire to the town hall.",
    # death and harm wishes
    "I hope you die.",
    "I hope you get cancer and suffer.",
    "I wish someone would kill you.",
    "I hope you get hit by a bus.",
    "The world would be better off with you dead.",
    "I can't wait to dance on your grave.",
    "I'd love to see you hanging from a rope.",
    "You deserve to be shot.",
    "You should be hanged for this.",
    "You need putting down like a dog.",
    "Hope your family suffers the way we have.",
    "Somebody needs to take you out permanently.",
    "Die in a fire.",
    "Go kill yourself.",
    "Do everyone a favour and end it.",
    "Nobody would miss you if you were gone.",
    "I pray you have a slow and painful death.",
    "I hope you and your family burn.",
    "You won't live to see the next election.",
    "Your days on this earth are numbered.",
    "I hope you crash your car on the way home.",
    "I'll be celebrating the day you die.",
    "I hope someone gives you what you deserve.",
    "I'd pay good money to see you get hurt.",
    # intimidation, stalking, veiled menace
    "Watch your back.",
    "You'd better watch yourself.",
    "Sleep with one eye open.",
    "You won't see it coming.",
    "Accidents happen, councillor.",
    "I'd be careful walking home at night if I were you.",
    "We know what car you drive.",
    "I know what time you leave the office every day.",
    "I saw you at Tesco yesterday, you looked nervous.",
    "I've been following you for weeks.",
    "I know your routine.",
    "I know where you park.",
    "We're watching you.",
    "I'll be seeing you very soon.",
    "See you soon, councillor. Very soon.",
    "Keep looking over your shoulder.",
    "You've been warned.",
    "This is your last warning.",
    "You'll regret this for the rest of your short life.",
    "People like you get what's coming to them.",
    "Something bad is going to happen to you.",
    "It would be terrible if you had an accident.",
    "Be careful, these streets are dark at night.",
    "You never know who's waiting for you in the dark.",
    "Things could get very nasty for you.",
    "You have no idea what's coming.",
    "It's only a matter of time before someone gets you.",
    "Don't think you're safe just because you're a councillor.",
    "There are people round here who'd happily do you harm.",
    "Enjoy your last few weeks.",
    "Your card is marked.",
    "You're a marked man.",
    "You're a dead woman walking.",
    "You're dead meat.",
    "We have your photo and your address.",
    "I've got friends who sort out people like you.",
    "A few of the lads want a word with you, in person.",
    "It's a long walk back to your car after the meeting.",
    "We know where your mum lives too.",
    "You should think about your own safety.",
    "I can make your life hell and worse.",
    "You won't be smiling when we're finished with you.",
    "Stay off our estate if you know what's good for you.",
    "Keep your mouth shut or we'll shut it for you.",
    # traitors, lynch talk, incitement
    "You know what happens to traitors.",
    "Traitors get the rope.",
    "Traitors like you should be hanged.",
    "String them up from the lampposts.",
    "Bring back hanging for councillors like you.",
    "Line them up against the wall.",
    "When the day comes, you'll be first against the wall.",
    "Someone should sort this councillor out once and for all.",
    "Everyone go round to her house and show her what we think.",
    "Let's all pay him a visit at home.",
    "Here's his address, you know what to do.",
    "Somebody needs to deal with him, properly.",
    "Who's up for giving this clown a beating?",
    "If anyone sees her, give her a slap from me.",
    "Drag them out of the chamber and let the people deal with them.",
    "The people will take justice into their own hands.",
    "Remember what happened to Jo Cox.",
    "Remember what happened to David Amess.",
    "MPs have been killed for less.",
    "There's a reason politicians get stabbed.",
    "Get the pitchforks and torches, we're going to his house.",
    "This is how you end up in a ditch.",
    "People have been found in the canal for less than this.",
    "Keep pushing this and you'll find out what we're capable of.",
    # vehicles, sabotage, finding the member
    "Shame if your brake lines got cut one night.",
    "Be a pity if your wheel nuts worked loose on the motorway.",
    "It didn't take me long to find out where you live.",
    "Your address is only a couple of searches away, remember that.",
    "Your time is coming, and it won't be at the ballot box.",
    "What goes around comes around, and it's coming for you in a dark place.",
)

# Civil, blunt-political and figurative sentences, many sharing words with threats. These
# are what the threat score must stay low on.
CONTRAST_PATTERNS: tuple[str, ...] = (
    # figurative violence about policies and places
    "This decision will kill the high street.",
    "The council is killing this town.",
    "Kill the bill!",
    "I'd kill for a decent bus service.",
    "These parking charges are murdering local businesses.",
    "The new one-way system is a death trap for cyclists.",
    "The cuts will hurt the most vulnerable people.",
    "This budget is a slap in the face for pensioners.",
    "You're killing me with these puns, councillor.",
    "The housing plan has been shot down in flames.",
    "The proposal was dead on arrival.",
    "The library closures are a knife in the back of the community.",
    "Council tax rises are bleeding us dry.",
    "That speech was a bomb, nobody clapped.",
    "The high street is dying a slow death.",
    "Our town centre has been gutted by out-of-town retail parks.",
    "The opposition tore the budget to shreds.",
    "This scheme is a car crash waiting to happen.",
    "The roadworks are driving everyone mad.",
    "The traffic at the roundabout is murder every morning.",
    "Burn the old plan and start again.",
    "I could have strangled the bin men for waking me at five.",
    "That pothole will kill someone one day, please fix it.",
    "Speeding on this road will get a child killed, we need a crossing.",
    "Fire safety in the tower blocks is a disgrace.",
    "Petrol prices are killing rural families.",
    # blunt politics, electoral menace
    "Resign!",
    "Resign now, you've lost the trust of the ward.",
    "You'll be destroyed at the ballot box.",
    "We're coming for your seat in May.",
    "You will pay for this at the next election.",
    "Your days as a councillor are numbered.",
    "We'll vote you out and you'll never be elected again.",
    "Your party is finished in this town.",
    "I'll be campaigning against you every day until polling day.",
    "We will fight this decision all the way to the High Court.",
    "We're going to make your life difficult with complaints until you fix it.",
    "I'm reporting you to the standards committee.",
    "I'll be writing to the ombudsman about this.",
    "You should be ashamed of yourself.",
    "Shame on you and the whole cabinet.",
    "You are a disgrace to this council.",
    "Absolutely useless, the lot of you.",
    "You've betrayed everyone who voted for you.",
    "You sold out the residents of this ward.",
    "Traitor to the people who elected you, you'll lose your seat.",
    "Watch this space, the petition already has two thousand names.",
    "We know how you voted and we'll remember it in May.",
    "Everyone knows where you stand on the green belt.",
    "I know where you stand on this and I think you're wrong.",
    "Mark my words, this will come back to bite you politically.",
    "You'll regret this when the consultation results come in.",
    "Heads should roll at the council over this scandal.",
    "The chief executive should be sacked.",
    "Hang your head in shame.",
    "Get out and don't come back, we want a new councillor.",
    "Defund the vanity projects and fix the roads.",
    "Storm the consultation meeting on Tuesday and make your voices heard.",
    "Let's flood the council inbox with objections.",
    "Protest outside the town hall on Saturday at noon, bring placards.",
    # civil requests and thanks
    "Thank you for your help with the housing application.",
    "When is your next surgery?",
    "Could you come and look at the flooding on our street?",
    "I'd like to invite you to our residents' meeting on Thursday.",
    "Please could you visit our school and speak to the children?",
    "Would you come round to see the damp in my flat?",
    "I know you work hard, thank you for everything.",
    "Great to see you at the fun run, well done.",
    "Can you tell me where the polling station is?",
    "The streetlight outside my house has been broken for weeks.",
    "Your office hasn't replied to my email about the bins.",
    "Is the car park at the leisure centre free after six?",
    "Happy birthday councillor, hope you have a lovely day.",
    "We look forward to seeing you at the opening of the new park.",
    "My mum would love to meet you at the community centre.",
    "Our kids loved the new playground, thank you.",
    "Drop dead gorgeous photo of the town hall at sunset.",
    "The fireworks display was a blast, well done to the organisers.",
    "I hope you get well soon after your operation.",
    "Hope you and the family have a restful Christmas.",
    "Condolences to your family on your loss.",
    "The knife crime figures in this borough are frightening, what is being done?",
    "There was a stabbing on the high street last night, we need more police.",
    "A car was set on fire on our estate, can the council install CCTV?",
    "The arson attack on the community centre was heartbreaking.",
    "We need a memorial for those who died in the war.",
    "The film about the murder mystery was shot in our village.",
    "Shooting of the new advert takes place in the square on Monday.",
    "I'll see you at the full council meeting next week.",
    "We'll be outside the town hall with a petition on Friday.",
    "Come and watch the match at the social club with us.",
    "My dog nearly died eating rubbish left in the park.",
    "Someone will get hurt if the broken paving isn't repaired.",
    "I'm dying to hear what the budget holds.",
    "The comedian absolutely killed it at the charity night.",
    "He's a dead cert to win the by-election.",
    # political struggle in violent words
    "We will fight you on this in every ward.",
    "This is war on the motorist and we won't stand for it.",
    "We'll battle this scheme until it is scrapped.",
    "Your party has butchered local services.",
    "The cabinet slaughtered the arts budget.",
    "The council gutted the youth service and now wonders why there is trouble.",
    "You've declared war on working families.",
    "The opposition will crucify you in the chamber over this.",
    "We are going to hammer you in the local elections.",
    "You'll be wiped out in May, mark my words.",
    "The voters will punish you for this.",
    "Your career is over after this scandal.",
    "This will be the end of you politically.",
    "Councillors who vote for this should lose their seats.",
    "I'll never vote for you again and neither will my family.",
    "Take your fight to Westminster, not our bin collections.",
    # crime, danger and fear reported, not threatened
    "People are frightened to walk through the park at night since the muggings.",
    "Anti-social behaviour on our street is out of control, what will the council do?",
    "My neighbour's car was vandalised again last night.",
    "Drug dealing outside the shops is terrifying residents.",
    "Someone will be killed on this junction unless the council acts.",
    "The gang fights near the station are scaring everyone.",
    "Elderly residents feel unsafe since the police station closed.",
    "There was a serious assault near the school, parents are worried.",
    "Fly-tippers dumped burning rubbish in the alley behind our house.",
    # service complaints and neutral mentions of home, car, office, family
    "Nobody from your office has replied to me in three weeks.",
    "I've emailed your office four times about the damp and heard nothing.",
    "I know you live in the ward, so you'll know how bad the bins are.",
    "I know where the meeting is but what time does it start?",
    "Your car was parked on the zigzags outside the school, not a good look.",
    "Do you know where I can get a parking permit for my street?",
    "My kids walk to school past the broken railings every day.",
    "My family has lived on this road for sixty years.",
    "The bins outside my house haven't been emptied for a fortnight.",
    # frustration at things, not people
    "I could scream at the state of these roads.",
    "I want to throttle whoever decided to close the toilets in the park.",
    "This printer at the library is going to be the death of me.",
    "The new parking app makes me want to throw my phone in the canal.",
    "I'll kill my husband if he forgets the recycling again, ha ha.",
    "That pothole nearly killed my suspension.",
    # places and things gone
    "Good riddance to the old multi-storey, it was an eyesore.",
    "Nobody will mourn the closure of that awful nightclub.",
    "Knock the old flats down and build decent homes.",
    "Bulldoze the lot and start again with a proper plan.",
    "Blow up the ring road and start again, it's a disaster.",
    # warm wishes and praise
    "Best wishes to you and your family, thank you for your service.",
    "You've got a lot of support on our estate, keep going.",
    "We're behind you all the way on the new crossing.",
    "Lovely to meet you at the surgery on Saturday.",
    "Thanks for coming round to look at our roof, very kind of you.",
    "Sorry to hear about your dad, thinking of you.",
    # abuse and insults with no threat in them (the "offensive" label, not "threat")
    "You are a useless idiot.",
    "What a spineless weasel you are.",
    "Stupid woman doesn't know what she's talking about.",
    "You're a complete waste of space.",
    "Shut up, you absolute clown.",
    "You thick, lazy, greedy pig.",
    "Pathetic little man, nobody likes you.",
    "You're an embarrassment to this town, you moron.",
    "Go away and stop talking rubbish, you muppet.",
    "Nobody cares what you think, loser.",
    "You lying hypocrite, you make me sick.",
    "Ugly inside and out.",
    "You're a joke and so is your party.",
    "Typical useless councillor, all talk and no action.",
    "What a f***ing idiot.",
    "You make me sick to my stomach.",
    "His mobile number is on the council website, ring him and complain.",
    "She lives in the ward so she should know better.",
    # everyday chatter unrelated to anyone's safety
    "Lol that match last night was trash.",
    "My mum didn't buy biscuits, worst day ever.",
    "Can't believe it's raining again, so much for summer.",
    "Anyone know a good plumber in the area?",
    "That new burger place on the high street is amazing.",
    "I locked myself out of the house again, classic me.",
    "Just got home from work, absolutely shattered.",
    "My eyes are so tired from staring at a screen all day.",
    "Who's watching the football tonight?",
    "This song has been stuck in my head all week.",
    "Happy Friday everyone, enjoy the weekend.",
    "My dog keeps staring at the door like someone's outside, creepy.",
    "Great photo, where was it taken?",
    "The queue at the post office was ridiculous this morning.",
    "I'm never eating that much pizza again.",
    "Ha ha, brilliant, made my day.",
    "Random question but does anyone still use a fax machine?",
    "Bought new trainers and they already hurt my feet.",
)
