"""Markdown and HTML payloads in every text field, looked for in a real headless Chromium: the
payloads point at a local web server this test starts, and after every page of the app has been
drawn (and a file with a payload in its name uploaded) that server has received no request, and no
element of any page links to it or loads from it. The app runs *without* the security headers here
(``streamlit run app.py``), so that only the app's own escaping stands between the data and the
browser; a second test checks the headers ``insight app`` adds on top.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (see ``tests/test_browser.py``).
"""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

import payloads
from chromium import CHROMIUM, DRIVER, chromium, served

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# every attribute through which a page loads or links something
LOADS = """
const host = arguments[0];
const names = ['*|href', 'src', 'srcset', 'action', 'formaction', 'poster', 'data', 'background', 'style'];
const found = document.querySelectorAll(names.map(n => `[${n}*="${host}"]`).join(','));
return [...found].map(e => e.tagName + ' ' + e.outerHTML.slice(0, 160));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Watch(http.server.BaseHTTPRequestHandler):
    """Counts every request (a payload that made the browser fetch something)."""

    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        Watch.seen.append(self.path)
        self.send_response(204)
        self.end_headers()

    do_POST = do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def watch():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("Chromium and chromedriver are not installed (make browser-deps)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), Watch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _env() -> dict:
    return dict(os.environ, INSIGHT_MODEL="hashing", INSIGHT_SPACY_MODEL="blank", HF_HUB_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


@pytest.fixture(scope="module")
def study(watch, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSIGHT_MODEL", "hashing")
        mp.setenv("INSIGHT_SPACY_MODEL", "blank")
        return payloads.build(tmp_path_factory.mktemp("payload-study"), f"http://{watch}")


def _serve(command, db: Path, log: Path):
    """``command(port)`` served over ``db`` (:func:`chromium.served`), closed at the end of the ``with``."""
    return closing(served(command, dict(_env(), INSIGHT_DB=str(db)), ROOT, log))


@pytest.fixture(scope="module")
def bare_app(study):
    """``app.py`` served by Streamlit itself: no Content-Security-Policy to hide a mistake."""
    command = lambda port: [sys.executable, "-m", "streamlit", "run", ROOT / "app.py", "--server.port", port,  # noqa: E731
                            "--server.address", "localhost", "--server.headless", "true", "--server.fileWatcherType",
                            "none", "--browser.gatherUsageStats", "false"]
    with _serve(command, study, study.parent / "bare.log") as server:
        yield next(server)


@pytest.fixture(scope="module")
def driver(watch):
    yield from chromium("1440,1500")


def idle(d, timeout: float = 120) -> None:
    from selenium.webdriver.common.by import By

    from selenium.common.exceptions import TimeoutException

    def state():
        try:
            apps = d.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
            return apps[0].get_attribute("data-test-script-state") if apps else None
        except TimeoutException:  # a page busy drawing (a flood of markup) answers late
            return None

    deadline = time.time() + timeout
    while time.time() < deadline:
        if state() == "notRunning":
            time.sleep(1.0)  # let the last deltas paint, and any image start loading
            if state() == "notRunning":
                return
        time.sleep(0.3)
    raise AssertionError(f"the app was still running after {timeout} s")


def look(d, watch: str, where: str, found: dict) -> str:
    """Note what on the page links to or loads from the watched server; return the page's text."""
    from selenium.webdriver.common.by import By

    found[where] = d.execute_script(LOADS, watch)
    return d.find_element(By.TAG_NAME, "body").text.replace("\u2060", "")


def click(d, text: str) -> None:
    from selenium.webdriver.common.by import By

    next(b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == text).click()
    time.sleep(0.5)
    idle(d)


def test_payloads_in_every_field_load_nothing_and_link_nowhere(bare_app, driver, watch, study, tmp_path):
    from selenium.webdriver.common.by import By

    d, found, unseen = driver, {}, []  # unseen: what should be on a page as text and is not
    Watch.seen.clear()
    for page in ("", "browse", "codebook", "agreement", "themes", "export"):
        d.get(f"{bare_app}/{page}?coder=Bea")
        idle(d, 180)
        text = look(d, watch, page or "overview", found)
        assert "Traceback" not in text and "Unexpected error" not in text, (page, text[-500:])
        if page == "browse":  # the transcript is drawn, its payload as the characters typed
            unseen += [t for t in (f"![turn](http://{watch}/turn-img.png)", "turn link", "P1:",
                                   "**Thanks** <b>bold</b>") if t not in text]
        if page == "codebook":
            unseen += [t for t in ("Council ![booktitle]",) if t not in text]
    d.get(f"{bare_app}/coding?coder=Bea")
    idle(d, 180)
    for view in ("Review suggestions", "Memos", "History"):
        click(d, view)
        text = look(d, watch, f"coding: {view}", found)
        if view == "Memos":
            unseen += [t for t in (f"Memo ![memo](http://{watch}/memo-img.png)", " on study · ") if t not in text]
    # an upload whose file name holds payloads: its row before the import, its result after
    d.get(f"{bare_app}/upload?coder=Bea")
    idle(d, 180)
    named = tmp_path / (payloads.file_payload(f"http://{watch}") + " second.txt")
    named.write_bytes(b"Interviewer: Hello.\r\nP7: The bins were missed.\r\n")
    d.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(named))
    time.sleep(2)
    idle(d)
    text = look(d, watch, "upload: before", found)
    unseen += [named.name] if named.name not in text else []
    click(d, "Import 1 file(s)")
    text = look(d, watch, "upload: after", found)
    assert "Last import" in text
    time.sleep(2)  # anything a payload asked for has had time to arrive
    assert {where: hits for where, hits in found.items() if hits} == {}
    assert Watch.seen == []
    assert unseen == []


def test_insight_app_sends_the_security_headers(study):
    """``insight app``: every response carries the Content-Security-Policy (nothing loads from
    another address), X-Frame-Options and nosniff."""
    insight = Path(sys.executable).parent / "insight"
    with _serve(lambda port: [insight, "--db", study, "app", "--port", port], study,
                study.parent / "served.log") as server:
        url = next(server)
        for path in ("/", "/_stcore/health", "/browse"):
            headers = urllib.request.urlopen(url + path, timeout=10).headers
            assert headers["X-Frame-Options"] == "SAMEORIGIN" and headers["X-Content-Type-Options"] == "nosniff"
            csp = headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "img-src 'self' data: blob:" in csp
            assert "frame-ancestors 'self'" in csp
