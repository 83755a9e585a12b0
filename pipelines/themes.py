"""Theme discovery and the gap finder: BERTopic over the cached segment embeddings.

Reads ``segments``, ``documents``, ``participants``, ``embeddings`` (and ``codings`` for the gap
finder); writes one ``runs`` row per call (step ``'themes'`` or ``'gaps'``, with every resolved
setting and the model names and package versions), and for themes the ``themes`` and
``segment_themes`` rows of that run. Re-running makes a new run; nothing is overwritten.

How a theme run works:

1. **Vectors** come from the embeddings cache (texts not embedded yet are embedded first, once).
   Interviewer turns (speaker "Interviewer", "Facilitator", ...) are left out unless asked for:
   themes are about what participants say, not about the questions.
2. **Neighbours**: exact cosine k-nearest neighbours (k = 15) by matrix products in BLAS, in
   chunks, instead of UMAP's approximate NN-descent. Exact, and at 10,000 segments about 10x
   faster than NN-descent's first run, which is mostly numba compilation.
3. **Reduction**: UMAP to 5 dimensions built on those neighbours (``precomputed_knn``), seeded,
   PCA initialisation, 200 epochs (UMAP's default is 500 up to 10,000 points).
4. **Clustering**: HDBSCAN with ``min_cluster_size = min_size`` (default ``sqrt(n) / 2.5`` within
   5..60) and ``min_samples = max(2, min_size // 4)`` (fewer points called noise than HDBSCAN's
   default ``min_samples = min_cluster_size``), core distances on every CPU core. "Excess of mass"
   selection sometimes keeps one cluster holding most of the data; ``max_cluster_size`` (a fifth
   of the segments, at least ``4 * min_size``) makes it split that into themes a reader can use. BERTopic
   orchestrates steps 3-4 (``BERTopic(umap_model=..., hdbscan_model=...,
   calculate_probabilities=False).fit_transform(docs, embeddings)``).
5. **Outliers**: HDBSCAN's noise (-1) is reassigned with the rule of BERTopic's
   ``reduce_outliers(strategy="embeddings", threshold=0.3)``: each outlier goes to the theme whose
   centroid (mean embedding of the theme's HDBSCAN members) is most cosine-similar, if that
   similarity is at least ``outlier_threshold``; below it the segment stays unassigned (fillers
   like "Yes." or "Thank you." belong to no theme). ``segment_themes.reassigned`` marks them and
   ``probability`` holds that similarity (for HDBSCAN members it is HDBSCAN's membership
   strength). The remaining unassigned share is stored in the run summary and shown.
6. **Labels**: c-TF-IDF (BERTopic ``update_topics`` on the final assignment, with
   ``ClassTfidfTransformer(reduce_frequent_words=True)``) over words and word pairs, with English
   stop words, contractions and filler words of speech removed (``um``, ``yeah``, ``like``, ...;
   phrases such as "you know" and "I mean" are cut before counting). The label is the top three
   distinct keywords joined by " · ", e.g. "damp · mould · landlord".
7. **Quotes**: the three segments nearest the theme's centroid among those of 6 to 80 words (one
   per text), with speaker, participant and document.
8. **Hierarchy**: theme centroids (unit length) are clustered (Ward linkage) into about
   ``sqrt(k)`` groups; a group of two or more themes becomes a parent theme (``parent_id``) with
   keywords from its children's summed c-TF-IDF. BERTopic's ``hierarchical_topics`` builds a full
   binary tree, which is more than a reader can browse.
9. **Map**: 2-D coordinates from a second UMAP over the same neighbour graph (``min_dist=0.1``,
   initialised from the 2-D PCA of the 5-D reduction), so the map and the clusters agree.
10. **Large studies**: above ``max_fit`` segments (20,000) the model is fitted on a seeded sample;
   the other segments join the theme with the nearest centroid (the outlier rule) and are placed
   on the map at the similarity-weighted mean of their 5 nearest among 5,000 fitted anchors.
   100,000 segments take about 2 GB of memory.

Speed (see ``benchmarks/themes_banking77.py``): besides steps 2 and 3, numba's compilation is
made a one-time cost per machine. UMAP compiles its kernels on first use in every process; its
three hot kernels are re-wrapped with ``cache=True`` and ``NUMBA_CACHE_DIR`` defaults to
``~/.cache/insight/numba`` (``$XDG_CACHE_HOME`` is honoured; an existing ``NUMBA_CACHE_DIR`` wins).
BERTopic's probability matrix is not computed (``calculate_probabilities=False``), HDBSCAN keeps
no prediction data, and BERTopic is imported without the backends it would load eagerly and never
use on given vectors (torch, transformers, spaCy; see :func:`import_bertopic`).

The gap finder (:func:`find_gaps`) runs the same fit over the segments that no coding covers
(codings not rejected, by the chosen coders), without outlier reassignment (a candidate code
should be coherent), and stores the candidates in the summary of a ``'gaps'`` run;
:func:`insight.themes.add_gap_as_code` turns one into a code in a new codebook version.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from insight.errors import InsightError

DEFAULT_SEED = 42
N_NEIGHBORS = 15
N_COMPONENTS = 5
N_EPOCHS = 200
LAYOUT_EPOCHS = 200
OUTLIER_THRESHOLD = 0.3
MAX_FIT = 20000
ANCHORS = 5000
TOP_WORDS = 10
QUOTES = 3
INTERVIEWER = re.compile(r"^\s*(interviewer|int|i|q|facilitator|moderator|researcher|host)\s*\d*\s*$", re.I)

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


# ---------------------------------------------------------------------------------------------
# Numba: compile once per machine, not once per process


def numba_cache_dir() -> str | None:
    """Where numba keeps compiled kernels: ``$NUMBA_CACHE_DIR``, else ``~/.cache/insight/numba``
    (``None`` when no writable place exists; numba then compiles in memory as usual)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "insight", "numba")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError:
        return None
    return path


def _persist_numba() -> str | None:
    """Point numba at the persistent cache and re-wrap UMAP's hot kernels with ``cache=True``.

    UMAP's ``smooth_knn_dist``, ``compute_membership_strengths`` and the layout epoch are plain
    ``numba.njit`` functions, compiled afresh in every process (most of a cold start). Wrapped
    again from their Python source with ``cache=True`` they compile once per machine. Module
    globals are looked up at call time, so UMAP uses the wrapped versions. Idempotent; a UMAP
    without these names is left alone.
    """
    path = numba_cache_dir()
    if path and not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = path
    import numba
    import umap.layouts as layouts
    import umap.umap_ as umap_

    if path:
        numba.config.CACHE_DIR = path
    if getattr(umap_, "_insight_cached", False) or not path:
        return path
    targets = [(umap_, "smooth_knn_dist"), (umap_, "compute_membership_strengths"),
               (layouts, "_nb_optimize_layout_euclidean_single_epoch"),
               (layouts, "_nb_optimize_layout_euclidean_single_epoch_parallel")]
    for module, name in targets:
        dispatcher = getattr(module, name, None)
        py_func = getattr(dispatcher, "py_func", None)
        options = dict(getattr(dispatcher, "targetoptions", {}) or {})
        if py_func is None:
            continue
        options.pop("nopython", None)  # implied by njit; passing it again only warns
        options["cache"] = True
        try:
            setattr(module, name, numba.njit(**options)(py_func))
        except Exception:  # an unexpected UMAP version: keep its own kernel
            pass
    umap_._insight_cached = True
    return path


_OPTIONAL_BACKENDS = ("torch", "sentence_transformers", "transformers", "spacy")


class _HideModules:
    """A ``sys.meta_path`` finder that makes importing ``names`` (and their submodules) raise
    ``ModuleNotFoundError`` in one thread, for as long as it is installed."""

    def __init__(self, names):
        import threading

        self.names = tuple(names)
        self.thread = threading.get_ident()

    def find_spec(self, fullname, path=None, target=None):
        import threading

        if threading.get_ident() == self.thread and fullname.split(".", 1)[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is hidden while BERTopic imports", name=fullname)
        return None


def import_bertopic():
    """``bertopic.BERTopic``, imported without the optional backends it loads eagerly.

    ``import bertopic`` imports torch, sentence-transformers, transformers and spaCy (for
    embedding backends, LLM and part-of-speech representations and saving to safetensors) that
    a fit on given vectors never uses; in a fresh process that is about half of BERTopic's
    import time. While BERTopic imports, a finder on ``sys.meta_path`` makes them look absent to
    this thread only (BERTopic's own try/except turns those extras into its ``NotInstalled``
    placeholders); it is removed right after, so later imports of them work as usual. Modules
    already imported (as in the app, which embeds) are left alone, and a BERTopic that cannot
    import without them is imported normally.
    """
    import sys

    if "bertopic" in sys.modules:
        from bertopic import BERTopic

        return BERTopic
    hider = _HideModules(name for name in _OPTIONAL_BACKENDS if name not in sys.modules)
    sys.meta_path.insert(0, hider)
    try:
        from bertopic import BERTopic
    except ImportError:
        sys.meta_path.remove(hider)
        for name in [m for m in sys.modules if m == "bertopic" or m.startswith("bertopic.")]:
            del sys.modules[name]
        from bertopic import BERTopic
    finally:
        if hider in sys.meta_path:
            sys.meta_path.remove(hider)
    return BERTopic


# ---------------------------------------------------------------------------------------------
# Reducer: exact neighbours + UMAP


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def exact_neighbours(query: np.ndarray, base: np.ndarray, k: int, *, chunk: int = 2048,
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar rows of ``base`` for each row of ``query`` (both
    L2-normalised), nearest first: ``(indices, cosine distances)``. Chunked matrix products keep
    memory at ``chunk × len(base)`` floats."""
    n = len(query)
    k = min(k, len(base))
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    every = max(1, math.ceil(n / chunk / 10))  # about ten progress reports
    for number, start in enumerate(range(0, n, chunk), start=1):
        sims = query[start:start + chunk] @ base.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(
            np.arange(sims.shape[1]), (len(sims), 1))
        part_sims = np.take_along_axis(sims, part, 1)
        order = np.argsort(-part_sims, axis=1, kind="stable")
        indices[start:start + chunk] = np.take_along_axis(part, order, 1)
        distances[start:start + chunk] = 1.0 - np.take_along_axis(part_sims, order, 1)
        if progress and (number % every == 0 or start + chunk >= n):
            progress(min(start + chunk, n), n)
    np.maximum(distances, 0.0, out=distances)
    return indices, distances


class NeighbourUMAP:
    """A scikit-learn-style reducer for BERTopic: UMAP built on exact cosine neighbours.

    ``fit_transform(X)`` computes the neighbours once (:func:`exact_neighbours`) and reduces to
    ``n_components``; :meth:`layout` reuses them for the 2-D map.
    """

    def __init__(self, n_neighbors: int = N_NEIGHBORS, n_components: int = N_COMPONENTS, n_epochs: int = N_EPOCHS,
                 min_dist: float = 0.0, random_state: int = DEFAULT_SEED):
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.n_epochs = n_epochs
        self.min_dist = min_dist
        self.random_state = random_state

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        X = normalise(X)
        self.n_neighbors_ = max(2, min(self.n_neighbors, len(X) - 1))
        self.knn_ = exact_neighbours(X, X, self.n_neighbors_)
        self._fit_X = X
        self.embedding_ = self._umap(X, self.n_components, self.n_epochs, self.min_dist, "pca")
        return self.embedding_

    def transform(self, X):
        X = np.asarray(X)
        if getattr(self, "_fit_X", None) is not None and X.shape == self._fit_X.shape:
            return self.embedding_
        raise InsightError("NeighbourUMAP only reduces the vectors it was fitted on.",
                           hint="Assign new segments with pipelines.themes.assign_to_centroids.")

    def layout(self, n_components: int = 2, n_epochs: int = LAYOUT_EPOCHS, min_dist: float = 0.1) -> np.ndarray:
        """A ``n_components``-D layout over the same neighbour graph, started from the PCA of
        the fitted reduction (so it converges fast and agrees with the clusters)."""
        from sklearn.decomposition import PCA

        start = PCA(n_components=n_components, random_state=self.random_state).fit_transform(self.embedding_)
        return self._umap(self._fit_X, n_components, n_epochs, min_dist, start.astype(np.float32))

    def _umap(self, X, n_components, n_epochs, min_dist, init):
        import umap

        indices, distances = self.knn_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = umap.UMAP(n_neighbors=self.n_neighbors_, n_components=n_components, min_dist=min_dist,
                              metric="cosine", n_epochs=n_epochs, init=init, random_state=self.random_state,
                              precomputed_knn=(indices, distances, None), low_memory=True)
            return model.fit_transform(X).astype(np.float32)


def assign_to_centroids(vectors: np.ndarray, centroids: np.ndarray, threshold: float | None):
    """The theme (row of ``centroids``) most cosine-similar to each vector, and that similarity;
    ``-1`` where the best similarity is below ``threshold``. Vectors and centroids L2-normalised."""
    sims = vectors @ centroids.T
    best = sims.argmax(axis=1)
    score = sims[np.arange(len(vectors)), best]
    if threshold is not None:
        best = np.where(score >= threshold, best, -1)
    return best, score


# ---------------------------------------------------------------------------------------------
# The fit: texts and vectors in, themes out (no database)


@dataclass
class ThemeFit:
    """The result of :func:`fit_themes`: one entry per input text, and one per theme."""

    labels: np.ndarray            # theme id per text (1..k by size), -1 unassigned
    probability: np.ndarray       # HDBSCAN membership, or centroid similarity when reassigned
    reassigned: np.ndarray        # bool: moved out of HDBSCAN's noise (or assigned from outside the sample)
    xy: np.ndarray                # 2-D map coordinates
    themes: list[dict]            # {theme_id, label, keywords, size, parent_id, quote_idx, group}
    settings: dict
    summary: dict = field(default_factory=dict)

    @property
    def outlier_share(self) -> float:
        return float((self.labels == -1).mean()) if len(self.labels) else 0.0


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("bertopic", "umap-learn", "hdbscan", "scikit-learn", "numba", "numpy", "insight"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def resolve_settings(n: int, *, min_size: int | None = None, seed: int = DEFAULT_SEED, max_fit: int = MAX_FIT,
                     outlier_threshold: float | None = OUTLIER_THRESHOLD, n_neighbors: int = N_NEIGHBORS,
                     n_epochs: int = N_EPOCHS) -> dict:
    """Every setting of a fit, defaults resolved for ``n`` texts (stored with the run)."""
    n_fit = min(n, max_fit)
    size = int(min_size) if min_size else default_min_size(n_fit)
    if size < 2:
        raise InsightError(f"--min-size must be at least 2, not {size}.", hint="Try 5 to 50.")
    return {
        "seed": int(seed), "min_size": size, "min_samples": max(2, size // 4), "n_neighbors": n_neighbors,
        "n_components": N_COMPONENTS, "n_epochs": n_epochs, "layout_epochs": LAYOUT_EPOCHS, "umap_init": "pca",
        "neighbours": "exact cosine (BLAS)", "cluster_selection": "eom",
        "max_theme_size": max(4 * size, n_fit // 5), "max_fit": int(max_fit),
        "fitted_on": n_fit, "sampled": n > max_fit,
        "outlier_strategy": "embeddings: nearest theme centroid, cosine >= threshold" if outlier_threshold is not None
        else "none", "outlier_threshold": outlier_threshold,
        "assign_threshold": outlier_threshold if outlier_threshold is not None else OUTLIER_THRESHOLD,
        "outside_sample": "nearest theme centroid, cosine >= assign_threshold; map position from the 5 nearest "
                          f"of {ANCHORS} fitted anchors" if n > max_fit else None,
        "representation": "c-TF-IDF (reduce_frequent_words), words and word pairs, stop + filler words removed",
        "top_words": TOP_WORDS, "hierarchy": "Ward linkage of unit theme centroids, ~sqrt(k) groups",
        "map": "2-D UMAP on the same neighbour graph, PCA-initialised",
    }


def fit_themes(docs: list[str], vectors: np.ndarray, *, min_size: int | None = None, seed: int = DEFAULT_SEED,
               max_fit: int = MAX_FIT, outlier_threshold: float | None = OUTLIER_THRESHOLD,
               progress: Callable[[int, int, str], None] | None = None, layout: bool = True) -> ThemeFit:
    """Cluster ``docs`` (with their embedding ``vectors``) into labelled themes.

    Deterministic for a given ``seed``. ``progress(step, steps, message)`` is called per stage.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(3, 16))
    >>> vecs = np.vstack([c + 0.05 * rng.normal(size=(40, 16)) for c in centres])
    >>> docs = ["rent landlord damp"] * 40 + ["bus stop route"] * 40 + ["library books quiet"] * 40
    >>> fit = fit_themes(docs, vecs, min_size=10, layout=False)
    >>> sorted(t["size"] for t in fit.themes if t["group"] is False)
    [40, 40, 40]
    """
    n = len(docs)
    if len(vectors) != n:
        raise ValueError(f"{n} texts but {len(vectors)} vectors")
    settings = resolve_settings(n, min_size=min_size, seed=seed, max_fit=max_fit, outlier_threshold=outlier_threshold)
    size = settings["min_size"]
    if n < max(2 * size, 10):
        raise InsightError(f"Theme discovery needs at least {max(2 * size, 10)} segments with min_size {size}; "
                           f"there are {n}.", hint="Ingest more text, or lower --min-size.")
    stages = _Stages(7 if layout else 6, progress)
    stages.next("loading BERTopic, UMAP and HDBSCAN")
    settings["numba_cache"] = _persist_numba()
    import hdbscan

    BERTopic = import_bertopic()
    from bertopic.vectorizers import ClassTfidfTransformer

    X = normalise(vectors)
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(n, settings["fitted_on"], replace=False)) if settings["sampled"] else np.arange(n)
    fit_docs = [docs[i] + " ." for i in fit_idx]  # " ." keeps word pairs from spanning two documents
    X_fit = X[fit_idx]

    stages.next(f"reducing and clustering {len(fit_idx):,} segments (exact neighbours, UMAP, HDBSCAN)")
    reducer = NeighbourUMAP(n_neighbors=settings["n_neighbors"], n_epochs=settings["n_epochs"], random_state=seed)
    clusterer = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=settings["min_samples"], metric="euclidean",
                                cluster_selection_method="eom", max_cluster_size=settings["max_theme_size"],
                                core_dist_n_jobs=os.cpu_count() or 1, prediction_data=False)
    # language="multilingual" turns off BERTopic's ASCII-only cleaning: analyse() does its own, so
    # accents and apostrophes survive; no embedding model is loaded either way (vectors are given).
    model = BERTopic(umap_model=reducer, hdbscan_model=clusterer, vectorizer_model=make_vectorizer(),
                     ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True), top_n_words=TOP_WORDS,
                     calculate_probabilities=False, language="multilingual", verbose=False)
    logging.getLogger("BERTopic").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        topics, _ = model.fit_transform(fit_docs, X_fit)
    topics = np.asarray(topics)
    stages.next("reassigning outliers")
    membership = np.asarray(getattr(clusterer, "probabilities_", np.ones(len(topics))), dtype=np.float32)
    k = int(topics.max()) + 1 if (topics >= 0).any() else 0
    labels = np.full(n, -1, dtype=np.int64)
    probability = np.zeros(n, dtype=np.float32)
    reassigned = np.zeros(n, dtype=bool)
    labels[fit_idx] = topics
    probability[fit_idx] = np.where(topics >= 0, membership, 0.0)
    outliers_before = int((topics == -1).sum())
    centroids = None
    if k:
        centroids = normalise(np.stack([X_fit[topics == t].mean(axis=0) for t in range(k)]))
        todo = [fit_idx[topics < 0]] if outlier_threshold is not None else []
        todo.append(np.setdiff1d(np.arange(n), fit_idx))  # outside the fitted sample (empty unless sampled)
        for group in todo:
            best, score = assign_to_centroids(X[group], centroids, settings["assign_threshold"])
            labels[group] = best
            probability[group] = np.where(best >= 0, score, 0.0)
            reassigned[group] = best >= 0

    # renumber 1..k by final size (ties: HDBSCAN order), -1 stays
    stages.next("labelling themes (c-TF-IDF)")
    if k:
        sizes = np.bincount(labels[labels >= 0], minlength=k)
        order = sorted(range(k), key=lambda t: (-sizes[t], t))
        remap = np.full(k, -1, dtype=np.int64)
        for new, old in enumerate(order, start=1):
            remap[old] = new
        labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
        centroids = centroids[order]
        keep = [t for t in range(1, k + 1) if (labels == t).any()]
    else:
        keep = []
    themes: list[dict] = []
    if keep:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.update_topics([d + " ." for d in docs], topics=[int(t) for t in labels], top_n_words=TOP_WORDS,
                                vectorizer_model=make_vectorizer(),
                                ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True))
        topic_order = sorted(set(int(t) for t in labels))
        rows = {t: i for i, t in enumerate(topic_order)}
        words = model.vectorizer_model.get_feature_names_out()
        ctfidf = model.c_tf_idf_
        for t in keep:
            keywords = [w for w, s in (model.get_topic(t) or []) if w and s > 0]
            members = np.where(labels == t)[0]
            themes.append({"theme_id": t, "keywords": keywords, "label": make_label(keywords) or f"theme {t}",
                           "size": int(len(members)), "parent_id": None, "group": False,
                           "quote_idx": pick_quotes(docs, X, members, centroids[t - 1])})
        stages.next("grouping themes into a hierarchy")
        _add_groups(themes, centroids, ctfidf, rows, words, docs, X, labels)
    else:
        stages.next("no themes found")
    xy = np.zeros((n, 2), dtype=np.float32)
    if layout:
        stages.next("laying out the 2-D map")
        fit_xy = reducer.layout(2)
        xy[fit_idx] = fit_xy
        if settings["sampled"]:
            # placed among up to 5,000 seeded anchors of the fitted sample: a map position needs
            # no more, and it keeps 100,000 segments to seconds
            rest = np.setdiff1d(np.arange(n), fit_idx)
            anchors = np.sort(rng.choice(len(fit_idx), min(ANCHORS, len(fit_idx)), replace=False))
            idx, dist = exact_neighbours(X[rest], X_fit[anchors], 5, progress=lambda done, total: stages.say(
                f"placing {total:,} segments outside the fitted sample: {done / total:.0%}"))
            weights = np.maximum(1.0 - dist, 1e-6)
            anchor_xy = fit_xy[anchors]
            xy[rest] = (anchor_xy[idx] * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
    stages.next("done")
    timings = stages.timings
    unassigned = int((labels == -1).sum())
    summary = {"segments": n, "themes": len([t for t in themes if not t["group"]]),
               "groups": len([t for t in themes if t["group"]]), "hdbscan_outliers": outliers_before,
               "reassigned": int(reassigned.sum()), "unassigned": unassigned,
               "outlier_share": round(unassigned / n, 4) if n else 0.0, "seconds": timings}
    return ThemeFit(labels, probability, reassigned, xy, themes, settings, summary)


class _Stages:
    """Numbered progress messages and the seconds each stage took."""

    def __init__(self, total: int, progress: Callable[[int, int, str], None] | None):
        self.total, self.progress = total, progress
        self.step, self.name, self.started = 0, "", time.perf_counter()
        self.timings: dict[str, float] = {}

    def next(self, name: str) -> None:
        now = time.perf_counter()
        if self.step:
            self.timings[self.name] = round(now - self.started, 3)
        self.step, self.name, self.started = min(self.step + 1, self.total), name, now
        self.say(name)

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(self.step, self.total, message)


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


def pick_quotes(docs: list[str], X: np.ndarray, members: np.ndarray, centroid: np.ndarray, n: int = QUOTES,
                min_words: int = 6, max_words: int = 80) -> list[int]:
    """Indices of up to ``n`` members nearest ``centroid``, preferring 6-80 words, one per text."""
    if not len(members):
        return []
    sims = X[members] @ centroid
    order = members[np.argsort(-sims, kind="stable")]
    picked, texts = [], set()
    for strict in (True, False):
        for i in order:
            words = len(docs[i].split())
            key = " ".join(docs[i].lower().split())
            if key in texts or (strict and not min_words <= words <= max_words):
                continue
            picked.append(int(i))
            texts.add(key)
            if len(picked) == n:
                return picked
    return picked


def _add_groups(themes, centroids, ctfidf, rows, words, docs, X, labels) -> None:
    """Parent themes: centroids clustered into ~sqrt(k) groups; groups of 2+ become parents."""
    k = len(themes)
    if k < 4:
        return
    from scipy.cluster.hierarchy import fcluster, linkage

    ids = [t["theme_id"] for t in themes]
    cents = centroids[[i - 1 for i in ids]]
    groups = fcluster(linkage(cents.astype(np.float64), method="ward"),
                      t=max(2, round(math.sqrt(k))), criterion="maxclust")
    members: dict[int, list[dict]] = {}
    for theme, g in zip(themes, groups):
        members.setdefault(int(g), []).append(theme)
    parents = [m for m in members.values() if len(m) >= 2]
    parents.sort(key=lambda m: (-sum(t["size"] for t in m), min(t["theme_id"] for t in m)))
    next_id = max(ids) + 1
    for children in parents:
        weights = np.asarray(ctfidf[[rows[t["theme_id"]] for t in children]].sum(axis=0)).ravel()
        top = np.argsort(-weights, kind="stable")[:TOP_WORDS]
        keywords = [str(words[i]) for i in top if weights[i] > 0]
        child_ids = [t["theme_id"] for t in children]
        segs = np.where(np.isin(labels, child_ids))[0]
        centroid = normalise(X[segs].mean(axis=0, keepdims=True))[0]
        for child in children:
            child["parent_id"] = next_id
        themes.append({"theme_id": next_id, "keywords": keywords, "label": make_label(keywords) or f"group {next_id}",
                       "size": int(sum(t["size"] for t in children)), "parent_id": None, "group": True,
                       "quote_idx": pick_quotes(docs, X, segs, centroid), "children": child_ids})
        next_id += 1


# ---------------------------------------------------------------------------------------------
# The store: discover_themes, find_gaps


def _finished_run(con, study_id, step: str, settings: dict, summary: dict, started: float) -> int:
    """Log a finished run of ``step`` (inside the caller's transaction); returns its id."""
    from insight.store import next_ids

    (run_id,) = next_ids(con, "runs", "run_id")
    con.execute("INSERT INTO runs (run_id, study_id, step, settings, summary, status, started_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, 'done', to_timestamp(?), current_timestamp)",
                [run_id, study_id, step, json.dumps(settings, default=str), json.dumps(summary, default=str), started])
    return run_id


def _segments(con, study_id: int | None, model: str, *, include_interviewer: bool):
    frame = con.execute(
        """
        SELECT g.segment_id, g.text, g.speaker, p.external_id AS participant, d.title AS document, e.vector
        FROM segments g JOIN documents d USING (document_id)
        JOIN embeddings e ON e.text_hash = g.text_hash AND e.model = ?
        LEFT JOIN participants p ON p.participant_id = g.participant_id
        WHERE (? IS NULL OR d.study_id = ?)
        ORDER BY g.segment_id
        """, [model, study_id, study_id]).df()
    if not include_interviewer and len(frame):
        asks = frame["speaker"].fillna("").map(lambda s: bool(INTERVIEWER.match(s))) & frame["participant"].isna()
        frame = frame[~asks].reset_index(drop=True)
    return frame


def _ensure_embedded(con, study_id: int | None, model, progress) -> str:
    """Embed segments not in the cache yet (with the default embedder unless ``model`` says
    otherwise); returns the model name the vectors are cached under."""
    from insight.embeddings import embed_segments
    from pipelines.embed import get_embedder, model_name

    if model is not None and not isinstance(model, str):
        embed_segments(con, study_id=study_id, embedder=model)
        return model.name
    name = model_name(model)
    missing = con.execute(
        "SELECT count(*) FROM segments g JOIN documents d USING (document_id) WHERE (? IS NULL OR d.study_id = ?) "
        "AND g.text_hash NOT IN (SELECT text_hash FROM embeddings WHERE model = ?)", [study_id, study_id, name]).fetchone()[0]
    if missing:
        if progress:
            progress(0, 1, f"embedding {missing:,} new segments with {name}")
        embed_segments(con, study_id=study_id, embedder=get_embedder(model))
    return name


def _quote(frame, i: int) -> dict:
    row = frame.iloc[i]
    return {"segment_id": int(row.segment_id), "text": row.text, "speaker": _none(row.speaker),
            "participant": _none(row.participant), "document": row.document}


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def discover_themes(con, study_id: int | None, *, min_size: int | None = None, seed: int = DEFAULT_SEED, model=None,
                    progress: Callable[[int, int, str], None] | None = None, max_fit: int = MAX_FIT,
                    outlier_threshold: float | None = OUTLIER_THRESHOLD, include_interviewer: bool = False) -> int:
    """Discover themes in a study (``None``: all studies) and store them as a new run; returns
    its ``run_id``.

    ``model`` is the embedding model name (default: the packaged all-MiniLM-L6-v2) or an embedder
    object. ``progress(step, steps, message)`` is told each stage.

    >>> from insight import Workspace  # doctest: +SKIP
    >>> run_id = discover_themes(Workspace("insight.duckdb").con, 1)  # doctest: +SKIP
    """
    import pandas as pd

    started = time.time()
    name = _ensure_embedded(con, study_id, model, progress)
    frame = _segments(con, study_id, name, include_interviewer=include_interviewer)
    if frame.empty:
        raise InsightError("There are no segments to find themes in.", hint="Ingest something first: insight ingest PATH")
    vectors = np.stack(frame["vector"].to_numpy()).astype(np.float32)
    docs = frame["text"].tolist()
    fit = fit_themes(docs, vectors, min_size=min_size, seed=seed, max_fit=max_fit,
                     outlier_threshold=outlier_threshold, progress=progress)
    from insight.embeddings import embedding_provenance

    settings = {**fit.settings, "study_id": study_id, "embedding_model": name,
                "embeddings": embedding_provenance(con, name),
                "include_interviewer": include_interviewer, "versions": _versions()}
    summary = {**fit.summary, "excluded_interviewer_segments": _excluded(con, study_id, name, len(frame)),
               "wall_seconds": round(time.time() - started, 2)}
    _themes_rows = pd.DataFrame([  # noqa: F841 (DuckDB replacement scan)
        {"theme_id": t["theme_id"], "label": t["label"], "keywords": json.dumps(t["keywords"], ensure_ascii=False),
         "size": t["size"], "parent_id": t["parent_id"],
         "quotes": json.dumps([_quote(frame, i) for i in t["quote_idx"]], ensure_ascii=False, default=str)}
        for t in fit.themes] + [{"theme_id": -1, "label": "Unassigned", "keywords": "[]",
                                 "size": int((fit.labels == -1).sum()), "parent_id": None, "quotes": "[]"}])
    _segment_rows = pd.DataFrame({  # noqa: F841
        "segment_id": frame["segment_id"].astype("int64"), "theme_id": fit.labels.astype("int64"),
        "probability": fit.probability.astype("float64"), "reassigned": fit.reassigned,
        "x": fit.xy[:, 0].astype("float64"), "y": fit.xy[:, 1].astype("float64")})
    if progress:
        progress(1, 1, "saving the run")
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = _finished_run(con, study_id, "themes", settings, summary, started)
        con.execute("INSERT INTO themes (run_id, theme_id, label, keywords, size, parent_id, quotes) "
                    "SELECT ?, theme_id, label, keywords, size, parent_id, quotes FROM _themes_rows", [run_id])
        con.execute("INSERT INTO segment_themes (run_id, segment_id, theme_id, probability, reassigned, x, y) "
                    "SELECT ?, segment_id, theme_id, probability, reassigned, x, y FROM _segment_rows", [run_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return run_id


def _excluded(con, study_id, model, kept: int) -> int:
    total = con.execute(
        "SELECT count(*) FROM segments g JOIN documents d USING (document_id) JOIN embeddings e "
        "ON e.text_hash = g.text_hash AND e.model = ? WHERE (? IS NULL OR d.study_id = ?)",
        [model, study_id, study_id]).fetchone()[0]
    return int(total - kept)


def find_gaps(con, study_id: int | None, coders: list[str] | None = None, *, min_size: int | None = None,
              seed: int = DEFAULT_SEED, model=None, progress: Callable[[int, int, str], None] | None = None,
              include_interviewer: bool = False) -> dict:
    """Cluster the segments no code covers into candidate new codes; stored as a ``runs`` row
    (step ``'gaps'``, candidates in its summary). Returns ``{"run_id", "segments", "uncovered",
    "candidates": [{id, label, keywords, size, quotes, segment_ids}]}``.

    A segment is covered when it has a coding that is not rejected, by one of ``coders`` (default:
    any coder). Uncovered segments HDBSCAN calls noise stay out of every candidate: a candidate
    code should be coherent.
    """
    started = time.time()
    name = _ensure_embedded(con, study_id, model, progress)
    frame = _segments(con, study_id, name, include_interviewer=include_interviewer)
    covered = {r[0] for r in con.execute(
        "SELECT DISTINCT segment_id FROM codings WHERE status <> 'rejected' AND (? IS NULL OR list_contains(?, coder))",
        [None if not coders else list(coders), list(coders or [])]).fetchall()}
    if coders:
        known = {r[0] for r in con.execute("SELECT DISTINCT coder FROM codings").fetchall()}
        unknown = [c for c in coders if c not in known]
        if unknown:
            from insight.errors import NotFound

            raise NotFound("coder", unknown[0], sorted(known))
    open_ = frame[~frame["segment_id"].isin(covered)].reset_index(drop=True)
    candidates: list[dict] = []
    settings = {"study_id": study_id, "coders": list(coders) if coders else "any", "embedding_model": name,
                "include_interviewer": include_interviewer, "versions": _versions()}
    size = int(min_size) if min_size else default_min_size(len(open_))
    if len(open_) >= max(2 * size, 10):
        vectors = np.stack(open_["vector"].to_numpy()).astype(np.float32)
        fit = fit_themes(open_["text"].tolist(), vectors, min_size=size, seed=seed, outlier_threshold=None,
                         progress=progress, layout=False)
        settings.update(fit.settings)
        for t in fit.themes:
            if t["group"]:
                continue
            ids = open_["segment_id"].to_numpy()[fit.labels == t["theme_id"]]
            candidates.append({"id": t["theme_id"], "label": t["label"], "keywords": t["keywords"], "size": t["size"],
                               "quotes": [_quote(open_, i) for i in t["quote_idx"]],
                               "segment_ids": [int(s) for s in ids]})
    else:
        settings.update({"min_size": size, "seed": seed})
    summary = {"segments": int(len(frame)), "uncovered": int(len(open_)), "candidates": candidates,
               "wall_seconds": round(time.time() - started, 2)}
    con.execute("BEGIN TRANSACTION")
    try:
        run_id = _finished_run(con, study_id, "gaps", settings, summary, started)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return {"run_id": run_id, **summary}
