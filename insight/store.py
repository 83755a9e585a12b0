"""The DuckDB store: connection, schema and migrations.

One file holds a workspace. The schema is a list of migrations; ``schema_version`` records how
many have run, so opening an older file upgrades it in place and opening a newer one fails with a
clear message instead of guessing.

Ids are plain integers assigned by :func:`next_ids` inside the writing transaction (DuckDB allows
one writing process, so ``max(id) + 1`` is safe) which lets bulk inserts go through DataFrames.

It also owns what every operation shares: :func:`transaction` (the only place that writes
``BEGIN``/``COMMIT``), :func:`frames` (DataFrames and Arrow tables visible to SQL by name, without
locals that exist only for DuckDB's replacement scan), :func:`record_run` (the only writer of the
``runs`` table) and :func:`text_hash` (the key of a text in the embeddings cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import duckdb

from insight import config
from insight.errors import DatabaseLocked, InsightError, SchemaTooNew

DEFAULT_DB = "insight.duckdb"

MIGRATIONS: list[str] = [
    # 1: the foundation
    """
    CREATE TABLE studies (
        study_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        created_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE files (
        file_id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        reader TEXT,
        encoding TEXT,
        documents INTEGER,
        segments INTEGER,
        codings INTEGER,
        options JSON,
        ingested_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE participants (
        participant_id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL,
        external_id TEXT NOT NULL,
        name TEXT,
        created_at TIMESTAMP DEFAULT current_timestamp,
        UNIQUE (study_id, external_id)
    );
    CREATE TABLE attributes (
        participant_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('text', 'number', 'date', 'category')),
        value TEXT,
        value_number DOUBLE,
        value_date DATE,
        PRIMARY KEY (participant_id, name)
    );
    CREATE TABLE documents (
        document_id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL,
        file_id INTEGER,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        source_path TEXT,
        sha256 TEXT,
        text TEXT NOT NULL,
        metadata JSON,
        doc_date DATE,
        participant_id INTEGER,
        created_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE segments (
        segment_id BIGINT PRIMARY KEY,
        document_id INTEGER NOT NULL,
        ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        speaker TEXT,
        participant_id INTEGER,
        field TEXT,
        start_ms BIGINT,
        end_ms BIGINT,
        unit TEXT NOT NULL,
        text TEXT NOT NULL,
        text_hash TEXT NOT NULL
    );
    CREATE INDEX segments_document ON segments (document_id);
    CREATE TABLE codebooks (
        codebook_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        study_id INTEGER,
        created_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE codebook_versions (
        codebook_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        title TEXT,
        description TEXT,
        author TEXT,
        note TEXT,
        source TEXT,
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (codebook_id, version)
    );
    CREATE TABLE codes (
        codebook_id INTEGER NOT NULL,
        version INTEGER NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        position INTEGER,
        definition TEXT,
        include TEXT,
        exclude TEXT,
        examples JSON,
        counter_examples JSON,
        keywords JSON,
        colour TEXT,
        PRIMARY KEY (codebook_id, version, name)
    );
    CREATE TABLE codings (
        coding_id BIGINT PRIMARY KEY,
        segment_id BIGINT NOT NULL,
        code TEXT NOT NULL,
        codebook_id INTEGER,
        codebook_version INTEGER,
        coder TEXT NOT NULL,
        method TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('suggested', 'accepted', 'rejected')),
        score DOUBLE,
        start INTEGER,
        "end" INTEGER,
        explanation TEXT,
        run_id INTEGER,
        created_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE INDEX codings_segment ON codings (segment_id);
    CREATE TABLE embeddings (
        text_hash TEXT NOT NULL,
        model TEXT NOT NULL,
        vector FLOAT[] NOT NULL,
        PRIMARY KEY (text_hash, model)
    );
    CREATE TABLE memos (
        memo_id INTEGER PRIMARY KEY,
        study_id INTEGER,
        target_kind TEXT NOT NULL,
        target_id TEXT,
        author TEXT,
        title TEXT,
        text TEXT NOT NULL,
        created_at TIMESTAMP DEFAULT current_timestamp
    );
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY,
        study_id INTEGER,
        step TEXT NOT NULL,
        settings JSON,
        summary JSON,
        status TEXT,
        started_at TIMESTAMP DEFAULT current_timestamp,
        finished_at TIMESTAMP
    );
    """,
    # 2: themes (theme runs are rows of `runs` with step 'themes')
    """
    CREATE TABLE themes (
        run_id INTEGER NOT NULL,
        theme_id INTEGER NOT NULL,
        label TEXT,
        keywords JSON,
        size INTEGER,
        parent_id INTEGER,
        quotes JSON,
        PRIMARY KEY (run_id, theme_id)
    );
    CREATE TABLE segment_themes (
        run_id INTEGER NOT NULL,
        segment_id BIGINT NOT NULL,
        theme_id INTEGER NOT NULL,
        probability DOUBLE,
        reassigned BOOLEAN DEFAULT false,
        x DOUBLE,
        y DOUBLE,
        PRIMARY KEY (run_id, segment_id)
    );
    """,
    # 3: the history of every change to a coding (who, what, when), for audit and undo
    """
    CREATE TABLE coding_history (
        change_id BIGINT PRIMARY KEY,
        coding_id BIGINT,
        segment_id BIGINT,
        code TEXT,
        coder TEXT,
        action TEXT NOT NULL,
        old_status TEXT,
        new_status TEXT,
        actor TEXT,
        changed_at TIMESTAMP DEFAULT current_timestamp,
        batch TEXT,
        undone_by BIGINT
    );
    """,
    # 4: which units each coder has looked at (agreement is measured on units both saw), and
    # segment lemmas cached by text hash (rule matching after a codebook edit needs no spaCy)
    """
    CREATE TABLE coverage (
        coder TEXT NOT NULL,
        segment_id BIGINT NOT NULL,
        PRIMARY KEY (coder, segment_id)
    );
    CREATE TABLE lemmas (
        text_hash TEXT PRIMARY KEY,
        pipeline TEXT,
        lemmas TEXT NOT NULL
    );
    """,
    # 5: pseudonymisation (insight/privacy/): the mapping and the originals, kept apart from the text
    """
    CREATE TABLE pii_entities (
        study_id INTEGER NOT NULL,
        entity_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        number INTEGER NOT NULL,
        label TEXT NOT NULL,
        original TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (study_id, entity_id)
    );
    CREATE TABLE pii_mentions (
        mention_id BIGINT PRIMARY KEY,
        study_id INTEGER NOT NULL,
        document_id INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        original TEXT NOT NULL,
        kind TEXT NOT NULL,
        entity_id INTEGER,
        source TEXT,
        score DOUBLE,
        status TEXT NOT NULL CHECK (status IN ('replaced', 'accepted', 'undone', 'candidate')),
        applied_start INTEGER,
        applied_end INTEGER,
        actor TEXT,
        changed_at TIMESTAMP,
        run_id INTEGER
    );
    CREATE INDEX pii_mentions_document ON pii_mentions (document_id);
    CREATE TABLE pii_documents (
        document_id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL,
        original TEXT NOT NULL
    );
    CREATE TABLE pii_fields (
        table_name TEXT NOT NULL,
        row_id BIGINT NOT NULL,
        column_name TEXT NOT NULL,
        study_id INTEGER NOT NULL,
        original TEXT,
        PRIMARY KEY (table_name, row_id, column_name)
    );
    """,
    # 6: a coding is a passage of a document (its range in code points, end exclusive), not a
    # segment: researchers code what they select, across turns and mid-sentence. Which segments a
    # coding touches is derived (the view ``coding_segments``), never stored. A coding of a whole
    # segment (start and end empty until now) becomes that segment's range.
    """
    CREATE TABLE codings_v6 (
        coding_id BIGINT PRIMARY KEY,
        document_id INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        code TEXT NOT NULL,
        codebook_id INTEGER,
        codebook_version INTEGER,
        coder TEXT NOT NULL,
        method TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('suggested', 'accepted', 'rejected')),
        score DOUBLE,
        explanation TEXT,
        memo TEXT,
        run_id INTEGER,
        created_at TIMESTAMP DEFAULT current_timestamp,
        CHECK (start >= 0 AND "end" > start)
    );
    INSERT INTO codings_v6 (coding_id, document_id, start, "end", code, codebook_id, codebook_version, coder,
                            method, status, score, explanation, run_id, created_at)
    SELECT c.coding_id, g.document_id, coalesce(c.start, g.start), coalesce(c."end", g."end"), c.code,
           c.codebook_id, c.codebook_version, c.coder, c.method, c.status, c.score, c.explanation, c.run_id,
           c.created_at
    FROM codings c JOIN segments g USING (segment_id);
    DROP INDEX codings_segment;
    DROP TABLE codings;
    ALTER TABLE codings_v6 RENAME TO codings;
    CREATE INDEX codings_document ON codings (document_id);
    CREATE VIEW coding_segments AS
        SELECT c.*, g.segment_id FROM codings c JOIN segments g
        ON g.document_id = c.document_id AND g.start < c."end" AND c.start < g."end";
    ALTER TABLE coding_history ADD COLUMN document_id INTEGER;
    ALTER TABLE coding_history ADD COLUMN start INTEGER;
    ALTER TABLE coding_history ADD COLUMN "end" INTEGER;
    UPDATE coding_history SET document_id = g.document_id FROM segments g
        WHERE coding_history.segment_id = g.segment_id;
    """,
    # 7: a team (insight/team.py): samples of units assigned to a coder, blind until a lead
    # unblinds them, and the lead's adjudicated decisions (the consensus coder's codings and who
    # decided what).
    """
    CREATE TABLE assignments (
        assignment_id INTEGER PRIMARY KEY,
        study_id INTEGER,
        name TEXT NOT NULL,
        coder TEXT NOT NULL,
        reference TEXT,
        settings JSON,
        blind BOOLEAN NOT NULL DEFAULT true,
        created_by TEXT,
        created_at TIMESTAMP DEFAULT current_timestamp,
        unblinded_by TEXT,
        unblinded_at TIMESTAMP
    );
    CREATE TABLE assignment_units (
        assignment_id INTEGER NOT NULL,
        segment_id BIGINT NOT NULL,
        stratum TEXT,
        PRIMARY KEY (assignment_id, segment_id)
    );
    CREATE TABLE adjudications (
        decision_id BIGINT PRIMARY KEY,
        assignment_id INTEGER,
        segment_id BIGINT NOT NULL,
        code TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('apply', 'omit')),
        coded_by JSON,
        decided_by TEXT NOT NULL,
        decided_at TIMESTAMP DEFAULT current_timestamp,
        coding_id BIGINT,
        note TEXT
    );
    """,
    # 8: themes researchers can shape: a kind ('theme', 'group' for a parent, 'small_talk' for the
    # quiet theme 0), who named a theme (NULL: named by Insight), whether it is pinned, and the
    # history of every rename, merge, split, pin and carry-over (``theme_edits``; ``before`` holds
    # what an undo puts back)
    """
    ALTER TABLE themes ADD COLUMN kind TEXT DEFAULT 'theme';
    ALTER TABLE themes ADD COLUMN named_by TEXT;
    ALTER TABLE themes ADD COLUMN pinned BOOLEAN DEFAULT false;
    UPDATE themes SET kind = 'group' WHERE EXISTS (
        SELECT 1 FROM themes c WHERE c.run_id = themes.run_id AND c.parent_id = themes.theme_id);
    CREATE TABLE theme_edits (
        edit_id BIGINT PRIMARY KEY,
        run_id INTEGER NOT NULL,
        theme_id INTEGER,
        action TEXT NOT NULL,
        detail JSON,
        before JSON,
        actor TEXT,
        changed_at TIMESTAMP DEFAULT current_timestamp,
        undone_by BIGINT
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def resolve_path(path: str | os.PathLike | None) -> str:
    """The database path: the argument, else ``$INSIGHT_DB``, else ``./insight.duckdb``."""
    if path is not None:
        return str(path)
    return config.db_path()


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and create or upgrade) the database; a file held by another writer raises
    :class:`DatabaseLocked`.

    >>> con = connect(":memory:")
    >>> con.execute("SELECT count(*) FROM studies").fetchone()
    (0,)
    """
    target = resolve_path(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        if read_only and not Path(target).exists():
            raise InsightError(f"No database at {target}.", hint="Ingest something first: insight ingest PATH")
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise DatabaseLocked(target, _lock_holder(text)) from None
        raise InsightError(f"Could not open the database {target}: {text}") from None
    if not read_only:
        migrate(con)
    else:
        _check_version(con, target)
    return con


def _lock_holder(message: str) -> str:
    # DuckDB names the holding process ("... (PID 1234)"); pass that on, it is the useful part.
    marker = "PID"
    if marker in message:
        return "held by " + message[message.index(marker):].split(")")[0].strip()
    return ""


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _check_version(con: duckdb.DuckDBPyConnection, target: str) -> None:
    version = _current_version(con)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{target} has schema version {version}; this Insight knows up to {SCHEMA_VERSION}.",
            hint="Upgrade Insight (pip install -U insight) to open it.",
        )


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Run the migrations this database has not seen; returns the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP)")
    version = _current_version(con)
    _check_version(con, "this database")
    for number in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(MIGRATIONS[number - 1])
            con.execute("INSERT INTO schema_version VALUES (?, current_timestamp)", [number])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def next_ids(con: duckdb.DuckDBPyConnection, table: str, column: str, n: int = 1) -> range:
    """``n`` fresh ids for ``table.column`` (call inside the writing transaction)."""
    start = con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchall()[0][0]
    return range(int(start), int(start) + n)


def text_hash(text: str) -> str:
    """The key of a text in the embeddings cache.

    >>> text_hash("Damp again.")
    '472dd686ecd21a10cbaa4dd9e7c67d3a'
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


_OPEN_TRANSACTIONS: dict[int, int] = {}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    """One transaction: committed when the block ends, rolled back (and the error raised) when it
    fails. Nested blocks join the outer transaction, so an operation that writes in one transaction
    can be called from another that does."""
    key = id(con)
    depth = _OPEN_TRANSACTIONS.get(key, 0)
    if depth:
        _OPEN_TRANSACTIONS[key] = depth + 1
        try:
            yield con
        finally:
            _OPEN_TRANSACTIONS[key] = depth
        return
    con.execute("BEGIN TRANSACTION")
    _OPEN_TRANSACTIONS[key] = 1
    try:
        yield con
    except BaseException:
        _OPEN_TRANSACTIONS.pop(key, None)
        con.execute("ROLLBACK")
        raise
    _OPEN_TRANSACTIONS.pop(key, None)
    con.execute("COMMIT")


@contextmanager
def frames(con: duckdb.DuckDBPyConnection, **tables):
    """Make DataFrames or Arrow tables queryable by name for the block:
    ``with frames(con, _ids=frame): con.execute("SELECT ... FROM _ids")``."""
    # A result the caller left unread (after fetchone()) blocks register(); a query would discard it anyway.
    if hasattr(con, "complete"):
        con.complete()
    else:  # DuckDB before 2.0
        try:
            con.fetchall()
        except Exception:
            pass
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield con
    finally:
        for name in tables:
            try:
                con.unregister(name)
            except Exception:  # the connection was closed in the block
                pass


def record_run(con: duckdb.DuckDBPyConnection, step: str, study_id: int | None, settings: dict,
               summary: dict | None = None, *, status: str = "done", started: float | None = None) -> int:
    """A row of ``runs`` (inside the caller's transaction, if any); returns its id. ``started`` is
    a Unix time (default: now); a run with status ``done`` is finished now."""
    (run_id,) = next_ids(con, "runs", "run_id")
    con.execute("INSERT INTO runs (run_id, study_id, step, settings, summary, status, started_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, coalesce(to_timestamp(?)::TIMESTAMP, current_timestamp), "
                "CASE WHEN ? = 'done' THEN current_timestamp END)",
                [run_id, study_id, step, json.dumps(settings, default=str),
                 None if summary is None else json.dumps(summary, default=str), status, started, status])
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: int, summary: dict, *, status: str = "done") -> None:
    """Set a run's summary and status, finished now."""
    con.execute("UPDATE runs SET summary = ?, status = ?, finished_at = current_timestamp WHERE run_id = ?",
                [json.dumps(summary, default=str), status, run_id])
