"""The Streamlit workbench, headless (``streamlit.testing.v1.AppTest``): every page opens on a small
study without an exception, and one real action per page changes the database as it should."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from insight import Workspace
from insight.ui.safe import plain  # what a reader sees of text drawn inert

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"overview": "Overview", "upload": "Upload", "browse": "Browse", "codebook": "Codebook",
         "refine": "Test & refine", "coding": "Code", "agreement": "Agreement", "themes": "Themes",
         "export": "Export"}

BOOK = """\
name: council
title: Council services
codes:
  - name: Home
    definition: The home and its condition.
    children:
      - name: Damp
        definition: Damp, mould or condensation in the home.
        include: Any mention of damp or mould.
        exclude: Other repairs.
        examples: ["Black mould all over the bedroom wall", "The damp in the kids' room is back"]
        counter_examples: ["The boiler broke again"]
        keywords: [damp, mould]
        colour: "#8c564b"
      - name: Repairs
        definition: Getting things in the home fixed.
        examples: ["Waited six weeks for the boiler repair", "Nobody came to fix the window"]
        counter_examples: ["The mould came back"]
        keywords: [repair, fix, boiler]
  - name: Transport
    definition: Buses and getting around.
    examples: ["The bus never comes on Sundays", "Bring back the 42 bus"]
    counter_examples: ["I walk the dog every day"]
    keywords: [bus, train]
"""

ANSWERS = [
    ("R1", "Eastgate", "18-34", "There is mould in every room and the damp smell never goes", "Damp"),
    ("R2", "Eastgate", "65+", "The buses stopped running after six", "Transport"),
    ("R3", "Northfield", "35-64", "They took months to repair the boiler", "Repairs"),
    ("R4", "Northfield", "18-34", "Mould again, black mould on the ceiling", "Damp"),
    ("R5", "Eastgate", "35-64", "The library is lovely", ""),
    ("R6", "Northfield", "65+", "Fix the boiler please, it has been broken since winter", "Repairs"),
    ("R7", "Eastgate", "65+", "No bus to the hospital at all", "Transport"),
    ("R8", "Northfield", "35-64", "Condensation and damp on the windows every morning", "Damp"),
]

INTERVIEW = """\
[00:00:05] Interviewer: How are things at home?
[00:00:09] P1: Honestly the damp is the worst of it. Black mould behind the wardrobe again.
[00:00:31] Interviewer: Have you reported it?
[00:00:35] P1: Three times. They said a surveyor would come to fix it and nobody came.
[00:01:02] P1: And the bus to the clinic only runs twice a day now.
"""


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """A small study, built once: two interviews, a panel CSV coded by Ann, a codebook, and the
    rules auto-coder's suggestions."""
    with pytest.MonkeyPatch.context() as mp:  # set for the build only: other modules' tests see a clean env
        mp.setenv("INSIGHT_MODEL", "hashing")
        mp.setenv("INSIGHT_SPACY_MODEL", "blank")
        return _build(tmp_path_factory)


def _build(tmp_path_factory):
    from pipelines.embed import get_embedder
    from pipelines.nlp import get_nlp

    get_embedder.cache_clear()
    get_nlp.cache_clear()
    folder = tmp_path_factory.mktemp("study")
    (folder / "P1_home.txt").write_text(INTERVIEW, encoding="utf-8")
    (folder / "P2_bus.txt").write_text("Interviewer: What would you change?\nP2: Bring back the evening bus. "
                                       "The train is too dear.\nInterviewer: Anything else?\nP2: The repair "
                                       "line never answers.\n", encoding="utf-8")
    csv = folder / "panel.csv"
    csv.write_text("id,ward,age_band,answer,codes\n" + "".join(f'{i},{w},{a},"{t}",{c}\n' for i, w, a, t, c in ANSWERS))
    book = folder / "council.yaml"
    book.write_text(BOOK)
    db = folder / "study.duckdb"
    with Workspace(db) as ws:
        ws.ingest([folder / "P1_home.txt", folder / "P2_bus.txt"], study="Council")
        ws.ingest([csv], study="Council", id_col="id", text_cols=["answer"], attr_cols=["ward", "age_band"],
                  code_cols=["codes"], coder="Ann")
        ws.load_codebook(book, author="tester")
        ws.code(study="Council", codebook="council", methods=["rules"])
    return db


@pytest.fixture
def db(built, tmp_path, monkeypatch):
    """A fresh copy of the study for one test, as ``$INSIGHT_DB``."""
    path = tmp_path / "app.duckdb"
    shutil.copy(built, path)
    monkeypatch.setenv("INSIGHT_DB", str(path))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    return path


def app(page: str | None = None, coder: str | None = None, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if coder:
        at.session_state["shell.coder"] = coder
    for key, value in state.items():  # e.g. coding_view="Review suggestions" sets coding.view
        at.session_state[key.replace("_", ".", 1)] = value
    if page:  # each page's address is its file name, so no first run of the overview is needed
        at.switch_page(f"pages/{page}.py")
    return at.run()


def clean(at) -> None:
    """No exception, no error box, no unexpected-error message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def by_key(elements, suffix: str):
    return next(e for e in elements if e.key and e.key.endswith(suffix))


def ro(db):
    return Workspace(db, read_only=True)


# -- every page -------------------------------------------------------------------------------


def test_every_page_opens_without_an_exception(db):
    at = app()
    clean(at)
    for page, title in PAGES.items():
        at.switch_page(f"pages/{page}.py").run()
        clean(at)
        assert at.title[0].value == title
    # The app holds no connection between runs: a writer (like the CLI) can open the file now.
    Workspace(db).close()


def test_pages_on_a_missing_database_point_to_upload(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_DB", str(tmp_path / "none.duckdb"))
    at = app()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, page
    assert not (tmp_path / "none.duckdb").exists()  # looking creates nothing


def test_pages_on_an_empty_database_say_what_to_do_first(tmp_path, monkeypatch):
    Workspace(tmp_path / "empty.duckdb").close()
    monkeypatch.setenv("INSIGHT_DB", str(tmp_path / "empty.duckdb"))
    at = app()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        clean(at)
        assert page == "upload" or at.info, page  # each says what to do first


def test_overview_shows_the_library_figures(db):
    at = app()
    clean(at)
    with ro(db) as ws:
        stats = ws.stats()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents"] == str(stats["documents"]) == "10"
    assert metrics["Segments"] == f"{stats['segments']:,}"
    assert metrics["Participants"] == str(stats["participants"])


def test_overview_says_how_the_vectors_were_made(db):
    from insight import embeddings

    info = {"model": "all-MiniLM-L6-v2", "backend": "onnx-int8-attention", "variant": "int8-attention",
            "mean_cosine": 0.99812, "neighbours": 0.97, "probes": 300, "cpu": "Test CPU (x86_64; avx2; no VNNI)"}
    with Workspace(db) as ws:
        embeddings._record_run(ws.con, None, {"embedder": info, "embedded": 3})
    at = app()
    clean(at)
    line = plain(next(m.value for m in at.markdown if m.value.startswith("**Embeddings**")))
    assert "onnx-int8-attention" in line and "0.9981" in line and "97%" in line and "no VNNI" in line


# -- upload -----------------------------------------------------------------------------------


def test_upload_imports_files_with_column_mapping_and_reports_failures(db):
    at = app("upload")
    survey = b"resp,area,q1\nX1,Southside,The bins were missed again\nX2,Southside,Lovely park\n"
    at.file_uploader[0].set_value([("../../notes.txt", b"Interviewer: Hello.\nP9: The bus is late.\n", "text/plain"),
                                   ("survey.csv", survey, "text/csv"),
                                   ("broken.xlsx", b"not a workbook", "application/octet-stream"),
                                   ("tool.exe", b"MZ", "application/octet-stream")]).run()
    assert not at.exception
    said = [plain(e.value) for e in at.error]  # before the import: the unknown format, and the damaged workbook
    assert len(said) == 2 and "cannot read '.exe'" in said[0] and "broken.xlsx" in said[1]
    by_key(at.multiselect, ".text").set_value(["q1"])
    by_key(at.selectbox, ".id").set_value("resp")
    by_key(at.multiselect, ".attrs").set_value(["area"])
    at.button(key="upload.import").click().run()
    assert not at.exception
    # the bad file is named with its reason; the others went in
    assert any("broken.xlsx" in plain(e.value) and "not a valid .xlsx" in plain(e.value) for e in at.error)
    with ro(db) as ws:
        docs = ws.documents("Council")
        people = ws.participants("Council")
    kept = {Path(p) for p in docs["source_path"].dropna()}
    assert {"notes", "survey"} <= {p.stem for p in kept}
    assert all(p.parent == db.parent / "app-uploads" for p in kept if p.stem in ("notes", "survey"))  # no ../..
    assert people.set_index("external_id").loc["X1", "area"] == "Southside"
    results = next(d for d in at.dataframe if "status" in d.value.columns).value
    assert sorted(results["status"]) == ["added", "added", "failed", "failed"]


def test_upload_names_codes_not_in_the_codebook(db):
    at = app("upload", coder="Bea")
    coded = (b"resp,q1,codes\r\nY1,Black mould behind the wardrobe again,Damnp\r\n"
             b"Y2,The evening bus is gone,Transport; Parking\r\n")
    at.file_uploader[0].set_value([("second_coder.csv", coded, "text/csv")]).run()
    by_key(at.multiselect, ".text").set_value(["q1"])
    by_key(at.selectbox, ".id").set_value("resp")
    by_key(at.multiselect, ".codes").set_value(["codes"]).run()
    at.button(key="upload.import").click().run()
    clean(at)
    said = " ".join(plain(w.value) for w in at.warning)
    assert "2 codes are not in codebook council@1: 'Damnp' (nearest: 'Damp'), 'Parking' (no close name)." in said
    assert "insight codebook fold 'Damnp' 'Damp'" in said


# -- browse -----------------------------------------------------------------------------------


def test_browse_shows_a_transcript_with_codings_and_searches(db):
    at = app("browse")
    clean(at)
    with ro(db) as ws:
        docs = ws.documents("Council")
    interview = int(docs[docs["title"].str.contains("P1")]["document_id"].iloc[0])
    at.selectbox(key="browse.docs.document").set_value(interview).run()
    at.toggle(key="browse.suggestions").set_value(True).run()
    clean(at)
    html = plain(" ".join(m.value for m in at.markdown))
    assert "Black mould behind the wardrobe" in html and "00:00:09" in html
    assert "Damp ?" in html  # the rules auto-coder's suggestion, marked as one
    at.text_input(key="browse.query").set_value("boiler").run()
    html = plain(" ".join(m.value for m in at.markdown))
    assert "repair the boiler" in html and "Fix the boiler please" in html
    at.selectbox(key="browse.code").set_value("Transport").run()
    clean(at)
    assert "No bus to the hospital" in plain(" ".join(m.value for m in at.markdown))


# -- codebook ---------------------------------------------------------------------------------


def test_codebook_edit_saves_a_new_version(db):
    at = app("codebook", coder="Dee")
    clean(at)
    at.selectbox(key="codebook.code").set_value("Damp").run()
    definition = by_key(at.text_area, ".Damp.definition")
    definition.set_value("Damp, mould, condensation or a musty smell in the home.")
    by_key(at.text_area, ".Damp.keywords").set_value("damp\nmould\ncondensation")
    by_key(at.text_input, ".Damp.note").set_value("added condensation")
    next(b for b in at.button if b.label == "Save as a new version").click().run()
    clean(at)
    assert any("version 2" in s.value for s in at.success)
    with ro(db) as ws:
        book = ws.codebook("council")
        versions = ws.codebook_versions("council")
    assert book.version == 2
    assert book.code("Damp").definition == "Damp, mould, condensation or a musty smell in the home."
    assert book.code("Damp").keywords == ["damp", "mould", "condensation"]
    assert versions.iloc[0]["author"] == "Dee" and versions.iloc[0]["note"] == "added condensation"
    assert at.selectbox(key="codebook.version").value == 2


def test_codebook_loads_a_spreadsheet_and_says_how(db):
    at = app("codebook", coder="Dee")
    sheet = "tag,description,number of highlights\r\nDamp,Damp or mould at home.,4\r\nCaf\u00e9s,Places to meet,1\r\n"
    at.file_uploader(key="codebook.load").set_value([("codebook.csv", sheet.encode("cp1252"), "text/csv")]).run()
    at.button(key="codebook.load.go").click().run()
    clean(at)
    said = " ".join(plain(s.value) for s in at.success)
    assert "codebook: version 1 loaded (2 codes)." in said and "name=tag, definition=description" in said
    with ro(db) as ws:
        assert [(c.name, c.definition) for c in ws.codebook("codebook").codes] == [
            ("Damp", "Damp or mould at home."), ("Caf\u00e9s", "Places to meet")]


def test_codebook_add_merge_delete_and_download(db):
    at = app("codebook", coder="Dee")
    at.text_input(key="codebook.add.name").set_value("Mould")
    at.selectbox(key="codebook.add.parent").set_value("Home")
    next(b for b in at.button if b.label == "Add the code").click().run()
    clean(at)
    at.selectbox(key="codebook.merge.source").set_value("Mould")
    at.selectbox(key="codebook.merge.target").set_value("Damp")
    next(b for b in at.button if b.label == "Merge").click().run()
    clean(at)
    at.selectbox(key="codebook.delete.code").set_value("Transport")
    at.checkbox(key="codebook.delete.sure").check()
    next(b for b in at.button if b.label == "Delete").click().run()
    clean(at)
    with ro(db) as ws:
        assert ws.codebook("council@2").code("Mould").parent == "Home"
        assert "Mould" not in ws.codebook("council@3").names()
        assert ws.codebook().names() == ["Home", "Damp", "Repairs"] and ws.codebook().version == 4
    labels = [b.label for b in at.download_button]
    assert "Download YAML" in labels and "Download REFI-QDA .qdc" in labels


# -- test & refine ----------------------------------------------------------------------------


def test_refine_runs_tests_and_an_edit_is_retested_with_changes(db):
    at = app("refine", coder="Dee")
    clean(at)
    assert at.selectbox(key="refine.gold").value == "Ann"
    at.button(key="refine.run").click().run()
    clean(at)
    first = at.session_state["refine.reports"][("council@1", "Ann", ("rules", "semantic"), 0.5)]
    table = at.dataframe[0].value
    assert list(table["code"]) == ["Home", "Damp", "Repairs", "Transport"]
    assert {r["code"]: r["passed"] for r in first["codes"]} == \
        {c: r.startswith("PASS") for c, r in zip(table["code"], table["result"])}
    # read a code's disagreeing quotes, copy one into the form, save, and the tests re-run
    at.selectbox(key="refine.code").set_value("Repairs").run()
    clean(at)
    keywords = by_key(at.text_area, ".Repairs.keywords")
    keywords.set_value(keywords.value + "\nsurveyor")
    next(b for b in at.button if b.label.startswith("Save as a new version and re-test")).click().run()
    clean(at)
    reports = at.session_state["refine.reports"]
    assert ("council@2", "Ann", ("rules", "semantic"), 0.5) in reports
    with ro(db) as ws:
        assert ws.codebook().version == 2 and "surveyor" in ws.codebook().code("Repairs").keywords
    assert "council@1:" in plain(at.markdown[0].value)  # the summary compares with the previous version
    assert "F1 change" in at.dataframe[0].value.columns


# -- code -------------------------------------------------------------------------------------


def test_accepting_and_rejecting_suggestions_records_the_coder(db):
    at = app("coding", coding_view="Review suggestions")
    assert at.button(key="coding.accept").disabled  # no name yet
    at.sidebar.text_input(key="shell.coder").set_value("Dee").run()
    clean(at)
    assert not at.button(key="coding.accept").disabled
    with ro(db) as ws:
        queue = ws.review_queue(study="Council", coder="auto:rules")
    first, second = int(queue.coding_id[0]), int(queue.coding_id[1])
    at.button(key="coding.accept").click().run()
    clean(at)
    at.button(key="coding.reject").click().run()
    clean(at)
    with ro(db) as ws:
        rows = ws.codings(study="Council")
    status = rows.set_index("coding_id")["status"]
    assert status[first] == "accepted" and status[second] == "rejected"
    mine = rows[rows["coder"] == "Dee"]
    assert list(mine["segment_id"]) == [int(queue.segment_id[0])] and list(mine["code"]) == [queue.code[0]]
    at.button(key="coding.undo").click().run()
    with ro(db) as ws:
        assert ws.codings(study="Council").set_index("coding_id")["status"][second] == "suggested"


def test_coding_by_selection_and_a_memo(db):
    """The passage view's events (what a selection in the browser sends; the browser test makes a
    real one) code, recode and remove passages; a bad one is refused with a message."""
    with ro(db) as ws:
        docs = ws.documents("Council")
        doc = int(docs[docs["title"].str.contains("P2")]["document_id"].iloc[0])
        text = ws.document(doc)["text"]
    start = text.index("bus")
    end = text.index("\n", start) if "\n" in text[start:] else len(text)
    at = app("coding", coder="Dee")
    at.selectbox(key="coding.hand.doc").set_value(doc).run()
    clean(at)
    key = f"coding.passages.{doc}"
    at.session_state[key] = {"action": "code", "start": start, "end": end, "code": "Transport",
                             "text": text[start:end], "nonce": "n1"}
    at.run()
    clean(at)
    with ro(db) as ws:
        coded = ws.codings(study="Council", coder="Dee")
    assert list(zip(coded["document_id"], coded["start"], coded["end"], coded["code"], coded["text"])) == \
        [(doc, start, end, "Transport", text[start:end])]
    assert any("Coded" in m.value for m in at.success)
    at.session_state[key] = {"action": "code", "start": start, "end": end, "code": "Nonsense", "nonce": "n2"}
    at.run()
    assert any("not a code" in e.value for e in at.error)  # refused, said plainly, nothing written
    at.session_state[key] = {"action": "recode", "id": int(coded["coding_id"].iloc[0]), "code": "Repairs",
                             "nonce": "n3"}
    at.run()
    clean(at)
    with ro(db) as ws:
        assert ws.codings(study="Council", coder="Dee")["code"].tolist() == ["Repairs"]
    at.session_state["coding.view"] = "Memos"
    at.run()
    at.text_area(key="coding.memo.text").set_value("Evening buses come up again and again.")
    next(b for b in at.button if b.label == "Add memo").click().run()
    clean(at)
    with ro(db) as ws:
        memos = ws.memos(study="Council")
    assert memos.iloc[-1]["author"] == "Dee" and "Evening buses" in memos.iloc[-1]["text"]


# -- agreement --------------------------------------------------------------------------------


def test_agreement_matches_the_library_and_lists_disagreements(db):
    at = app("agreement")
    at.selectbox(key="agreement.a").set_value("Ann")
    at.selectbox(key="agreement.b").set_value("auto:rules").run()
    clean(at)
    with ro(db) as ws:
        expected = ws.agreement("Ann", "auto:rules", study="Council", bootstrap=0)
    table = at.dataframe[0].value.set_index("code")
    for row in expected["codes"]:
        got = table.loc[row["code"], "kappa"]
        assert (pd.isna(got) and row["kappa"] is None) or got == pytest.approx(row["kappa"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pooled kappa"] == f"{expected['overall']['kappa']:.2f}"


# -- export -----------------------------------------------------------------------------------


def test_export_prepares_a_dataset_that_matches_the_database(db):
    at = app("export")
    clean(at)
    at.button(key="export.dataset.go").click().run()
    clean(at)
    prepared = at.session_state["export.dataset"]
    assert prepared["name"] == "Council_coded_long.csv" and prepared["data"].startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(prepared["data"]))
    with ro(db) as ws:
        codings = ws.codings(study="Council")
        uncoded = ws.con.execute("SELECT count(*) FROM segments WHERE segment_id NOT IN "
                                 "(SELECT segment_id FROM coding_segments WHERE status = 'accepted')").fetchone()[0]
    decided = codings[codings["status"] == "accepted"]
    assert len(decided) < len(codings)  # the rules auto-coder's open suggestions stay out by default ...
    assert sorted(frame["coding_id"].dropna().astype(int)) == sorted(decided["coding_id"])  # one row per coding
    assert frame["code"].isna().sum() == uncoded  # ... and each segment no decided coding touches, once
    assert set(frame["coder"].dropna()) == {"Ann"} and set(frame["decided"].dropna()) == {"yes"}
    at.checkbox(key="export.dataset.suggestions").check().run()  # ... and come in on request, marked
    at.button(key="export.dataset.go").click().run()
    clean(at)
    frame = pd.read_csv(io.BytesIO(at.session_state["export.dataset"]["data"])).dropna(subset=["code"])
    assert sorted(frame["coding_id"].astype(int)) == sorted(codings["coding_id"])
    assert set(zip(frame["coder"], frame["status"], frame["decided"])) == {("Ann", "accepted", "yes"),
                                                                          ("auto:rules", "suggested", "no")}
    at.selectbox(key="export.dataset.shape").set_value("wide").run()
    at.button(key="export.dataset.go").click().run()
    assert at.session_state["export.dataset"]["name"] == "Council_coded_wide.csv"
    at.button(key="export.qdpx.go").click().run()
    clean(at)
    assert at.session_state["export.project"]["data"][:2] == b"PK"  # a .qdpx is a ZIP


# -- a database held by another process ---------------------------------------------------------


@contextmanager
def held(db):
    """Another process writing to the database for the block (as the CLI would)."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(db)!r})
        con.execute("CREATE TABLE IF NOT EXISTS _holder (x INTEGER)")
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_database_held_by_another_writer_is_explained_not_a_crash(db):
    at = app()  # reads (and caches) the overview while the file is free
    clean(at)
    with held(db):
        time.sleep(0.2)
        at.run()  # the overview again: what was read before, and a plain note in the sidebar
        assert not at.exception
        assert any("in use by another Insight process" in w.value for w in at.sidebar.warning)
        assert at.metric[0].value == "10"
        at.switch_page("pages/agreement.py").run()  # nothing read before: a clear message, no traceback
        assert not at.exception
        assert any("in use by another Insight process" in e.value for e in at.error)


def test_coding_a_passage_while_another_process_writes_says_so_and_loses_nothing(db):
    with ro(db) as ws:
        docs = ws.documents("Council")
        doc = int(docs[docs["title"].str.contains("P2")]["document_id"].iloc[0])
        text = ws.document(doc)["text"]
        before = ws.codings(study="Council")
    at = app("coding", coder="Dee")
    at.selectbox(key="coding.hand.doc").set_value(doc).run()
    clean(at)
    with held(db):
        at.session_state[f"coding.passages.{doc}"] = {"action": "code", "start": 0, "end": len(text.split()[0]),
                                                      "code": "Transport", "nonce": "locked"}
        at.run()
        assert not at.exception
        assert any("in use by another Insight process" in e.value and "Nothing was coded" in e.value
                   for e in at.error)
    with ro(db) as ws:
        assert ws.codings(study="Council").equals(before)


# -- themes (fits BERTopic: slow) -------------------------------------------------------------

TOPICS = {
    "parking": ["There is never anywhere to park on {s} after six", "Parking permits on {s} cost far too much",
                "Cars parked on the pavement on {s} block the pushchairs", "Visitors cannot find parking near {s}"],
    "noise": ["The noise from the bars on {s} keeps us awake", "Loud music at night on {s} every weekend",
              "Neighbours on {s} shouting and noise until three am", "Nobody acts on noise complaints about {s}"],
    "trees": ["Plant more trees along {s} please", "The old trees on {s} were cut down and not replaced",
              "More trees and green verges on {s} would help", "Street trees on {s} give shade in summer"],
}
STREETS = ["Mill Lane", "High Street", "Canal Road", "Station Road", "Park Avenue"]


def test_themes_page_before_any_run_offers_discovery(db):
    at = app("themes")
    clean(at)
    assert any("No theme run yet" in i.value for i in at.info)
    assert at.button(key="themes.run") and at.button(key="themes.gaps.run")


@pytest.mark.slow
def test_themes_run_and_a_gap_becomes_a_code(db, tmp_path):
    rows = [(f"E{i}", template.format(s=street)) for i, (template, street) in enumerate(
        (t, s) for topic in TOPICS.values() for t in topic for s in STREETS)]
    extra = tmp_path / "extra.csv"
    extra.write_text("id,answer\n" + "".join(f'{i},"{t}"\n' for i, t in rows))
    with Workspace(db) as ws:
        ws.ingest([extra], study="Council", id_col="id", text_cols=["answer"])
    at = app("themes", coder="Dee")
    # The first theme run on a machine compiles numba kernels (cached in ~/.cache/insight/numba):
    # on a fresh, busy 2-core machine that alone took over a minute, so the guard against a hang is wide.
    at.button(key="themes.run").click().run(timeout=600)
    clean(at)
    with ro(db) as ws:
        table = ws.theme_table(study="Council")
        assert len(ws.theme_runs(study="Council")) == 1
    assert (table["id"] >= 0).sum() >= 2
    assert any(f"{len(table[table['id'] >= 0])} themes" in s.value for s in at.success)
    assert at.session_state["themes.view"] == "Map" and at.get("plotly_chart")
    at.session_state["themes.view"] = "By group"
    at.run()
    at.selectbox(key="themes.by").set_value("ward").run()
    clean(at)
    at.session_state["themes.view"] = "Gap finder"
    at.run()
    at.button(key="themes.gaps.run").click().run(timeout=600)
    clean(at)
    assert at.session_state["themes.view"] == "Gap finder"  # the page reran after the action and stayed here
    with ro(db) as ws:
        found = ws.gap_candidates(study="Council")
    assert found["candidates"], found
    first = found["candidates"][0]
    at.text_input(key=f"themes.gap.name.{found['run_id']}.{first['id']}").set_value("Street life")
    at.button(key=f"themes.gap.add.{found['run_id']}.{first['id']}").click().run()
    clean(at)
    with ro(db) as ws:
        book = ws.codebook("council")
    assert book.version == 2 and book.codes[-1].name == "Street life"
    assert set(book.codes[-1].examples) <= {q["text"] for q in first["quotes"]}


# -- access -----------------------------------------------------------------------------------


def test_a_password_gates_the_app_and_a_viewer_changes_nothing(db):
    from insight.access import set_password

    set_password(db, "the researcher's long password", "researcher")
    set_password(db, "the viewer's long password", "viewer")
    at = app("coding", coder="Vic", coding_view="Review suggestions")
    assert [t.value for t in at.title] == ["Insight"]
    assert not any(b.key == "coding.accept" for b in at.button)  # nothing but the login form
    at.text_input(key="insight.login.password").set_value("the viewer's long password")
    next(b for b in at.button if b.label == "Log in").click().run()
    assert not at.exception and at.title[0].value == "Code"
    with ro(db) as ws:
        before = ws.codings(study="Council")
    at.button(key="coding.accept").click().run()
    assert any("A viewer cannot" in e.value for e in at.error)
    with ro(db) as ws:
        assert ws.codings(study="Council").equals(before)
