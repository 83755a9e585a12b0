"""Names the study already knows, a trained NER when one is installed, and :func:`detect`, which
puts every finder together."""

from __future__ import annotations

import re

from insight.config import env
from pipelines.pseudonymise.lexicon import KINDS, STAFF, Mention, lexicon
from pipelines.pseudonymise.people import _is_cap, _person_rules, _sentence_start
from pipelines.pseudonymise.structured import _structured

# ---------------------------------------------------------------------------------------------
# Names the study already knows


class KnownNames:
    """Names to find as whole words, as written, Capitalised or in CAPITALS (and before 's).

    Matching looks each run of up to four words up in a dict, so a study's thousands of names cost
    no more than a few (a regex alternation of them would be tried at every character).

    >>> names = KnownNames(["Dave Okafor", "Grace"])
    >>> [text for _, _, text in names.find("DAVE OKAFOR: Grace's mum and dave okafor.")]
    ['DAVE OKAFOR', 'Grace']
    """

    _WORD = re.compile(r"[^\W_](?:[\w'’\-]*[^\W_])?")

    def __init__(self, names=(), values: dict | None = None):
        self.forms: dict[str, object] = {}
        self.longest = 1
        items = list((values or {}).items()) + [(n, None) for n in names]
        for name, value in items:
            name = " ".join(str(name).split())
            if len(name) < 2 or STAFF.match(name):
                continue
            for form in (name, name.title(), name.upper()):
                self.forms.setdefault(form, value)
            self.longest = max(self.longest, len(name.split()))

    def __bool__(self) -> bool:
        return bool(self.forms)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, form)`` of each known name in ``text``, longest first, left to right."""
        if not self.forms:
            return []
        words = [(m.start(), m.end()) for m in self._WORD.finditer(text)]
        out = []
        i = 0
        while i < len(words):
            hit = None
            for n in range(min(self.longest, len(words) - i), 0, -1):
                if n > 1 and any(text[words[k][1]:words[k + 1][0]] != " " for k in range(i, i + n - 1)):
                    continue
                start, end = words[i][0], words[i + n - 1][1]
                span = text[start:end]
                if span not in self.forms and span[-2:] in ("'s", "’s") and span[:-2] in self.forms:
                    end -= 2
                    span = span[:-2]
                if span in self.forms and (start == 0 or text[start - 1] not in "@.") and text[end:end + 1] != "@":
                    hit = (start, end, span, n)
                    break
            if hit:
                out.append(hit[:3])
                i += hit[3]
            else:
                i += 1
        return out

    def value(self, form: str):
        return self.forms.get(form)


def name_forms(names) -> set[str]:
    """Names found with confidence, and the parts of full names, to look for again: "Xiadani Ruiz"
    gives "Xiadani Ruiz", "Xiadani" and "Ruiz".

    >>> sorted(name_forms(["Xiadani Ruiz", "Kev"]))
    ['Kev', 'Ruiz', 'Xiadani', 'Xiadani Ruiz']
    """
    never = lexicon()["not"]
    sure = set(names)
    return sure | {part for name in sure if " " in name for part in name.split()
                   if len(part) > 2 and part.lower() not in never and _is_cap(part)}


def known_pattern(names) -> KnownNames | None:
    """The names to look for everywhere (``None`` when there are none)."""
    known = KnownNames(names)
    return known if known else None


def known_mentions(text: str, known: KnownNames | None, weak: KnownNames | None) -> list[Mention]:
    """Where known names occur in ``text`` (the weak ones only mid-sentence)."""
    out = []
    if known:
        out += [Mention(a, b, "PERSON", t, "known", 0.95) for a, b, t in known.find(text)]
    if weak:
        out += [Mention(a, b, "PERSON", t, "known", 0.7) for a, b, t in weak.find(text) if not _sentence_start(text, a)]
    return out


# ---------------------------------------------------------------------------------------------
# A trained NER, when one is installed


def ner_pipeline():
    """A spaCy pipeline that predicts entities, or ``None`` for the rules-only path.

    ``INSIGHT_SPACY_MODEL`` names one (a package or a path); ``blank`` forces rules only; otherwise
    the first installed ``en_core_web_*`` package is used.
    """
    import importlib.util

    from pipelines.nlp import TRAINED

    choice = env("SPACY_MODEL")
    if choice == "blank":
        return None
    # importing spaCy costs seconds (it pulls in torch): only when there is a pipeline to load
    names = [choice] if choice else [n for n in TRAINED if importlib.util.find_spec(n) is not None]
    if not names:
        return None
    try:
        import spacy  # noqa: F401
    except ImportError:
        return None
    from pipelines.nlp import get_nlp

    for name in names:
        nlp = get_nlp(name)
        if not nlp.meta.get("insight_path", "").startswith("trained"):
            continue
        factories = {nlp.get_pipe_meta(p).factory for p in nlp.pipe_names}
        if factories & {"ner", "beam_ner", "entity_ruler", "span_ruler", "entity_linker"}:
            return nlp
    return None


def _ner(doc) -> tuple[list[Mention], list[tuple[int, int]]]:
    people, places = [], []
    for ent in doc.ents:
        if ent.label_ in ("PERSON", "PER"):
            text = ent.text
            start = ent.start_char
            # "Mrs Jones" -> "Jones": the title stays
            m = re.match(r"(?:(?:" + "|".join(sorted(lexicon()["title"], key=len, reverse=True)) + r")\.?\s+)+",
                         text, re.IGNORECASE)
            if m and m.end() < len(text):
                start += m.end()
            end = ent.end_char
            while end > start and text[end - ent.start_char - 1] in ".,;:!?'’s" and \
                    doc.text[end - 2:end] in ("'s", "’s"):
                end -= 2
            body = doc.text[start:end]
            if body and not STAFF.match(body) and body.lower() not in lexicon()["not"]:
                people.append(Mention(start, end, "PERSON", body, "ner", 0.85))
        elif ent.label_ in ("GPE", "LOC", "ORG", "FAC", "NORP", "DATE", "PRODUCT", "EVENT", "WORK_OF_ART"):
            places.append((ent.start_char, ent.end_char))
    return people, places


# ---------------------------------------------------------------------------------------------
# Putting it together


def resolve_overlaps(mentions: list[Mention]) -> list[Mention]:
    """Keep the best of overlapping mentions: higher score, then longer."""
    import bisect

    starts: list[int] = []
    chosen: list[Mention] = []  # kept sorted by start, never overlapping
    for m in sorted(mentions, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        if m.end <= m.start:
            continue
        i = bisect.bisect_left(starts, m.start)
        if (i > 0 and chosen[i - 1].end > m.start) or (i < len(chosen) and chosen[i].start < m.end):
            continue
        starts.insert(i, m.start)
        chosen.insert(i, m)
    return chosen


def detect(text: str, *, known: KnownNames | None = None, known_weak: KnownNames | None = None,
           doc=None, kinds=KINDS) -> list[Mention]:
    """Personal data in ``text``, best first where spans overlap, in text order.

    ``known``/``known_weak`` are :class:`KnownNames` (names the study knows; the weak ones
    are parts of names that are also words, matched only mid-sentence). ``doc`` is a spaCy ``Doc``
    of ``text`` from a pipeline with NER (see :func:`ner_pipeline`); without one, rules only.
    Candidates (``score < REPLACE``) are included.

    >>> [(m.text, m.source) for m in detect("My daughter Grace rang Dr Hughes.")]
    [('Grace', 'cue'), ('Hughes', 'title')]
    """
    found = [m for m in _structured(text) if m.kind in kinds]
    if "PERSON" in kinds:
        people = _person_rules(text) + known_mentions(text, known, known_weak)
        if doc is not None:
            ner_people, places = _ner(doc)
            people += ner_people
            # a rule-found name inside what the NER calls a place or an organisation is only a candidate
            for i, m in enumerate(people):
                if m.source not in ("known", "ner", "title", "cue") and any(a <= m.start and m.end <= b for a, b in places):
                    people[i] = Mention(m.start, m.end, m.kind, m.text, m.source, min(m.score, 0.35))
        found += people
        found = resolve_overlaps(found)
        # a name found once is a name everywhere in this text ("Grace was seventeen" after "me and Grace")
        again = known_pattern(name_forms(m.text for m in found if m.kind == "PERSON" and m.score >= 0.55
                                         and m.source != "known"))
        if again is not None:
            found += [Mention(a, b, "PERSON", t, "same text", 0.75) for a, b, t in again.find(text)]
    return resolve_overlaps(found)
