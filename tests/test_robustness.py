"""Nothing lost, no one in who should not be: coding history and undo, processes killed mid-write,
two processes on one database, backups while the app reads, passwords, roles and upload limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, check_offsets
from insight.cli import main
from insight.errors import DatabaseLocked, InsightError

PYTHON = sys.executable
CLI = [PYTHON, "-c", "from insight.cli import main; main()"]  # `python -m insight.cli` misses insight.commands
ENV = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", INSIGHT_SPACY_MODEL="blank")


def insight(*args, timeout=120) -> subprocess.CompletedProcess:
    """The real command, in its own process."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


def spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, cwd=ROOT)


def wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> str:
    """Read the process's lines until one starts with ``marker``; returns that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the process ended before {marker!r}: {proc.stderr.read()[-2000:]}")
        if line.startswith(marker):
            return line
    raise AssertionError(f"no {marker!r} within {timeout} s")


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def transcript(n: int, turns: int = 120) -> str:
    lines = []
    for t in range(turns):
        who = "Interviewer" if t % 2 == 0 else f"P{n}"
        lines.append(f"{who}: Turn {t} of file {n}: the repairs line kept me waiting, and the damp came back again.")
    return "\n\n".join(lines) + "\n"


@pytest.fixture
def many_files(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(60):
        (folder / f"interview_{n:03d}.txt").write_text(transcript(n), encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# The coding history: every change kept, the last one undone


def coded_workspace(ws, tmp_path):
    (tmp_path / "h.txt").write_text("Interviewer: How was it?\n\nP1: The bins were late.\n\nP1: And the damp.\n")
    ws.ingest([tmp_path / "h.txt"], study="s")
    return [r[0] for r in ws.con.execute("SELECT segment_id FROM segments ORDER BY segment_id").fetchall()]


def test_history_keeps_every_change_and_undo_reverses_it(ws, tmp_path):
    segs = coded_workspace(ws, tmp_path)
    first = ws.code_segment(segs[1], "Bins", "ann")
    ws.code_segment(segs[2], "Damp", "ann")
    assert ws.uncode_segment(segs[1], "Bins", "ann") == 1
    history = ws.history()
    assert history.action.tolist()[:3] == ["removed", "added", "added"]
    assert set(history.actor) == {"ann"}
    # undo the removal: the coding comes back as it was
    assert ws.undo("ann")["undone"] == "removed"
    row = ws.con.execute("SELECT code, coder, status FROM codings WHERE coding_id = ?", [first]).fetchone()
    assert row == ("Bins", "ann", "accepted")
    # undo the next change back (the Damp coding)
    assert ws.undo("ann")["undone"] == "added"
    assert ws.con.execute("SELECT count(*) FROM codings WHERE code = 'Damp'").fetchone()[0] == 0
    assert ws.history().action.tolist()[0] == "undo"
    with pytest.raises(InsightError):
        ws.undo("nobody")


def test_accepting_a_suggestion_is_logged_and_undone_whole(ws, tmp_path):
    segs = coded_workspace(ws, tmp_path)
    ws.con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, coder, method, status, score) "
                   "SELECT 100, document_id, start, \"end\", 'Bins', 'auto:rules', 'rules', 'suggested', 0.9 "
                   "FROM segments WHERE segment_id = ?", [segs[1]])
    human = ws.accept(100, "ann")
    assert ws.con.execute("SELECT status FROM codings WHERE coding_id = 100").fetchone()[0] == "accepted"
    ws.undo("ann")  # the human coding and the suggestion's status, together
    assert ws.con.execute("SELECT count(*) FROM codings WHERE coding_id = ?", [human]).fetchone()[0] == 0
    assert ws.con.execute("SELECT status FROM codings WHERE coding_id = 100").fetchone()[0] == "suggested"
    ws.reject(100, "ann")
    assert ws.history().action.tolist()[0] == "rejected"


def test_history_and_undo_commands(ws, tmp_path):
    segs = coded_workspace(ws, tmp_path)
    ws.code_segment(segs[1], "Bins", "ann")
    db = ws.path
    ws.close()
    runner = CliRunner()
    changes = json.loads(runner.invoke(main, ["--db", db, "history", "--json"]).stdout)["changes"]
    assert changes[0]["action"] == "added" and changes[0]["code"] == "Bins"
    result = runner.invoke(main, ["--db", db, "undo", "--coder", "ann"])
    assert result.exit_code == 0 and "Undid added of 'Bins'" in result.stdout
    result = runner.invoke(main, ["--db", db, "undo", "--coder", "ann"])
    assert result.exit_code == 1 and "nothing to undo" in result.stderr


# ---------------------------------------------------------------------------------------------
# Killed mid-write: only whole files, whole documents, whole runs


def assert_whole(db: str, folder: Path | None = None) -> int:
    """The database opens; every file's rows are all there; returns the files stored."""
    from insight import Workspace
    from insight.readers import reader_for
    from insight.readers.base import IngestOptions
    from pipelines.segment import segment

    with Workspace(db) as ws:
        con = ws.con
        check_offsets(ws)
        assert con.execute("SELECT count(*) FROM documents WHERE file_id NOT IN (SELECT file_id FROM files)"
                           ).fetchone()[0] == 0, "a document without its file"
        assert con.execute("SELECT count(*) FROM segments WHERE document_id NOT IN (SELECT document_id FROM documents)"
                           ).fetchone()[0] == 0
        for file_id, path, documents, segments in con.execute(
                "SELECT file_id, path, documents, segments FROM files").fetchall():
            got = con.execute("SELECT count(DISTINCT d.document_id), count(g.segment_id) FROM documents d "
                              "LEFT JOIN segments g USING (document_id) WHERE d.file_id = ?", [file_id]).fetchone()
            assert got == (documents, segments), (path, got, documents, segments)
            if folder is not None:
                p = Path(path)
                parsed = reader_for(p).read(p, p.read_bytes(), IngestOptions())
                expected = sum(len(segment(d.text, d.turns)) for d in parsed.documents)
                assert segments == expected, (path, segments, expected)
        for doc_id, n, lo, hi in con.execute("SELECT document_id, count(*), min(ordinal), max(ordinal) FROM segments "
                                             "GROUP BY document_id").fetchall():
            assert (lo, hi) == (0, n - 1), f"document {doc_id} has a gap in its segments"
        paths = [r[0] for r in con.execute("SELECT path FROM files").fetchall()]
        assert len(paths) == len(set(paths)), "a file stored twice"
        return len(paths)


INGEST_DRIVER = """
import sys, time
from insight import Workspace
from insight import ingest as ing

if {pause}:
    # stop inside the file's transaction, after its documents and segments were written
    real = ing._insert_frame
    def slow(con, table, rows):
        real(con, table, rows)
        if table == "segments" and int(sys.argv[-1]) <= ing._seen[0]:
            print("IN_TRANSACTION", flush=True)
            time.sleep(60)
    ing._seen = [0]
    ing._insert_frame = slow

def progress(n, total, path):
    if {pause}:
        ing._seen[0] = n
    print("FILE", n, flush=True)

with Workspace({db!r}) as ws:
    ws.ingest([{folder!r}], study="s", progress=progress, pseudonymise={pseudonymise})
print("DONE", flush=True)
"""


@pytest.mark.parametrize("pseudonymise", [False, True])
def test_ingest_killed_inside_a_transaction(tmp_path, many_files, pseudonymise):
    """SIGKILL while a file's rows are written but not committed: that file is not there at all."""
    db = str(tmp_path / "k.duckdb")
    code = INGEST_DRIVER.format(pause=True, db=db, folder=str(many_files), pseudonymise=pseudonymise)
    proc = subprocess.Popen([PYTHON, "-c", code, "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, cwd=ROOT)
    try:
        wait_for(proc, "IN_TRANSACTION")
    finally:
        kill(proc)
    assert assert_whole(db, many_files) == 11
    # the next ingest picks up where it stopped, adding each file once
    from insight import Workspace

    with Workspace(db) as ws:
        report = ws.ingest([many_files], study="s", pseudonymise=pseudonymise)
    assert report.to_dict()["by_status"] == {"unchanged": 11, "added": 49}
    assert assert_whole(db, many_files) == 60


def test_real_ingest_command_killed_at_random_moments(tmp_path, many_files):
    """``insight ingest`` killed with SIGKILL three times at different moments, then finished."""
    db = str(tmp_path / "r.duckdb")
    stored = []
    for delay in (1.5, 0.9, 0.4):
        proc = subprocess.Popen([*CLI, "--db", db, "ingest", str(many_files), "--study", "s"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        time.sleep(delay)
        kill(proc)
        stored.append(assert_whole(db, many_files))
    result = insight("--db", db, "ingest", str(many_files), "--study", "s", "--json")
    assert result.returncode == 0, result.stderr
    assert assert_whole(db, many_files) == 60


CODE_DRIVER = """
import time
from insight import Workspace
import insight.coding.auto as coding

real = coding._write
def slow(con, coder, *args):
    n = real(con, coder, *args)
    print("IN_TRANSACTION", coder, n, flush=True)
    time.sleep(60)
    return n
coding._write = slow
with Workspace({db!r}) as ws:
    ws.code(study="s", methods=("rules",))
"""


@pytest.fixture
def coded_db(tmp_path, many_files):
    db = str(tmp_path / "c.duckdb")
    from insight import Workspace

    with Workspace(db) as ws:
        ws.ingest(sorted(many_files.iterdir())[:20], study="s")
        ws.load_codebook(ROOT / "codebooks" / "lived_experience.yaml")
        ws.con.execute("CHECKPOINT")
    return db


def runs_are_whole(db: str) -> list[tuple]:
    from insight import Workspace

    with Workspace(db, read_only=True) as ws:
        con = ws.con
        assert con.execute("SELECT count(*) FROM runs WHERE status IS DISTINCT FROM 'done'").fetchone()[0] == 0
        orphans = con.execute("SELECT count(*) FROM codings WHERE run_id IS NOT NULL AND run_id NOT IN "
                              "(SELECT run_id FROM runs WHERE status = 'done')").fetchone()[0]
        assert orphans == 0, "codings of a run that did not finish"
        auto = con.execute("SELECT count(*) FROM codings WHERE coder LIKE 'auto:%'").fetchone()[0]
        return [(auto,)] + con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()


def test_coding_run_killed_inside_its_transaction(coded_db):
    proc = spawn(CODE_DRIVER.format(db=coded_db))
    try:
        line = wait_for(proc, "IN_TRANSACTION")
        assert int(line.split()[-1]) > 0  # suggestions were written, uncommitted, when it died
    finally:
        kill(proc)
    assert runs_are_whole(coded_db) == [(0,)]
    result = insight("--db", coded_db, "code", "--methods", "rules", "--json")
    assert result.returncode == 0, result.stderr
    state = runs_are_whole(coded_db)
    assert state[0][0] > 0 and state[1:] == [(1, "done")]


def test_real_code_command_killed_at_random_moments(coded_db):
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([*CLI, "--db", coded_db, "code", "--methods", "rules"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        time.sleep(delay)
        kill(proc)
        runs_are_whole(coded_db)


# ---------------------------------------------------------------------------------------------
# Two processes on one database


HOLDER = """
import sys, time
from insight.store import connect
con = connect({db!r}, read_only={read_only})
print("HOLDING", flush=True)
time.sleep({seconds})
"""


def small_db(tmp_path) -> str:
    db = str(tmp_path / "two.duckdb")
    (tmp_path / "a.txt").write_text("Interviewer: Hi.\n\nP1: Hello there.\n")
    from insight import Workspace

    with Workspace(db) as ws:
        ws.ingest([tmp_path / "a.txt"], study="s")
    return db


def test_a_second_writer_gets_a_plain_message_and_nothing_breaks(tmp_path):
    db = small_db(tmp_path)
    (tmp_path / "b.txt").write_text("Interviewer: Again.\n\nP2: Yes.\n")
    holder = spawn(HOLDER.format(db=db, read_only=False, seconds=120))
    try:
        wait_for(holder, "HOLDING")
        for args in (["stats"], ["ingest", str(tmp_path / "b.txt"), "--study", "s"], ["pseudonymise"],
                     ["backup", "--out", str(tmp_path / "x.duckdb"), "--wait", "0.5"]):
            result = insight("--db", db, *args)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            assert "is in use by another Insight process" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.duckdb").exists()
    finally:
        kill(holder)
    stats = json.loads(insight("--db", db, "stats", "--json").stdout)
    assert stats["documents"] == 1 and stats["segments"] == 2
    assert insight("--db", db, "ingest", str(tmp_path / "b.txt"), "--study", "s").returncode == 0


def test_readers_share_and_a_writer_waits_its_turn(tmp_path):
    """The app reading (read-only) does not stop `insight stats` or a backup; a write is refused."""
    db = small_db(tmp_path)
    reader = spawn(HOLDER.format(db=db, read_only=True, seconds=120))
    try:
        wait_for(reader, "HOLDING")
        assert insight("--db", db, "stats").returncode == 0
        result = insight("--db", db, "backup", "--out", str(tmp_path / "while_reading.duckdb"))
        assert result.returncode == 0, result.stderr
        result = insight("--db", db, "ingest", str(tmp_path / "a.txt"), "--study", "s")
        assert result.returncode == 1 and "in use by another Insight process" in result.stderr
    finally:
        kill(reader)


def test_library_raises_database_locked(tmp_path):
    db = small_db(tmp_path)
    holder = spawn(HOLDER.format(db=db, read_only=False, seconds=120))
    try:
        wait_for(holder, "HOLDING")
        from insight.store import connect

        with pytest.raises(DatabaseLocked, match="in use by another Insight process"):
            connect(db, read_only=True)
    finally:
        kill(holder)


# ---------------------------------------------------------------------------------------------
# Backup


APP_LIKE = """
import time
from insight.store import connect
print("STARTED", flush=True)
while True:
    # the app's pattern: open read-only for a page run, close; now and then a short write
    con = connect({db!r}, read_only=True)
    con.execute("SELECT count(*) FROM segments").fetchone()
    con.close()
    time.sleep(0.05)
    con = connect({db!r})
    con.execute("UPDATE studies SET description = 'touched ' || current_timestamp")
    time.sleep(0.3)
    con.close()
    time.sleep(0.05)
"""


def table_counts(db: str) -> dict[str, int]:
    from insight.store import connect

    con = connect(db, read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def test_backup_is_a_consistent_copy_made_while_the_app_runs(tmp_path, many_files):
    db = str(tmp_path / "b.duckdb")
    from insight import Workspace

    with Workspace(db) as ws:
        ws.ingest(sorted(many_files.iterdir())[:10], study="s", pseudonymise=True)
        ws.code_segment(1, "Bins", "ann")
        text = ws.con.execute("SELECT string_agg(text, '|' ORDER BY segment_id) FROM segments").fetchone()[0]
    expected = table_counts(db)
    app = spawn(APP_LIKE.format(db=db))
    try:
        wait_for(app, "STARTED")
        out = tmp_path / "copy.duckdb"
        result = insight("--db", db, "backup", "--out", str(out), "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["rows"] == sum(expected.values()) and report["schema_version"] >= 5
    finally:
        kill(app)
    assert table_counts(str(out)) == expected
    with Workspace(out) as copy:
        assert copy.con.execute("SELECT string_agg(text, '|' ORDER BY segment_id) FROM segments").fetchone()[0] == text
        with pytest.raises(Exception):  # keys and constraints came too
            copy.con.execute("INSERT INTO segments SELECT * FROM segments LIMIT 1")
        assert copy.history().action.tolist() == ["added"]
    again = insight("--db", db, "backup", "--out", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_backup_from_the_apps_own_connection(ws, tmp_path):
    from insight.backup import backup

    coded_workspace(ws, tmp_path)
    result = backup(tmp_path / "own.duckdb", con=ws.con)
    assert result["rows"] == sum(table_counts(str(tmp_path / "own.duckdb")).values())
    assert not (tmp_path / "own.duckdb.part").exists()


# ---------------------------------------------------------------------------------------------
# Access: passwords, roles, the network, uploads


def test_passwords_are_stored_hashed(tmp_path):
    from insight.access import check_password, password_configured, password_file, remove_password, set_password

    db = str(tmp_path / "a.duckdb")
    assert not password_configured(db) and check_password(db, "anything at all") is None
    set_password(db, "researcher secret words")
    set_password(db, "viewer secret words", role="viewer")
    stored = password_file(db).read_text()
    assert "secret" not in stored and stored.count("scrypt$") == 2
    assert oct(password_file(db).stat().st_mode & 0o777) == "0o600"
    assert check_password(db, "researcher secret words") == "researcher"
    assert check_password(db, "viewer secret words") == "viewer"
    assert check_password(db, "viewer secret word") is None
    with pytest.raises(InsightError, match="too short"):
        set_password(db, "short")
    with pytest.raises(InsightError, match="already the viewer's"):
        set_password(db, "viewer secret words")
    assert remove_password(db, "viewer") and check_password(db, "viewer secret words") is None
    assert password_configured(db)


def test_password_command(tmp_path):
    db = str(tmp_path / "p.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "password", "set", "--password-stdin"], input="a long enough one\n")
    assert result.exit_code == 0, result.output
    assert "researcher" in runner.invoke(main, ["--db", db, "password", "status"]).stdout
    from insight.access import check_password

    assert check_password(db, "a long enough one") == "researcher"


def test_the_app_refuses_a_network_address_without_a_password(tmp_path, monkeypatch):
    from insight import serve as serving

    db = str(tmp_path / "s.duckdb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    started = []
    monkeypatch.setattr(serving, "run_server", lambda cmd, env: started.append(cmd))
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        with pytest.raises(InsightError, match="Refusing to serve"):
            serving.serve(db, host=host)
    result = CliRunner().invoke(main, ["--db", db, "app", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "insight password set" in result.stderr
    assert started == []
    serving.serve(db, host="127.0.0.1")  # loopback needs nothing
    from insight.access import set_password

    set_password(db, "a long enough password")
    serving.serve(db, host="0.0.0.0")
    cmd = started[-1]
    assert cmd[cmd.index("--server.address") + 1] == "0.0.0.0" and "--server.maxUploadSize" in cmd


def test_openid_connect_login_also_opens_the_network(tmp_path, monkeypatch):
    from insight import serve as serving
    from insight.access import oidc_configured

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(serving, "run_server", lambda cmd, env: None)
    assert not oidc_configured()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[auth]\nredirect_uri = "http://x/oauth2callback"\ncookie_secret = "s"\nclient_id = "id"\n'
        'client_secret = "c"\nserver_metadata_url = "https://idp/.well-known/openid-configuration"\n')
    assert oidc_configured()
    serving.serve(str(tmp_path / "o.duckdb"), host="0.0.0.0")


def test_roles():
    from insight.access import can_edit, can_reidentify, require_edit

    assert can_edit("researcher") and can_reidentify("researcher")
    assert not can_edit("viewer") and not can_reidentify("viewer") and not can_edit(None)
    require_edit("researcher")
    with pytest.raises(InsightError, match="A viewer cannot"):
        require_edit("viewer", "code segments")


def test_uploads_are_limited_in_size_and_type():
    from insight.access import check_upload

    assert check_upload("interview.docx", 1000) == "interview.docx"
    assert check_upload("../../etc/notes.txt", 10) == "notes.txt"
    assert check_upload("C:\\Users\\ann\\panel.csv", 10) == "panel.csv"
    with pytest.raises(InsightError, match="cannot read '.exe'"):
        check_upload("setup.exe", 10)
    with pytest.raises(InsightError, match="limited to 1 MB"):
        check_upload("big.csv", 2 * 1024 * 1024, max_mb=1)
    with pytest.raises(InsightError, match="empty"):
        check_upload("empty.txt", 0)


def _login_app():
    import streamlit as st

    from insight.access import can_edit, require_login

    role = require_login()
    st.write(f"role={role} edit={can_edit(role)}")


def test_require_login_asks_for_the_password(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from insight.access import set_password

    db = str(tmp_path / "l.duckdb")
    monkeypatch.setenv("INSIGHT_DB", db)
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_function(_login_app).run()
    assert "role=lead edit=True" in at.markdown[0].value  # nothing configured: the local user leads (was "researcher")
    set_password(db, "researcher password 1")
    set_password(db, "viewer password 22", role="viewer")
    at = AppTest.from_function(_login_app).run()
    assert not at.markdown and len(at.text_input) == 1  # the form, and nothing else
    at.text_input[0].input("wrong password")
    at.button[0].click().run()
    assert at.error and not at.markdown
    at.text_input[0].input("viewer password 22")
    at.button[0].click().run()
    assert "role=viewer edit=False" in at.markdown[0].value
