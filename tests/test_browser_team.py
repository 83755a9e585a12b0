"""A team in real browsers: two headless Chromium sessions on one ``insight app`` at the same time.
Ann (the first coder) and Tom (blind on a sample of Ann's work) log in and code the same document;
neither sees the other's codings while the sample is blind; the lead unblinds it, reads the
agreement and adjudicates; the database holds every coding under its person and the consensus.
A wrong password is refused, and the count goes on after a reload."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chromium import app_server, chromium, select_for_coding
from test_browser import ROOT, _ensure_chromium, _env, _into_component, _mouse_at, go, idle, problems, shot

pytestmark = pytest.mark.browser

BOOK = """\
name: council
title: Council services
codes:
  - name: Damp
    definition: Damp, mould or condensation in the home.
  - name: Repairs
    definition: Repairs asked for, late or never done.
  - name: Transport
    definition: Buses, trains and getting about.
"""
ANSWERS = [("Black mould in the bedroom again", "Damp"), ("Nobody came to fix the boiler", "Repairs"),
           ("Damp &amp; condensation on every window", "Damp"), ("The repair line never answers", "Repairs"),
           ("Mould behind the wardrobe and the landlord shrugs", "Damp;Repairs"), ("Fine, no complaints", ""),
           ("The bus stops at six so I cannot get to work", "Transport"), ("Leaking roof for a year", "Repairs")]
PEOPLE = {"Priya Shah": ("lead", "priya's long password"), "Ann": ("coder", "ann's long password"),
          "Tom Reid": ("coder", "tom's long password")}


def _cli(db: Path, *args: str, stdin: str | None = None) -> str:
    cmd = [str(Path(sys.executable).parent / "insight"), "--db", str(db), *args]
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600, input=stdin)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A panel question coded by Ann (a spreadsheet export: BOM, CRLF, an entity, a blank code), a
    codebook, three accounts, and a blind sample of Ann's answers for Tom."""
    _ensure_chromium()
    folder = tmp_path_factory.mktemp("team")
    (folder / "panel.csv").write_bytes(("\ufeffid,ward,q1,codes_q1\r\n" + "".join(
        f'R{i},{"North" if i % 2 else "South"},"{text}",{codes}\r\n'
        for i, (text, codes) in enumerate(ANSWERS, 1))).encode("utf-8"))
    (folder / "council.yaml").write_text(BOOK)
    db = folder / "team.duckdb"
    _cli(db, "ingest", str(folder / "panel.csv"), "--study", "Panel", "--id-col", "id", "--text-col", "q1",
         "--attr-col", "ward", "--code-col", "codes_q1=q1", "--coder", "Ann")
    _cli(db, "codebook", "load", str(folder / "council.yaml"))
    for name, (role, password) in PEOPLE.items():
        _cli(db, "users", "add", name, "--role", role, stdin=password + "\n")
    _cli(db, "assign", "Tom Reid", "--units", "3", "--reference", "Ann", "--seed", "5", "--lead", "Priya Shah")
    return db


@pytest.fixture(scope="module")
def server(study):
    yield from app_server(study, _env(), ROOT)


@pytest.fixture(scope="module")
def browsers():
    """Two browsers, each its own session of the same app."""
    first, second = chromium("1440,1400"), chromium("1440,1400")
    yield next(first), next(second)
    for gen in (first, second):
        next(gen, None)


def log_in(d, url: str, name: str, password: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    d.get(url)
    idle(d, 180)
    d.find_element(By.CSS_SELECTOR, 'input[aria-label="Your name"]').send_keys(name)
    d.find_element(By.CSS_SELECTOR, 'input[type="password"]').send_keys(password or PEOPLE[name][1])
    next(b for b in d.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Log in").click()
    time.sleep(0.5)
    idle(d)


def body(d) -> str:
    from selenium.webdriver.common.by import By

    d.switch_to.default_content()
    return d.find_element(By.TAG_NAME, "body").text


def pick_document(d, title: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = d.find_element(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input')
    box.click()
    box.send_keys(title, Keys.ENTER)
    time.sleep(0.5)
    idle(d)


def shown_passages(d) -> set[int]:
    _into_component(d)
    ids = d.execute_script("return [...document.querySelectorAll('#turns [data-p]')]"
                           ".flatMap(s => s.dataset.p.split(' ')).filter(x => x)")
    d.switch_to.default_content()
    return {int(x) for x in ids}


def code_segment(d, segment, code: str) -> None:
    """Select a whole answer with the mouse and code it from the chooser."""
    from selenium.webdriver.common.keys import Keys

    search = select_for_coding(d, int(segment["start"]), int(segment["end"]), _into_component, _mouse_at)
    search.send_keys(code)
    time.sleep(0.3)
    search.send_keys(Keys.ENTER)
    d.switch_to.default_content()
    time.sleep(1)
    idle(d)


def test_two_coders_blind_then_the_lead_adjudicates(server, browsers, study):
    from selenium.webdriver.common.by import By

    from insight import Workspace
    from insight.team import Team

    tom, ann = browsers
    with Workspace(study, read_only=True) as ws:
        sample = Team(ws).blind_for("Tom Reid")
        unit = int(sample["segment_id"].iloc[0])
        doc = int(ws.con.execute("SELECT document_id FROM segments WHERE segment_id = ?", [unit]).fetchone()[0])
        document = ws.document(doc)
        segment = document["segments"].set_index("segment_id").loc[unit]
        anns_here = set(ws.codings(coder="Ann", document_id=doc)["coding_id"])
    assert anns_here, "Ann coded the sampled answer"

    # A wrong password is refused; the count survives a reload (a new session) and goes on.
    log_in(tom, server, "Tom Reid", "not my password")
    assert "do not match" in body(tom)
    log_in(tom, server, "Tom Reid", "still not it")
    log_in(tom, server, "Tom Reid", "third time")
    log_in(tom, server, "tom reid", "fourth time")  # a fresh page each time: the server counts
    assert "Too many failed log-ins: wait 5 s" in body(tom)
    time.sleep(5)

    # Both log in, each in their own browser, at the same time.
    log_in(tom, server, "Tom Reid")
    log_in(ann, server, "Ann")
    assert "Logged in as Tom Reid (coder)" in body(tom) and "Logged in as Ann (coder)" in body(ann)
    assert not tom.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] input[type="text"]')  # no name box

    go(tom, "Code")
    assert "Blind coding" in body(tom)
    pick_document(tom, document["title"])
    assert not shown_passages(tom) & anns_here, "Tom must not see Ann's codings on his sample"
    code_segment(tom, segment, "Transport")
    assert problems(tom) == []
    with Workspace(study, read_only=True) as ws:
        toms = ws.codings(coder="Tom Reid")
    assert list(toms["code"]) == ["Transport"] and int(toms["document_id"].iloc[0]) == doc

    go(ann, "Code")
    pick_document(ann, document["title"])
    shown = shown_passages(ann)
    assert anns_here <= shown and not shown & set(toms["coding_id"]), "Ann must not see Tom's coding"
    code_segment(ann, segment, "Repairs")
    assert problems(ann) == []
    with Workspace(study, read_only=True) as ws:
        anns = ws.codings(coder="Ann", document_id=doc)
    assert "Repairs" in set(anns["code"])
    go(tom, "Code")  # Tom again: still only his own
    pick_document(tom, document["title"])
    assert not shown_passages(tom) & set(anns["coding_id"])
    shot(tom, "team_blind_coder")

    # The lead (in Ann's browser, after Ann logs out) unblinds, reads the agreement, adjudicates.
    next(b for b in ann.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Log out").click()
    time.sleep(0.5)
    log_in(ann, server, "Priya Shah")
    go(ann, "Agreement")
    next(b for b in ann.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Samples").click()
    time.sleep(0.5)
    idle(ann)
    next(b for b in ann.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Unblind this sample").click()
    time.sleep(0.5)
    idle(ann)
    text = body(ann)
    assert "Ann vs Tom Reid on 3 units" in text and "is unblinded" in text, text[:2000]
    assert problems(ann) == []
    shot(ann, "team_adjudication")
    with Workspace(study, read_only=True) as ws:
        split = Team(ws).disagreements(1)
    assert {("Transport", "Tom Reid")} <= set(zip(split["code"], split["coded_by"]))
    before = len(split)
    first = split.iloc[0]
    next(b for b in ann.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == "Apply").click()  # the first
    time.sleep(0.5)
    idle(ann)
    assert problems(ann) == []
    with Workspace(study, read_only=True) as ws:
        consensus = ws.codings(coder="Consensus")
        log = Team(ws).decisions(1)
        people = set(ws.codings()["coder"])
    assert list(zip(consensus["segment_id"], consensus["code"])) == [(int(first.segment_id), first.code)]
    assert list(log["decided_by"]) == ["Priya Shah"] and before >= 1
    assert {"Ann", "Tom Reid", "Consensus"} <= people and not people & {"Priya Shah"}
