"""Run every benchmark, then print one table: what was measured, the baseline, the ratio.

    .venv/bin/python benchmarks/run_all.py            # what `make bench` runs (about 12 minutes here)
    .venv/bin/python benchmarks/run_all.py --only embed_speed,startup

Each script writes ``benchmarks/results/<name>.json`` (figures, machine, versions, date); this one
collects their summary rows into ``benchmarks/results/SUMMARY.md`` and prints the same table. A
benchmark whose data is missing (``../shared``) skips itself with a message. A ``scale_full.json``
left by ``scale.py --full`` (1,000,000 segments, too long for ``make bench``) is included with its
date. The exit status is non-zero only when a script fails to run, not when a target is missed:
the table says which targets were met.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from _common import RESULTS, ROOT, log, machine

# (script, arguments, time limit in seconds); the order keeps the quick ones first
BENCHMARKS = [
    ("embed_speed", [], 600),
    ("startup", ["--numba"], 300),
    ("retest_speed", [], 600),
    ("scale", [], 900),
    ("anes_autocode", [], 1200),
    ("review_replay", [], 900),
    ("codetest_speed", [], 900),
    ("interview_autocode", [], 1200),
    ("themes_banking77", [], 1500),
    ("themes_page", [], 900),
]


def run(name: str, args: list[str], limit: int) -> dict:
    script = ROOT / "benchmarks" / f"{name}.py"
    if not script.exists():
        return {"name": name, "status": "missing", "seconds": 0.0}
    log(f"\n=== {name} {' '.join(args)}")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              timeout=limit)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        out = proc.stdout
    except subprocess.TimeoutExpired as exc:
        status, out = f"timed out after {limit}s", (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
    seconds = time.perf_counter() - started
    if out.strip():
        print(out.rstrip(), flush=True)
    skipped = out.strip().startswith("Skipped") or "Skipped:" in out[:300]
    log(f"=== {name}: {status}{' (skipped)' if skipped else ''} in {seconds:.0f}s")
    return {"name": name, "status": "skipped" if skipped and status == "ok" else status, "seconds": seconds}


def themes_rows(report: dict) -> list[dict]:
    """The themes benchmark (another team's) keeps its own format; its rows in ours. A quality-only
    run (no baseline wall time) shows the speed last measured, with its date."""
    s = report.get("summary", {})
    base, ours = s.get("baseline", {}), s.get("insight", {})
    if not base or not ours:
        return []
    n = report.get("data", {}).get("texts", "")
    speed, when = {"insight": ours.get("wall_s"), "baseline": base.get("wall_s")}, ""
    if not speed["baseline"] and report.get("speed_last_measured"):
        last = report["speed_last_measured"]
        speed = {"insight": last["insight_wall_s"], "baseline": last["baseline_wall_s"]}
        when = f" ({last['date'][:10]})"
    rows = []
    if speed["insight"] and speed["baseline"]:
        ratio = speed["insight"] / speed["baseline"]
        rows.append({"measured": f"theme discovery, {n:,} BANKING77 texts, fresh process{when}",
                     "value": speed["insight"], "unit": "s", "baseline": "BERTopic defaults",
                     "baseline_value": speed["baseline"], "ratio": round(ratio, 3), "target": "ratio <= 0.5",
                     "passed": ratio <= 0.5})
    rows.append({"measured": "theme discovery: NMI with the 77 intent labels", "value": ours["nmi"], "unit": "NMI",
                 "baseline": "BERTopic defaults", "baseline_value": base["nmi"],
                 "ratio": round(ours["nmi"] / base["nmi"], 3), "target": ">= baseline",
                 "passed": ours["nmi"] >= base["nmi"]})
    if "name_match" in ours and "name_match" in base:
        rows.append({"measured": "theme names: share of texts whose theme name holds a word of its dominant intent",
                     "value": ours["name_match"], "unit": "share", "baseline": "BERTopic default labels",
                     "baseline_value": base["name_match"], "ratio": round(ours["name_match"] / base["name_match"], 3),
                     "target": "> baseline", "passed": ours["name_match"] > base["name_match"]})
        rows.append({"measured": "theme discovery: share of texts unassigned", "value": ours["outlier_share"],
                     "unit": "share", "baseline": "BERTopic defaults", "baseline_value": base["outlier_share"],
                     "ratio": None, "target": "< baseline", "passed": ours["outlier_share"] < base["outlier_share"]})
    return rows


def collect(names: list[str]) -> list[tuple[str, dict, list[dict]]]:
    out = []
    for name in names + ["scale_full"]:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        rows = themes_rows(report) if name == "themes_banking77" else report.get("summary", [])
        out.append((name, report, rows))
    return out


def fmt(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.1f}"
        return f"{x:.3g}" if abs(x) < 1 else f"{x:.3f}".rstrip("0").rstrip(".")
    return str(x)


def table(collected) -> list[list[str]]:
    rows = [["benchmark", "measured", "value", "baseline", "baseline value", "ratio", "target", "met"]]
    for name, report, summary in collected:
        label = name if name != "scale_full" else f"scale --full ({report.get('date', '')[:10]})"
        for r in summary:
            met = "" if r.get("passed") is None else ("yes" if r["passed"] else "NO")
            rows.append([label, r["measured"], f"{fmt(r['value'])} {r['unit']}", r.get("baseline") or "",
                         fmt(r.get("baseline_value")), fmt(r.get("ratio")), r.get("target") or "", met])
    return rows


def print_table(rows: list[list[str]]) -> None:
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c[:widths[i]].ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def markdown(rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in esc[0]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(lines)


def scale_markdown(report: dict) -> str:
    sizes = report["figures"]["sizes"]
    steps = report["figures"]["steps"]
    names = {"ingest": "ingest, library (.txt transcripts)", "build": "bulk build (DataFrames/Arrow)",
             "retest": "re-test after one code edit", "agreement": "agreement, 2 coders x 50 codes",
             "export_csv": "export wide CSV", "export_parquet": "export wide Parquet"}
    head = "| step | " + " | ".join(f"{n:,} segments: s (peak MB)" for n in sizes) + " | growth per x10 |"
    lines = [head, "|" + "---|" * (len(sizes) + 2)]
    for step, label in names.items():
        cells = []
        for n in sizes:
            r = steps[str(n)].get(step, {})
            cells.append(f"{r['seconds']:.2f} ({r['peak_rss_mb']:,.0f})" if "seconds" in r else
                         ("not run" if "skipped" in r else r.get("error", "-")))
        growth = ", ".join(str(v) for v in report["figures"]["growth"].get(step, {}).values())
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} |")
    firsts = [steps[str(n)].get("retest", {}).get("first_run_s") for n in sizes]
    lines.append("| re-test, first run in a process | " + " | ".join(f"{f:.2f}" if f else "-" for f in firsts)
                 + " | " + ", ".join(str(v) for v in report["figures"]["growth"].get("retest_first_run", {}).values())
                 + " |")
    return "\n".join(lines)


def anes_markdown(report: dict) -> str:
    data = report["figures"]["datasets"]
    labels = report["settings"]["backends"]
    head = "| dataset | topic | Card & Smith 2015 | RoBERTa (2021) | TF-IDF + LR | " + " | ".join(
        f"Insight ({b}) | Insight ({b}) + at least one code" for b in labels) + " |"
    lines = [head, "|" + "---|" * (5 + 2 * len(labels))]
    for key, r in data.items():
        lines.append(f"| {key} | {r['topic']} | {r['published_card_smith_2015']:.2f} | {r['published_roberta_2021']:.2f} "
                     f"| {r['tfidf_logreg']:.3f} | " + " | ".join(
                         f"{r[f'insight_{b}']:.3f} | {r[f'insight_{b}_at_least_one']:.3f}" for b in labels) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="Comma-separated benchmark names.")
    parser.add_argument("--summary-only", action="store_true", help="Rebuild the table from existing results.")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b[0] in args.only.split(",")]
    started = time.perf_counter()
    runs = [] if args.summary_only else [run(name, extra, limit) for name, extra, limit in chosen]
    total = time.perf_counter() - started
    collected = collect([b[0] for b in BENCHMARKS])
    rows = table(collected)
    print("\n" + "=" * 40 + " summary " + "=" * 40)
    print_table(rows)
    if runs:
        print("\n" + ", ".join(f"{r['name']} {r['seconds']:.0f}s ({r['status']})" for r in runs)
              + f"; total {total / 60:.1f} min")

    info = machine()
    parts = [
        "# Benchmark summary",
        "",
        f"Written by `make bench` (`benchmarks/run_all.py`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
        f"Machine: {info.get('cpu', '?')}, {info.get('usable_cores', info.get('cores'))} cores, "
        f"{info.get('ram_gb', '?')} GB RAM, load average {info['load_average'][0]} at the end. "
        "Every figure is a median over runs measured in the same run as its baseline; the machine is "
        "shared, so expect some spread between runs. Details (every run, versions, settings) are in the "
        "JSON file of each benchmark beside this one.",
        "",
        markdown(rows),
    ]
    if runs:
        parts += ["", "Run time: " + ", ".join(f"{r['name']} {r['seconds']:.0f} s ({r['status']})" for r in runs)
                  + f"; total {total / 60:.1f} min."]
    for name, report, _ in collected:
        if name in ("scale", "scale_full"):
            title = "Scale (1,000,000 segments: `scale.py --full`, run by hand)" if name == "scale_full" else \
                "Scale (`make bench` sizes)"
            parts += ["", f"## {title}", "", f"Run {report['date'][:16]}; seconds of the step itself, peak "
                      "resident memory of its process in MB; growth is the time at one size over the time at a "
                      "tenth of it (about 10 is linear).", "", scale_markdown(report)]
        if name == "anes_autocode":
            parts += ["", "## ANES 2008 auto-coding (sample-based F1 on the test splits)", "", anes_markdown(report)]
    (RESULTS / "SUMMARY.md").write_text("\n".join(parts) + "\n")
    log(f"Wrote {(RESULTS / 'SUMMARY.md').relative_to(ROOT)}")
    if any(r["status"] not in ("ok", "skipped") for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
