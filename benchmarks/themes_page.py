"""How long the Themes page takes to open, in a real headless Chromium, on the sample study.

    .venv/bin/python benchmarks/themes_page.py                    # builds the sample study once, then measures
    .venv/bin/python benchmarks/themes_page.py --baseline cda2d60     # the old page, taking turns with this one

It serves ``insight app`` on the database, opens the Themes page once (the cold open: the server's
caches are empty), then goes Overview -> Themes through the sidebar ``--runs`` times (warm opens: a
person coming back to the page) and takes the median. An open is over when the script has stopped
running, nothing on the page is stale and the theme map has drawn (its plotly SVG is there).

The database is the sample study (``corpora/``, the sample codebook, the rules auto-coder and one
theme run), built once into ``benchmarks/results/.cache/`` with the configured embedding model
(``INSIGHT_MODEL``; the packaged all-MiniLM-L6-v2 by default).

Results: ``benchmarks/results/themes_page.json``. Each ``--label`` keeps its own figures there;
``--baseline REV`` serves the code of an older revision too (extracted with ``git archive``), the
two servers taking turns page by page so that a busy machine slows both alike, and keeps its
figures as ``before``; the summary row compares them. Target (issue 16): a warm open in 2 s or less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def env(tree: Path = ROOT) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "PYTHONPATH": str(tree)}


def build_sample(db: Path) -> None:
    """The sample study with the codebook, the rules auto-coder's suggestions and one theme run."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for args in (["ingest", str(ROOT / "corpora"), "--study", STUDY],
                 ["codebook", "load", str(ROOT / "codebooks" / "lived_experience.yaml")],
                 ["code", "--methods", "rules"], ["themes"]):
        log("insight", *args[:2])
        subprocess.run([insight_bin(), "--db", str(db), *args], check=True, capture_output=True, cwd=ROOT, env=env())


def serve(db: Path, log_path: Path, tree: Path = ROOT):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "w")
    proc = subprocess.Popen([insight_bin(), "--db", str(db), "app", "--port", str(port)], cwd=tree, env=env(tree),
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
    from selenium.common.exceptions import TimeoutException

    while time.time() < deadline:
        try:
            if d.execute_script(DONE, title):
                return time.perf_counter() - started
        except TimeoutException:  # a browser too busy to answer within its script timeout: ask again
            pass
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


def measure(urls: dict[str, str], runs: int) -> dict[str, dict]:
    """Cold and warm opens of the Themes page on each server in ``urls`` (label -> address),
    the servers taking turns so that a busy machine slows each alike."""
    from chromium import chromium

    browsers = {label: chromium("1440,1500") for label in urls}
    drivers = {label: next(b) for label, b in browsers.items()}
    out = {label: {"warm_s": []} for label in urls}
    try:
        for label, url in urls.items():
            d = drivers[label]
            started = time.perf_counter()
            d.get(f"{url}/themes")
            out[label]["cold_s"] = round(wait_done(d, "Themes", started), 3)
            log(f"{label}: cold open {out[label]['cold_s']:.2f} s")
        for i in range(runs):
            for label, d in drivers.items():
                click_nav(d, "Overview")
                overview_done(d)
                time.sleep(0.5)
                out[label]["warm_s"].append(round(wait_done(d, "Themes", click_nav(d, "Themes")), 3))
                log(f"{label}: warm open {i + 1}: {out[label]['warm_s'][-1]:.2f} s")
    finally:
        for b in browsers.values():
            next(b, None)
    for figures in out.values():
        figures["warm_median_s"] = round(median(figures["warm_s"]), 3)
    return out


def baseline_tree(rev: str) -> Path:
    """The code of ``rev`` (``git archive``), to serve side by side with the working tree."""
    target = CACHE / f"tree-{rev}"
    if not (target / "app.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", rev], capture_output=True, check=True, cwd=ROOT).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


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
    parser.add_argument("--baseline", metavar="REV", help="also serve the code of git revision REV, taking turns "
                                                           "with this tree, and keep its figures as 'before'")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    db = args.db or CACHE / "themes_page.duckdb"
    if not db.exists():
        build_sample(db)
    trees = {args.label: ROOT} | ({"before": baseline_tree(args.baseline)} if args.baseline else {})
    servers, urls = [], {}
    try:
        for label, tree in trees.items():
            copy = CACHE / f"themes_page_{label}.duckdb"  # one database file per server: DuckDB locks it
            shutil.copy(db, copy)
            proc, urls[label] = serve(copy, CACHE / f"themes_page_{label}.log", tree)
            servers.append(proc)
        measured = measure(urls, args.runs)
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=20)
    out = RESULTS / "themes_page.json"
    kept = json.loads(out.read_text())["figures"] if out.exists() else {}
    for label, figures in measured.items():
        kept[label] = {**figures, "commit": args.baseline if label == "before" and args.baseline else git_commit(),
                       "load_average": [round(x, 2) for x in os.getloadavg()]}
    before, after = kept.get("before"), kept.get("after")
    summary = [row(f"Themes page, warm open ({args.runs} runs, median; {label})", kept[label]["warm_median_s"], "s",
                   target=f"<= {TARGET_S} s", passed=kept[label]["warm_median_s"] <= TARGET_S)
               for label in kept]
    if before and after:
        summary.append(row("Themes page, warm open: after vs before", after["warm_median_s"], "s",
                           baseline=f"before ({before['commit']})", baseline_value=before["warm_median_s"]))
    write_result("themes_page", figures=kept, summary=summary,
                 settings={"runs": args.runs, "browser": "headless Chromium, 1440x1500", "baseline": args.baseline,
                           "model": os.environ.get("INSIGHT_MODEL", "all-MiniLM-L6-v2")},
                 notes=["A warm open is Overview -> Themes through the sidebar, after one cold open of the page.",
                        "With --baseline the two servers take turns, so machine load slows both alike."],
                 extra_versions=("streamlit", "plotly"))
    print_rows(summary)


if __name__ == "__main__":
    main()
