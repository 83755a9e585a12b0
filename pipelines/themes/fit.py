"""The theme fit: texts and vectors in, themes out (no database); the steps are described in
:mod:`pipelines.themes`."""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from insight.errors import InsightError
from pipelines.themes.names import SMALL_TALK_ID, SMALL_TALK_LABEL, chat_share, name_themes, proper_nouns
from pipelines.themes.words import _ANNOTATIONS, default_min_size, make_vectorizer

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


def place_on_map(vectors: np.ndarray, anchors: np.ndarray, anchor_xy: np.ndarray, *,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """2-D map positions for ``vectors``: the similarity-weighted mean of the positions of their 5
    most cosine-similar ``anchors`` (all L2-normalised; ``anchor_xy`` the anchors' positions)."""
    idx, dist = exact_neighbours(vectors, anchors, 5, progress=progress)
    weights = np.maximum(1.0 - dist, 1e-6)
    return ((anchor_xy[idx] * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)).astype(np.float32)


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


def versions() -> dict:
    """The versions of the packages a theme run depends on (recorded in its settings)."""
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
        "representation": "c-TF-IDF (reduce_frequent_words) over 1-3-word phrases, no stop, filler or chat at the ends",
        "top_words": TOP_WORDS,
        "hierarchy": "Ward linkage of unit theme centroids into 8-15 top-level themes (2 sqrt(k))",
        "names": "1-3-word phrases: c-TF-IDF, then MMR by closeness to the centre; small talk set aside as theme 0",
        "map": "2-D UMAP on the same neighbour graph, PCA-initialised",
    }


def fit_themes(docs: list[str], vectors: np.ndarray, *, min_size: int | None = None, seed: int = DEFAULT_SEED,
               max_fit: int = MAX_FIT, outlier_threshold: float | None = OUTLIER_THRESHOLD,
               progress: Callable[[int, int, str], None] | None = None, layout: bool = True,
               outside: Callable | None = None) -> ThemeFit:
    """Cluster ``docs`` (with their embedding ``vectors``) into labelled themes.

    Deterministic for a given ``seed``. ``progress(step, steps, message)`` is called per stage.
    ``outside(vectors, centroids, threshold, anchors, anchor_xy) -> (theme, score, xy)`` places the
    segments outside a fitted sample (their normalised ``vectors``) in one pass, elsewhere (a Ray cluster:
    :mod:`insight.cluster`) by the same rule as here (:func:`assign_to_centroids`, :func:`place_on_map`).

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
    placed = None
    if k:
        centroids = normalise(np.stack([X_fit[topics == t].mean(axis=0) for t in range(k)]))
        todo = [fit_idx[topics < 0]] if outlier_threshold is not None else []
        rest = np.setdiff1d(np.arange(n), fit_idx)  # outside the fitted sample (empty unless sampled)
        if outside is not None and len(rest) and layout:
            fit_xy = reducer.layout(2)
            anchors = np.sort(rng.choice(len(fit_idx), min(ANCHORS, len(fit_idx)), replace=False))
            best, score, rest_xy = outside(X[rest], centroids, settings["assign_threshold"], X_fit[anchors],
                                           fit_xy[anchors])
            labels[rest], probability[rest], reassigned[rest] = best, np.where(best >= 0, score, 0.0), best >= 0
            placed = (fit_xy, rest, rest_xy)
        else:
            todo.append(rest)
        for group in todo:
            best, score = assign_to_centroids(X[group], centroids, settings["assign_threshold"])
            labels[group] = best
            probability[group] = np.where(best >= 0, score, 0.0)
            reassigned[group] = best >= 0

    stages.next("naming themes (phrases by c-TF-IDF, closeness to the centre and MMR)")
    names = proper_nouns(docs)
    labels, small_talk = set_aside_small_talk(docs, renumber(np.where(labels >= 0, labels + 1, -1)), names)
    themes = describe_themes(docs, X, labels, names)
    stages.next("grouping themes into a hierarchy")
    if len(themes) > 1:
        _add_groups(themes, docs, X, labels, names)
    xy = np.zeros((n, 2), dtype=np.float32)
    if layout:
        stages.next("laying out the 2-D map")
        if placed is not None:  # laid out and placed with the segments outside the sample
            fit_xy, rest, rest_xy = placed
            xy[fit_idx], xy[rest] = fit_xy, rest_xy
        else:
            fit_xy = reducer.layout(2)
            xy[fit_idx] = fit_xy
        if settings["sampled"] and placed is None:
            # placed among up to 5,000 seeded anchors of the fitted sample: a map position needs
            # no more, and it keeps 100,000 segments to seconds
            rest = np.setdiff1d(np.arange(n), fit_idx)
            anchors = np.sort(rng.choice(len(fit_idx), min(ANCHORS, len(fit_idx)), replace=False))
            xy[rest] = place_on_map(X[rest], X_fit[anchors], fit_xy[anchors], progress=lambda done, total: stages.say(
                f"placing {total:,} segments outside the fitted sample: {done / total:.0%}"))
    stages.next("done")
    timings = stages.timings
    unassigned = int((labels == -1).sum())
    summary = {"segments": n, "themes": len([t for t in themes if t["kind"] == "theme"]), "small_talk": small_talk,
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


def renumber(labels: np.ndarray) -> np.ndarray:
    """Themes numbered 1..k by size, largest first (ties: the old order); -1 and 0 stay.

    >>> renumber(np.array([5, 5, 2, -1, 2, 2, 0])).tolist()
    [2, 2, 1, -1, 1, 1, 0]
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids, sizes = np.unique(labels[labels > 0], return_counts=True)
    order = sorted(zip(ids.tolist(), sizes.tolist()), key=lambda p: (-p[1], p[0]))
    remap = {old: new for new, (old, _) in enumerate(order, start=1)}
    return np.array([remap.get(int(t), int(t)) for t in labels], dtype=np.int64)


def set_aside_small_talk(docs: list[str], labels: np.ndarray, names: frozenset[str]) -> tuple[np.ndarray, int]:
    """Small talk into the quiet theme 0 (see :mod:`pipelines.themes.names`): segments that say
    nothing but greetings and chat, themes that are mostly such talk or mostly asides (half their
    segments carry a stage direction: "[laughs] Where was I?", "[kettle on]"), and unassigned
    segments that are mostly chat. Returns the renumbered labels and the number set aside.

    >>> set_aside_small_talk(["[laughs] Go on then.", "[pause] Where was I?", "The bins.", "Bins again.", "Hi!"],
    ...                      np.array([1, 1, 2, 2, -1]), frozenset())[0].tolist()
    [0, 0, 1, 1, 0]
    """
    share = np.array([chat_share(d, names) for d in docs])
    aside = np.array([bool(_ANNOTATIONS.search(d)) for d in docs])
    labels = np.asarray(labels, dtype=np.int64).copy()
    for t in np.unique(labels[labels > 0]):
        if share[labels == t].mean() >= 0.5 or aside[labels == t].mean() >= 0.5:
            labels[labels == t] = SMALL_TALK_ID
    labels[share >= 1.0] = SMALL_TALK_ID
    labels[(labels == -1) & (share >= 0.5)] = SMALL_TALK_ID
    return renumber(labels), int((labels == SMALL_TALK_ID).sum())


def describe_themes(docs: list[str], X: np.ndarray, labels: np.ndarray, names: frozenset[str] | None = None,
                    ids=None) -> list[dict]:
    """A row per theme of ``labels`` (or of ``ids``): name, phrases, keywords, size, quotes."""
    ids = sorted(int(t) for t in set(labels.tolist()) - {-1}) if ids is None else list(ids)
    named = name_themes(docs, X, labels, ids, names=names, top_words=TOP_WORDS)
    themes = []
    for t in ids:
        members = np.where(labels == t)[0]
        small = t == SMALL_TALK_ID
        centroid = normalise(X[members].mean(axis=0, keepdims=True))[0]
        label = SMALL_TALK_LABEL if small else (named[t].label or f"Theme {t}")
        themes.append({"theme_id": t, "label": label, "keywords": named[t].keywords, "phrases": named[t].phrases,
                       "size": int(len(members)), "parent_id": None, "group": False,
                       "kind": "small_talk" if small else "theme",
                       "quote_idx": pick_quotes(docs, X, members, centroid)})
    return themes


def split_members(X: np.ndarray, parts: int, *, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``parts`` groups of the rows of ``X`` (unit vectors) by k-means, numbered 0.. by size.

    >>> X = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.05, 1]], dtype=np.float32)
    >>> split_members(X, 2).tolist()
    [1, 1, 0, 0, 0]
    """
    from sklearn.cluster import KMeans

    found = KMeans(n_clusters=parts, random_state=seed, n_init=10).fit_predict(np.asarray(X, dtype=np.float64))
    order = sorted(range(parts), key=lambda g: (-int((found == g).sum()), g))
    return np.argsort(order)[found]


def top_level_count(k: int) -> int:
    """How many top-level themes ``k`` themes are gathered into: all of them up to 15, else
    ``2 * sqrt(k)`` kept within 8..15 (a list a reader can take in at a glance)."""
    return k if k <= 15 else int(min(15, max(8, round(2 * math.sqrt(k)))))


def _add_groups(themes, docs, X, labels, names) -> None:
    """Parent themes: theme centroids clustered (Ward) into :func:`top_level_count` groups; a
    group of 2+ themes becomes a parent named from its children's text, c-TF-IDF against the
    other top-level themes. Small talk stays on its own."""
    leaves = [t for t in themes if t["kind"] == "theme"]
    k = len(leaves)
    target = top_level_count(k)
    if target >= k or k < 4:
        return
    from scipy.cluster.hierarchy import fcluster, linkage

    cents = np.stack([normalise(X[labels == t["theme_id"]].mean(axis=0, keepdims=True))[0] for t in leaves])
    groups = fcluster(linkage(cents.astype(np.float64), method="ward"), t=target, criterion="maxclust")
    members: dict[int, list[dict]] = {}
    for theme, g in zip(leaves, groups):
        members.setdefault(int(g), []).append(theme)
    parents = [m for m in members.values() if len(m) >= 2]
    parents.sort(key=lambda m: (-sum(t["size"] for t in m), min(t["theme_id"] for t in m)))
    next_id = max(t["theme_id"] for t in themes) + 1
    top = labels.copy()
    ids = []
    for offset, children in enumerate(parents):
        for child in children:
            child["parent_id"] = next_id + offset
            top[labels == child["theme_id"]] = next_id + offset
        ids.append(next_id + offset)
    for group in describe_themes(docs, X, top, names, ids):
        children = [t["theme_id"] for t in themes if t["parent_id"] == group["theme_id"]]
        label = group["label"] if not group["label"].startswith("Theme ") else f"Group {group['theme_id']}"
        themes.append({**group, "group": True, "kind": "group", "children": children, "label": label})
