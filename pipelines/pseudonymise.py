"""Finding personal data in text: people's names, emails, phone numbers, UK postcodes, street
addresses, dates of birth and NHS numbers.

:func:`detect` reads one text and returns :class:`Mention` spans with a kind, the rule that found
them and a score. It never touches the database; :mod:`insight.privacy` turns mentions into stable
pseudonyms across a study, rewrites the stored text and keeps the originals apart.

Names come from, strongest first: names the study already knows (participants, earlier finds,
researcher additions), a trained spaCy NER when one is installed (``INSIGHT_SPACY_MODEL`` or
``en_core_web_*``), and rules: titles (``Mrs Jones`` keeps ``Mrs``), cue phrases (``my name is``,
``called``, ``my daughter``), greetings (``Hi Dave``), speaker labels, and the given names and
surnames shipped in ``insight/data``. A capitalised word that no rule vouches for is a
*candidate*: listed for review, not replaced. ``score >= REPLACE`` means "replace".

>>> [(m.kind, m.text) for m in detect("Ring Mrs Jones on 07700 900 183 or jo@example.org.")]
[('PERSON', 'Jones'), ('PHONE', '07700 900 183'), ('EMAIL', 'jo@example.org')]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

KINDS = ("PERSON", "EMAIL", "PHONE", "POSTCODE", "ADDRESS", "DOB", "NHS")
LABELS = {"PERSON": "PERSON", "EMAIL": "EMAIL", "PHONE": "PHONE", "POSTCODE": "POSTCODE", "ADDRESS": "ADDRESS",
          "DOB": "DOB", "NHS": "NHS NUMBER"}
REPLACE = 0.5  # at or above: replaced; below: a candidate for review
DATA = Path(__file__).resolve().parent.parent / "insight" / "data"


@dataclass
class Mention:
    """A span of personal data: ``text == source_text[start:end]``."""

    start: int
    end: int
    kind: str
    text: str
    source: str
    score: float

    @property
    def replace(self) -> bool:
        return self.score >= REPLACE


# ---------------------------------------------------------------------------------------------
# Word lists


def _words(name: str) -> list[str]:
    out = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        out.extend(line.split())
    return out


@lru_cache(maxsize=1)
def lexicon() -> dict[str, frozenset[str]]:
    """The shipped word lists, lower-cased: given names, surnames, ambiguous names, non-names, titles."""
    return {
        "given": frozenset(w.lower() for w in _words("given_names.txt")),
        "surname": frozenset(w.lower() for w in _words("surnames.txt")),
        "ambiguous": frozenset(w.lower() for w in _words("name_words.txt")),
        "not": frozenset(w.lower() for w in _words("not_names.txt")),
        "title": frozenset(w.lower() for w in _words("titles.txt")),
    }


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """English words more often written in lower case than Capitalised (``data/common_words.txt``)."""
    return frozenset(_words("common_words.txt"))


def common_word(word: str) -> bool:
    """True for an everyday word that happens to be capitalised here.

    >>> common_word("Properly"), common_word("Margaret")
    (True, False)
    """
    return word.lower() in _common_words()


# Words that end a place or an organisation's name ("Marsh Lane", "Kingsmead Library").
PLACE_WORDS = frozenset("""
road rd street st lane ln avenue ave close drive way court ct crescent cres place pl gardens gdns grove terrace
walk hill row square sq mews parade view rise green park vale fold croft gate wharf yard bank brow side meadow
meadows chase end estate quarter ward borough city town village centre center hub library council trust house
hall school academy college university hospital surgery clinic church chapel mosque temple station bridge
market arms inn pub club association society partnership network fund agency service services office team
department unit group board authority commission foundation charity project forum line credit support
benefit benefits allowance towers tower heights point lodge mansions building buildings cottages farm works
mill mills docks dock canal river valley forest wood woods moor common fields field airport port homes home
""".split())
STREET_TYPES = (r"Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Way|Court|Ct|Crescent|Cres|Place|Pl|"
                r"Gardens|Gdns|Grove|Terrace|Walk|Hill|Row|Square|Sq|Mews|Parade|View|Rise|Green|Park|Vale|Fold|"
                r"Croft|Gate|Wharf|Yard|Bank|Brow|Meadows?|Chase|End|Boulevard|Embankment|Promenade")
STAFF = re.compile(r"^(interviewer|int|i|q|researcher|facilitator|moderator|host|note ?taker|observer|"
                   r"respondent|participant|speaker|unknown)(\s*\d+)?$", re.IGNORECASE)

# ---------------------------------------------------------------------------------------------
# Structured kinds

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")
_SPOKEN_EMAIL = re.compile(r"\b[a-z0-9]+(?:[ \t]+dot[ \t]+[a-z0-9]+)*[ \t]+at[ \t]+[a-z0-9-]+"
                           r"(?:[ \t]+dot[ \t]+(?:com|co|uk|org|net|gov|ac|nhs|info|me|io))+\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+£$€/.,:-])(?:\+|00)?\(?\d[\d \t().-]{6,20}\d(?![\w/-]|[.,]\d)")
_NHS = re.compile(r"(?<![\w+£$€/.,-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w/-]|[.,]\d)")
_POSTCODE = re.compile(r"\b(?:GIR[ \t]?0AA|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
_ADDRESS = re.compile(
    r"(?:\b(?:Flat|Apartment|Apt|Unit|Room)[ \t]+\d+[A-Za-z]?,?[ \t]+)?"
    r"(?:(?:[A-Z][\w'’]+[ \t]+){1,2}(?:House|Court|Mansions|Lodge|Building|Tower|Heights|Point|Hall|Cottages),?[ \t]+)?"
    r"\b\d{1,4}[A-Za-z]?,?[ \t]+(?:[A-Z][\w'’-]+[ \t]+){1,3}(?:" + STREET_TYPES + r")\b\.?")
_MONTHS = (r"January|February|March|April|May|June|July|August|September|October|November|December|"
           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec")
_DATE = (r"(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})"
         r"|(?:the[ \t]+)?\d{1,2}(?:st|nd|rd|th)?(?:[ \t]+of)?[ \t]+(?:" + _MONTHS + r")\.?,?[ \t]+(?:\d{4}|'\d{2})"
         r"|(?:" + _MONTHS + r")\.?[ \t]+(?:the[ \t]+)?\d{1,2}(?:st|nd|rd|th)?,?[ \t]+\d{4})")
_DOB = re.compile(r"(?:\bdate[ \t]+of[ \t]+birth|\bd\.?o\.?b\b\.?|\bborn\b(?:[ \t]+on)?|\bbirthday\b|\bbirth[ \t]+date)"
                  r"(?P<gap>[^\n;]{0,40}?)(?P<date>" + _DATE + r")(?![\w/])", re.IGNORECASE)
_DATE_CHAIN = re.compile(r"(?P<gap>[ \t]*(?:,|and|&)[^\n;.]{0,20}?)(?P<date>" + _DATE + r")(?![\w/])", re.IGNORECASE)
_DATE_AFTER_NAME = re.compile(r"[A-Z][\w'’-]+[ \t]*\((?P<date>\d{1,2}[/.]\d{1,2}[/.]\d{4}|\d{4}-\d{2}-\d{2})\)")


def nhs_valid(digits: str) -> bool:
    """The NHS number check digit (modulus 11).

    >>> nhs_valid("9434765919"), nhs_valid("9434765918")
    (True, False)
    """
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _structured(text: str) -> list[Mention]:
    found: list[Mention] = []

    def add(start, end, kind, source, score):
        found.append(Mention(start, end, kind, text[start:end], source, score))

    for m in _EMAIL.finditer(text):
        add(m.start(), m.end(), "EMAIL", "email", 0.99)
    for m in _SPOKEN_EMAIL.finditer(text):
        add(m.start(), m.end(), "EMAIL", "spoken email", 0.9)
    for m in _NHS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if not nhs_valid(digits):
            continue
        context = text[max(0, m.start() - 40):m.start()].lower()
        spaced = bool(re.fullmatch(r"\d{3}[ -]\d{3}[ -]\d{4}", m.group()))
        if "nhs" in context or "health" in context:
            add(m.start(), m.end(), "NHS", "nhs number", 0.98)
        elif spaced and digits[0] != "0":
            add(m.start(), m.end(), "NHS", "nhs number", 0.8)
    for m in _PHONE.finditer(text):
        raw = m.group()
        if "\n" in raw:
            continue
        digits = re.sub(r"\D", "", raw)
        if raw.startswith("+") or raw.startswith("00"):
            ok = 8 <= len(digits) <= 15
        elif raw.lstrip("(").startswith("0"):
            ok = 10 <= len(digits) <= 11 and digits[1] != "0"
        else:
            ok = False
        if ok and raw.count("(") == raw.count(")") and not re.search(r"[ .-]{2}|\d[ .-]\d[ .-]\d[ .-]\d", raw):
            add(m.start(), m.end(), "PHONE", "phone", 0.95)
    for m in _POSTCODE.finditer(text):
        word = m.group()
        if word.islower() or word.isupper():
            add(m.start(), m.end(), "POSTCODE", "postcode", 0.95)
    for m in _ADDRESS.finditer(text):
        end = m.end() - (1 if m.group().endswith(".") and m.group()[:-1].split()[-1] not in ("St", "Rd", "Ave") else 0)
        add(m.start(), end, "ADDRESS", "address", 0.9)
    for m in _DOB.finditer(text):
        if "." in m.group("gap").rstrip(". ") and "?" not in m.group("gap"):
            continue  # the date is in the next sentence
        add(m.start("date"), m.end("date"), "DOB", "date of birth", 0.95)
        pos = m.end("date")
        while True:
            chain = _DATE_CHAIN.match(text, pos)
            if not chain:
                break
            add(chain.start("date"), chain.end("date"), "DOB", "date of birth", 0.85)
            pos = chain.end("date")
    for m in _DATE_AFTER_NAME.finditer(text):
        add(m.start("date"), m.end("date"), "DOB", "date after a name", 0.6)
    return found


# ---------------------------------------------------------------------------------------------
# People

_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*\.?")
_CUE_STRONG = re.compile(
    r"(?:\b(?:my|his|her|their|our|your|the)\s+(?:first\s+|real\s+|sur|last\s+|full\s+)?name(?:'s|’s|\s+is|\s+was)?"
    r"|\b(?:called|named|known\s+as|calls?\s+(?:me|you|him|her|them)|introduced\s+(?:him|her)self\s+as"
    r"|goes\s+by|ask\s+for|asked\s+for|spoke\s+to|speak\s+to|talked\s+to|spoken\s+to|first\s+name|surname"
    r"|me\s+and)"
    r"|(?:\b(?:my|his|her|their|our|your|the|a)|\b\w+['’]s|\b\w+s['’])\s+(?:(?:eldest|youngest|little|older|younger|big|late|ex|step|best|old)[\s-]+)?"
    r"(?:son|daughter|husband|wife|partner|boyfriend|girlfriend|fianc[ée]e?|mum|mom|mother|dad|father|brother|sister|"
    r"nan|gran|grandson|granddaughter|grandma|grandad|aunt|auntie|uncle|cousin|niece|nephew|friend|mate|pal|"
    r"neighbour|neighbor|carer|lad|girl|boy|eldest|youngest|housemate|flatmate|landlord|landlady|ex|ex-wife|"
    r"ex-husband|stepson|stepdaughter|colleague|boss|manager|worker|caseworker|advisor|adviser|lodger|baby|"
    r"child|kid|twin|in-law|mother-in-law|father-in-law|sister-in-law|brother-in-law|son-in-law|daughter-in-law)"
    r"|\b(?:social|support|key|care|case|youth)\s+worker|\b(?:caseworker|advisor|adviser|volunteer|teacher|"
    r"consultant|nurse|landlord|landlady|midwife|health\s+visitor|officer|councillor|manager|agent|mentor))"
    r"[\s,]*(?:is\s+|was\s+|,\s*)?$", re.IGNORECASE)
_CUE_GREETING = re.compile(r"(?:^|[\s,.!?\"“])(?:hi|hiya|hello|hey|thanks|thank\s+you|cheers|bye|goodbye|morning|"
                           r"evening|sorry|dear|welcome|congratulations|ta|night|love\s+you)[\s,]*$", re.IGNORECASE)
_CUE_SELF = re.compile(r"(?:\bI'?m|\bI\s+am|\bit'?s|\bit\s+is|\bthis\s+is|\bme\s+and|\bwith|\band|\bto|\bfrom|\bby|"
                       r"\bfor|\babout|\bfeeds?|\btold|\basked|\bmet|\bsaw|\bvisited|\bphoned|\brang|\btexted)\s+$",
                       re.IGNORECASE)
_AFTER_STRONG = re.compile(r"^(?:['’]s)?\s+(?:said|says|told|tells|asked|asks|rang|rings|phoned|phones|texted|texts|"
                           r"reckons|reckoned|replied|answered|explained|emailed|messaged|shouted|laughed|cried|"
                           r"smiled|died|passed|moved|lives|lived|works|worked|helped|helps|sorted|drives|drove|"
                           r"visits|visited|came\s+round|comes\s+round|and\s+(?:me|I)\b|and\s+his\b|and\s+her\b)\b",
                           re.IGNORECASE)
_AFTER_WEAK = re.compile(r"^(?:['’]s\b|\s+(?:is|was|has|had|does|did|will|would|can|could|came|comes|went|goes|"
                         r"gave|gives|brought|brings|runs|ran|got|gets|wants|wanted|knows|knew|thinks|thought|"
                         r"feels|felt|looks|looked|needs|needed|used|keeps|kept|still|never|always|just|"
                         r"from\s+the|at\s+the|who|who's)\b)", re.IGNORECASE)
_OPENERS = frozenset("and but so or if then when because like well oh yeah yes no okay ok right hi hiya hello hey "
                     "thanks cheers bye sorry dear morning evening help tell ask call ring see let get take meet "
                     "poor bless dear old young little big auntie uncle nan nana".split())


def _sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    opened = False
    while i >= 0 and text[i] in " \t\"'“‘([*":
        opened = opened or text[i] in "\"“‘(["
        i -= 1
    return opened or i < 0 or text[i] in ".!?:\n…]" or (text[i] in "-—–" and i > 0 and text[i - 1] in " -")


_CONTRACTION = re.compile(r"['’](?:re|d|ll|ve|m|t|s)$", re.IGNORECASE)
_PLACE_BEFORE = re.compile(r"\b(?:in|at|from|near|into|around|across|through|towards|round|on|the|a|an|our|my|your|"
                           r"their|this|that|of|via|outside|inside|behind)\s+$", re.IGNORECASE)


def _clean(token: str) -> str:
    token = token.rstrip(".").replace("’", "'")
    for suffix in ("'s", "’s"):
        if token.endswith(suffix) and len(token) > 3:
            return token[: -len(suffix)]
    return token


def _is_cap(token: str) -> bool:
    return token[:1].isupper() and not (len(token) > 1 and token.isupper())


def _is_upper(token: str) -> bool:
    return len(token) > 1 and token.isupper()


def _runs(text: str):
    """Runs of capitalised (or ALL CAPS) words: ``[(start, end), ...]`` token spans per run."""
    tokens = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        end = m.end()
        if word.endswith(".") and word[:-1].lower() not in lexicon()["title"] | {"st", "rev", "revd", "fr", "dr"}:
            end -= 1
            word = word[:-1]
        tokens.append((m.start(), end, word))
    run: list[tuple[int, int, str]] = []
    for token in tokens:
        word = token[2]
        cap = _is_cap(word) or _is_upper(word)
        joined = run and text[run[-1][1]:token[0]] in (" ", "\t") and (_is_upper(word) == _is_upper(run[-1][2]))
        if cap and (joined or not run) and len(run) < 4:
            run.append(token)
            continue
        if run:
            yield run
        run = [token] if cap else []
    if run:
        yield run


def _person_rules(text: str) -> list[Mention]:
    lex = lexicon()
    given, surname, ambiguous, never, titles = lex["given"], lex["surname"], lex["ambiguous"], lex["not"], lex["title"]
    out: list[Mention] = []
    for run in _runs(text):
        words = [_clean(w) for _, _, w in run]
        low = [w.lower() for w in words]
        start_idx = 0
        title = False
        greeting = False
        # leading titles and sentence openers ("Mrs", "And", "Hi") are not part of the name
        if any(w.rstrip(".") in ("st", "saint") for w in low[:-1]):
            continue  # St Anne's: a place
        while start_idx < len(run):
            w = low[start_idx]
            bare = w.rstrip(".")
            if bare in titles and start_idx + 1 < len(run):
                title = True
                start_idx += 1
                continue
            if start_idx + 1 < len(run) and not title and (
                    bare in _OPENERS or bare in never or (common_word(bare) and bare not in given)
                    or (start_idx == 0 and _sentence_start(text, run[0][0]) and bare not in given and bare not in surname)):
                greeting = greeting or bool(_CUE_GREETING.search(text[:run[start_idx][1]]))
                start_idx += 1
                continue
            break
        toks = run[start_idx:]
        names = words[start_idx:]
        lows = low[start_idx:]
        if not toks:
            continue
        first_start = toks[0][0]
        before = text[max(0, first_start - 60):first_start]
        if run[0][0] == first_start and re.search(r"\b(?:St\.?|Saint)\s+$", before):
            continue
        if lows[-1] in PLACE_WORDS or (len(lows) > 1 and lows[-1] in never):
            continue
        if any(w in {"i", "i'm", "i've", "i'd", "i'll"} for w in lows):
            continue
        upper = _is_upper(toks[0][2])
        start_of_sentence = start_idx == 0 and _sentence_start(text, first_start)
        if not title and start_idx == 0:
            prev = re.search(r"(\S+)\s+$", before)
            if prev and prev.group(1).rstrip(".").lower() in titles and _is_cap(prev.group(1)):
                title = True
        label_after = text[toks[-1][1]:toks[-1][1] + 3].lstrip(" \t").startswith(":") and _sentence_start(text, run[0][0])
        after = text[toks[-1][1]:toks[-1][1] + 40]
        strong_cue = title or greeting or bool(_CUE_STRONG.search(before)) or bool(_CUE_GREETING.search(before))
        self_cue = bool(_CUE_SELF.search(before))
        vocative = bool(re.search(r",\s*$", before)) and bool(re.match(r"^['’]?s?\s*[.?!]", after)) \
            and not start_of_sentence
        strong_after = bool(_AFTER_STRONG.match(after))
        weak_after = bool(_AFTER_WEAK.match(after))
        end_tok = len(toks)
        if upper:
            # ALL CAPS: only a speaker label made of listed names ("DAVE OKAFOR:")
            if label_after and all(w in given or w in surname for w in lows) and not any(w in never for w in lows):
                out.append(Mention(toks[0][0], toks[-1][1], "PERSON", text[toks[0][0]:toks[-1][1]], "label", 0.7))
            continue
        if len(toks) > 1:
            # a surname-like tail after an unknown word ("Help Tony") only counts when the head is a name
            head, tail = lows[0], lows[1:]
            if head in never and not title:
                continue
            head_name = head in given or head in surname
            tail_name = all(w in surname or w in given for w in tail)
            tail_ok = all(w not in never for w in tail)
            if title and tail_ok:
                score = 0.9
            elif head_name and tail_name:
                score = 0.9 if not (head in ambiguous and all(w in ambiguous for w in tail)) else 0.6
            elif head_name and tail_ok and head not in ambiguous:
                score = 0.7
            elif tail_name and tail_ok and not start_of_sentence:
                score = 0.6
            elif strong_cue or label_after:
                score = 0.7
            else:
                score = 0.3 if not start_of_sentence else 0.0
            if score:
                span = (toks[0][0], toks[end_tok - 1][0] + len(names[end_tok - 1]))
                out.append(Mention(span[0], span[1], "PERSON", text[span[0]:span[1]],
                                   "title" if title else "names", score))
            continue
        w = lows[0]
        name = names[0]
        span = (toks[0][0], toks[0][0] + len(name))
        if len(name) < 2 or (w in never and not (title or (strong_cue and w in given))):
            continue
        if _CONTRACTION.search(toks[0][2]) and not (w in given or w in surname):
            continue  # We're, I'd, Don't
        is_given, is_surname = w in given, w in surname
        is_word = common_word(w)
        is_ambiguous = w in ambiguous or is_word
        if is_word and not (is_given or is_surname) and not title:
            # an everyday word: a name only when a cue says so, mid-sentence ("a man called Will")
            if strong_cue and not start_of_sentence:
                out.append(Mention(span[0], span[1], "PERSON", name, "cue", 0.55))
            continue
        if title:
            score, source = 0.9, "title"
        elif label_after and (is_given or is_surname or not start_of_sentence or w not in never):
            score, source = (0.8 if (is_given or is_surname) and not is_ambiguous else 0.65), "speaker label"
        elif strong_cue:
            score, source = 0.85, "cue"
        elif is_ambiguous:
            if strong_after or vocative or (self_cue and not start_of_sentence and weak_after):
                score, source = 0.6, "context"
            else:
                continue
        elif is_given:
            if start_of_sentence and not (strong_after or weak_after or text[span[1]:span[1] + 1] in ",."):
                score, source = 0.5, "given names"
            else:
                score, source = 0.8, "given names"
        elif is_surname:
            score, source = (0.5 if start_of_sentence else 0.6), "surnames"
        elif start_of_sentence:
            if strong_after:
                score, source = 0.5, "context"
            else:
                continue
        elif strong_after or vocative:
            score, source = 0.55, "context"
        elif _PLACE_BEFORE.search(before):
            continue  # "in Kingsmead", "the Anchor": a place more often than a person
        elif self_cue and weak_after:
            score, source = 0.4, "capitalised"
        else:
            score, source = 0.3, "capitalised"
        out.append(Mention(span[0], span[1], "PERSON", name, source, score))
    return [Mention(m.start, m.end, m.kind, text[m.start:m.end], m.source, m.score) for m in out]


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

    choice = os.environ.get("INSIGHT_SPACY_MODEL")
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
        sure = {m.text for m in found if m.kind == "PERSON" and m.score >= 0.55 and m.source != "known"}
        never = lexicon()["not"]
        sure |= {part for name in list(sure) if " " in name for part in name.split()
                 if len(part) > 2 and part.lower() not in never and _is_cap(part)}
        again = known_pattern(sure)
        if again is not None:
            found += [Mention(a, b, "PERSON", t, "same text", 0.75) for a, b, t in again.find(text)]
    return resolve_overlaps(found)
