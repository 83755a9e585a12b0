"""Auto-coders: each one a coder like a human, with its own name, scoring every unit for every code.

- ``auto:rules``: the code's keywords and phrases matched on lemmas (spaCy lookup lemmas, cached
  per text in the ``lemmas`` table); spaCy Matcher patterns in ``keywords`` are run on the fly.
- ``auto:semantic``: cosine similarity of the segment to the code's definition and examples,
  pushed down when it is closer to a counter-example; one threshold per code, calibrated to the
  best F1 against a gold coder when there is one.
- ``auto:classifier``: a logistic regression per code on the embeddings beside TF-IDF word
  weights, trained on a named coder's codings, with cross-validated out-of-fold scores for the
  units it was trained on.
- ``auto:best``: per code, whichever of the above (or rules OR semantic) scores the best F1
  against the gold coder; without one, rules OR semantic.

Every scorer returns a :class:`Scores`: a units × codes matrix, a threshold per code and a readable
explanation per decision. Scores are cached in-process per code fingerprint, so re-testing after
an edit of one code recomputes only that code.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from insight.codebook import Code, Codebook

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

    def decisions(self) -> np.ndarray:
        return self.matrix >= self.thresholds[None, :]


def fingerprint(code: Code, *parts) -> str:
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


def ensure_lemmas(con, study_id: int | None) -> int:
    """Cache lemmas for every segment text of a study not cached yet; returns texts lemmatised."""
    import pandas as pd

    from pipelines.nlp import get_nlp

    todo = con.execute(
        "SELECT g.text_hash, any_value(g.text) FROM segments g JOIN documents d USING (document_id) "
        "WHERE (? IS NULL OR d.study_id = ?) AND g.text_hash NOT IN (SELECT text_hash FROM lemmas) GROUP BY 1",
        [study_id, study_id]).fetchall()
    if not todo:
        return 0
    pipeline = get_nlp().meta.get("insight_path", "")
    for start in range(0, len(todo), 5000):
        chunk = todo[start:start + 5000]
        _insight_lemmas = pd.DataFrame({"text_hash": [h for h, _ in chunk], "pipeline": pipeline,  # noqa: F841
                                        "lemmas": lemmatize([t for _, t in chunk])})
        con.execute("INSERT OR IGNORE INTO lemmas SELECT text_hash, pipeline, lemmas FROM _insight_lemmas")
    return len(todo)


def load_units(con, study_id: int | None, *, embedder=None, need_vectors: bool = True,
               need_lemmas: bool = True) -> Units:
    """Every segment of a study with its text, cached lemmas and vectors (embedding what is missing).
    Callers must not modify the units: they are shared with the next call on the same segments."""
    from pipelines.embed import get_embedder

    if need_lemmas:
        ensure_lemmas(con, study_id)
    # The same segments as last time (count, last id and a sum of text hashes all agree): reuse
    # the units read then, so a re-test after an edit does not read 100,000 rows again.
    state = con.execute(
        "SELECT count(*), max(g.segment_id), sum(hash(g.segment_id, g.text_hash)) FROM segments g "
        "JOIN documents d USING (document_id) WHERE ? IS NULL OR d.study_id = ?", [study_id, study_id]).fetchone()
    name = (embedder or get_embedder()).name if need_vectors else None
    key = ("units", _con_key(con), study_id, tuple(state), need_lemmas, name)
    cached = _UNITS.get(key)
    if cached is not None:  # nothing new to lemmatise or embed either: the segments are the same
        return cached
    units = _read_units(con, study_id, embedder=embedder, need_vectors=need_vectors, need_lemmas=need_lemmas)
    _UNITS.clear()  # one study's units at a time: they can be large
    _UNITS[key] = units
    return units


_UNITS: dict[tuple, "Units"] = {}


def _con_key(con) -> str:
    """The database a connection is on (its file path, or the connection itself when in memory)."""
    try:
        path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
    except Exception:  # noqa: BLE001
        path = None
    return path or f"memory:{id(con)}"


def _read_units(con, study_id: int | None, *, embedder=None, need_vectors: bool = True,
                need_lemmas: bool = True) -> Units:
    from insight.embeddings import embed_segments, load_vectors
    from pipelines.embed import get_embedder

    frame = con.execute(
        "SELECT g.segment_id, g.text, g.text_hash, l.lemmas FROM segments g JOIN documents d USING (document_id) "
        "LEFT JOIN lemmas l USING (text_hash) WHERE ? IS NULL OR d.study_id = ? ORDER BY g.segment_id",
        [study_id, study_id]).df()
    units = Units(texts=frame["text"].tolist(), segment_ids=frame["segment_id"].to_numpy(np.int64),
                  text_hashes=frame["text_hash"].tolist(),
                  lemmas=frame["lemmas"].fillna("").tolist() if need_lemmas else None)
    if need_vectors:
        embedder = embedder or get_embedder()
        embed_segments(con, study_id=study_id, embedder=embedder)
        units.vectors = load_vectors(con, units.segment_ids, embedder.name)
    return units


def text_units(con, texts: list[str], *, embedder=None, need_vectors: bool = True) -> Units:
    """Units for free texts (codebook examples): lemmatised and embedded through the cache."""
    from insight.embeddings import embed_texts

    units = Units(texts=list(texts), lemmas=lemmatize(list(texts)))
    if need_vectors:
        units.vectors = embed_texts(con, list(texts), embedder)
    return units


# ---------------------------------------------------------------------------------------------
# Rules


def _keyword_regex(code: Code) -> tuple[list[tuple[str, re.Pattern]], list]:
    words = [k for k in code.keywords if isinstance(k, str) and k.strip()]
    patterns = [k["pattern"] for k in code.keywords if isinstance(k, dict)]
    lemmas = lemmatize(words) if words else []
    out = []
    for word, lemma in zip(words, lemmas):
        if lemma:
            out.append((word, re.compile(re.escape(f" {lemma} "))))  # see Units.lemma_blob
    return out, patterns


def rules_scores(codebook: Codebook, units: Units, codes: list[str]) -> Scores:
    """Score = 1 - 0.5 ** (distinct keywords matched): one match 0.5, two 0.75; threshold 0.5."""
    matrix = np.zeros((len(units.texts), len(codes)), dtype=np.float32)
    hits: dict[int, dict[int, list[str]]] = {}
    for j, name in enumerate(codes):
        code = codebook.code(name)

        def compute(code=code):
            regexes, patterns = _keyword_regex(code)
            found: dict[int, list[str]] = {}
            blob, starts = units.lemma_blob()
            for word, rx in regexes:
                positions = [m.start() for m in rx.finditer(blob)]
                for i in np.unique(np.searchsorted(starts, positions, side="right") - 1):
                    found.setdefault(int(i), []).append(word)
            if patterns:
                from spacy.matcher import Matcher

                from pipelines.nlp import get_nlp

                nlp = get_nlp()
                matcher = Matcher(nlp.vocab)
                for n, pattern in enumerate(patterns):
                    matcher.add(f"p{n}", [pattern])
                for i, doc in enumerate(nlp.pipe(units.texts, batch_size=256)):
                    for _, a, b in matcher(doc):
                        found.setdefault(i, []).append(doc[a:b].text)
            found = {i: list(dict.fromkeys(words)) for i, words in found.items()}
            rows = np.fromiter(found, dtype=np.int64, count=len(found))
            counts = np.fromiter((len(w) for w in found.values()), dtype=np.int64, count=len(found))
            return found, rows, (1 - 0.5 ** counts).astype(np.float32)

        found, rows, values = _cached(("rules", fingerprint(code), units.key), compute)
        matrix[rows, j] = values
        hits[j] = found

    def explain(i: int, j: int) -> str:
        words = hits[j].get(i)
        return "matched: " + ", ".join(words) if words else "no keyword matched"

    return Scores("rules", codes, matrix, np.full(len(codes), 0.5, dtype=np.float32), explain)


# ---------------------------------------------------------------------------------------------
# Semantic similarity


def _prototypes(con, code: Code, embedder) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    from insight.embeddings import embed_texts

    positives = [t for t in [code.definition, *code.examples] if t]
    if not positives:
        positives = [code.name]
    negatives = [t for t in code.counter_examples if t]
    pos = embed_texts(con, positives, embedder)
    neg = embed_texts(con, negatives, embedder) if negatives else np.zeros((0, pos.shape[1]), dtype=np.float32)
    return positives, pos, negatives, neg


def semantic_raw(con, codebook: Codebook, units: Units, codes: list[str], embedder) -> tuple[np.ndarray, np.ndarray, list]:
    """Per code: the score (nearest positive minus any lead of the nearest counter-example), the
    index of the nearest positive, and the positive texts."""
    matrix = np.zeros((len(units.texts), len(codes)), dtype=np.float32)
    nearest = np.zeros((len(units.texts), len(codes)), dtype=np.int32)
    texts = []
    for j, name in enumerate(codes):
        code = codebook.code(name)

        def compute(code=code):
            positives, pos, _, neg = _prototypes(con, code, embedder)
            sims = units.vectors @ pos.T
            best = sims.max(1)
            arg = sims.argmax(1)
            if len(neg):
                worst = (units.vectors @ neg.T).max(1)
                best = best - np.maximum(0, worst - best)
            return np.nan_to_num(best, nan=-1.0), arg, positives

        score, arg, positives = _cached(("semantic", fingerprint(code), units.key, embedder.name), compute)
        matrix[:, j] = score
        nearest[:, j] = arg
        texts.append(positives)
    return matrix, nearest, texts


def default_threshold(con, code: Code, embedder) -> float:
    """Without a gold coder: halfway between how the code's own examples score (leave-one-out) and
    how its counter-examples score, kept within [0.3, 0.7]."""
    positives, pos, _, neg = _prototypes(con, code, embedder)
    if len(positives) < 3 or not len(neg):
        return DEFAULT_SEMANTIC_THRESHOLD
    sims = pos @ pos.T
    np.fill_diagonal(sims, -1)
    own = float(np.median(sims[1:].max(1)))  # each example against the rest
    against = float((neg @ pos.T).max(1).max())
    return float(np.clip((own + against) / 2, 0.3, 0.7))


def semantic_scores(con, codebook: Codebook, units: Units, codes: list[str], embedder,
                    thresholds: np.ndarray | None = None) -> Scores:
    matrix, nearest, texts = semantic_raw(con, codebook, units, codes, embedder)
    if thresholds is None:
        thresholds = np.array([
            _cached(("threshold", fingerprint(codebook.code(c)), embedder.name),
                    lambda c=c: default_threshold(con, codebook.code(c), embedder)) for c in codes], dtype=np.float32)

    def explain(i: int, j: int) -> str:
        quote = texts[j][nearest[i, j]]
        quote = quote if len(quote) <= 90 else quote[:87] + "..."
        return f"nearest: \u201c{quote}\u201d (similarity {matrix[i, j]:.2f})"

    return Scores("semantic", codes, matrix, thresholds, explain)


def best_f1_threshold(scores: np.ndarray, gold: np.ndarray, default: float) -> float:
    """The threshold that maximises F1 of ``scores >= t`` against ``gold`` (0/1)."""
    if gold.sum() == 0:
        return default
    order = np.argsort(-scores)
    s, g = scores[order], gold[order]
    tp = np.cumsum(g)
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + g.sum())
    # only cut where the score changes
    valid = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(valid, f1, -1)
    best = int(np.argmax(f1))
    return float(s[best])


# ---------------------------------------------------------------------------------------------
# Classifier


def gold_labels(con, coder: str, segment_ids: np.ndarray, codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(mask of units the coder saw, units x codes 0/1 labels)`` over ``segment_ids``."""
    from insight.reliability import decisions

    seen = {r[0] for r in con.execute(
        "SELECT segment_id FROM coverage WHERE coder = ? UNION SELECT segment_id FROM codings WHERE coder = ? "
        "AND status <> 'rejected'", [coder, coder]).fetchall()}
    mask = np.array([s in seen for s in segment_ids], dtype=bool)
    labels = decisions(con, coder, segment_ids, codes)
    return mask, labels


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
    """The per-code models fitted on every training unit, to score texts they have not seen."""

    codes: list[str]
    features: Features
    models: dict[int, object]  # code index -> fitted LogisticRegression
    constant: dict[int, float]  # code index -> the rate it is suggested at everywhere

    def predict(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        out = np.full((len(texts), len(self.codes)), -1.0, dtype=np.float32)
        X = self.features(texts, vectors) if self.models else None
        for j, model in self.models.items():
            out[:, j] = model.predict_proba(X)[:, 1]
        for j, rate in self.constant.items():
            out[:, j] = rate
        return out


def classifier_scores(units: Units, codes: list[str], mask: np.ndarray, labels: np.ndarray, *, cv: int = 5,
                      seed: int = 0, coder: str = "") -> Scores:
    """Per code: logistic regression on :class:`Features` of the units ``mask`` selects.

    Units used for training get out-of-fold probabilities (``cv`` folds); the others get the
    probability of a model fitted on all training units (``Scores.classifier`` keeps those models
    for other texts). Codes with fewer than ``MIN_POSITIVES`` positive units are skipped and
    reported; a code the coder put on (almost) every unit, with fewer than ``MIN_POSITIVES``
    negatives, is suggested everywhere with its rate as the score.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    matrix = np.full((len(units.texts), len(codes)), -1.0, dtype=np.float32)
    thresholds = np.full(len(codes), np.inf, dtype=np.float32)
    skipped: dict[str, str] = {}
    train = np.flatnonzero(mask)
    who = coder or "the training coder"
    train_key = hashlib.blake2b(mask.tobytes(), digest_size=12).hexdigest()
    features = _cached(("features", units.key, train_key), lambda: Features([units.texts[i] for i in train]))
    classifier = Classifier(codes, features, {}, {})
    X = None
    for j, code in enumerate(codes):
        y = labels[train, j]
        pos, neg = int(y.sum()), int(len(y) - y.sum())
        if pos < MIN_POSITIVES:
            skipped[code] = f"{pos} positive units from {who} (needs at least {MIN_POSITIVES})"
            continue
        if neg < MIN_POSITIVES:
            matrix[:, j] = classifier.constant[j] = pos / len(y)
            thresholds[j] = 0.5
            continue
        key = ("classifier", code, coder, units.key, hashlib.blake2b(
            labels[:, j].tobytes() + mask.tobytes(), digest_size=12).hexdigest(), cv, seed)
        if key not in _CACHE and X is None:
            X = features(units.texts, units.vectors)

        def compute(y=y, pos=pos, neg=neg):
            model = LogisticRegression(C=CLASSIFIER_C, class_weight="balanced", max_iter=2000)
            folds = StratifiedKFold(n_splits=min(cv, pos, neg), shuffle=True, random_state=seed)
            oof = cross_val_predict(model, X[train], y, cv=folds, method="predict_proba")[:, 1]
            model.fit(X[train], y)
            every = model.predict_proba(X)[:, 1]
            every[train] = oof
            return every, best_f1_threshold(oof, y, 0.5), model

        matrix[:, j], thresholds[j], classifier.models[j] = _cached(key, compute)

    def explain(i: int, j: int) -> str:
        if j in classifier.constant:
            n = len(train)
            return f"{who} coded {round(classifier.constant[j] * n)} of {n} units with it: suggested for every unit"
        return f"classifier trained on {coder}'s codings: probability {matrix[i, j]:.2f}"

    return Scores("classifier", codes, matrix, thresholds, explain, skipped, classifier)


# ---------------------------------------------------------------------------------------------
# Combination


def rule_options(decisions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each method alone and every pair of them OR-ed together (``'rules|semantic'``)."""
    options = dict(decisions)
    names = [m for m in METHODS if m in decisions]
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            options[f"{a}|{b}"] = decisions[a] | decisions[b]
    return options


def combine(scores: dict[str, Scores], gold: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, list[str]]:
    """Per code, the decision rule that tests best: returns ``(units x codes decisions, rule per code)``.

    Rules are each method alone and ``rules|semantic``; with a gold coder (``(mask, labels)``) the
    one with the best F1 on the gold units wins, else ``rules|semantic`` (or what is there).
    """
    from insight.reliability import figures

    any_scores = next(iter(scores.values()))
    n, k = any_scores.matrix.shape
    options = rule_options({m: s.decisions() for m, s in scores.items()})
    default = "rules|semantic" if "rules|semantic" in options else next(iter(options))
    chosen = [default] * k
    if gold is not None:
        mask, labels = gold
        y = labels[mask].astype(np.float64)
        best = np.full(k, -1.0)
        for name, dec in options.items():
            d = dec[mask].astype(np.float64)
            f1 = figures(len(y), y.sum(0), d.sum(0), (y * d).sum(0))["f1"]
            f1 = np.nan_to_num(f1, nan=0.0)
            for j in range(k):
                if any(scores[m].skipped.get(any_scores.codes[j]) for m in name.split("|") if m in scores):
                    continue
                if f1[j] > best[j] + 1e-9:
                    best[j] = f1[j]
                    chosen[j] = name
    out = np.zeros((n, k), dtype=bool)
    for j, rule in enumerate(chosen):
        out[:, j] = options[rule][:, j]
    return out, chosen
