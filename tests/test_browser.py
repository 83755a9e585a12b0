"""The workbench in a real headless Chromium: ``insight app`` on the sample study, every page visited
through the sidebar, no exception anywhere, a suggestion accepted with the keyboard, an export
prepared, the codebook tests run, a code edited and re-tested; screenshots go to
``tests/_artifacts/``, and the Test & refine page to ``docs/test_refine.png`` when that is missing or
``INSIGHT_UPDATE_DOCS=1`` (``INSIGHT_MODEL=all-MiniLM-L6-v2`` for the real model's figures).

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``make browser-deps``); the set-up
installs them with apt-get when it can, and skips with the reason when it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chromium import CHROMIUM, DRIVER, app_server, chromium, mouse_at, select_for_coding, wait_for

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "_artifacts"
DOCS = ROOT / "docs"
STUDY = "Living with local services"
CODER = "Browser Test"
PAGES = ["Overview", "Upload", "Browse", "Codebook", "Test & refine", "Code", "Agreement", "Themes", "Export"]
BAD_TEXT = ("Traceback", "Unexpected error", "StreamlitAPIException")


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists() and Path(DRIVER).exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run("apt-get update -qq && apt-get install -y -qq chromium chromium-driver", shell=True,
                       capture_output=True, timeout=900, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("Chromium and chromedriver are not installed and apt-get could not install them: "
                    "install the Debian packages chromium and chromium-driver (make browser-deps)")


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("INSIGHT_MODEL", "hashing")  # the real model works too; this keeps the test quick
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               STREAMLIT_SERVER_FILE_WATCHER_TYPE="none", STREAMLIT_CLIENT_TOOLBAR_MODE="minimal",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    return env


def _insight(db: Path, *args: str) -> None:
    cmd = [str(Path(sys.executable).parent / "insight"), "--db", str(db), *args]
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The sample study from ``corpora/`` with the codebook and the rules auto-coder's suggestions."""
    _ensure_chromium()
    db = tmp_path_factory.mktemp("browser") / "sample.duckdb"
    _insight(db, "ingest", "corpora/", "--study", STUDY)
    _insight(db, "codebook", "load", "codebooks/lived_experience.yaml")
    _insight(db, "code", "--methods", "rules")
    _insight(db, "themes")
    return db


@pytest.fixture(scope="module")
def server(sample):
    yield from app_server(sample, _env(), ROOT)


@pytest.fixture(scope="module")
def driver():
    _ensure_chromium()
    yield from chromium("1440,1500")


# -- helpers ----------------------------------------------------------------------------------


def idle(d, timeout: float = 120) -> None:
    """Wait until the script run is over (Streamlit marks the app element)."""
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    seen_state = None
    while time.time() < deadline:
        apps = d.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
        seen_state = apps[0].get_attribute("data-test-script-state") if apps else None
        if seen_state == "notRunning":
            time.sleep(0.6)  # let the last deltas paint, then check it is still done
            apps = d.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
            if apps and apps[0].get_attribute("data-test-script-state") == "notRunning":
                return
        time.sleep(0.3)
    raise AssertionError(f"the app was still {seen_state!r} after {timeout} s")


def problems(d) -> list[str]:
    """Exceptions, error boxes and traceback text on the page."""
    from selenium.webdriver.common.by import By

    found = [e.text[:300] for e in d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]
    found += [e.text[:300] for e in d.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')]
    body = d.find_element(By.TAG_NAME, "body").text
    found += [f"page text contains {t!r}" for t in BAD_TEXT if t in body]
    return found


def shot(d, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    d.save_screenshot(str(path))
    return path


def top(d) -> None:
    """Scroll the page back to the top (Streamlit scrolls its main section, not the window)."""
    d.execute_script("document.querySelectorAll('*').forEach(e => { if (e.scrollTop > 0) e.scrollTop = 0; });")
    time.sleep(0.3)


def go(d, title: str) -> None:
    """Open a page through the sidebar navigation (same session, as a person would)."""
    from selenium.webdriver.common.by import By

    links = [a for a in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')
             if a.text.splitlines()[-1].strip() == title]
    assert links, f"no sidebar link {title!r}"
    links[0].click()
    time.sleep(0.5)
    idle(d)
    heading = d.find_elements(By.CSS_SELECTOR, "h1")
    assert heading and heading[0].text.strip() == title, f"expected page {title!r}"


# -- the test ---------------------------------------------------------------------------------


def test_every_page_in_a_real_browser(server, driver, sample):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from insight import Workspace

    d = driver
    # A deep link into a fresh server still goes through app.py: titled sidebar, settings, name box.
    d.get(f"{server}/agreement")
    idle(d, 180)
    nav = [a.text.splitlines()[-1] for a in d.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNavLink"]')]
    assert nav == PAGES, nav
    assert problems(d) == []

    name = d.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"] input[type="text"]')
    name.send_keys(CODER, Keys.ENTER)
    idle(d)

    for title in PAGES:
        go(d, title)
        assert problems(d) == [], (title, problems(d))
        shot(d, title.lower().replace(" & ", "_").replace(" ", "_"))

    # Code: accept the suggestion on screen with the keyboard ("A")
    go(d, "Code")
    next(b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Review suggestions").click()
    time.sleep(0.5)
    idle(d)
    with Workspace(sample, read_only=True) as ws:
        before = len(ws.codings(coder=CODER))
    d.find_element(By.CSS_SELECTOR, "h1").click()  # focus the page, not a text box
    ActionChains(d).send_keys("a").perform()
    time.sleep(0.5)
    idle(d)
    assert problems(d) == []
    with Workspace(sample, read_only=True) as ws:
        mine = ws.codings(coder=CODER)
    assert len(mine) == before + 1 and set(mine["method"]) == {"human"}
    shot(d, "code_after_accept")

    # Export: prepare the coded dataset; a download button appears
    go(d, "Export")
    next(b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Prepare the dataset").click()
    time.sleep(0.5)
    idle(d)
    assert problems(d) == []
    downloads = d.find_elements(By.CSS_SELECTOR, '[data-testid="stDownloadButton"]')
    assert any("Download" in b.text and ".csv" in b.text for b in downloads), [b.text for b in downloads]

    # Test & refine: run the codebook tests against Priya Shah, read the table and a code's quotes
    go(d, "Test & refine")
    button = next(b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip().endswith("Run tests"))
    button.click()
    time.sleep(1)
    idle(d, 600)
    assert problems(d) == []
    body = d.find_element(By.TAG_NAME, "body").text
    assert "passed" in body and "failed" in body and "against Priya Shah" in body
    assert d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    shot(d, "test_refine_results")
    chosen = d.find_element(By.XPATH, "//h3[starts-with(normalize-space(.), 'Edit ')]").text.strip()[len("Edit "):]

    # ... edit the code on screen right there (a keyword more), save: a new version, re-tested at once
    keywords = d.find_element(By.CSS_SELECTOR, 'textarea[aria-label^="Keywords"]')
    keywords.send_keys(Keys.END, Keys.ENTER, "helpline")
    next(b for b in d.find_elements(By.CSS_SELECTOR, "button")
         if b.text.strip().endswith("Save as a new version and re-test")).click()
    time.sleep(1)
    idle(d, 300)
    assert problems(d) == []
    body = d.find_element(By.TAG_NAME, "body").text
    assert "saved as version 2" in body and "lived-experience@2" in body and "lived-experience@1:" in body
    with Workspace(sample, read_only=True) as ws:
        book = ws.codebook("lived-experience")
    assert book.version == 2 and [c.name for c in book.codes if "helpline" in c.keywords] == [chosen]
    top(d)
    shot(d, "test_refine_docs")
    # The README's picture: written when missing, or on request (INSIGHT_UPDATE_DOCS=1, best with the real
    # model: INSIGHT_MODEL=all-MiniLM-L6-v2), so that a test run does not change a tracked file.
    if os.environ.get("INSIGHT_UPDATE_DOCS") == "1" or not (DOCS / "test_refine.png").exists():
        DOCS.mkdir(exist_ok=True)
        d.save_screenshot(str(DOCS / "test_refine.png"))


# -- coding by selecting text -----------------------------------------------------------------

FRAME = 'iframe[title="insight.ui.passages.insight_passages"]'


def _into_component(d):
    from selenium.webdriver.common.by import By

    d.switch_to.default_content()
    deadline = time.time() + 120
    while time.time() < deadline:
        frames = d.find_elements(By.CSS_SELECTOR, FRAME)
        if frames:
            d.switch_to.frame(frames[0])
            if d.execute_script("return document.body.dataset.renderMs"):
                return
            d.switch_to.default_content()
        time.sleep(0.3)
    raise AssertionError("the passage view did not draw")


def _mouse_at(d, cp: int, edge: str):
    """:func:`chromium.mouse_at`, with the character scrolled into view first."""
    d.execute_script("[...document.querySelectorAll('#turns [data-s]')].filter(s => +s.dataset.s <= arguments[0])"
                     ".pop().scrollIntoView({block: 'center'})", cp)
    return mouse_at(d, cp, edge)


def test_code_a_passage_across_two_turns_by_selecting_it(server, driver, sample):
    """A real mouse selection from the middle of one turn into the next, coded from the chooser;
    after a reload it is highlighted, its range is exactly the selected text, then it is removed;
    ``insight history`` shows both changes."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from insight import Workspace

    coder = "Selection Test"
    d = driver
    d.get(f"{server}/coding?coder=Selection%20Test")
    idle(d, 180)
    assert problems(d) == []
    with Workspace(sample, read_only=True) as ws:
        first = ws.documents().query("kind == 'interview'").sort_values("document_id").iloc[0]
        doc = ws.document(int(first["document_id"]))
    text, segs = doc["text"], doc["segments"]
    one, two = segs.iloc[1], segs.iloc[2]  # the interviewer's question and the answer after it, say
    assert one["speaker"] != two["speaker"]
    words_one = text[one["start"]:one["end"]].split()
    start = int(one["start"]) + text[one["start"]:one["end"]].index(words_one[min(2, len(words_one) - 1)])
    answer = text[two["start"]:two["end"]]
    end = int(two["start"]) + answer.index(answer.split()[2]) + len(answer.split()[2])
    expected = text[start:end]
    assert "\n" in expected and expected == expected.strip()

    search = select_for_coding(d, start, end, _into_component, _mouse_at)
    search.send_keys("chasing")
    time.sleep(0.3)
    d.switch_to.default_content()
    shot(d, "code_by_selection")
    if os.environ.get("INSIGHT_UPDATE_DOCS") == "1" or not (DOCS / "code_by_selection.png").exists():
        DOCS.mkdir(exist_ok=True)
        d.save_screenshot(str(DOCS / "code_by_selection.png"))
    _into_component(d)
    search = d.find_element(By.CSS_SELECTOR, "#panel input")
    search.send_keys(Keys.ENTER)
    d.switch_to.default_content()
    time.sleep(1)
    idle(d)
    assert problems(d) == []
    assert "Coded" in d.find_element(By.TAG_NAME, "body").text

    with Workspace(sample, read_only=True) as ws:
        mine = ws.codings(coder=coder)
    assert len(mine) == 1
    coding = mine.iloc[0]
    assert (int(coding["document_id"]), int(coding["start"]), int(coding["end"])) == \
        (int(first["document_id"]), start, end)
    assert coding["text"] == expected and coding["code"] == "Chasing a response"

    # a reload: the passage is drawn highlighted
    d.get(f"{server}/coding?coder=Selection%20Test")
    idle(d, 120)
    _into_component(d)
    pid = str(int(coding["coding_id"]))
    marked = d.execute_script("return [...document.querySelectorAll('#turns [data-p]')]"
                              ".filter(s => s.dataset.p.split(' ').includes(arguments[0])).map(s => s.textContent)"
                              ".join('')", pid)
    # the highlight runs from the first selected word to the last (the speaker label between the
    # turns is not drawn as text)
    assert marked.split()[0] == expected.split()[0] and marked.split()[-1] == expected.split()[-1], marked
    span = d.execute_script("return [...document.querySelectorAll('#turns [data-p]')]"
                            ".find(s => s.dataset.p.split(' ').includes(arguments[0]))", pid)
    ActionChains(d).move_to_element(span).click().perform()
    remove = wait_for(lambda: [b for b in d.find_elements(By.CSS_SELECTOR, "#panel button")
                               if b.text.strip() == "Remove"], 10, "the Remove button")[0]
    remove.click()
    d.switch_to.default_content()
    time.sleep(1)
    idle(d)
    assert problems(d) == []
    with Workspace(sample, read_only=True) as ws:
        assert ws.codings(coder=coder).empty
    done = subprocess.run([str(Path(sys.executable).parent / "insight"), "--db", str(sample), "history", "--limit", "5"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if coder in line]
    assert [next(a for a in ("removed", "added") if f" {a} " in line) for line in lines] == ["removed", "added"], \
        done.stdout
    head = " ".join(expected.split())[:20]
    assert all(head in " ".join(line.split()) for line in lines), done.stdout
