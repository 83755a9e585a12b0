"""What every benchmark shares: timing, machine facts, versions, result files, synthetic data.

Each benchmark writes ``benchmarks/results/<name>.json``::

    {"benchmark", "date", "machine", "versions", "settings", "figures", "summary": [row, ...]}

where each summary row is ``{"measured", "value", "unit", "baseline", "baseline_value", "ratio",
"target", "passed"}`` (``ratio`` is value / baseline_value, or as the row says); ``run_all.py``
prints those rows as one table.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / ".cache"
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def log(*parts) -> None:
    """Progress on stderr (stdout is kept for the final table)."""
    print(*parts, file=sys.stderr, flush=True)


def median(values) -> float:
    return float(statistics.median(values))


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count()}
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        text = Path("/proc/cpuinfo").read_text()
        info["cpu"] = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
        flags = re.search(r"flags\s*:\s*(.*)", text).group(1).split()
        info["cpu_flags"] = [f for f in ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
                                                      "amx_int8") if f in flags]
    except (OSError, AttributeError):
        info["cpu"] = platform.processor() or platform.machine()
    try:
        mem = Path("/proc/meminfo").read_text()
        info["ram_gb"] = round(int(re.search(r"MemTotal:\s*(\d+)", mem).group(1)) / 1024 ** 2, 1)
    except (OSError, AttributeError):
        pass
    info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions(*extra: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("insight", "duckdb", "numpy", "pandas", "pyarrow", "scikit-learn", "torch",
                 "sentence-transformers", "transformers", "onnxruntime", "onnx", "tokenizers", *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def row(measured: str, value, unit: str, *, baseline: str | None = None, baseline_value=None,
        ratio: float | None = None, target: str | None = None, passed: bool | None = None) -> dict:
    """One line of the summary table. ``ratio`` defaults to value / baseline_value."""
    if ratio is None and baseline_value not in (None, 0) and value is not None:
        ratio = value / baseline_value
    return {"measured": measured, "value": _round(value), "unit": unit, "baseline": baseline,
            "baseline_value": _round(baseline_value), "ratio": _round(ratio), "target": target, "passed": passed}


def _round(x):
    if isinstance(x, float):
        return round(x, 4) if abs(x) < 10 else round(x, 2)
    return x


def write_result(name: str, *, figures: dict, summary: list[dict], settings: dict | None = None,
                 notes: list[str] | None = None, extra_versions: tuple = ()) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "versions": versions(*extra_versions), "settings": settings or {},
              "figures": figures, "summary": summary, "notes": notes or []}
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    log(f"Wrote {out.relative_to(ROOT)}")
    return out


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        base = f"  vs {r['baseline']} {r['baseline_value']}" if r.get("baseline") else ""
        ratio = f"  ratio {r['ratio']}" if r.get("ratio") is not None else ""
        print(f"{r['measured']}: {r['value']} {r['unit']}{base}{ratio}"
              + (f"  [{'PASS' if r['passed'] else 'FAIL'}: {r['target']}]" if r.get("passed") is not None else ""))


# ---------------------------------------------------------------------------------------------
# Texts


_WORDS = (
    "council housing repair boiler damp mould bus route library carer benefit rent arrears bin collection "
    "street light park youth club school nurse doctor appointment phone call form online waiting list "
    "neighbour family children winter heating bill food bank volunteer warm space community centre "
    "transport hospital pharmacy job centre advice debt landlord tenancy eviction noise parking safety "
    "police patrol shop market loneliness isolation friend daughter son mother father worker manager "
    "assessment support service hub drop visit week month year morning evening night weekend time money "
    "help problem answer question letter email office staff team care home garden road pavement crossing"
).split()
_GLUE = ("the a my our their and but because when after before so then never always often again still "
         "is was were have had could would should can not no very really just about with for from to of in on").split()


def synthetic_texts(n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` distinct texts of about ``words`` words from a fixed vocabulary (deterministic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = np.array(_WORDS + _GLUE)
    lengths = np.clip(rng.normal(words, words * 0.25, n).round().astype(int), 3, None)
    picks = rng.integers(0, len(vocab), size=int(lengths.sum()))
    out, at = [], 0
    for i, length in enumerate(lengths):
        out.append(" ".join(vocab[picks[at:at + length]]) + f" {i}.")
        at += length
    return out


def corpus_texts(n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` realistic texts of about ``words`` words: runs of consecutive sentences from the sample
    study's transcripts and field notes (``corpora/``), cut to a length drawn around ``words``.
    Falls back to :func:`synthetic_texts` when the corpora are missing."""
    import random

    sentences = []
    for path in sorted((ROOT / "corpora").rglob("*")):
        if path.suffix in (".txt", ".md"):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                line = re.sub(r"^\s*(\[[^\]]*\]\s*)?[A-Z][\w .]{0,20}:\s*", "", line).strip()
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", line) if len(s.split()) >= 3]
    if len(sentences) < 50:
        return synthetic_texts(n, words, seed)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(len(sentences))
        pieces: list[str] = []
        while len(pieces) < words * 2:
            pieces += sentences[i % len(sentences)].split()
            i += 1
        out.append(" ".join(pieces[:max(3, int(rng.gauss(words, words * 0.25)))]))
    return out


def run_python(code_or_args: list[str], *, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=timeout)
