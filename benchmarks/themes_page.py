"""How long the Themes page takes to open, in a real headless Chromium, on the sample study.

    .venv/bin/python benchmarks/themes_page.py                    # builds the sample study once, then measures
    .venv/bin/python benchmarks/themes_page.py --db sample.duckdb --label before

It serves ``insight app`` on the database, opens the Themes page once (the cold open: the server's
caches are empty), then goes Overview -> Themes through the sidebar ``--runs`` times (warm opens: a
person coming back to the page) and takes the median. An open is over when the script has stopped
running, nothing on the page is stale and the theme map has drawn (its plotly SVG is there).

The database is the sample study (``corpora/``, the sample codebook, the rules auto-coder and one
theme run), built once into ``benchmarks/results/.cache/`` with the configured embedding model
(``INSIGHT_MODEL``; the packaged all-MiniLM-L6-v2 by default).

Results: ``benchmarks/results/themes_page.json``. Each ``--label`` keeps its own figures there, so a
measurement of the old code (``--label before``) and of the new (``--label after``, the default) sit
side by side; the summary row compares them. Target (issue 16): a warm open in 2 s or less.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import CACHE, RESULTS, ROOT, log, median, print_rows, row, write_result

sys.path.insert(0, str(ROOT / "tests"))
STUDY = "Living with local services"
TARGET_S = 2.0
DONE = """
const app = document.querySelector('[data-testid="stApp"]');
if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
const h1 = document.querySelector('h1');
if (!h1 || h1.textContent.trim() !== arguments[0]) return false;
if (document.querySelector('[data-stale="true"]')) return false;
return !!document.querySelector('[data-testid="stPlotlyChart"] .main-svg');
"""


def insight_bin() -> str:
    candidate = Path(sys.executable).with_name("insight")
    return str(candidate) if candidate.exists() else "insight"


def env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "PYTHONPATH": str(ROOT)}


def build_sample(db: Path) -> None:
    """The sample study with the codebook, the rules auto-coder's suggestions and one theme run."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for args in (["ingest", str(ROOT / "corpora"), "--study", STUDY],
                 ["codebook", "load", str(ROOT / "codebooks" / "lived_experience.yaml")],
                 ["code", "--methods", "rules"], ["themes"]):
        log("insight", *args[:2])
        subprocess.run([insight_bin(), "--db", str(db), *args], check=True, capture_output=True, cwd=ROOT, env=env())


def serve(db: Path, log_path: Path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "w")
    proc = subprocess.Popen([insight_bin(), "--db", str(db), "app", "--port", str(port)], cwd=ROOT, env=env(),
                            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the app did not start: " + log_path.read_text()[-2000:])


def wait_done(d, title: str, started: float, timeout: float = 300) -> float:
    """Seconds from ``started`` until the page is drawn (polled every 50 ms)."""
    time.sleep(0.15)  # the click reaches the server and the old page goes stale first
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.execute_script(DONE, title):
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"the {title} page did not finish drawing in {timeout} s")


def click_nav(d, title: str) -> float:
    from selenium.webdriver.common.by import By

    link = next(a for a in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')
                if a.text.splitlines()[-1].strip() == title)
    started = time.perf_counter()
    link.click()
    return started


def overview_done(d) -> None:
    deadline = time.time() + 300
    while time.time() < deadline:
        state = d.execute_script("const a = document.querySelector('[data-testid=\"stApp\"]');"
                                 "return a && a.getAttribute('data-test-script-state');")
        heading = d.execute_script("const h = document.querySelector('h1'); return h && h.textContent.trim();")
        if state == "notRunning" and heading == "Overview":
            return
        time.sleep(0.05)
    raise SystemExit("the Overview page did not finish")


def measure(url: str, runs: int) -> dict:
    from chromium import chromium

    browsers = chromium("1440,1500")
    d = next(browsers)
    try:
        started = time.perf_counter()
        d.get(f"{url}/themes")
        cold = wait_done(d, "Themes", started)
        log(f"cold open: {cold:.2f} s")
        warm = []
        for i in range(runs):
            click_nav(d, "Overview")
            overview_done(d)
            time.sleep(0.5)
            warm.append(wait_done(d, "Themes", click_nav(d, "Themes")))
            log(f"warm open {i + 1}: {warm[-1]:.2f} s")
        return {"cold_s": round(cold, 3), "warm_s": [round(w, 3) for w in warm], "warm_median_s": round(median(warm), 3)}
    finally:
        next(browsers, None)


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "insight", "pages", "app.py"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    return done.stdout.strip() + ("+changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a sample-study database (default: built once in the cache)")
    parser.add_argument("--runs", type=int, default=5, help="warm opens to take the median of")
    parser.add_argument("--label", default="after", help="the name these figures are kept under")
    args = parser.parse_args()
    db = args.db or CACHE / "themes_page.duckdb"
    if not db.exists():
        build_sample(db)
    proc, url = serve(db, CACHE / "themes_page_server.log")
    try:
        figures = measure(url, args.runs)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    figures["commit"] = git_commit()
    out = RESULTS / "themes_page.json"
    kept = json.loads(out.read_text())["figures"] if out.exists() else {}
    kept[args.label] = figures
    before, after = kept.get("before"), kept.get("after")
    summary = [row(f"Themes page, warm open ({args.runs} runs, median; {label})", kept[label]["warm_median_s"], "s",
                   target=f"<= {TARGET_S} s", passed=kept[label]["warm_median_s"] <= TARGET_S)
               for label in kept]
    if before and after:
        summary.append(row("Themes page, warm open: after vs before", after["warm_median_s"], "s",
                           baseline=f"before ({before['commit']})", baseline_value=before["warm_median_s"]))
    write_result("themes_page", figures=kept, summary=summary,
                 settings={"runs": args.runs, "browser": "headless Chromium, 1440x1500",
                           "model": os.environ.get("INSIGHT_MODEL", "all-MiniLM-L6-v2")},
                 notes=["A warm open is Overview -> Themes through the sidebar, after one cold open of the page."],
                 extra_versions=("streamlit", "plotly"))
    print_rows(summary)


if __name__ == "__main__":
    main()
