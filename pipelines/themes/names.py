"""Theme names people would write, and the small talk set aside (see :mod:`pipelines.themes`).

A name is one or two phrases taken from the theme's own text, e.g. "Council tax and court":

1. **Candidates**: every 1-3-word run of a clause that starts and ends with a content word; the
   words between may be glue words ("cost of living", "access to services"). Stop words, filler
   words of speech, greetings and small talk ("thanks", "sorry", "bye", "lovely") and names of
   people (the shipped name lists of :mod:`pipelines.pseudonymise`, and words the study writes
   Capitalised mid-sentence that are not everyday words) never start or end one.
2. **Distinctive**: c-TF-IDF over the candidates (BERTopic's ``ClassTfidfTransformer`` with
   ``reduce_frequent_words``), one class per theme; the top :data:`CANDIDATES` that at least two
   of the theme's segments say are kept.
3. **Topics, not events**: a word the study uses as a verb ("reported", "lived", "love" in "I love
   it here") weighs :data:`VERB_WEIGHT` of its c-TF-IDF weight when alone, unless a noun phrase
   holding it is common ("failed" -> "transfer failed"); no phrase of only generic words
   ("people") or stopping mid-clause, on an adjective or on a verb that is not a participle
   ("received my new", "library open", "card keeps"), is a candidate while another is left
   (:mod:`pipelines.themes.wordclass`: WordNet's word lists and the word before each use).
4. **Central and diverse**: each candidate gets the mean vector of the theme's segments that say
   it, and BERTopic's maximal marginal relevance (``bertopic.representation._mmr.mmr``, the function
   behind its ``MaximalMarginalRelevance`` model) picks phrases close to the theme's centre and
   unlike each other. Measuring a phrase by the segments that say it needs no embedding model.
5. **The name** is the first pick, joined by "and" to the second when that shares no word with it
   and is of the same kind (two nouns, "Mould and damp", or two adjectives, "Quiet and friendly";
   not "People and skint"). The quote nearest the centre is the subtitle.

Small talk: a segment whose content words are all greetings or chat ("Thanks for your time.",
"Fine, sorry, bye.") or that has none ("Yes.") is small talk; it leaves whatever theme it fell in
and joins the quiet theme 0, as does a theme whose segments are mostly small talk or mostly asides (stage
directions such as "[laughs]" in half of them).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipelines.themes.wordclass import ADJ, NOUN, VERB, WordClasses
from pipelines.themes.words import _CLAUSE, _TOKEN, FILLER_WORDS, preprocess, stop_words

SMALL_TALK_ID = 0
SMALL_TALK_LABEL = "Small talk and greetings"
CANDIDATES = 20
CLASS_SAMPLE = 50_000  # texts read (evenly spaced) to learn how the study uses its words
VERB_WEIGHT = 0.5  # a verb alone ("reported", "fixed") weighs half: a topic word near it names the theme instead
DIVERSITY = 0.3
# Greetings, thanks, apologies and words of politeness or vague approval: never part of a name.
GREETINGS = frozenset("""
    hello hi hiya hey bye goodbye cheers thanks thank thankyou ta sorry apologies pardon pleasure welcome
    morning afternoon evening goodnight fine great good lovely nice brilliant perfect cool wonderful excellent
    fantastic super absolutely definitely sure course exactly true totally indeed wow worries excuse
    alright grand bless appreciate appreciated glad happy help helpful hope
""".split())
# Words of the interview itself: small talk when nothing else is said ("Thanks for your time").
CHAT = frozenset("""
    time problem question questions interview minutes minute everything anything please start shall chat talk
    talking talked recording record consent later soon next week today tomorrow tea coffee go ahead bit
    see ready listen hear speak speaking lot lots mind
""".split())
PLACE_CUES = frozenset("in at near from around to on of".split())
PLACE_NOUNS = frozenset("road street lane avenue close drive park estate ward hub library centre square village "
                        "town borough".split())
# Nouns too general to name a theme on their own ("young people" may; "people" may not).
GENERIC = frozenset("""
    one ones thing things stuff way ways lot lots bit bits kind sort sorts type types people person folk folks
    everyone everybody someone somebody anyone anybody nobody something nothing anything everything
    time times day days week weeks month months year years hour hours minute minutes place places area areas
    spot spots part parts st rd
""".split())
# Words that may sit inside a phrase between two content words.
GLUE = frozenset("of for the a an to and in on with at my our your their from about by off up out".split())


def _people() -> frozenset[str]:
    """Names of people from the pseudonymiser's word lists, less those that are everyday words."""
    from pipelines.pseudonymise.lexicon import lexicon

    words = lexicon()
    return frozenset((words["given"] | words["surname"]) - words["ambiguous"] - words["not"])


def proper_nouns(docs: list[str]) -> frozenset[str]:
    """Lower-cased words that name people in these texts: listed given names and surnames, and
    words written Capitalised in at least 80% of their uses after a sentence's first word that
    are not everyday words ("Steve", "Kev"). Acronyms (ATM, GP) are not names. Places are not
    people: a capitalised word written after "in", "at", "on", "near", "from" or "around", or
    before "Road", "Park", "Estate" and the like, in at least a third of its uses ("in Millbrook",
    "Millbrook Road") may name a theme.

    >>> found = proper_nouns(["I rang Kev about it.", "Then Kev said no", "Kev came. Then Kev left.",
    ...                       "We moved to Millbrook.", "I live in Millbrook", "Keep Millbrook library open"])
    >>> "kev" in found, "rang" in found, "then" in found, "millbrook" in found
    (True, False, False, False)
    """
    from pipelines.pseudonymise.lexicon import common_word

    capital: Counter = Counter()
    seen: Counter = Counter()
    place: Counter = Counter()
    for doc in docs:
        for sentence in re.split(r"[.!?:;\n]+", doc):
            words = [m.group() for m in re.finditer(r"[^\W\d_]+", sentence)]
            for position, word in enumerate(words):
                lower = word.lower()
                seen[lower] += 1
                if position and word[0].isupper() and not word.isupper():
                    capital[lower] += 1
                    after = words[position + 1].lower() if position + 1 < len(words) else ""
                    place[lower] += words[position - 1].lower() in PLACE_CUES or after in PLACE_NOUNS
                elif not position:
                    seen[lower] -= 1  # a sentence's first word says nothing about its case
    found = {w for w, n in capital.items() if n >= 0.8 * max(seen[w], 1) and not common_word(w)
             and place[w] * 3 < n}
    return frozenset(found) | _people()


def is_small_talk(text: str) -> bool:
    """True when every content word of ``text`` is a greeting or chat word, or it has none.

    >>> is_small_talk("Thank you so much for your time, bye!"), is_small_talk("Um, yeah."), \
is_small_talk("The bins were missed.")
    (True, True, False)
    """
    return chat_share(text) >= 1.0


def chat_share(text: str, names: frozenset[str] = frozenset()) -> float:
    """The share of ``text``'s content words that are greetings or chat (1.0 with none); names
    of people are not counted either way."""
    stops = _stops()
    words = [w for w in _words(preprocess(text)) if w not in stops and w not in names]
    if not words:
        return 1.0
    return sum(w in GREETINGS or w in CHAT for w in words) / len(words)


def _words(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text) if len(t) >= 2 and "'" not in t]


_STOPS: frozenset[str] | None = None


def _stops() -> frozenset[str]:
    global _STOPS
    if _STOPS is None:
        _STOPS = stop_words() | FILLER_WORDS
    return _STOPS


class PhraseAnalyser:
    """The candidate phrases of a text (step 1 above), for a ``CountVectorizer(analyzer=...)``.

    >>> PhraseAnalyser(frozenset({"kev"}))("Um, the cost of living, you know. Thanks Kev!")
    ['cost', 'living', 'cost of living']
    """

    def __init__(self, names: frozenset[str] = frozenset()):
        self.names = names
        self.edges_out = _stops() | GREETINGS | CHAT | names

    def __call__(self, text: str) -> list[str]:
        words: list[str] = []
        longer: list[str] = []
        for clause in _CLAUSE.split(preprocess(text)):
            tokens = [t for t in _TOKEN.findall(clause) if len(t) >= 2 or t in ("a",)]
            edge = [t not in self.edges_out and "'" not in t and len(t) >= 2 for t in tokens]
            for i, token in enumerate(tokens):
                if not edge[i]:
                    continue
                words.append(token)
                for j in (i + 1, i + 2):
                    if j >= len(tokens) or not edge[j]:
                        continue
                    inner = tokens[i + 1:j]
                    if all(t in GLUE for t in inner) and tokens[j] != token:
                        longer.append(" ".join(tokens[i:j + 1]))
        return words + longer


@dataclass
class Naming:
    """A theme's name, the phrases it was chosen from (best first) and the c-TF-IDF keywords."""

    label: str
    phrases: list[str]
    keywords: list[str]


def name_themes(docs: list[str], X: np.ndarray, labels: np.ndarray, ids, *, names: frozenset[str] | None = None,
                top_words: int = 10) -> dict[int, Naming]:
    """Names for themes ``ids`` of ``labels`` (one per doc; -1 = none), c-TF-IDF weighed against
    every other theme in ``labels``. ``X`` holds the docs' unit vectors.

    >>> docs = ["the council tax", "council tax", "bus route", "the bus route again"] * 3
    >>> X = np.eye(4, dtype=np.float32)[[0, 0, 1, 1] * 3]
    >>> n = name_themes(docs, X, np.array([1, 1, 2, 2] * 3), [1, 2])
    >>> n[1].label, n[2].label
    ('Council tax', 'Bus route')
    """
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    names = proper_nouns(docs) if names is None else names
    classes = sorted(int(t) for t in set(labels.tolist()) - {-1})
    placed = np.where(labels >= 0)[0]
    out: dict[int, Naming] = {}
    vectorizer = CountVectorizer(analyzer=PhraseAnalyser(names))
    try:
        counts = vectorizer.fit_transform([docs[i] for i in placed]).tocsr()
    except ValueError:  # no candidate phrase anywhere
        return {int(t): Naming("", [], []) for t in ids}
    terms = vectorizer.get_feature_names_out()
    row_of = {t: i for i, t in enumerate(classes)}
    rows_of_docs = [row_of[int(labels[i])] for i in placed]
    onehot = sparse.csr_matrix((np.ones(len(placed)), (rows_of_docs, np.arange(len(placed)))),
                               shape=(len(classes), len(placed)))
    ctfidf = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(onehot @ counts).tocsr()
    binary = counts.copy()
    binary.data[:] = 1
    step = max(1, len(placed) // CLASS_SAMPLE)  # word classes need evidence, not every text of a million
    classes = WordClasses([docs[i] for i in placed[::step]])
    kind = np.array([classes.of_phrase(str(term)) for term in terms])
    # no phrase of only generic words ("ones", "people") names a theme, nor one that stops mid-clause
    # ("received my new", "library open")
    topic = np.array([not set(str(term).split()) <= GENERIC | GLUE and not classes.ends_unfinished(str(term))
                      for term in terms])
    for t in ids:
        rows = np.where(labels[placed] == t)[0]
        if t not in row_of or not len(rows):
            out[int(t)] = Naming("", [], [])
            continue
        weights = ctfidf[row_of[t]].toarray().ravel()
        ranked = np.array([i for i in np.argsort(-weights, kind="stable") if weights[i] > 0], dtype=np.int64)
        keywords = [str(terms[i]) for i in ranked[:top_words]]
        freq = np.asarray(binary[rows][:, ranked].sum(axis=0)).ravel()
        weights = _damp_verbs(weights, ranked, freq, terms, kind)
        order = np.argsort(-weights[ranked], kind="stable")
        ranked, freq = ranked[order], freq[order]
        common = freq >= min(2, len(rows))  # said by two segments at least
        topical = common & topic[ranked]
        chosen = topical if topical.any() else common
        if not chosen.any():
            out[int(t)] = Naming(_capital(keywords[0]) if keywords else "", keywords[:1], keywords)
            continue
        pool = dict(zip((str(terms[i]) for i in ranked[chosen]), freq[chosen].tolist()))
        top, freq = ranked[chosen][:CANDIDATES], freq[chosen][:CANDIDATES]
        said = binary[rows][:, top]
        members = X[placed[rows]]
        centre = members.mean(axis=0)
        phrase_vectors = np.asarray(said.T @ members) / freq[:, None]
        words = [str(terms[i]) for i in top]
        picks, scores = mmr(centre, phrase_vectors, weights[top] / weights[top].max())
        label = compose([words[i] for i in picks], scores, pool, [str(kind[top[i]]) for i in picks])
        out[int(t)] = Naming(acronyms(label, [docs[i] for i in placed[rows]]), [words[i] for i in picks], keywords)
    return out


def _damp_verbs(weights: np.ndarray, ranked: np.ndarray, freq: np.ndarray, terms, kind: np.ndarray) -> np.ndarray:
    """A verb alone ("reported", "lived", "fixed") weighs :data:`VERB_WEIGHT` of its c-TF-IDF weight,
    so a topic word near it names the theme instead, unless a noun phrase holding it is said by a
    third of the segments that say it ("failed" -> "transfer failed"): then it is that phrase's seed."""
    said = {str(terms[i]): n for i, n in zip(ranked, freq) if n}
    nouns = {str(terms[i]) for i in ranked if kind[i] != VERB and " " in str(terms[i])}
    out = weights.copy()
    for i, n in zip(ranked[:2 * CANDIDATES], freq[:2 * CANDIDATES]):
        term = str(terms[i])
        if kind[i] == VERB and not any(f" {term} " in f" {p} " and said.get(p, 0) * 3 >= n for p in nouns):
            out[i] *= VERB_WEIGHT
    return out


def mmr(centre: np.ndarray, vectors: np.ndarray, weight: np.ndarray, *, diversity: float = DIVERSITY,
        top_n: int = 5) -> tuple[list[int], list[float]]:
    """Maximal marginal relevance, as in BERTopic's ``representation._mmr.mmr``, with relevance
    the phrase's closeness to the centre times the square root of its c-TF-IDF weight (0..1), so
    a phrase must be both central and distinctive. Returns the picked indices and relevances.

    >>> mmr(np.array([1.0, 0.0]), np.array([[1.0, 0.1], [1.0, 0.12], [0.6, 0.8]]), np.ones(3), top_n=2,
    ...     diversity=0.7)[0]
    [0, 2]
    """
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    relevance = unit @ (centre / max(float(np.linalg.norm(centre)), 1e-12)) * np.sqrt(np.clip(weight, 0.0, 1.0))
    similarity = unit @ unit.T
    picked = [int(np.argmax(relevance))]
    rest = [i for i in range(len(unit)) if i != picked[0]]
    while rest and len(picked) < top_n:
        score = (1 - diversity) * relevance[rest] - diversity * similarity[np.ix_(rest, picked)].max(axis=1)
        picked.append(rest.pop(int(np.argmax(score))))
    return picked, [float(relevance[i]) for i in picked]


def acronyms(label: str, texts: list[str]) -> str:
    """``label`` with words the texts mostly write in capitals (ATM, UK, GP) written so.

    >>> acronyms("Atm and closest", ["The ATM ate it", "which ATM", "closest atm"])
    'ATM and closest'
    """
    out = []
    for word in label.split(" "):
        found = Counter(m for text in texts for m in re.findall(rf"\b{re.escape(word)}\b", text, flags=re.I))
        upper = sum(n for form, n in found.items() if form.isupper() and len(form) > 1)
        out.append(word.upper() if found and upper * 2 > sum(found.values()) else word)
    return " ".join(out)


def compose(phrases: list[str], scores: list[float] | None = None, said: dict[str, int] | None = None,
            kinds: list[str] | None = None) -> str:
    """The name from ranked phrases: the first (or a longer candidate holding it that at least a
    third of the segments saying it say: "council" -> "council tax"), and the next phrase that
    shares no word with it and is of the same word class (``kinds``, one per phrase), when that
    one is at least half as relevant.

    >>> compose(["council tax", "court"]), compose(["bus", "buses", "route"], [1, .9, .2]), compose([])
    ('Council tax and court', 'Bus', '')
    >>> compose(["council", "letter"], [1, .8], {"council": 9, "council tax": 4, "letter": 3})
    'Council tax and letter'
    >>> compose(["people", "skint", "buildings"], [1, .9, .6], kinds=["noun", "adj", "noun"])
    'People and buildings'
    >>> compose(["community", "spirit"], [1, .9], {"community": 12, "spirit": 5, "community spirit": 3})
    'Community spirit'
    >>> compose(["bus", "youth"], [1, .9], {"bus": 20, "youth": 9, "youth club": 4})
    'Bus and youth club'
    >>> compose(["affordable", "stay"], [1, .3], {"affordable": 8, "affordable housing": 2}, ["adj", "noun"])
    'Affordable housing'
    >>> compose(["affordable", "villages", "bed"], [1, .8, .3], {"affordable": 3, "villages": 2}, ["adj", "noun", "noun"])
    'Villages'
    """
    if not phrases:
        return ""
    scores = scores or [1.0] * len(phrases)
    kinds = kinds or [NOUN] * len(phrases)
    said = said or {}
    lead = 0
    if kinds[0] == ADJ and not any(k == ADJ and s >= 0.5 * scores[0] for k, s in zip(kinds[1:], scores[1:])) \
            and not any(f" {phrases[0]} " in f" {p} " and p.split()[-1] != phrases[0] for p in said if said[p] >= 2):
        lead = next((i for i, k in enumerate(kinds) if k == NOUN), 0)  # a lone adjective names nothing
    phrases, scores, kinds = phrases[lead:] + phrases[:lead], scores[lead:] + scores[:lead], kinds[lead:] + kinds[:lead]
    first, kind = phrases[0], kinds[0]
    first = _longest(first, said, 4 if kind == ADJ else 3)  # "affordable" -> "affordable housing"
    kind = NOUN if kind == ADJ and first.split()[-1] != phrases[0].split()[-1] else kind
    name = first
    for phrase, score, other in zip(phrases[1:], scores[1:], kinds[1:]):
        if _same_family(first, phrase) or other != kind:
            continue
        if score >= 0.5 * scores[0]:
            joined = [p for p in (f"{first} {phrase}", f"{phrase} {first}") if said.get(p, 0) >= 2]
            second = _longest(phrase, said, 3)  # "youth" -> "youth club"
            if not joined and _same_family(first, second):
                second = phrase
            name = joined[0] if joined else f"{first} and {second}"  # "community" + "spirit": "community spirit"
        break
    return _capital(name)


def _longest(phrase: str, said: dict[str, int], share: int) -> str:
    """``phrase``, or the longer candidate holding it that the most segments say, when at least
    1/``share`` of the segments saying ``phrase`` say it ("council" -> "council tax")."""
    longer = [p for p in said if p != phrase and f" {phrase} " in f" {p} " and said[p] * share >= said.get(phrase, 0)]
    return max(longer, key=lambda p: (said[p], -len(p))) if longer else phrase


def _same_family(a: str, b: str) -> bool:
    """Whether two phrases share a word or a word's first five letters ("deposit", "deposited").

    >>> _same_family("deposit", "cash deposited"), _same_family("refund", "return")
    (True, False)
    """
    heads = {w[:5] for w in _stems(a)}
    return bool(_stems(a) & _stems(b)) or any(w[:5] in heads for w in _stems(b) if len(w) >= 5)


def _stems(phrase: str) -> set[str]:
    return {stem(w) for w in phrase.split() if w not in GLUE}


def stem(word: str) -> str:
    """A plural's singular, roughly: "buses" -> "bus", "councils" -> "council", "stories" -> "story"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "ches", "shes")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
