"""What a security probe found, each closed (headless: ``AppTest`` and plain calls; the browser
half is ``test_security_browser.py``):

- data text (transcripts, file names, titles, speakers, attribute values, codebook fields, code and
  coder names, memos, theme labels) never reaches the page as markdown or HTML;
- a viewer's upload or codebook load writes no file, not even a temporary one, and the role is
  checked before anything is written;
- ``insight app --host ""`` (every interface) and any address not provably loopback need a login;
  the server runs without a file watcher, without error details, with security headers;
- a viewer sees no original name in a document's file name;
- uploads leave no temporary folder; messages show file names, not server paths; a memo on the
  study says so, not "study nan".
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path

import pytest

import payloads
from insight import Workspace
from insight.errors import InsightError

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://127.0.0.1:9"  # nothing listens there: the AppTest half reads the markdown sources
# what no markdown source may hold: a data payload that markdown or HTML would draw
RAW = ("](", "<img", "<a ", "http://127", "http:127", "www.", "@example.org")
MARKDOWN = {"markdown", "caption", "error", "warning", "info", "success", "title", "header", "subheader", "toast"}
RESEARCHER, VIEWER = "the researcher's long password", "the viewer's long password"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSIGHT_MODEL", "hashing")
        mp.setenv("INSIGHT_SPACY_MODEL", "blank")
        return payloads.build(tmp_path_factory.mktemp("payloads"), BASE)


@pytest.fixture
def db(built, tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    shutil.copy(built, path)
    monkeypatch.setenv("INSIGHT_DB", str(path))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    return path


@pytest.fixture
def tmp(tmp_path, monkeypatch) -> Path:
    """The temporary folder the app uses (``tempfile``), empty, to see what a run leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def app(page: str | None = None, coder: str | None = None, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if coder:
        at.session_state["shell.coder"] = coder
    for key, value in state.items():
        at.session_state[key.replace("_", ".", 1)] = value
    if page:
        at.switch_page(f"pages/{page}.py")
    return at.run()


def login(db: Path, password: str, page: str):
    from insight.access import set_password

    set_password(db, RESEARCHER, "researcher")
    set_password(db, VIEWER, "viewer")
    at = app(page)
    at.text_input(key="insight.login.password").set_value(password)
    next(b for b in at.button if b.label == "Log in").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plain(shown: str) -> str:
    """What a reader sees of a markdown source drawn inert (character references decoded, the
    invisible word joiner gone); written here, not imported, so the test runs on older code too."""
    import html

    return html.unescape(shown.replace("<br>", " ")).replace("\u2060", "")


def sources(node, where: str = "") -> list[tuple[str, str]]:
    """Every string of the page that Streamlit renders as markdown: element bodies, labels and
    help texts, tab and expander labels; and Plotly specs (their text fields draw tags)."""
    out = []
    kind = getattr(node, "type", None)
    try:
        value = getattr(node, "value", None)
    except Exception:  # widgets without a value in this run
        value = None
    if kind in MARKDOWN and isinstance(value, str):
        out.append((f"{where}{kind}", value))
    for attr in ("label", "help"):
        try:
            text = getattr(node, attr, None)
        except Exception:
            text = None
        if isinstance(text, str):
            out.append((f"{where}{kind}.{attr}", text))
    if kind == "plotly_chart":
        out += [(f"{where}plotly", s) for s in _strings(json.loads(node.proto.spec))]
    for child in getattr(node, "children", {}).values():
        out += sources(child, where)
    return out


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def drawn_as_markup(at) -> list[tuple[str, str]]:
    """The markdown sources (and Plotly texts) that hold a payload as markup."""
    found = []
    for where, text in sources(at._tree):
        if where.endswith("plotly"):
            if "<a " in text.lower() or "<img" in text.lower():
                found.append((where, text[:200]))
        elif any(raw in text for raw in RAW):
            found.append((where, text[:200]))
    return found


# -- markdown and HTML in data text ------------------------------------------------------------


def test_inert_text_renders_as_its_own_characters():
    """:func:`insight.ui.safe.text` through a CommonMark renderer with HTML on (as Streamlit's
    ``unsafe_allow_html``), inside an HTML block and out of it: no link, no image, no tag, and the
    reader sees the characters typed."""
    from markdown_it import MarkdownIt

    from insight.ui.safe import text

    md = MarkdownIt("commonmark", {"html": True})
    typed = ("It is damp.\n\n" + payloads.payloads(BASE, "x")
             + "\n\n# not a heading\n\n    not code\n* not a list **not bold**")
    for source in (text(typed), f"<div style='x'>{text(typed, breaks=True)}</div>", f"**{text(typed)}**"):
        shown = md.render(source)
        assert "<a " not in shown and "<img" not in shown and "<h1" not in shown and "<li" not in shown, shown
        assert "\n\n" not in source
    assert plain(text(typed)) == " ".join(typed.split())
    # the old way: escaping HTML only is not enough (a blank line ends the HTML block)
    import html

    old = md.render(f"<div>{html.escape(typed)}</div>")
    assert "<img" in old and "<a " in old


def test_no_page_draws_data_as_markdown(db):
    """Every page with payloads in every field, as a researcher sees it (transcript, quotes, search,
    codebook, review card, memos, history, agreement, themes, gaps, export): no markdown source holds
    a payload as markup."""
    at = app(coder="Bea")
    seen = {}
    states = {
        "browse": {"browse.query": "bins", "browse.code": payloads.code_name(BASE)},
        "coding": {},
        "themes": {},
    }
    for page in ("overview", "browse", "codebook", "agreement", "themes", "export"):
        for key, value in states.get(page, {}).items():
            at.session_state[key] = value
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        seen[page] = drawn_as_markup(at)
    for view in ("Review suggestions", "Memos", "History"):
        at.session_state["coding.view"] = view
        at.switch_page("pages/coding.py").run()
        assert not at.exception, (view, [e.value for e in at.exception])
        seen[view] = drawn_as_markup(at)
    # the transcript in Browse was really drawn (the test reads what it means to)
    at.switch_page("pages/browse.py").run()
    bodies = [v for w, v in sources(at._tree) if w == "markdown" and "turn" in v]
    assert bodies and all("\n" not in b for b in bodies)
    assert {page: found for page, found in seen.items() if found} == {}


def test_upload_messages_draw_file_names_as_text(db, tmp):
    at = app("upload", coder="Bea")
    name = payloads.file_payload(BASE) + " [x](http:127.0.0.1:9).csv"
    at.file_uploader[0].set_value([(name, b"a,b\r\n", "text/csv"),
                                   (payloads.file_payload(BASE) + ".exe", b"MZ", "application/octet-stream")]).run()
    assert not at.exception
    assert len(at.error) >= 1 and drawn_as_markup(at) == []


def test_refine_page_draws_definitions_and_coders_as_text(db):
    at = app("refine", coder="Bea", refine_methods=["rules"])
    at.session_state["refine.gold"] = payloads.coder(BASE)
    at.button(key="refine.run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("passed" in m.value for m in at.markdown)
    assert drawn_as_markup(at) == []


# -- a viewer writes nothing -------------------------------------------------------------------


def test_a_viewer_gets_no_drop_zone_and_stages_nothing(db, tmp):
    kept = db.parent / f"{db.stem}-uploads"
    kept.mkdir()
    (kept / "P1.txt").write_bytes(b"Interviewer: Hi.\nP1: the researcher's file\n")
    at = login(db, VIEWER, "upload")
    assert at.title[0].value == "Upload"
    assert not at.file_uploader and any("A viewer cannot" in i.value for i in at.info)
    assert (kept / "P1.txt").read_bytes() == b"Interviewer: Hi.\nP1: the researcher's file\n"
    assert list(tmp.iterdir()) == []


def test_keep_and_ingest_checks_the_role_before_it_writes(tmp_path, monkeypatch):
    """Even called directly in a viewer's session: nothing written, the ingest never called."""
    from insight.ui import upload

    folder = tmp_path / "uploads"
    folder.mkdir()
    kept = folder / "P1.txt"
    kept.write_bytes(b"the researcher's file")
    before = kept.stat().st_mtime_ns
    monkeypatch.setattr(upload, "current_role", lambda: "viewer", raising=False)
    called = []
    with pytest.raises(InsightError, match="A viewer cannot"):
        upload.keep_and_ingest(folder, "P1.txt", b"the viewer's file", lambda path: called.append(path.read_bytes()))
    assert called == [] and kept.read_bytes() == b"the researcher's file" and kept.stat().st_mtime_ns == before
    assert [p.name for p in folder.iterdir()] == ["P1.txt"]


def test_a_viewers_codebook_load_writes_no_file(db, tmp):
    at = login(db, VIEWER, "codebook")
    with Workspace(db, read_only=True) as ws:
        versions = len(ws.codebook_versions("council"))
    at.file_uploader(key="codebook.load").set_value([("book.yaml", b"name: council\ncodes:\n  - name: X\n",
                                                      "application/yaml")]).run()
    at.button(key="codebook.load.go").click().run()
    assert any("A viewer cannot" in e.value for e in at.error)
    assert list(tmp.iterdir()) == []  # not even a temporary folder
    with Workspace(db, read_only=True) as ws:
        assert len(ws.codebook_versions("council")) == versions


# -- temporary folders, server paths, memos ----------------------------------------------------


def test_an_upload_session_leaves_no_temporary_folder(db, tmp):
    at = app("upload", coder="Bea")
    at.file_uploader[0].set_value([("P9 interview.txt", b"Interviewer: Hello.\r\nP9: The bus is late.\r\n",
                                    "text/plain")]).run()
    assert [s for s in at.selectbox if s.key and s.key.startswith("upload.kind.")]  # previewed from a staged copy
    assert list(tmp.iterdir()) == []
    at.button(key="upload.import").click().run()
    assert not at.exception and list(tmp.iterdir()) == []
    with Workspace(db, read_only=True) as ws:
        assert "P9 interview" in set(ws.documents("Council")["title"])


def test_a_codebook_error_names_the_file_not_the_server_path(db, tmp):
    at = app("codebook", coder="Bea")
    at.file_uploader(key="codebook.load").set_value([("broken book.yaml", b"name: [unclosed\ncodes: {",
                                                      "application/yaml")]).run()
    at.button(key="codebook.load.go").click().run()
    said = [plain(e.value) for e in at.error]
    assert said and "broken book.yaml" in said[0], said
    assert not any(str(tmp) in s or "insight-codebook-" in s or "/" + "tmp" in s for s in said), said
    assert list(tmp.iterdir()) == []


def test_messages_lose_server_paths():
    from insight.ui.shell import without_paths

    home = str(Path.home())
    assert without_paths(f"{tempfile.gettempdir()}/insight-upload-x1/notes.txt: line 3 is bad") == \
        "notes.txt: line 3 is bad"
    assert without_paths(f"cannot open {home}/My Studies/wave 2/a.csv (02/12/2026)") == "cannot open a.csv (02/12/2026)"
    assert without_paths("see /srv/insight/data/study.duckdb.wal and C:\\Users\\ann\\book.yaml") == \
        "see study.duckdb.wal and book.yaml"
    assert without_paths("3/5 examples; ratio 1/2; http://x/y") == "3/5 examples; ratio 1/2; http://x/y"


def test_the_sidebar_shows_the_database_name_not_its_folder(db):
    at = app(coder="Bea")
    captions = [c.value for c in at.sidebar.caption]
    assert any("app" in c and "duckdb" in c for c in captions)
    assert not any(str(db.parent) in c for c in captions), captions


def test_a_memo_on_the_study_says_study(db):
    with Workspace(db) as ws:
        ws.add_memo("On a segment", author="Bea", target_kind="segment", target_id=3, study="Council")
    at = app("coding", coder="Bea", coding_view="Memos")
    assert not at.exception
    lines = [plain(m.value) for m in at.markdown if "Memo" in plain(m.value) or "On a segment" in plain(m.value)]
    assert any(" on study · " in line for line in lines), lines
    assert any(" on segment 3 · " in line for line in lines), lines
    assert not any("nan" in line for line in lines), lines


# -- a viewer sees no original name ------------------------------------------------------------


def test_a_viewer_sees_no_original_name_in_browse(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    folder = tmp_path / "s"
    folder.mkdir()
    path = folder / "interview with Sam Jones.txt"
    path.write_text("Interviewer: Hello Sam Jones, thanks for meeting me.\nSam Jones: My son Daniel rang the "
                    "council about the damp.\nInterviewer: And then?\nSam Jones: Nothing happened.\n")
    db = folder / "p.duckdb"
    with Workspace(db) as ws:
        ws.ingest([path], study="S")
        ws.pseudonymise(study="S", use_ner=False)
        title = ws.documents("S")["title"].iloc[0]
    assert "Sam" not in title and "Jones" not in title  # the title holds the pseudonym
    monkeypatch.setenv("INSIGHT_DB", str(db))
    at = login(db, VIEWER, "browse")
    shown = [plain(v) for _, v in sources(at._tree)]
    assert shown and not [s for s in shown if "Sam" in s or "Jones" in s], [s for s in shown if "Sam" in s]
    # a researcher sees the file's name (not its folder)
    at = login(db, RESEARCHER, "browse")
    captions = [plain(c.value) for c in at.caption]
    assert any("interview with Sam Jones.txt" in c for c in captions) and not any(str(folder) in c for c in captions)


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["", " ", "0.0.0.0", "::", "0", "192.168.1.20", "no-such-host.invalid"])
def test_serving_beyond_loopback_needs_a_login(host, tmp_path, monkeypatch):
    from insight import serve as serving

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    started = []
    monkeypatch.setattr(serving, "run_server", lambda cmd, env: started.append(cmd))
    with pytest.raises(InsightError, match="Refusing to serve"):
        serving.serve(str(tmp_path / "s.duckdb"), host=host)
    assert started == []


def test_loopback_serves_with_production_settings(tmp_path, monkeypatch):
    from insight import serve as serving

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    started = []
    monkeypatch.setattr(serving, "run_server", lambda cmd, env: started.append(cmd))
    for host in ("localhost", "127.0.0.1", "::1"):
        serving.serve(str(tmp_path / "s.duckdb"), host=host)
    cmd = started[0]

    def option(name):
        return [cmd[i + 1] for i, part in enumerate(cmd) if part == f"--{name}"]

    assert cmd[cmd.index("run") + 1] == str(ROOT / "asgi.py")
    assert option("server.fileWatcherType") == ["none"] and option("server.runOnSave") == ["false"]
    assert option("client.showErrorDetails") == ["none"] and option("server.enableXsrfProtection") == ["true"]
    assert option("server.headless") == ["true"]
    assert set(option("server.allowedHosts")) == {"localhost", "127.0.0.1", "::1"}


def test_security_headers_on_every_response():
    from insight.serve import HEADERS, SecurityHeaders

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-frame-options", b"ALLOWALL")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(SecurityHeaders(inner)({"type": "http"}, None, send))
    headers = dict(sent[0]["headers"])
    assert headers[b"x-frame-options"] == b"SAMEORIGIN"
    assert {k.encode() for k in HEADERS} <= set(headers)
    csp = headers[b"content-security-policy"].decode()
    assert "img-src 'self' data: blob:" in csp and "frame-ancestors 'self'" in csp and "default-src 'self'" in csp
