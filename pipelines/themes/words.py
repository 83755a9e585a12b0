"""The words of themes: the analyser behind c-TF-IDF keywords (stop words, contractions and filler
words of speech removed) and the labels made from keywords (see :mod:`pipelines.themes`)."""

from __future__ import annotations

import math
import re

# Filler words of speech and words too vague to name a theme, on top of English stop words.
FILLER_WORDS = frozenset("""
    um umm erm er uh uhm ah aah eh hmm hm mm mmm mhm huh ooh oh yeah yeh yep yup yes nope no okay ok
    alright right well like just really know knew mean means meant think thought guess suppose got get
    gets getting going gonna gotta wanna thing things stuff bit lot lots actually basically literally
    honestly obviously probably maybe perhaps quite pretty sort kind anyway anyways said say says
    saying tell told ask asked way ll ve re don didn doesn isn wasn aren weren won wouldn couldn
    shouldn ain cos cause dunno innit did does doing dont im ive id thats theres youre youve theyre theyve weve hes shes isnt wasnt didnt
    doesnt havent hasnt arent werent wont cant couldnt wouldnt shouldnt na nah idk
""".split())
FILLER_PHRASES = ("you know", "i mean", "sort of", "kind of", "you see", "to be honest", "at the end of the day",
                  "i don't know", "i dunno", "if you like", "or something", "and that", "and stuff", "a bit")
_PHRASES = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in FILLER_PHRASES) + r")\b")
_CLAUSE = re.compile(r"[.!?;:,()\"\u2014\u2013\u2026/]+|\s-\s")
_ANNOTATIONS = re.compile(r"\[[^\]]{0,40}\]")  # [laughs], [inaudible], [00:01:23]
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_SUFFIXES = ("'s", "'")


def stop_words() -> frozenset[str]:
    """English stop words (scikit-learn's list) and :data:`FILLER_WORDS`."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | FILLER_WORDS


def preprocess(text: str) -> str:
    """Lower-case, straighten apostrophes, cut transcript annotations ("[laughs]") and filler
    phrases ("you know", "I mean", ...)."""
    text = _ANNOTATIONS.sub(" ", text.lower().replace("\u2019", "'").replace("\u2018", "'"))
    return _PHRASES.sub(" ", text)


def tokenize(text: str) -> list[str]:
    """Words of two or more letters; possessives lose their ``'s``, other contractions
    (don't, they're, I've) are dropped whole: they are all function words."""
    out = []
    for token in _TOKEN.findall(text):
        for suffix in _SUFFIXES:
            if token.endswith(suffix):
                token = token[: -len(suffix)]
                break
        if "'" in token or len(token) < 2:
            continue
        out.append(token)
    return out


def analyse(text: str) -> list[str]:
    """The terms of a text for c-TF-IDF: words that are not stop or filler words, and pairs of
    such words that stand next to each other within a clause ("council tax", "bin collection").

    >>> analyse("Um, the council tax letter, you know, was wrong!")
    ['council', 'tax', 'letter', 'wrong', 'council tax', 'tax letter']
    """
    stops = _stops()
    words: list[str] = []
    pairs: list[str] = []
    for clause in _CLAUSE.split(preprocess(text)):
        tokens = tokenize(clause)
        keep = [t not in stops for t in tokens]
        words += [t for t, k in zip(tokens, keep) if k]
        pairs += [f"{a} {b}" for a, b, ka, kb in zip(tokens, tokens[1:], keep, keep[1:]) if ka and kb and a != b]
    return words + pairs


_STOPS: frozenset[str] | None = None


def _stops() -> frozenset[str]:
    global _STOPS
    if _STOPS is None:
        _STOPS = stop_words()
    return _STOPS


def make_vectorizer():
    """The CountVectorizer behind c-TF-IDF labels (:func:`analyse`)."""
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(analyzer=analyse)


def default_min_size(n: int) -> int:
    """The smallest theme for ``n`` segments: ``sqrt(n) / 2.5`` kept within 5..60."""
    return int(min(60, max(5, round(math.sqrt(max(n, 1)) / 2.5))))


def make_label(keywords: list[str], n: int = 3) -> str:
    """The first ``n`` keywords that share no word (or plural) with one already chosen, joined
    by " · ": ``["lovely", "lovely place", "community"]`` -> ``"lovely · community"``."""
    chosen: list[str] = []
    seen: set[str] = set()

    def stem(word: str) -> str:
        return word[:-1] if word.endswith("s") and len(word) > 3 else word

    for keyword in keywords:
        parts = {stem(p) for p in keyword.split()}
        if parts & seen:
            continue
        chosen.append(keyword)
        seen |= parts
        if len(chosen) == n:
            break
    return " · ".join(chosen)
