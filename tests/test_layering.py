"""The house rules (ARCHITECTURE.md): imports point down, no cycles, pipelines/ runs no SQL, no
module over 600 lines. The import contracts live in pyproject.toml and run with import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("insight", "pipelines")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def linter():
    if not LINT.exists():
        pytest.skip("import-linter is not installed (make install installs it)")
    return lint


def test_the_import_contracts_hold(linter):
    result = linter(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_cycle_closed_inside_a_function_breaks_the_contracts(linter, tmp_path):
    """The cycles this rule ended were all closed by an import inside a function: so is this one."""
    root = copy_of_the_code(tmp_path)
    with open(root / "insight" / "store.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _sneaky():\n    from insight.workspace import Workspace\n    return Workspace\n")
    result = linter(root)
    assert result.returncode != 0
    assert "insight.store -> insight.workspace" in result.stdout


def test_sql_under_pipelines_breaks_the_contracts(linter, tmp_path):
    root = copy_of_the_code(tmp_path)
    with open(root / "pipelines" / "segment.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _count(path):\n    import duckdb\n    return duckdb.connect(path).execute('SELECT 1')\n")
    result = linter(root)
    assert result.returncode != 0 and "duckdb" in result.stdout


def python_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in python_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long, long


def test_pipelines_run_no_sql():
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "pipelines").rglob("*.py"))
                 if any(s in p.read_text(encoding="utf-8") for s in ("con.execute(", "import duckdb", "insight.store"))]
    assert not offenders
