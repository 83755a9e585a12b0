"""Auto-coders: each one a coder like a human, with its own name, scoring every unit for every code.

- ``auto:rules``: the code's keywords and phrases matched on lemmas (spaCy lookup lemmas, which
  the caller caches per text); spaCy Matcher patterns in ``keywords`` are run on the fly.
- ``auto:semantic``: cosine similarity of the segment to the code's definition and examples,
  pushed down when it is closer to a counter-example; one threshold per code, calibrated to the
  best F1 against a gold coder when there is one.
- ``auto:classifier``: a logistic regression per code on the embeddings beside TF-IDF word
  weights, trained on a named coder's codings, with cross-validated out-of-fold scores for the
  units it was trained on.
- ``auto:best``: per code, whichever of the above (or rules OR semantic) scores the best F1
  against the gold coder; without one, rules OR semantic (:mod:`pipelines.autocode_combine`).

Each method is an :class:`AutoCoder` in :data:`AUTOCODERS`: a name, how far its raw scores spread
past a threshold (what counts as sure) and ``score(units, codes, gold)``, which returns a
:class:`Scores`: a units × codes matrix, a threshold per code and a readable explanation per
decision. Scores are cached in-process per code fingerprint, so re-testing after an edit of one
code recomputes only that code.

Pure steps over texts, lemmas, vectors and arrays: reading units from a study and the embeddings
cache are the caller's (``insight/coding/units.py``). A code is anything with the fields of
``insight.codebook.Code`` (``name``, ``definition``, ``examples``, ``counter_examples``,
``keywords`` and ``as_dict()``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from pipelines.folds import Gold, best_f1_threshold, fold_decisions, splits

from insight.errors import InsightError

METHODS = ("rules", "semantic", "classifier")
MIN_POSITIVES = 5
DEFAULT_SEMANTIC_THRESHOLD = 0.45


@dataclass
class Units:
    """The units to score: segment ids (or none, for example texts), texts, lemmas and vectors."""

    texts: list[str]
    segment_ids: np.ndarray | None = None
    text_hashes: list[str] | None = None
    vectors: np.ndarray | None = None
    lemmas: list[str] | None = None
    # the group each unit belongs to for cross-validation (its document, or its respondent for a
    # panel): one group is never on both sides of a fold; None: every unit its own group
    groups: np.ndarray | None = None
    folds_by: str = "segment"

    _blob: tuple | None = None
    _key: str | None = None

    def lemma_blob(self) -> tuple[str, np.ndarray]:
        """All lemma strings in one text, one unit a line, each padded with a space either side,
        and each line's start offset: a keyword is then the literal `` word ``, which one regex pass
        over the blob finds in every unit at C speed (ten times faster than word-boundary look-arounds)."""
        if self._blob is None:
            lengths = np.fromiter((len(x) + 3 for x in self.lemmas), dtype=np.int64, count=len(self.lemmas))
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
            self._blob = ("\n".join(f" {x} " for x in self.lemmas), starts)
        return self._blob

    @property
    def key(self) -> str:
        """A fingerprint of the texts, computed once (the score caches are keyed by it)."""
        if self._key is None:
            h = hashlib.blake2b(digest_size=12)
            h.update("\n".join(self.text_hashes if self.text_hashes is not None else self.texts).encode())
            self._key = h.hexdigest()
        return self._key


@dataclass
class Scores:
    method: str
    codes: list[str]
    matrix: np.ndarray  # units x codes, float
    thresholds: np.ndarray  # per code
    explain: Callable[[int, int], str]
    skipped: dict[str, str] = field(default_factory=dict)
    classifier: "Classifier | None" = None  # the classifier's fitted models, to score other texts
    groups: np.ndarray | None = None  # the units' cross-validation groups (see Units.groups)
    rule_hits: dict[int, dict[str, np.ndarray]] | None = None  # rules: per code, each keyword's units

    def decisions(self) -> np.ndarray:
        return self.matrix >= self.thresholds[None, :]


Embed = Callable[[list[str]], np.ndarray]  # texts -> unit-length vectors, one a row


def fingerprint(code, *parts) -> str:
    data = json.dumps([code.as_dict(), *parts], sort_keys=True, default=str)
    return hashlib.blake2b(data.encode(), digest_size=12).hexdigest()


_CACHE: dict[tuple, object] = {}


def _cached(key: tuple, compute):
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = compute()
    return _CACHE[key]


# ---------------------------------------------------------------------------------------------
# Lemmas


def lemmatize(texts: list[str]) -> list[str]:
    """Lower-case lemmas of each text as one space-separated string (punctuation dropped)."""
    from pipelines.nlp import get_nlp

    nlp = get_nlp()
    disable = [p for p in nlp.pipe_names if p not in ("lemmatizer", "tagger", "attribute_ruler", "tok2vec")]
    out = []
    for doc in nlp.pipe(texts, batch_size=256, disable=disable):
        out.append(" ".join((t.lemma_ or t.text).lower() for t in doc if not (t.is_punct or t.is_space)))
    return out


# ---------------------------------------------------------------------------------------------
# Rules


def _keyword_regex(code) -> tuple[list[tuple[str, re.Pattern]], list]:
    words = [k for k in code.keywords if isinstance(k, str) and k.strip()]
    patterns = [k["pattern"] for k in code.keywords if isinstance(k, dict)]
    lemmas = lemmatize(words) if words else []
    out = []
    for word, lemma in zip(words, lemmas):
        if lemma:
            out.append((word, re.compile(re.escape(f" {lemma} "))))  # see Units.lemma_blob
    return out, patterns


def rules_scores(units: Units, codes: list) -> Scores:
    """Score = 1 - 0.5 ** (distinct keywords matched): one match 0.5, two 0.75; threshold 0.5."""
    matrix = np.zeros((len(units.texts), len(codes)), dtype=np.float32)
    hits: dict[int, dict[int, list[str]]] = {}
    rule_hits: dict[int, dict[str, np.ndarray]] = {}
    for j, code in enumerate(codes):

        def compute(code=code):
            regexes, patterns = _keyword_regex(code)
            found: dict[int, list[str]] = {}
            by_rule: dict[str, set[int]] = {}  # each keyword or pattern: the units it matched
            blob, starts = units.lemma_blob()
            for word, rx in regexes:
                positions = [m.start() for m in rx.finditer(blob)]
                for i in np.unique(np.searchsorted(starts, positions, side="right") - 1):
                    found.setdefault(int(i), []).append(word)
                    by_rule.setdefault(word, set()).add(int(i))
            if patterns:
                import json

                from spacy.matcher import Matcher

                from pipelines.nlp import get_nlp

                nlp = get_nlp()
                matcher = Matcher(nlp.vocab)
                labels = {}
                for n, pattern in enumerate(patterns):
                    matcher.add(f"p{n}", [pattern])
                    labels[nlp.vocab.strings[f"p{n}"]] = "pattern " + json.dumps(pattern, ensure_ascii=False)
                for i, doc in enumerate(nlp.pipe(units.texts, batch_size=256)):
                    for match_id, a, b in matcher(doc):
                        found.setdefault(i, []).append(doc[a:b].text)
                        by_rule.setdefault(labels[match_id], set()).add(i)
            found = {i: list(dict.fromkeys(words)) for i, words in found.items()}
            rows = np.fromiter(found, dtype=np.int64, count=len(found))
            counts = np.fromiter((len(w) for w in found.values()), dtype=np.int64, count=len(found))
            by_rule = {rule: np.array(sorted(units_), dtype=np.int64) for rule, units_ in by_rule.items()}
            return found, rows, (1 - 0.5 ** counts).astype(np.float32), by_rule

        found, rows, values, by_rule = _cached(("rules", fingerprint(code), units.key), compute)
        matrix[rows, j] = values
        hits[j] = found
        rule_hits[j] = by_rule

    def explain(i: int, j: int) -> str:
        words = hits[j].get(i)
        return "matched: " + ", ".join(words) if words else "no keyword matched"

    return Scores("rules", [c.name for c in codes], matrix, np.full(len(codes), 0.5, dtype=np.float32), explain,
                  rule_hits=rule_hits)


# ---------------------------------------------------------------------------------------------
# Semantic similarity


def prototypes(code, embed: Embed) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """The code's positive texts (definition and examples, else its name) and counter-examples,
    each with their vectors."""
    positives = [t for t in [code.definition, *code.examples] if t]
    if not positives:
        positives = [code.name]
    negatives = [t for t in code.counter_examples if t]
    pos = embed(positives)
    neg = embed(negatives) if negatives else np.zeros((0, pos.shape[1]), dtype=np.float32)
    return positives, pos, negatives, neg


def semantic_raw(units: Units, codes: list, embed: Embed, model: str) -> tuple[np.ndarray, np.ndarray, list]:
    """Per code: the score (nearest positive minus any lead of the nearest counter-example), the
    index of the nearest positive, and the positive texts."""
    matrix = np.zeros((len(units.texts), len(codes)), dtype=np.float32)
    nearest = np.zeros((len(units.texts), len(codes)), dtype=np.int32)
    texts = []
    for j, code in enumerate(codes):

        def compute(code=code):
            positives, pos, _, neg = prototypes(code, embed)
            sims = units.vectors @ pos.T
            best = sims.max(1)
            arg = sims.argmax(1)
            if len(neg):
                worst = (units.vectors @ neg.T).max(1)
                best = best - np.maximum(0, worst - best)
            return np.nan_to_num(best, nan=-1.0), arg, positives

        score, arg, positives = _cached(("semantic", fingerprint(code), units.key, model), compute)
        matrix[:, j] = score
        nearest[:, j] = arg
        texts.append(positives)
    return matrix, nearest, texts


def default_threshold(code, embed: Embed) -> float:
    """Without a gold coder: halfway between how the code's own examples score (leave-one-out) and
    how its counter-examples score, kept within [0.3, 0.7]."""
    positives, pos, _, neg = prototypes(code, embed)
    if len(positives) < 3 or not len(neg):
        return DEFAULT_SEMANTIC_THRESHOLD
    sims = pos @ pos.T
    np.fill_diagonal(sims, -1)
    own = float(np.median(sims[1:].max(1)))  # each example against the rest
    against = float((neg @ pos.T).max(1).max())
    return float(np.clip((own + against) / 2, 0.3, 0.7))


def semantic_scores(units: Units, codes: list, embed: Embed, model: str,
                    thresholds: np.ndarray | None = None) -> Scores:
    matrix, nearest, texts = semantic_raw(units, codes, embed, model)
    if thresholds is None:
        thresholds = np.array([
            _cached(("threshold", fingerprint(c), model), lambda c=c: default_threshold(c, embed)) for c in codes],
            dtype=np.float32)

    def explain(i: int, j: int) -> str:
        quote = texts[j][nearest[i, j]]
        quote = quote if len(quote) <= 90 else quote[:87] + "..."
        return f"nearest: \u201c{quote}\u201d (similarity {matrix[i, j]:.2f})"

    return Scores("semantic", [c.name for c in codes], matrix, thresholds, explain)


# ---------------------------------------------------------------------------------------------
# Classifier


CLASSIFIER_C = 8.0


class Features:
    """The classifier's features: each unit's embedding beside its TF-IDF word and word-pair
    weights (vocabulary from the training units, words in at least two of them). Embeddings carry
    meaning across wordings; TF-IDF keeps the exact words that short, specific answers hinge on
    ("gas prices", "Iraq"). Both halves are unit-length, so neither drowns the other. On the ANES
    benchmark the pair beats either alone (``benchmarks/anes_autocode.py``)."""

    def __init__(self, train_texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = None
        if any(t.strip() for t in train_texts):
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=50_000)
            try:
                vectorizer.fit(train_texts)
                self.vectorizer = vectorizer
            except ValueError:  # no word in two training units: embeddings alone
                pass

    def __call__(self, texts: list[str], vectors: np.ndarray):
        import scipy.sparse as sp

        dense = sp.csr_matrix(vectors)
        if self.vectorizer is None:
            return dense
        return sp.hstack([dense, self.vectorizer.transform(texts)], format="csr")


@dataclass
class Classifier:
    """The codes' models fitted on every training unit, to score texts they have not seen."""

    codes: list[str]
    features: Features
    fitted: list[int]  # code indices with a model: columns of ``weights``
    weights: np.ndarray | None  # features x fitted codes (pipelines.linear)
    intercepts: np.ndarray | None
    constant: dict[int, float]  # code index -> the rate it is suggested at everywhere

    def predict(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        from pipelines import linear

        out = np.full((len(texts), len(self.codes)), -1.0, dtype=np.float32)
        if self.fitted:
            out[:, self.fitted] = linear.predict(self.features(texts, vectors), self.weights, self.intercepts)
        for j, rate in self.constant.items():
            out[:, j] = rate
        return out


def classifier_scores(units: Units, codes: list[str], mask: np.ndarray, labels: np.ndarray, *, cv: int = 5,
                      seed: int = 0, coder: str = "") -> Scores:
    """Per code: a balanced logistic regression on :class:`Features` of the units ``mask`` selects
    (``pipelines.linear``: Newton-CG, the final models of every code fitted at once).

    Units used for training get out-of-fold probabilities: ``cv`` folds per code, stratified on its
    labels and by group (``pipelines.folds.splits``: one document or respondent never on both
    sides); the others get the probability of a model fitted on all training units
    (``Scores.classifier`` keeps it for other texts). Codes with fewer than ``MIN_POSITIVES``
    positive units are skipped and reported; a code the coder put on (almost) every unit, with
    fewer than ``MIN_POSITIVES`` negatives, is suggested everywhere with its rate as the score.
    """
    matrix = np.full((len(units.texts), len(codes)), -1.0, dtype=np.float32)
    thresholds = np.full(len(codes), np.inf, dtype=np.float32)
    skipped: dict[str, str] = {}
    train = np.flatnonzero(mask)
    groups = None if units.groups is None else units.groups[train]
    who = coder or "the training coder"
    train_key = hashlib.blake2b(mask.tobytes(), digest_size=12).hexdigest()
    features = _cached(("features", units.key, train_key), lambda: Features([units.texts[i] for i in train]))
    constant: dict[int, float] = {}
    fit_codes: list[int] = []
    for j, code in enumerate(codes):
        pos = int(labels[train, j].sum())
        if pos < MIN_POSITIVES:
            skipped[code] = f"{pos} positive units from {who} (needs at least {MIN_POSITIVES})"
        elif len(train) - pos < MIN_POSITIVES:
            matrix[:, j] = constant[j] = pos / len(train)
            thresholds[j] = 0.5
        else:
            fit_codes.append(j)
    weights = intercepts = None
    if fit_codes:
        Y = labels[np.ix_(train, fit_codes)].astype(np.int8)
        key = ("classifier", coder, units.key, train_key, hashlib.blake2b(
            Y.tobytes() + np.asarray(fit_codes).tobytes(), digest_size=12).hexdigest(), cv, seed, units.folds_by)

        def compute():
            from pipelines import linear

            X = features(units.texts, units.vectors)
            Xt = X[train]
            oof = np.zeros(Y.shape, dtype=np.float64)
            for c in range(Y.shape[1]):  # each code on its own stratified folds, as scikit-learn would
                y = Y[:, c]
                pos, neg = int(y.sum()), int(len(y) - y.sum())
                parts = splits(y, groups, min(cv, pos, neg), seed)
                if not parts:  # one group: nothing to hold out, every unit gets the rate
                    oof[:, c] = y.mean()
                for fit, test in parts:
                    W, b = linear.fit(Xt[fit], y[fit, None], CLASSIFIER_C)
                    oof[test, c] = linear.predict(Xt[test], W, b)[:, 0]
            W, b = linear.fit(Xt, Y, CLASSIFIER_C)  # every code at once on all training units
            every = linear.predict(X, W, b)
            every[train] = oof
            cut = [best_f1_threshold(oof[:, c], Y[:, c], 0.5) for c in range(Y.shape[1])]
            return every, cut, W, b

        every, cut, weights, intercepts = _cached(key, compute)
        matrix[:, fit_codes] = every
        thresholds[fit_codes] = cut
    classifier = Classifier(codes, features, fit_codes, weights, intercepts, constant)

    def explain(i: int, j: int) -> str:
        if j in classifier.constant:
            n = len(train)
            return f"{who} coded {round(classifier.constant[j] * n)} of {n} units with it: suggested for every unit"
        return f"classifier trained on {coder}'s codings: probability {matrix[i, j]:.2f}"

    return Scores("classifier", codes, matrix, thresholds, explain, skipped, classifier)


def confidence(scores: Scores, spread: float) -> np.ndarray:
    """Raw scores mapped to a 0-1 confidence that is 0.5 exactly at each code's threshold and
    ``0.5 ± 0.38`` a ``spread`` past it, so suggestions from every auto-coder can be ranked by how
    sure they are."""
    with np.errstate(invalid="ignore"):
        margin = (scores.matrix - scores.thresholds[None, :]) / spread
    return np.nan_to_num(0.5 + 0.5 * np.tanh(margin), nan=0.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The auto-coders




@dataclass
class Setting:
    """What the auto-coders are run with: ``embed`` (texts to vectors, through the caller's cache)
    and its ``model`` name; the gold (training) ``coder``, ``cv`` folds and ``seed`` of the
    classifier; ``calibrate``: tune the semantic thresholds to the gold coder's best F1."""

    embed: Embed | None = None
    model: str = ""
    coder: str = ""
    cv: int = 5
    seed: int = 0
    calibrate: bool = True


class AutoCoder(Protocol):
    """One auto-coding method, written as the coder ``auto:<name>``.

    ``spread``: how far past its threshold a raw score must be to count as sure (raw scales
    differ: rules count keywords, semantic is a cosine, the classifier a probability), which
    :func:`confidence` maps to 0.5 ± 0.38. ``score`` scores units for codes (``gold`` when there
    is a gold coder); ``held_out`` gives its decisions with nothing tuned on the gold units it
    decides; ``score_cases`` decides the codebook's own examples, case ``i`` scored against its own
    code ``own[i]`` leave-one-out, with what ``score`` fitted."""

    name: str
    spread: float
    needs_lemmas: bool
    needs_vectors: bool
    needs_gold: bool

    def activity(self) -> str: ...

    def score(self, units: Units, codes: list, gold: Gold | None) -> Scores: ...

    def held_out(self, fitted: Scores, gold: Gold | None) -> np.ndarray: ...

    def score_cases(self, cases: Units, codes: list, own: list[int], fitted: Scores) -> np.ndarray: ...


class _Coder:
    """What the auto-coders share: their setting, and decisions that are held out as they stand."""

    def __init__(self, setting: Setting):
        self.setting = setting

    def held_out(self, fitted: Scores, gold: Gold | None) -> np.ndarray:
        return fitted.decisions()


class RulesCoder(_Coder):
    name, spread = "rules", 0.25
    needs_lemmas, needs_vectors, needs_gold = True, False, False

    def activity(self) -> str:
        return "matching keywords"

    def score(self, units: Units, codes: list, gold: Gold | None) -> Scores:
        return rules_scores(units, codes)

    def score_cases(self, cases: Units, codes: list, own: list[int], fitted: Scores) -> np.ndarray:
        return rules_scores(cases, codes).decisions()


class SemanticCoder(_Coder):
    name, spread = "semantic", 0.05
    needs_lemmas, needs_vectors, needs_gold = False, True, False

    def activity(self) -> str:
        return "scoring similarity to definitions and examples"

    def score(self, units: Units, codes: list, gold: Gold | None) -> Scores:
        embed, model = self.setting.embed, self.setting.model
        thresholds = None
        if gold is not None and self.setting.calibrate:
            mask, labels = gold
            raw, _, _ = semantic_raw(units, codes, embed, model)
            thresholds = np.array([best_f1_threshold(raw[mask, j], labels[mask, j], DEFAULT_SEMANTIC_THRESHOLD)
                                   for j in range(len(codes))], dtype=np.float32)
        scores = semantic_scores(units, codes, embed, model, thresholds)
        scores.groups = units.groups
        return scores

    def held_out(self, fitted: Scores, gold: Gold | None) -> np.ndarray:
        """With a gold coder, thresholds on the gold units chosen on the other folds."""
        out = fitted.decisions()
        if gold is None:
            return out
        mask, labels = gold
        out = out.copy()
        for j in range(out.shape[1]):
            out[mask, j] = fold_decisions(fitted.matrix[:, j], labels[:, j], mask, max(2, self.setting.cv),
                                          self.setting.seed, DEFAULT_SEMANTIC_THRESHOLD, fitted.groups)[mask]
        return out

    def score_cases(self, cases: Units, codes: list, own: list[int], fitted: Scores) -> np.ndarray:
        embed = self.setting.embed
        raw, _, _ = semantic_raw(cases, codes, embed, self.setting.model)
        for i, j in enumerate(own):
            text = cases.texts[i]
            positives, pos, negatives, neg = prototypes(codes[j], embed)
            keep_pos = [k for k, p in enumerate(positives) if p != text] or list(range(len(positives)))
            keep_neg = [k for k, n in enumerate(negatives) if n != text]
            score = float((pos[keep_pos] @ cases.vectors[i]).max())
            if keep_neg:
                score -= max(0.0, float((neg[keep_neg] @ cases.vectors[i]).max()) - score)
            raw[i, j] = score
        return raw >= fitted.thresholds[None, :]


class ClassifierCoder(_Coder):  # its decisions are out of fold already: held_out passes them on
    name, spread = "classifier", 0.15
    needs_lemmas, needs_vectors, needs_gold = False, True, True

    def activity(self) -> str:
        return f"training classifiers on {self.setting.coder}'s codings"

    def score(self, units: Units, codes: list, gold: Gold | None) -> Scores:
        if gold is None:
            raise InsightError("The classifier needs codings to learn from.", hint="Name a coder with --train-coder.")
        s = self.setting
        return classifier_scores(units, [c.name for c in codes], gold[0], gold[1], cv=s.cv, seed=s.seed,
                                 coder=s.coder)

    def score_cases(self, cases: Units, codes: list, own: list[int], fitted: Scores) -> np.ndarray:
        return fitted.classifier.predict(cases.texts, cases.vectors) >= fitted.thresholds[None, :]


AUTOCODERS: dict[str, Callable[[Setting], AutoCoder]] = {
    c.name: c for c in (RulesCoder, SemanticCoder, ClassifierCoder)}


def autocoders(methods, setting: Setting) -> list[AutoCoder]:
    """The auto-coders named in ``methods`` (keys of :data:`AUTOCODERS`), in that order."""
    return [AUTOCODERS[m](setting) for m in methods]
