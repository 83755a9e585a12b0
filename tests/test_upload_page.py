"""The Upload page, headless (``streamlit.testing.v1.AppTest``), with files as researchers have them:
each file's guessed kind and reader shown before import and changeable, each problem said once in
the app's words and naming the file as uploaded, and nothing kept of a file that did not go in."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from insight import Workspace

ROOT = Path(__file__).resolve().parent.parent

# Field notes typed in Word on Windows: cp1252, CRLF, a heading, and quoted speech that looks like
# speaker turns (which is why a reader guesses "interview").
NOTES_NAME = "Eastgate hub visit 14 March.txt"
NOTES = ("Field notes \u2013 Eastgate community hub, Tuesday 14 March\r\n\r\n"
         "Arrived 9:40. Six people already queuing at the front desk before the doors opened; two with "
         "prams, one man holding a letter from the housing team.\r\n\r\n"
         "Maria: I\u2019ve been coming every week since the damp got bad.\r\n"
         "Dev: They keep saying a surveyor will come.\r\n"
         "Maria: Nobody comes. It\u2019s \u00a340 a week on the heaters.\r\n\r\n"
         "Note to self: ask the hub manager about the surveyor backlog.\r\n").encode("cp1252")
# A panel export cut off mid-row (an unbalanced quote), and one that stopped after its header.
TORN_NAME, TORN = "Panel wave 2 (final).csv", (b'respondent_id,ward,q1\r\nR1,Eastgate,"The bins were missed, '
                                               b'again\r\nR2,Northfield,Lovely park\r\n')
EMPTY_NAME, EMPTY = "panel_wave3.csv", b"respondent_id;ward;q1\r\n"
# A survey whose text column cannot be guessed (short answers): choosing it fixes the file.
SHORT_NAME, SHORT = "quick poll.csv", b"resp,area,answer\r\nX1,Southside,Bins missed\r\nX2,Southside,Lovely park\r\n"


@pytest.fixture
def db(tmp_path, monkeypatch):
    """An empty database path (the first import creates it), as ``$INSIGHT_DB``."""
    path = tmp_path / "field.duckdb"
    monkeypatch.setenv("INSIGHT_DB", str(path))
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    return path


def upload_page(files: list[tuple[str, bytes]]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/upload.py")
    at.run()
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def uploads(db: Path) -> Path:
    return db.parent / f"{db.stem}-uploads"


def guessed_kind(name: str, data: bytes) -> str:
    """The kind the reader itself gives the file, read here without the app."""
    from insight.readers import IngestOptions, reader_for

    path = Path(tempfile.mkdtemp()) / name
    path.write_bytes(data)
    return reader_for(path).read(path, data, IngestOptions()).documents[0].kind


def said_about(at, name: str) -> list[str]:
    return [m for m in shown(at.error) if name in m]


def shown(elements) -> list[str]:
    """The text of message boxes and captions as the reader sees it (they are drawn inert:
    :mod:`insight.ui.safe`)."""
    from insight.ui.safe import plain

    return [plain(e.value) for e in elements]


def assert_app_words(messages: list[str], *paths: Path) -> None:
    """No temporary or kept path, no command-line flag."""
    for message in messages:
        assert tempfile.gettempdir() not in message and "insight-upload-" not in message, message
        assert not any(str(p) in message for p in paths), message
        assert "--" not in message, message


def test_field_notes_guess_is_shown_changed_and_bad_files_are_said_once(db):
    at = upload_page([(NOTES_NAME, NOTES), (TORN_NAME, TORN), (f"exports/{EMPTY_NAME}", EMPTY),
                      (SHORT_NAME, SHORT)])
    # before the import: the guess, with the reader and what it found, beside the file
    kind = at.selectbox(key=f"upload.kind.{NOTES_NAME}")
    guess = guessed_kind(NOTES_NAME, NOTES)
    assert kind.value == guess == "interview" and kind.format_func(guess) == "interview (guessed)"
    assert set(kind.options) == {"interview (guessed)", "fieldnotes", "diary", "panel"}
    assert "plain text · speakers Maria, Dev" in shown(at.caption)
    # each bad file once, by the name it was uploaded with
    assert len(said_about(at, TORN_NAME)) == len(said_about(at, EMPTY_NAME)) == 1 and len(at.error) == 2
    assert "the CSV is malformed" in said_about(at, TORN_NAME)[0]
    assert said_about(at, EMPTY_NAME)[0].startswith(f"{EMPTY_NAME}: the table has a header but no rows")
    # the short survey needs its text column: a warning in app words, until it is chosen
    (short,) = [w for w in shown(at.warning) if SHORT_NAME in w]
    assert "Choose the open-ended text column(s). Columns: resp, area, answer." in short
    assert_app_words(shown(at.error) + [short])
    next(m for m in at.multiselect if m.key.endswith(".text")).set_value(["answer"])
    next(m for m in at.selectbox if m.key.endswith(".id")).set_value("resp").run()
    assert not [w for w in shown(at.warning) if SHORT_NAME in w]
    # the guess is wrong: these are field notes
    kind.set_value("fieldnotes").run()
    assert "plain text · no speakers: paragraphs" in shown(at.caption)
    assert at.button(key="upload.import").label == "Import 2 file(s)"
    at.button(key="upload.import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # after it: each bad file once again, in a fresh page (the drop zone is empty), and not kept
    assert not [s for s in at.selectbox if s.key.startswith("upload.kind.")]
    assert len(said_about(at, TORN_NAME)) == len(said_about(at, EMPTY_NAME)) == 1 and len(at.error) == 2
    assert_app_words(shown(at.error), uploads(db))
    assert sorted(p.name for p in uploads(db).iterdir()) == sorted([NOTES_NAME, SHORT_NAME])
    results = next(d for d in at.dataframe if "status" in d.value.columns).value.set_index("file")
    assert results.loc[[NOTES_NAME, SHORT_NAME, TORN_NAME, EMPTY_NAME], "status"].tolist() == [
        "added", "added", "failed", "failed"]
    with Workspace(db, read_only=True) as ws:
        docs = ws.documents().set_index("title")
        notes = docs[docs["source_path"] == str(uploads(db) / NOTES_NAME)].iloc[0]
        segments = ws.segments(document_id=int(notes["document_id"]))
        people = ws.participants()
    assert notes["kind"] == "fieldnotes"
    # field notes are paragraphs with no speakers: Maria and Dev are quoted, not participants
    paragraphs = [p for p in NOTES.decode("cp1252").replace("\r\n", "\n").split("\n\n") if p.strip()]
    assert len(segments) == len(paragraphs) == 4 and segments["speaker"].isna().all()
    assert segments["text"].iloc[2].startswith("Maria: I\u2019ve been coming")
    assert not {"Maria", "Dev"} & set(people["external_id"])
    assert set(people["external_id"]) == {"X1", "X2"}  # the short survey, with the column chosen


def test_a_file_that_fails_at_import_leaves_the_uploads_folder_as_it_was(db, monkeypatch):
    """A storage failure mid-import (the write of the documents raises): the file is reported once,
    its copy is not kept, and the earlier file of the same name is back as it was."""
    import insight.ingest

    first = b"Interviewer: How is the flat?\r\nP4: Cold. The boiler went again in January.\r\n"
    at = upload_page([("P4 interview.txt", first)])
    at.button(key="upload.import").click().run()
    assert (uploads(db) / "P4 interview.txt").read_bytes() == first

    real = insight.ingest._insert_frame

    def full_disk(con, table, rows):
        if table == "documents" and any(r["source_path"].endswith("P4 interview.txt") for r in rows):
            raise OSError(28, "No space left on device")
        return real(con, table, rows)

    monkeypatch.setattr(insight.ingest, "_insert_frame", full_disk)
    second = first + b"Interviewer: And now?\r\nP4: Still cold.\r\n"
    at = upload_page([("P4 interview.txt", second), ("P4 interview.txt", second), ("P5.txt", b"P5: Fine.\n")])
    assert shown(at.error) == ["P4 interview.txt: another file in this batch has the same name. "
                                           "Rename one of them and upload it again."]
    at.button(key="upload.import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    failed = said_about(at, "P4 interview.txt")
    assert len(failed) == 2  # the import failure and the duplicate, each once
    assert any("could not be stored (OSError" in m for m in failed)
    assert_app_words(failed, uploads(db))
    assert (uploads(db) / "P4 interview.txt").read_bytes() == first  # not the half-imported one
    assert sorted(p.name for p in uploads(db).iterdir()) == ["P4 interview.txt", "P5.txt"]
    with Workspace(db, read_only=True) as ws:
        assert sorted(ws.documents()["title"]) == ["P4 interview", "P5"]


def test_preview_reads_without_storing_and_field_notes_are_prose(tmp_path):
    """The library call behind the page (no database): the same reader as ingest, a kind given or
    guessed, a problem instead of an exception; a Word file the user calls field notes loses its
    'speakers' too."""
    from conftest import make_docx

    lines = ["Visit to the food bank, Friday.", "Volunteer: We ran out of nappies by eleven.",
             "Parent: This is the third week.", "Volunteer: The council grant ended in March."]
    path = make_docx(tmp_path / "food bank.docx", lines)
    guessed = Workspace.preview_file(path)
    assert (guessed.reader, guessed.kind, guessed.documents) == ("docx", "interview", 1)
    assert guessed.speakers == ["Volunteer", "Parent"]
    told = Workspace.preview_file(path, kind="fieldnotes")
    assert (told.kind, told.speakers) == ("fieldnotes", [])
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8\xff")
    assert Workspace.preview_file(tmp_path / "scan.jpg").problem.startswith(f"{tmp_path / 'scan.jpg'}: no reader")
    short = tmp_path / "poll.csv"
    short.write_bytes(SHORT)
    problem = Workspace.preview_file(short).problem
    assert "(--text-col, repeatable)" in problem  # the CLI's words; the page drops the brackets
    assert Workspace.preview_file(short, text_cols=["answer"]).kind == "panel"
