"""The app's one way into the database: cached reads, one-call writes, and a plain answer when
another process holds the file.

DuckDB lets one process write, and refuses even a read-only open while another process writes
(and one process cannot hold the same file read-only and writable at once). So the app:

- reads through one read-only :class:`~insight.Workspace` per database file (the :class:`Gate`,
  kept with ``st.cache_resource``), opened on demand and closed at the end of every script run
  (see ``app.py``), so that the CLI can write between two page loads;
- caches query results with ``st.cache_data``, keyed by the database path and its *data version*
  (size and modification time of the file and its WAL, plus a counter the app bumps after its own
  writes): a page whose results are cached opens nothing at all;
- writes through a writable ``Workspace`` opened for one action and closed at once (:func:`act`);
- when another process holds the file, serves the results it read before, if it has them, and
  :func:`locked` says why nothing newer can be read.

>>> from insight.ui.db import Gate
>>> Gate("/tmp/none.duckdb").exists()
False
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from insight.errors import DatabaseLocked
from insight.store import resolve_path


class Gate:
    """One database file as the app sees it: a lock, a lazily opened reader, a data version."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.RLock()
        self._reader = None
        self._bumps = 0
        self.last_good: str | None = None
        self.locked_message: str | None = None

    def exists(self) -> bool:
        return Path(self.path).exists()

    def version(self) -> str:
        """Changes whenever any process changes the database (no connection needed)."""
        parts = []
        for name in (self.path, self.path + ".wal"):
            try:
                info = os.stat(name)
                parts.append(f"{info.st_mtime_ns}:{info.st_size}")
            except OSError:
                parts.append("-")
        return "|".join(parts) + f"|{self._bumps}"

    def reader(self):
        """The shared read-only workspace (call with :attr:`lock` held)."""
        from insight.workspace import Workspace

        if self._reader is None:
            self._reader = Workspace(self.path, read_only=True)
        return self._reader

    def release(self) -> None:
        """Close the reader so that other processes may write."""
        with self.lock:
            if self._reader is not None:
                try:
                    self._reader.close()
                finally:
                    self._reader = None

    def write(self, verb: str, *args, **kwargs) -> Any:
        """One call of ``Workspace.<verb>`` on a writable workspace opened for it alone."""
        from insight.workspace import Workspace

        with self.lock:
            self.release()
            workspace = Workspace(self.path)
            try:
                return target(workspace, verb)(*args, **kwargs)
            finally:
                workspace.close()
                self._bumps += 1


def db_path() -> str:
    """The database the app works on: ``$INSIGHT_DB`` (set by ``insight app --db``), made absolute."""
    return str(Path(resolve_path(None)).resolve())


@st.cache_resource(show_spinner=False)
def _gate(path: str) -> Gate:
    return Gate(path)


def gate() -> Gate:
    return _gate(db_path())


@st.cache_data(show_spinner=False, max_entries=1024)
def _query(path: str, version: str, verb: str, args: tuple, kwargs: dict) -> Any:
    # ``version`` is only part of the cache key: a new data version is a new entry.
    g = _gate(path)
    with g.lock:
        return target(g.reader(), verb)(*args, **kwargs)


def target(workspace, verb: str):
    """The method ``verb`` names: a :class:`~insight.Workspace` verb, or ``team.<verb>`` of
    :class:`insight.team.Team` over that workspace."""
    if verb.startswith("team."):
        from insight.team import Team

        return getattr(Team(workspace), verb.removeprefix("team."))
    return getattr(workspace, verb)


def unbound(verb: str):
    """The function behind ``verb`` (to check a call's arguments before anything opens)."""
    from insight.team import Team
    from insight.workspace import Workspace

    return getattr(Team, verb.removeprefix("team.")) if verb.startswith("team.") else getattr(Workspace, verb)


def read(verb: str, *args, **kwargs) -> Any:
    """``Workspace.<verb>(*args, **kwargs)`` on the read-only workspace, cached per data version.

    While another process holds the file, the result read at the last good version is returned
    if there is one; otherwise :class:`~insight.errors.DatabaseLocked` is raised.
    """
    g = gate()
    version = g.version()
    try:
        result = _query(g.path, version, verb, args, kwargs)
    except DatabaseLocked as exc:
        g.locked_message = str(exc)
        if g.last_good is not None and g.last_good != version:
            return _query(g.path, g.last_good, verb, args, kwargs)  # a cache hit, or locked again
        raise
    g.last_good = version
    g.locked_message = None
    return result


@st.cache_data(show_spinner=False, max_entries=256)
def _run_key(path: str, version: str, run_id: int) -> str:
    from insight.themes.read import run_key

    g = _gate(path)
    with g.lock:
        return run_key(g.reader().con, run_id)


def theme_run_key(run_id: int) -> str:
    """A fingerprint of what theme run ``run_id``'s figures are drawn from
    (:func:`insight.themes.read.run_key`), read once per data version: the key for :func:`read_keyed`."""
    g = gate()
    version = g.version()
    try:
        return _run_key(g.path, version, int(run_id))
    except DatabaseLocked as exc:
        g.locked_message = str(exc)
        if g.last_good is not None and g.last_good != version:
            return _run_key(g.path, g.last_good, int(run_id))
        raise


@st.cache_data(show_spinner=False, max_entries=256)
def _keyed_query(path: str, key: str, verb: str, args: tuple, kwargs: dict) -> Any:
    g = _gate(path)
    with g.lock:
        return getattr(g.reader(), verb)(*args, **kwargs)


def read_keyed(key: str, verb: str, *args, **kwargs) -> Any:
    """Like :func:`read`, but cached by ``key`` (e.g. a theme run's fingerprint,
    :func:`theme_run_key`) instead of the data version: a write that does not change what
    the result is drawn from (a gap finder run, a coding) does not make it again."""
    g = gate()
    try:
        return _keyed_query(g.path, key, verb, args, kwargs)
    except DatabaseLocked as exc:
        g.locked_message = str(exc)
        raise


def act(verb: str, *args, **kwargs) -> Any:
    """One writing library call, ``Workspace.<verb>(*args, **kwargs)`` (or ``team.<verb>``); later
    reads see its effect. The role must allow it and the call must name the person logged in as its
    coder, actor or author: checked before the database is opened (a clear error otherwise)."""
    from insight import access

    access.require(access.current_login(), verb, access.bind(unbound(verb), None, *args, **kwargs))
    g = gate()
    try:
        result = g.write(verb, *args, **kwargs)
    except DatabaseLocked as exc:
        g.locked_message = str(exc)
        raise
    g.locked_message = None
    return result


def locked() -> str | None:
    """Why the database cannot be read or written now, or ``None``."""
    return gate().locked_message


def release() -> None:
    """Close the read connection (``app.py`` calls this at the end of every run)."""
    gate().release()


@st.cache_resource(show_spinner="Loading the embedding model (once per server) ...")
def embedder(model: str | None = None):
    """The embedding model, loaded once per server process."""
    from pipelines.embed import get_embedder

    return get_embedder(model)


@st.cache_data(show_spinner=False, max_entries=64)
def _export(path: str, version: str, suffix: str, options: dict) -> tuple[bytes, dict]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="insight-export-") as tmp:
        out = Path(tmp) / f"export{suffix}"
        g = _gate(path)
        with g.lock:
            summary = g.reader().export(out, **options)
        return out.read_bytes(), summary


def export(suffix: str, **options) -> tuple[bytes, dict]:
    """``Workspace.export`` into a temporary ``export<suffix>`` file: its bytes and the summary,
    cached per data version (exports read the database; they never write it)."""
    g = gate()
    version = g.version()
    try:
        result = _export(g.path, version, suffix, options)
    except DatabaseLocked as exc:
        g.locked_message = str(exc)
        if g.last_good is not None and g.last_good != version:
            return _export(g.path, g.last_good, suffix, options)
        raise
    g.last_good = version
    return result
