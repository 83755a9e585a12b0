"""Start-up stays light: the quick commands import no model stack (timings are in benchmarks/startup.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "sentence_transformers", "transformers", "spacy", "bertopic", "umap", "hdbscan", "numba",
         "onnxruntime", "streamlit")

PROBE = """
import sys, atexit
def report():
    sys.stderr.write("HEAVY:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)) + "\\n")
atexit.register(report)
sys.argv = ["insight"] + {args!r}
from insight.cli import main
main()
"""


def heavy_modules(args: list[str], cwd) -> tuple[int, list[str], str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)], capture_output=True,
                            text=True, cwd=cwd, timeout=120)
    line = next((x for x in result.stderr.splitlines() if x.startswith("HEAVY:")), None)
    assert line is not None, result.stderr
    return result.returncode, [m for m in line[6:].split(",") if m], result.stdout


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    from insight import Workspace

    folder = tmp_path_factory.mktemp("startup")
    (folder / "a.txt").write_text("Interviewer: How are things?\nP1: The bins were missed again.\n")
    (folder / "panel.csv").write_text("id,ward,answer\n1,North,More buses please\n2,South,Fix the lights\n")
    db = folder / "s.duckdb"
    with Workspace(db) as ws:
        ws.ingest([folder / "a.txt"], study="s")
        ws.ingest([folder / "panel.csv"], study="s", id_col="id", text_cols=["answer"], attr_cols=["ward"])
    return db


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["stats", "--help"]])
def test_help_imports_no_model_stack(args, tmp_path):
    code, heavy, out = heavy_modules(args, tmp_path)
    assert code == 0
    assert out.strip()
    assert heavy == []


def test_stats_imports_no_model_stack(sample_db, tmp_path):
    code, heavy, out = heavy_modules(["--db", str(sample_db), "stats"], tmp_path)
    assert code == 0
    assert "segments" in out and "documents" in out
    assert heavy == []


def test_the_probe_would_see_a_heavy_import(sample_db, tmp_path):
    """The check above could fail: a command that loads the embedder shows up."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=["--help"]).replace(
        "from insight.cli import main", "import spacy\nfrom insight.cli import main")], capture_output=True,
        text=True, cwd=tmp_path, timeout=120)
    assert "HEAVY:spacy" in result.stderr


def test_importing_the_library_and_the_embedding_module_stays_light(tmp_path):
    code = ("import sys, insight, insight.workspace, pipelines.embed, pipelines.embed_onnx; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
