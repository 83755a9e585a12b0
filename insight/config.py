"""Settings from the environment, in one place: every ``INSIGHT_*`` variable Insight reads, and the
folder it caches things in.

The bottom layer with :mod:`insight.errors`: it imports nothing else of Insight, and ``pipelines/``
may use it. Values are read on every call (tests and the app change the environment at run time).

| variable | meaning | default |
|---|---|---|
| ``INSIGHT_DB`` | the database file | ``insight.duckdb`` |
| ``INSIGHT_MODEL`` | sentence-transformers model name or path, or ``hashing`` | ``all-MiniLM-L6-v2`` (packaged) |
| ``INSIGHT_EMBED_BACKEND`` | ``auto``, ``onnx`` or ``torch`` | ``auto`` |
| ``INSIGHT_EMBED_VARIANT`` | force one ONNX variant (see ``pipelines/embed_onnx.py``) | chosen by the self-check |
| ``INSIGHT_SPACY_MODEL`` | a trained spaCy pipeline, or ``blank`` | a trained one when installed |
| ``INSIGHT_PHONE_REGIONS`` | countries whose national phone formats are read, the home one first | ``GB,US`` |
| ``INSIGHT_CACHE_DIR`` | where exported models live | ``$XDG_CACHE_HOME/insight`` or ``~/.cache/insight`` |
| ``INSIGHT_PASSWORD_HASH`` | the app's password hash (see ``insight app --help``) | none |
| ``INSIGHT_MAX_UPLOAD_MB`` | largest upload the app takes | 200 |
| ``INSIGHT_SESSION_HOURS`` | hours without use after which an app session logs in again | 8 |
"""

from __future__ import annotations

import os
from pathlib import Path

__version__ = "0.1.0"
DEFAULT_DB = "insight.duckdb"
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def env(name: str, default: str | None = None) -> str | None:
    """``INSIGHT_<name>`` stripped, or ``default`` when unset or blank."""
    value = os.environ.get(f"INSIGHT_{name}", "").strip()
    return value or default


def db_path(given: str | os.PathLike | None = None) -> str:
    """The database: as given, else ``$INSIGHT_DB``, else ``insight.duckdb``."""
    return str(given) if given else env("DB", DEFAULT_DB)


def model(given: str | None = None) -> str:
    """The embedding model: as given, else ``$INSIGHT_MODEL``, else the packaged default."""
    return given or env("MODEL", DEFAULT_MODEL)


def phone_regions() -> tuple[str, ...]:
    """Where national phone numbers are read from (ISO 3166 codes, the study's own country first):
    ``$INSIGHT_PHONE_REGIONS`` (``GB,IE,US``), else ``GB,US``. Numbers written with a country code
    are found whatever the list says.
    """
    value = env("PHONE_REGIONS", "GB,US")
    return tuple(dict.fromkeys(r.strip().upper() for r in value.split(",") if r.strip())) or ("GB", "US")


def cache_dir() -> Path:
    """Insight's cache folder: ``$INSIGHT_CACHE_DIR``, else ``$XDG_CACHE_HOME/insight``, else
    ``~/.cache/insight``."""
    base = env("CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "insight"
