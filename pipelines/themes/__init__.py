"""Theme discovery: BERTopic over segment vectors, as pure steps over texts and arrays (no database;
:mod:`insight.themes` reads the segments and vectors, calls :func:`fit_themes` and stores runs).

:mod:`pipelines.themes.words` holds the analyser and labels, :mod:`pipelines.themes.fit` the fit.
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
6. **Small talk**: segments whose content words are all greetings or chat ("Thanks for your
   time.", "Fine, sorry, bye.") or that have none ("Yes."), themes mostly made of them, and
   unassigned segments mostly made of them go to the quiet theme 0, "Small talk and greetings"
   (:mod:`pipelines.themes.names`); it is shown apart and never named otherwise.
7. **Names** (:mod:`pipelines.themes.names`): a phrase people would write, from the theme's own
   text: c-TF-IDF (BERTopic's ``ClassTfidfTransformer(reduce_frequent_words=True)``) over 1-3-word
   phrases that start and end with a content word (never a stop or filler word, a greeting or a
   person's name), then maximal marginal relevance by closeness to the theme's centre; the best
   phrase and the next unlike it, joined by "and": "Council tax and court". The keywords are the
   top c-TF-IDF phrases; the subtitle is the first quote.
   **Quotes**: the three segments nearest the theme's centroid among those of 6 to 80 words (one
   per text), with speaker, participant and document.
8. **Hierarchy**: theme centroids (unit length) are clustered (Ward linkage) into 8-15 top-level
   themes (``2 * sqrt(k)``; no grouping up to 15 themes); a group of two or more themes becomes a
   parent (``parent_id``) named like a theme, against the other top-level themes. BERTopic's
   ``hierarchical_topics`` builds a full binary tree, which is more than a reader can browse.
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

The gap finder (:func:`insight.themes.find_gaps`) runs the same fit over the segments that no coding covers
(codings not rejected, by the chosen coders), without outlier reassignment (a candidate code
should be coherent), and stores the candidates in the summary of a ``'gaps'`` run;
:func:`insight.themes.add_gap_as_code` turns one into a code in a new codebook version.
"""

from pipelines.themes.fit import (
    ANCHORS, DEFAULT_SEED, LAYOUT_EPOCHS, MAX_FIT, N_COMPONENTS, N_EPOCHS, N_NEIGHBORS, OUTLIER_THRESHOLD, QUOTES,
    TOP_WORDS, NeighbourUMAP, ThemeFit, assign_to_centroids, describe_themes, exact_neighbours, fit_themes,
    import_bertopic, normalise, numba_cache_dir, pick_quotes, place_on_map, renumber, resolve_settings,
    set_aside_small_talk, split_members, top_level_count, versions,
)
from pipelines.themes.names import (
    SMALL_TALK_ID, SMALL_TALK_LABEL, PhraseAnalyser, chat_share, compose, is_small_talk, name_themes, proper_nouns,
)
from pipelines.themes.words import (
    FILLER_PHRASES, FILLER_WORDS, analyse, default_min_size, make_label, make_vectorizer, preprocess,
    stop_words, tokenize,
)

__all__ = [
    "SMALL_TALK_ID", "SMALL_TALK_LABEL", "PhraseAnalyser", "chat_share", "compose", "describe_themes",
    "is_small_talk", "name_themes", "proper_nouns", "renumber", "set_aside_small_talk", "split_members",
    "top_level_count",
    "ANCHORS", "DEFAULT_SEED", "FILLER_PHRASES", "FILLER_WORDS", "LAYOUT_EPOCHS", "MAX_FIT",
    "N_COMPONENTS", "N_EPOCHS", "N_NEIGHBORS", "OUTLIER_THRESHOLD", "QUOTES", "TOP_WORDS", "NeighbourUMAP",
    "ThemeFit", "analyse", "assign_to_centroids", "default_min_size", "exact_neighbours", "fit_themes",
    "import_bertopic", "make_label", "make_vectorizer", "normalise", "numba_cache_dir", "pick_quotes", "place_on_map",
    "preprocess",
    "resolve_settings", "stop_words", "tokenize", "versions",
]
