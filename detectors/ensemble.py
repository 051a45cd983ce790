"""The default text engine: rules, tox-block and the council model, together.

Each stage does what it is good at, measured on the council sets (``benchmarks/eval.py``):

- rules (``detectors/rules.py``) are precise and explain themselves: threats aimed at the
  member, defamation, personal data, obfuscated abuse;
- the council model (MiniLM fine-tuned on labelled council comments, ``detectors/council.py``)
  generalises where patterns cannot: implicit threats ("just drove past your gaff, lights were
  on"), allegations worded in new ways, insults no list foresees. It reads the normalised
  comment (a long one window by window) and its probability is mapped so that its own
  threshold lands on the label's configured one;
- tox-block (a BiLSTM trained on the Jigsaw data, ``detectors/toxblock.py``) catches insults,
  obscenity and identity attacks; its threat head is weak on implicit threats and fires on
  figurative violence, so it only ever raises the threat score of a comment that addresses
  someone.

A label's score is the highest any stage gives it, and every stage that passes the threshold
adds its reason. All stages load once, at construction: a missing or corrupt model file fails
at start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from detectors.council import CouncilModel, to_score
from detectors.menace import COUNCIL_THREAT_WITH_CUE, CUE_SCORE, menace_cue
from detectors.rules import RulesClassifier
from detectors.semantic import WINDOW_WORDS, has_words, split_windows
from detectors.text import DEFAULT_THRESHOLDS, normalise
from detectors.toxblock import JIGSAW_LABELS, ToxBlockModel
from watcher.domain import TEXT_LABELS, Classification

# Comments that address or name a person: only these can threaten someone.
_ADDRESSES = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur|ya|he|she|him|her|his|hers|they|them|their|cllr|"
    r"councillor|councilor|mp|mayor|leader|family|kids|wife|husband|house|home|office|car|"
    r"surgery)\b", re.IGNORECASE)

#: tox-block's insult/obscene/identity-hate probability that maps to the offensive threshold
#: (0.8): civil and political comments on the council sets stay below 0.4.
MODEL_OFFENSIVE_AT_THRESHOLD = 0.6


def rules_judged_public(ruled: Classification) -> bool:
    """Given the rules' verdict on a comment, say whether they found contact details and
    judged them public (a council address, an organisation's number, the commenter's own
    postcode): then the council model, which cannot tell a venue from a home, may not
    overrule them on personal data."""
    return 0.0 < ruled.scores.get("personal_data", 0.0) < DEFAULT_THRESHOLDS["personal_data"]


class EnsembleClassifier:
    """The "default" engine. Given texts, returns a Classification per text in order."""

    name = "default"

    def __init__(self, rules: RulesClassifier | None = None, toxblock: ToxBlockModel | None = None,
                 council: CouncilModel | None = None) -> None:
        """Load every stage (raises DetectorError naming a missing or corrupt model file)."""
        self.rules = rules or RulesClassifier()
        self.toxblock = toxblock or ToxBlockModel()
        self.council = council or CouncilModel()
        self.version = f"ensemble-2+{self.rules.name}-{self.rules.version}"

    def classify(self, texts: Sequence[str], members: Sequence[str | None] | None = None
                 ) -> list[Classification]:
        if not texts:
            return []
        ruled = self.rules.classify(texts, members)
        jigsaw = self.toxblock.predict(texts)
        normalised = [normalise(t) for t in texts]
        learned = self._read(normalised)
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
            if heads["threat"] > scores["threat"] and _ADDRESSES.search(texts[i][:5000]):
                scores["threat"] = heads["threat"]
                reasons["threat"].append(f"text model: threat {heads['threat']:.2f}")
            judged_public = rules_judged_public(r)
            for label, probability in learned[i].items():
                threshold = self.council.thresholds[label]
                value = to_score(probability, threshold, DEFAULT_THRESHOLDS[label])
                if label == "personal_data" and judged_public:
                    value = min(value, scores[label])
                if value > scores[label]:
                    scores[label] = value
                    if probability >= threshold:
                        reasons[label].append(f"council model: {label.replace('_', ' ')} "
                                              f"{probability:.2f}")
                scores[f"council.{label}"] = round(probability, 4)
            # The second look: threat-like to the model, and naming something a threat has.
            council_threat = learned[i].get("threat", 0.0)
            if scores["threat"] < CUE_SCORE and council_threat >= COUNCIL_THREAT_WITH_CUE:
                cue = menace_cue(normalised[i], council_threat)
                if cue:
                    scores["threat"] = CUE_SCORE
                    reasons["threat"].append(f"council model: threat {council_threat:.2f}, "
                                             f"with a menace cue ('{cue}')")
            for head, value in heads.items():
                scores[f"jigsaw.{head}"] = round(value, 4)
            out.append(Classification(scores={k: min(1.0, max(0.0, v))
                                              for k, v in scores.items()},
                                      reasons={k: tuple(v) for k, v in reasons.items() if v}))
        return out

    def _read(self, normalised: Sequence[str]) -> list[dict[str, float]]:
        """Given normalised texts, return per text the council model's probability per label.

        A comment of up to ``WINDOW_WORDS`` words is read whole (that is how the model was
        trained); a longer one is split into windows (``split_windows``) so a threat after a
        paragraph of complaint is read on its own, and each label takes its highest window.
        """
        windows: list[str] = []
        owner: list[int] = []
        for i, doc in enumerate(normalised):
            pieces = [doc] if len(doc.split()) <= WINDOW_WORDS else split_windows(doc)
            for window in pieces:
                if has_words(window):
                    windows.append(window)
                    owner.append(i)
        labels = self.council.labels
        learned = [dict.fromkeys(labels, 0.0) for _ in normalised]
        if windows:
            probs = self.council.predict(windows)
            for w, i in enumerate(owner):
                for j, label in enumerate(labels):
                    learned[i][label] = max(learned[i][label], float(probs[w, j]))
        return learned
