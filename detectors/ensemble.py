"""The default text engine: rules, the tox-block model and the MiniLM threat bank, together.

Each stage does what it is good at, measured on the council sets (``benchmarks/eval.py``):

- rules (``detectors/rules.py``) are precise and explain themselves: threats aimed at the
  member, defamation, personal data, obfuscated abuse; they are the only source of
  ``defamation`` and ``personal_data``;
- tox-block (a BiLSTM trained on the Jigsaw data, ``detectors/toxblock.py``) catches insults,
  obscenity and identity attacks worded in ways no list foresees; its threat head is weak on
  implicit threats and fires on figurative violence, so it only ever raises the threat score
  of a comment that addresses someone;
- the MiniLM threat bank (``detectors/semantic.py``) sees threats phrased without keywords
  ("a can of petrol and a match would sort your office out"). On its own it flags too much
  civil text, so it runs only on comments that address a person and that the rules did not
  already call a threat, and a hit counts only when it is strong, or when tox-block also finds
  the comment hostile.

All three load once, at construction: a missing or corrupt model file fails at start.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from detectors.rules import RulesClassifier
from detectors.semantic import ThreatBank
from detectors.toxblock import JIGSAW_LABELS, ToxBlockModel
from watcher.domain import TEXT_LABELS, Classification

# Comments that address or name a person: only these can threaten someone.
_ADDRESSES = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur|ya|he|she|him|her|his|hers|they|them|their|cllr|"
    r"councillor|councilor|mp|mayor|leader|family|kids|wife|husband|house|home|office|car|"
    r"surgery)\b", re.IGNORECASE)

#: A semantic threat hit this strong counts on its own ...
SEMANTIC_ALONE = 0.88
#: ... and one this strong counts when tox-block finds the comment hostile too.
SEMANTIC_WITH_HOSTILITY = 0.75
HOSTILE = 0.35
#: tox-block's insult/obscene/identity-hate probability that maps to the offensive threshold
#: (0.8): civil and political comments on the council sets stay below 0.4.
MODEL_OFFENSIVE_AT_THRESHOLD = 0.6


class EnsembleClassifier:
    """The "default" engine. Given texts, returns a Classification per text in order."""

    name = "default"

    def __init__(self, rules: RulesClassifier | None = None, toxblock: ToxBlockModel | None = None,
                 bank: ThreatBank | None = None) -> None:
        """Load every stage (raises DetectorError naming a missing or corrupt model file)."""
        self.rules = rules or RulesClassifier()
        self.toxblock = toxblock or ToxBlockModel()
        self.bank = bank or ThreatBank()
        self.version = f"ensemble-1+{self.rules.name}-{self.rules.version}"
        # The daemon classifies from several poll threads; the encoder's tokenizer keeps
        # per-call padding state, so the bank is used by one thread at a time.
        self._bank_lock = threading.Lock()

    def classify(self, texts: Sequence[str], members: Sequence[str | None] | None = None
                 ) -> list[Classification]:
        if not texts:
            return []
        ruled = self.rules.classify(texts, members)
        jigsaw = self.toxblock.predict(texts)
        addressed = [_ADDRESSES.search(text[:5000]) is not None for text in texts]
        # The bank is the slow stage: only comments that address someone and that the rules
        # have not already called a threat.
        ask = [i for i, r in enumerate(ruled)
               if addressed[i] and r.scores.get("threat", 0.0) < 0.5]
        with self._bank_lock:
            semantic = dict(zip(ask, self.bank.score([texts[i] for i in ask]), strict=True))
        out = []
        for i, r in enumerate(ruled):
            heads = dict(zip(JIGSAW_LABELS, (float(x) for x in jigsaw[i]), strict=True))
            scores = {label: float(r.scores.get(label, 0.0)) for label in TEXT_LABELS}
            reasons = {label: list(r.reasons.get(label, ())) for label in TEXT_LABELS}
            offensive = min(1.0, 0.8 / MODEL_OFFENSIVE_AT_THRESHOLD * max(
                heads["insult"], heads["obscene"], heads["identity_hate"]))
            if offensive > scores["offensive"]:
                scores["offensive"] = offensive
                top = max(("insult", "obscene", "identity_hate"), key=heads.__getitem__)
                reasons["offensive"].append(f"text model: {top.replace('_', ' ')} "
                                            f"{heads[top]:.2f}")
            # tox-block's threat head also fires on figurative violence ("this budget will
            # kill the high street"): it counts only when the comment addresses someone.
            if heads["threat"] > scores["threat"] and addressed[i]:
                scores["threat"] = heads["threat"]
                reasons["threat"].append(f"text model: threat {heads['threat']:.2f}")
            if i in semantic:
                similarity, nearest = semantic[i]
                hostile = max(heads["toxic"], heads["threat"], heads["insult"]) >= HOSTILE
                if similarity >= SEMANTIC_ALONE or (similarity >= SEMANTIC_WITH_HOSTILITY
                                                    and hostile):
                    value = 0.5 + 0.45 * similarity
                    if value > scores["threat"]:
                        scores["threat"] = value
                        reasons["threat"].append(
                            f"reads like a threat ({similarity:.2f} similar to "
                            f"\"{nearest}\")")
            for head, value in heads.items():
                scores[f"jigsaw.{head}"] = round(value, 4)
            if i in semantic:
                scores["semantic.threat"] = semantic[i][0]
            out.append(Classification(scores={k: min(1.0, max(0.0, v))
                                              for k, v in scores.items()},
                                      reasons={k: tuple(v) for k, v in reasons.items() if v}))
        return out
