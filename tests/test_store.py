import subprocess
import sys
import textwrap

import duckdb
import pytest

from insight import store
from insight.errors import DatabaseLocked, SchemaTooNew


def test_new_database_is_at_latest_schema(tmp_path):
    con = store.connect(tmp_path / "a.duckdb")
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == store.SCHEMA_VERSION
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for table in ("studies", "documents", "participants", "attributes", "segments", "codebooks", "codebook_versions",
                  "codes", "codings", "embeddings", "memos", "runs", "files"):
        assert table in tables


def test_migrations_upgrade_an_old_file_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    con.execute(store.MIGRATIONS[0])
    con.execute("INSERT INTO schema_version VALUES (1, now())")
    con.execute("INSERT INTO studies (study_id, name) VALUES (1, 'kept')")
    con.close()
    con = store.connect(path)
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == store.SCHEMA_VERSION
    assert con.execute("SELECT name FROM studies").fetchall() == [("kept",)]


def test_a_newer_file_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    con = store.connect(path)
    con.execute("INSERT INTO schema_version VALUES (?, now())", [store.SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(SchemaTooNew):
        store.connect(path)


def test_db_path_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INSIGHT_DB", str(tmp_path / "env.duckdb"))
    assert store.resolve_path(None) == str(tmp_path / "env.duckdb")
    assert store.resolve_path("x.duckdb") == "x.duckdb"
    monkeypatch.delenv("INSIGHT_DB")
    assert store.resolve_path(None) == "insight.duckdb"


def test_a_second_writer_gets_a_plain_message(tmp_path):
    path = tmp_path / "held.duckdb"
    store.connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(path)!r})
            print('ready', flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLocked) as info:
            store.connect(path)
        assert "in use by another Insight process" in str(info.value)
    finally:
        holder.communicate("\n", timeout=10)
