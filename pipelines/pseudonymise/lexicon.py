"""Personal data kinds, the :class:`Mention` span, and the word lists (names, common words,
place words) in ``insight/data``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


KINDS = ("PERSON", "EMAIL", "PHONE", "POSTCODE", "ADDRESS", "DOB", "NHS")
LABELS = {"PERSON": "PERSON", "EMAIL": "EMAIL", "PHONE": "PHONE", "POSTCODE": "POSTCODE", "ADDRESS": "ADDRESS",
          "DOB": "DOB", "NHS": "NHS NUMBER"}
REPLACE = 0.5  # at or above: replaced; below: a candidate for review
DATA = Path(__file__).resolve().parents[2] / "insight" / "data"


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
