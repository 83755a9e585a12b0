"""Whether a study uses a word as a noun, an adjective or a verb: enough to keep verbs out of
theme names ("Reported and landlord", "Lived and love") without a trained tagger.

Two kinds of evidence, both available offline:

1. **The lexicon**: WordNet's lists of nouns, verbs and adjectives as shipped in
   ``spacy-lookups-data`` (``en_lemma_index``, and ``en_lemma_lookup`` for inflected forms). A
   word that is not a noun there (or the plural of one) is a verb form when it ends in ``-ed`` or
   ``-ing`` or is an inflection of a verb ("reported", "fixed", "rang"), even when WordNet lists
   it as an adjective too: as a theme's name it reads as an event, not a topic. A word WordNet
   does not know at all is a name or a coinage ("Millbrook", "minibus"), so a noun.
2. **The study's own use** of words WordNet lists as both ("love", "stay", "quiet"): the word
   just before each use. After a subject pronoun or a modal ("I love", "we'd stay") it is a
   verb; after a copula or a degree word ("it's quiet", "very friendly") an adjective; after a
   determiner, a possessive or a preposition ("the stay", "my love") a noun. The most common
   reading wins when it is seen at least twice and more often than the noun reading.

Without ``spacy-lookups-data`` every word counts as a noun: names are then chosen as before.

>>> classes = WordClasses(["I love it here.", "We love the park.", "The park is quiet.", "Very quiet.",
...                        "I reported it.", "The repairs took weeks."])
>>> [classes.of(w) for w in ("love", "park", "quiet", "reported", "repairs", "rang", "millbrook")]
['verb', 'noun', 'adj', 'verb', 'noun', 'verb', 'noun']
>>> classes.of_phrase("youth club"), classes.of_phrase("repairs reported"), classes.of_phrase("reported")
('noun', 'noun', 'verb')
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from functools import lru_cache

from pipelines.themes.words import _TOKEN, preprocess

NOUN, ADJ, VERB = "noun", "adj", "verb"
VERB_CUES = frozenset("""
    i we they you he she i'd we'd they'd you'd i'll we'll they'll you'll i've we've they've you've
    will would can could should must might may shall did didn't don't doesn't won't wouldn't can't couldn't
    never
""".split())
ADJ_CUES = frozenset("""
    is was are were be been being it's that's its' isn't wasn't aren't weren't very so too quite really pretty
    more most less least fairly rather
""".split())
NOUN_CUES = frozenset("""
    the a an my our your their his her its this that these those no some any every each of for in on with about
    from at by into
""".split())


@lru_cache(maxsize=1)
def lexicon() -> dict:
    """WordNet's nouns, verbs and adjectives (``noun``, ``verb``, ``adj``) and the lookup of
    inflected forms to lemmas (``lemma``: "rang" -> "ring") from ``spacy-lookups-data``; empty
    when it is not installed."""
    try:
        from importlib.resources import files

        data = files("spacy_lookups_data").joinpath("data")
        index = json.loads(gzip.decompress(data.joinpath("en_lemma_index.json.gz").read_bytes()))
        lemma = json.loads(gzip.decompress(data.joinpath("en_lemma_lookup.json.gz").read_bytes()))
    except (ImportError, FileNotFoundError, OSError):
        return {NOUN: frozenset(), VERB: frozenset(), ADJ: frozenset(), "lemma": {}}
    return {**{key: frozenset(index.get(key, ())) for key in (NOUN, VERB, ADJ)}, "lemma": lemma}


def _singular(word: str) -> list[str]:
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("es") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    if word.endswith("ren"):  # children
        forms.append(word[:-3])
    return forms


class WordClasses:
    """The word class of each word as ``docs`` use it (see the module's docstring)."""

    def __init__(self, docs: list[str]):
        self.words = lexicon()
        self.known = bool(self.words[NOUN])
        self.cues: dict[str, Counter] = {}
        if not self.known:
            return
        for doc in docs:
            tokens = _TOKEN.findall(preprocess(doc))
            for left, word in zip(tokens, tokens[1:]):
                cue = (VERB if left in VERB_CUES else ADJ if left in ADJ_CUES else NOUN if left in NOUN_CUES
                       else None)
                if cue:
                    self.cues.setdefault(word, Counter())[cue] += 1
        self._memo: dict[str, str] = {}

    def of(self, word: str) -> str:
        """``noun``, ``adj`` or ``verb``."""
        if not self.known:
            return NOUN
        if word not in self._memo:
            self._memo[word] = self._classify(word)
        return self._memo[word]

    def _classify(self, word: str) -> str:
        nouns, adjectives, verbs = self.words[NOUN], self.words[ADJ], self.words[VERB]
        noun = any(form in nouns for form in _singular(word))
        adjective = word in adjectives
        if not noun:
            lemma = self.words["lemma"].get(word, word)
            if word.endswith(("ed", "ing")) or (lemma != word and lemma in verbs):
                return VERB  # "reported", "fixed", "rang", "came"
            if adjective:
                return ADJ
            # a word WordNet does not know is a name or a coinage ("Millbrook", "minibus"): a topic
            return VERB if word in verbs else NOUN
        seen = self.cues.get(word, Counter())
        best, n = max(((c, seen[c]) for c in (VERB, ADJ)), key=lambda item: item[1])
        if n >= 2 and n > seen[NOUN] and (best == ADJ and adjective or best == VERB and word in verbs):
            return best
        return NOUN

    def ends_unfinished(self, phrase: str) -> bool:
        """A phrase of two or more words that stops on an adjective or on a verb that is not a
        participle: part of a clause, not a topic ("received my new", "library open" from "keep the
        library open", "card keeps", "app deny"). A participle ends an event that names a topic
        ("transfer failed", "card declined", "card not working", "card stolen").

        >>> classes = WordClasses(["keep the library open", "it is open again", "the library is open",
        ...                        "my transfer failed", "they deny it", "we deny it"])
        >>> [classes.ends_unfinished(p) for p in ("library open", "app deny", "transfer failed", "library")]
        [True, True, False, False]
        """
        words = phrase.split()
        if len(words) < 2:
            return False
        last = words[-1]
        kind = self.of(last)
        participle = last.endswith(("ed", "ing")) or (self.words["lemma"].get(last, last) != last
                                                       and not last.endswith("s"))  # "broken", not "keeps"
        return kind == ADJ or (kind == VERB and not participle)

    def of_phrase(self, phrase: str) -> str:
        """A phrase with a noun at either end is a noun phrase, whatever the other end is
        ("youth club", "transfer failed", "delete my account"); otherwise the class of its last
        word ("library open" is not a noun, as a study uses "open": "is open", "kept open")."""
        words = phrase.split()
        if not words:
            return NOUN
        if NOUN in (self.of(words[0]), self.of(words[-1])):
            return NOUN
        return self.of(words[-1])
