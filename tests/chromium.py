"""What the browser tests share: a headless Chromium (the Debian packages ``chromium`` and
``chromium-driver``), ``insight app`` served on a free port, and real mouse positions inside the
passage view's text."""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium(window: str = "1440,1500"):
    """A headless Chromium with a fresh profile, for a fixture to ``yield from``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--window-size={window}", "--hide-scrollbars"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="insight-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = CHROMIUM
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def served(command, env: dict, cwd: Path, log_path: Path, what: str = "the app"):
    """A Streamlit server on a free port, for a fixture to ``yield from``: ``command(port)`` is the
    command line; yields its URL once the health check answers, stops it afterwards (its output is
    in ``log_path``)."""
    import pytest

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    log = open(log_path, "w")
    proc = subprocess.Popen([str(part) for part in command(port)], cwd=cwd, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"{what} did not start: " + Path(log_path).read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def app_server(db: Path, env: dict, cwd: Path):
    """``insight app`` over ``db`` (see :func:`served`; its output is in ``server.log`` beside db)."""
    insight = Path(sys.executable).parent / "insight"
    yield from served(lambda port: [insight, "--db", db, "app", "--port", port], env, cwd, db.parent / "server.log")


# The rectangle of the character at code point `cp` (the passage view marks each piece of text with
# the code point it starts at), and the middle of the turn text (.body) around it.
CHAR_RECT = """
const cp = arguments[0];
const span = [...document.querySelectorAll('#turns [data-s]')].filter(s => +s.dataset.s <= cp).pop();
const node = span.firstChild, before = Array.from(node.data).slice(0, cp - +span.dataset.s).join('');
const range = document.createRange();
range.setStart(node, before.length);
range.setEnd(node, before.length + String.fromCodePoint(node.data.codePointAt(before.length)).length);
const r = range.getBoundingClientRect(), b = span.closest('.body');
const box = b.getBoundingClientRect();
return {left: r.left, right: r.right, mid: (r.top + r.bottom) / 2,
        cx: box.left + box.width / 2, cy: box.top + box.height / 2, body: b};
"""


def mouse_at(d, cp: int, edge: str):
    """(element, x offset, y offset) for ActionChains: just inside the left or right edge of a character."""
    r = d.execute_script(CHAR_RECT, cp)
    x = r["left"] + 2 if edge == "left" else r["right"] - 2
    return r["body"], math.floor(x - r["cx"]), math.floor(r["mid"] - r["cy"])


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    """``condition()``'s first true value, polled every 0.2 s; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def drag(d, start: int, end: int, at=mouse_at) -> None:
    """A real mouse drag from the left edge of code point ``start`` to the right edge of ``end - 1``
    (``at`` finds a character on screen: :func:`mouse_at`, or one that scrolls to it first)."""
    from selenium.webdriver.common.action_chains import ActionChains

    first, x1, y1 = at(d, start, "left")
    last, x2, y2 = at(d, end - 1, "right")
    ActionChains(d).move_to_element_with_offset(first, x1, y1).click_and_hold() \
        .move_to_element_with_offset(last, x2, y2).release().perform()


def select_for_coding(d, start: int, end: int, enter, at=mouse_at, tries: int = 4):
    """Drag over ``[start, end)`` in the passage view and return the code chooser's search box.

    The chooser opens a moment after the mouse is let go (the view waits for the selection to
    settle), and on a busy machine Streamlit may redraw the view under the mouse: so wait for the
    box, and select again (``enter(d)`` switches back into the view's frame) if it does not come."""
    from selenium.webdriver.common.by import By

    for attempt in range(tries):
        enter(d)
        drag(d, start, end, at)
        try:
            return wait_for(lambda: [e for e in d.find_elements(By.CSS_SELECTOR, "#panel input") if e.is_displayed()],
                            5, "the code chooser")[0]
        except AssertionError:
            if attempt == tries - 1:
                raise
            d.switch_to.default_content()
            time.sleep(1)
