"""The command line: help everywhere, documented in the README, fast to start, JSON on request."""

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from conftest import ROOT
from insight.cli import main


def all_commands(group=main, prefix=()):
    for name, command in group.commands.items():
        path = prefix + (name,)
        yield path, command
        if isinstance(command, click.Group):
            yield from all_commands(command, path)


def test_every_command_and_option_has_help_text():
    for path, command in all_commands():
        assert (command.help or "").strip(), f"insight {' '.join(path)} has no help"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help",):
                assert param.help, f"insight {' '.join(path)} {param.opts[0]} has no help"


def test_every_command_appears_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for path, _ in all_commands():
        assert re.search(r"insight(?: --db \S+)? " + re.escape(" ".join(path)) + r"\b", readme), \
            f"README does not show `insight {' '.join(path)}`"


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from insight.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'spacy', 'bertopic', 'sentence_transformers', 'umap') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_ingest_and_stats_json(tmp_path):
    (tmp_path / "a.txt").write_text("Interviewer: Hi.\nP1: Hello there.\nInterviewer: Bye.\n")
    (tmp_path / "bad.csv").write_bytes(b"\x00" * 50)
    db = str(tmp_path / "t.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "ingest", str(tmp_path), "--study", "s", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["added"]["segments"] == 3 and data["failed"][0]["path"].endswith("bad.csv")
    result = runner.invoke(main, ["--db", db, "stats", "--json"])
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert {k: stats[k] for k in ("studies", "documents", "segments", "participants", "speakers")} == {
        "studies": 1, "documents": 1, "segments": 3, "participants": 1, "speakers": 2}
    assert stats["codes"] == 0 and stats["codings"] == {}


def test_errors_are_one_line_without_traceback(tmp_path):
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.duckdb"), "stats", "--study", "nope"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "No database" in result.output


def test_app_refuses_a_network_address_without_a_password(tmp_path, monkeypatch):
    monkeypatch.delenv("INSIGHT_PASSWORD_HASH", raising=False)
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "t.duckdb"), "app", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "password" in result.output


@pytest.mark.slow
def test_stopping_insight_app_stops_the_server(tmp_path):
    """A service manager stops `insight app` with SIGTERM: the Streamlit server it started must go
    too, not linger holding the port and the database."""
    import signal
    import socket
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    url = f"http://localhost:{port}/_stcore/health"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "insight"), "--db", str(tmp_path / "x.duckdb"), "app",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(url, timeout=2).read().strip() == b"ok"
        except OSError:
            return False

    try:
        for _ in range(120):
            if healthy():
                break
            time.sleep(0.5)
        else:
            pytest.fail("the app did not start")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        for _ in range(20):
            if not healthy():
                break
            time.sleep(0.5)
        assert not healthy()
    finally:
        proc.kill()


def test_a_code_column_with_mixed_separators(tmp_path):
    (tmp_path / "coded.csv").write_text("id,answer,codes\nR1,Bins and buses,Bins; Buses\nR2,Damp flat,Damp | Housing\n"
                                        "R3,Nothing,\nR4,Park,Parks;\n", encoding="utf-8")
    db = str(tmp_path / "t.duckdb")
    args = ["--db", db, "ingest", str(tmp_path / "coded.csv"), "--study", "s", "--id-col", "id", "--text-col", "answer",
            "--code-col", "codes", "--coder", "Ann", "--code-sep", ";", "--code-sep", "|", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    from insight import Workspace

    with Workspace(db, read_only=True) as ws:
        got = sorted(ws.con.execute("SELECT code FROM codings WHERE coder = 'Ann'").fetchall())
    assert [c for (c,) in got] == ["Bins", "Buses", "Damp", "Housing", "Parks"]
