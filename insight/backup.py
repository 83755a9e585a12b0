"""A consistent copy of the database while it is in use (``insight backup``, the app's backup
button): every table, constraint and index as of one moment, checked row for row."""

from __future__ import annotations


def backup(out, *, db=None, con=None, wait: float = 10.0, force: bool = False) -> dict:
    """Write a consistent copy of the database to ``out`` (a new DuckDB file): every table,
    constraint and index, as of one moment, checked row for row after writing.

    From a path (``db``), the file is opened read-only, which works while the app is reading it;
    while another process is *writing* it, this retries for ``wait`` seconds, then raises
    :class:`~insight.errors.DatabaseLocked`. From a writable connection (``con``, for example the
    app's own while it acts) the copy is made inside it. The copy is written beside ``out`` and
    renamed into place, so a failed backup never leaves a half-written file under that name.
    The copy holds the pseudonymisation originals too: keep it as safe as the database itself.
    """
    import os
    import time
    from pathlib import Path

    import duckdb

    from insight.errors import DatabaseLocked, InsightError
    from insight.store import resolve_path, transaction

    out = Path(out)
    if out.exists() and not force:
        raise InsightError(f"{out} already exists.", hint="Choose a new file name, or pass --force to replace it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    for leftover in (tmp, Path(str(tmp) + ".wal")):
        if leftover.exists():
            leftover.unlink()
    source = None if con is not None else resolve_path(db)
    if source is not None and source != ":memory:" and not Path(source).exists():
        raise InsightError(f"No database at {source}.", hint="Check --db.")
    owner = con
    if owner is None:
        owner = duckdb.connect()
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                owner.execute(f"ATTACH '{_sql_path(source)}' AS insight_src (READ_ONLY)")
                break
            except duckdb.Error as exc:
                if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                    owner.close()
                    if "lock" in str(exc).lower():
                        raise DatabaseLocked(source, "backup waited " + f"{wait:g} s") from None
                    raise InsightError(f"Could not open {source} for the backup: {exc}") from None
                time.sleep(0.2)
        name = "insight_src"
    else:
        name = owner.execute("SELECT current_database()").fetchone()[0]
    try:
        owner.execute(f"ATTACH '{_sql_path(tmp)}' AS insight_backup")
        try:
            with transaction(owner):
                owner.execute(f'COPY FROM DATABASE "{name}" TO insight_backup')
                tables = [r[0] for r in owner.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' ORDER BY 1",
                    [name]).fetchall()]
                counts = {}
                for table in tables:
                    a = owner.execute(f'SELECT count(*) FROM "{name}".main."{table}"').fetchone()[0]
                    b = owner.execute(f'SELECT count(*) FROM insight_backup.main."{table}"').fetchone()[0]
                    if a != b:
                        raise InsightError(f"The backup of table {table} has {b} rows, the database {a}.")
                    counts[table] = a
                version = owner.execute(f'SELECT max(version) FROM "{name}".main.schema_version').fetchone()[0] \
                    if "schema_version" in tables else None
        finally:
            owner.execute("DETACH insight_backup")
    finally:
        if con is None:
            owner.close()
    os.replace(tmp, out)
    return {"out": str(out), "tables": len(counts), "rows": sum(counts.values()), "schema_version": version,
            "bytes": out.stat().st_size}


def _sql_path(path) -> str:
    return str(path).replace("'", "''")
