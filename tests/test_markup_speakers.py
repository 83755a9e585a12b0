"""Researchers' files as they come: HTML in spreadsheet cells, Markdown in notes, diaries whose
lines open with days, and generic speaker labels (Resident, Speaker 1) that name a role in one
document, not one person across the study; and the interviewer's turns left out of auto-coding
as they are of themes."""

import json

import pytest
from click.testing import CliRunner

from conftest import check_offsets
from insight.cli import main
from insight.readers import reader_for
from insight.readers.base import IngestOptions, find_turns
from insight.readers.markup import html_to_text, markdown_to_text


def read(path, **options):
    return reader_for(path).read(path, path.read_bytes(), IngestOptions(**options))


def spoken(text, turns):
    return [(t.speaker, text[t.start:t.end]) for t in turns]


def participants(ws):
    return {r[0]: r[1] for r in ws.con.execute("SELECT external_id, name FROM participants").fetchall()}


def turns_by_document(ws):
    """``{file name: [(speaker, participant external id, segment text)]}`` from the database."""
    rows = ws.con.execute(
        "SELECT d.source_path, g.speaker, p.external_id, g.text FROM segments g JOIN documents d USING (document_id) "
        "LEFT JOIN participants p ON p.participant_id = g.participant_id ORDER BY g.segment_id").fetchall()
    out = {}
    for path, speaker, pid, text in rows:
        out.setdefault(path.replace("\\", "/").rsplit("/", 1)[-1], []).append((speaker, pid, text))
    return out


# ---------------------------------------------------------------------------------------------
# Diaries: days and times of day are not people

DIARY = (
    "Week 1 diary, kept for the study\r\n\r\n"
    "Monday: Went to the housing office. Queue out the door, gave up after an hour.\r\n"
    "Tuesday 3rd: Rang them instead. 40 minutes on hold, then cut off.\r\n"
    "Morning: Kids to school, then the food bank.\r\n"
    "Wednesday 4 March: Letter came. Still no date for the repair.\r\n"
    "Note: the damp is worse in the back room.\r\n"
    "May: nothing much this month.\r\n"
)


def test_a_diary_of_days_has_entries_and_no_speakers(tmp_path):
    path = tmp_path / "diary_week1.txt"
    path.write_bytes(DIARY.encode("cp1252"))
    doc = read(path).documents[0]
    assert doc.kind == "fieldnotes"
    assert spoken(doc.text, doc.turns) == [
        (None, "Week 1 diary, kept for the study"),
        (None, "Monday: Went to the housing office. Queue out the door, gave up after an hour."),
        (None, "Tuesday 3rd: Rang them instead. 40 minutes on hold, then cut off."),
        (None, "Morning: Kids to school, then the food bank."),
        (None, "Wednesday 4 March: Letter came. Still no date for the repair.\n"
               "Note: the damp is worse in the back room."),
        (None, "May: nothing much this month."),
    ]


def test_names_that_are_also_months_stay_speakers_outside_diaries():
    text = "May: I moved here in the spring.\nJan: Same for me.\nMay: The bins were the first thing.\n"
    assert [s for s, _ in spoken(text, find_turns(text))] == ["May", "Jan", "May"]


def test_numbered_prose_labels_are_not_speakers():
    text = "Day 1: arrived late.\nDay 2: the hub was shut.\nDay 3: open again.\nFigure 2: the queue at 9am.\n"
    assert all(t.speaker is None for t in find_turns(text))


def test_diary_participant_comes_from_the_manifest_never_from_a_weekday(ws, tmp_path):
    folder = tmp_path / "diaries"
    folder.mkdir()
    (folder / "diary_week1.txt").write_bytes(DIARY.encode("cp1252"))
    (folder / "ingest.yaml").write_text("files:\n  diary_week1.txt: {kind: diary, participant: D04}\n")
    report = ws.ingest([folder], study="s")
    assert not report.failed
    assert participants(ws) == {"D04": None}
    rows = turns_by_document(ws)["diary_week1.txt"]
    assert {pid for _, pid, _ in rows} == {"D04"} and {s for s, _, _ in rows} == {None}
    assert ws.con.execute("SELECT p.external_id FROM documents d JOIN participants p USING (participant_id)"
                          ).fetchall() == [("D04",)]


# ---------------------------------------------------------------------------------------------
# Generic speaker labels: a role in one document

ESTATE_A = ("Field notes, Eastgate estate, 12 March\n\n"
            "Interviewer: How long have you lived here?\n"
            "Resident: Nine years. The lift has been broken since March.\n"
            "Interviewer: Who did you call?\n"
            "Resident: Everyone. Nobody came.\n")
ESTATE_B = ("Interviewer: What about the bins?\r\n"
            "Resident: Collected every other week, if that.\r\n"
            "Interviewer: And the council?\r\n"
            "Resident: They say it is the contractor.\r\n")


def test_resident_in_two_files_is_two_participants_and_the_report_says_so(ws, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "estate_a.txt").write_text(ESTATE_A, encoding="utf-8")
    (folder / "estate_b.txt").write_bytes(b"\xef\xbb\xbf" + ESTATE_B.encode("utf-8"))
    (folder / "P07_estate_c.txt").write_text("Interviewer: And you?\nResident: Same here, the lift.\n")
    (folder / "estate_d.txt").write_text("Moderator: Anything else?\nResident: The lighting on the stairs.\n")
    (folder / "ingest.yaml").write_text("files:\n  estate_d.txt: {participant: R12}\n")
    report = ws.ingest([folder], study="s")
    assert not report.failed
    assert participants(ws) == {"estate_a:Resident": None, "estate_b:Resident": None, "P07": None, "R12": None}
    by_doc = turns_by_document(ws)
    assert by_doc["estate_a.txt"] == [
        (None, None, "Field notes, Eastgate estate, 12 March"),
        ("Interviewer", None, "How long have you lived here?"),
        ("Resident", "estate_a:Resident", "Nine years. The lift has been broken since March."),
        ("Interviewer", None, "Who did you call?"),
        ("Resident", "estate_a:Resident", "Everyone. Nobody came."),
    ]
    assert [pid for s, pid, _ in by_doc["estate_b.txt"] if s == "Resident"] == ["estate_b:Resident"] * 2
    assert by_doc["P07_estate_c.txt"][1][:2] == ("Resident", "P07")
    assert by_doc["estate_d.txt"] == [("Moderator", None, "Anything else?"),
                                      ("Resident", "R12", "The lighting on the stairs.")]
    notes = {f.path.rsplit("/", 1)[-1]: f.warnings for f in report.files}
    assert any(n.startswith("Resident in estate_a.txt: a participant of this document only (estate_a:Resident)")
               for n in notes["estate_a.txt"])
    assert "Resident in P07_estate_c.txt: participant P07, from the file name." in notes["P07_estate_c.txt"]
    assert "Resident in estate_d.txt: participant R12, as participant: says." in notes["estate_d.txt"]
    # the document's participant is its resident's
    docs = dict(ws.con.execute("SELECT d.title, p.external_id FROM documents d LEFT JOIN participants p "
                               "USING (participant_id)").fetchall())
    assert docs == {"estate a": "estate_a:Resident", "estate b": "estate_b:Resident", "P07 estate c": "P07",
                    "estate d": "R12"}
    assert check_offsets(ws) == 5 + 4 + 2 + 2


def test_named_speakers_are_still_one_participant_across_files(ws, tmp_path):
    (tmp_path / "one.txt").write_text("Interviewer: Hello.\nGareth: The buses.\n")
    (tmp_path / "two.txt").write_text("Interviewer: Again.\nGareth: Still the buses.\n")
    ws.ingest([tmp_path / "one.txt", tmp_path / "two.txt"], study="s")
    assert participants(ws) == {"Gareth": "Gareth"}


def test_speaker_numbers_and_bracketed_guests(ws, tmp_path):
    podcast = tmp_path / "episode_4.txt"
    podcast.write_text("[00:00:05] Speaker 1: Welcome back.\n[00:00:09] Speaker 2: Thanks for having me.\n"
                       "[00:01:02] Speaker 1: So, the library.\n[00:01:10] Speaker 2: It saved me, honestly.\n")
    panel = tmp_path / "panel_event.md"
    panel.write_text("Host: Our guests tonight.\n\n[Guest 1]: I run the food bank.\n\n[Guest 2]: I'm a councillor.\n\n"
                     "[Guest 2]: And a resident.\n")
    doc = read(podcast).documents[0]
    assert spoken(doc.text, doc.turns) == [("Speaker 1", "Welcome back."), ("Speaker 2", "Thanks for having me."),
                                           ("Speaker 1", "So, the library."), ("Speaker 2", "It saved me, honestly.")]
    assert [t.start_ms for t in doc.turns] == [5000, 9000, 62000, 70000]
    md = read(panel).documents[0]
    assert spoken(md.text, md.turns) == [("Host", "Our guests tonight."), ("Guest 1", "I run the food bank."),
                                         ("Guest 2", "I'm a councillor."), ("Guest 2", "And a resident.")]
    other = tmp_path / "episode_5.txt"
    other.write_text("Speaker 1: Another week.\nSpeaker 2: Another guest.\n")
    report = ws.ingest([podcast, panel, other], study="s")
    assert not report.failed
    assert set(participants(ws)) == {"episode_4:Speaker 1", "episode_4:Speaker 2", "panel_event:Guest 1",
                                     "panel_event:Guest 2", "episode_5:Speaker 1", "episode_5:Speaker 2"}
    assert ws.con.execute("SELECT count(*) FROM segments WHERE speaker = 'Host' AND participant_id IS NULL"
                          ).fetchone()[0] == 1


# ---------------------------------------------------------------------------------------------
# HTML in spreadsheet cells

def test_html_in_csv_cells_is_read_as_the_text_it_shows(ws, tmp_path):
    path = tmp_path / "web_survey_export.csv"
    rows = [
        "respondent_id,ward,q1,codes_q1",
        '101,Arts &amp; Crafts Quarter,"It&#39;s always the bins &#8212; every week.<br>Nobody answers the phone.",'
        'Bins',
        '102,Eastgate,"<p>The <i>damp</i> is back.</p><p>Second winter&nbsp;running.</p>",Damp',
        '103,Eastgate,"Waited <5 minutes, then 5 * 3 = 15 more. R&D team <inaudible> said 2*3*4.",',
        "104,Millbrook,,",
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    result = read(path, id_col="respondent_id", text_cols=["q1"], attr_cols=["ward"], code_cols=["codes_q1"],
                  coder="Ann")
    texts = [d.text[t.start:t.end] for d in result.documents for t in d.turns]
    assert texts == [
        "It's always the bins — every week.\nNobody answers the phone.",
        "The damp is back.\n\nSecond winter running.",
        "Waited <5 minutes, then 5 * 3 = 15 more. R&D team <inaudible> said 2*3*4.",
    ]
    assert any("3 cell(s) held HTML" in w for w in result.warnings)  # two answers and one ward
    assert result.participants[0].attributes == {"ward": "Arts & Crafts Quarter"}
    report = ws.ingest([path], study="s", id_col="respondent_id", text_cols=["q1"], attr_cols=["ward"],
                       code_cols=["codes_q1"], coder="Ann")
    assert not report.failed
    stored = [r[0] for r in ws.con.execute("SELECT text FROM segments ORDER BY segment_id").fetchall()]
    assert stored == texts
    coded = ws.con.execute("SELECT c.code, substr(d.text, c.start + 1, c.\"end\" - c.start) FROM codings c "
                           "JOIN documents d USING (document_id) ORDER BY c.coding_id").fetchall()
    assert coded == [("Bins", texts[0]), ("Damp", texts[1])]
    check_offsets(ws)


@pytest.mark.parametrize("raw, shown", [
    ("Line one<BR />Line two", "Line one\nLine two"),
    ("<ul><li>bins</li><li>buses</li></ul>", "- bins\n- buses"),
    ('<span style="color:red">urgent</span> &amp; <a href="http://x.org">here</a>', "urgent & here"),
    ("&lt;b&gt; is how you write bold", "<b> is how you write bold"),
    ("AT&T, Q&A, &notice; and &copy; 2026", "AT&T, Q&A, &notice; and © 2026"),
    ("a < b and c > d; x<y", "a < b and c > d; x<y"),
    ("<name redacted> said so", "<name redacted> said so"),
])
def test_html_to_text_leaves_what_is_not_markup(raw, shown):
    assert html_to_text(raw) == shown


# ---------------------------------------------------------------------------------------------
# Markdown notes

NOTE = """# Visit to the **Hollins Park** hub

*Tuesday 10 February 2026, 10.20am.* Eleven people in the hall, most **over sixty**.
The sign says _Everyone welcome_; see [the council page](https://example.org/hubs) &amp; the
[rota][1]. Coffee was 5 * 3 pence cheaper than 2*3*4 places, a*b and c*d; it took <5 minutes.
Write to jane_doe@example.org or <jane@example.org>.

## Reflections

- The urn volunteer knows *everyone*
- Nobody counts this<br>in any return

> “We’re the bit they can reach.”
"""


def test_a_markdown_note_is_stored_as_the_text_it_shows(ws, tmp_path):
    path = tmp_path / "visit.md"
    path.write_text(NOTE, encoding="utf-8")
    doc = read(path).documents[0]
    assert doc.title == "Visit to the Hollins Park hub"
    assert spoken(doc.text, doc.turns) == [
        (None, "Tuesday 10 February 2026, 10.20am. Eleven people in the hall, most over sixty.\n"
               "The sign says Everyone welcome; see the council page & the\n"
               "[rota][1]. Coffee was 5 * 3 pence cheaper than 2*3*4 places, a*b and c*d; it took <5 minutes.\n"
               "Write to jane_doe@example.org or jane@example.org."),
        (None, "- The urn volunteer knows everyone\n- Nobody counts this\nin any return"),
        (None, "“We’re the bit they can reach.”"),
    ]
    assert "Reflections" in doc.text and "#" not in doc.text and "**" not in doc.text
    ws.ingest([path], study="s")
    assert ws.con.execute("SELECT text FROM documents").fetchone()[0] == doc.text
    assert check_offsets(ws) == 3


def test_a_markdown_transcript_keeps_its_speakers():
    out = markdown_to_text("**Interviewer:** How was it?\n**Resident**: *Awful*, honestly.\n\n"
                           "[Guest 2]: Yes.\n\n    indented code *kept*\n")
    assert out.text == ("Interviewer: How was it?\nResident: Awful, honestly.\n\n[Guest 2]: Yes.\n\n"
                        "indented code *kept*\n")
    assert [s for s, _ in spoken(out.text, find_turns(out.text))] == ["Interviewer", "Resident", "Guest 2"]


def test_plain_text_files_are_not_read_as_markdown(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Costs rose 2*3 times; *not* emphasis here, and &amp; stays as typed.\n")
    assert read(path).documents[0].text == "Costs rose 2*3 times; *not* emphasis here, and &amp; stays as typed.\n"


# ---------------------------------------------------------------------------------------------
# The interviewer's turns: left out of auto-coding and themes alike

BOOK = """\
name: estates
codes:
  - name: Lifts
    definition: Lifts in the block.
    examples: ["The lift is broken again"]
    keywords: [lift]
"""


@pytest.fixture
def estates(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    from pipelines.embed import get_embedder
    from pipelines.nlp import get_nlp

    get_embedder.cache_clear()
    get_nlp.cache_clear()
    (tmp_path / "estate_a.txt").write_text(ESTATE_A + "Interviewer: And the lift now?\nResident: Still broken.\n")
    (tmp_path / "estate_b.txt").write_text(ESTATE_B + "Interviewer 2: Is the lift working?\n"
                                                      "Resident: The lift works.\n")
    ws.ingest([tmp_path / "estate_a.txt", tmp_path / "estate_b.txt"], study="s")
    (tmp_path / "book.yaml").write_text(BOOK)
    ws.load_codebook(tmp_path / "book.yaml")
    yield ws
    get_embedder.cache_clear()


def asked(ws) -> set[int]:
    """The interviewer's segments, by their label as written in the files."""
    return {r[0] for r in ws.con.execute(
        "SELECT segment_id FROM segments WHERE speaker IN ('Interviewer', 'Interviewer 2')").fetchall()}


def test_auto_coding_units_leave_the_interviewer_out_unless_asked(estates):
    from insight.coding.units import load_units

    everything = {r[0] for r in estates.con.execute("SELECT segment_id FROM segments").fetchall()}
    assert len(asked(estates)) == 6 and len(everything) == 13
    units = load_units(estates.con, None, need_vectors=False, need_lemmas=False)
    assert set(units.segment_ids.tolist()) == everything - asked(estates)
    units = load_units(estates.con, None, need_vectors=False, need_lemmas=False, include_interviewer=True)
    assert set(units.segment_ids.tolist()) == everything


def test_code_suggests_nothing_on_interviewer_turns_and_a_rerun_clears_old_ones(estates):
    def suggested():
        return {r[0] for r in estates.con.execute(
            "SELECT segment_id FROM coding_segments WHERE coder = 'auto:rules'").fetchall()}

    lifts = {r[0] for r in estates.con.execute("SELECT segment_id FROM segments WHERE text ILIKE '%lift%'").fetchall()}
    estates.code(codebook="estates", methods=["rules"], include_interviewer=True)
    assert suggested() == lifts and lifts & asked(estates)
    result = estates.code(codebook="estates", methods=["rules"])
    assert suggested() == lifts - asked(estates)
    assert result["interviewer_units_left_out"] == 6 and result["units"] == 13 - 6


def test_themes_leave_out_the_same_turns_as_auto_coding(estates):
    from insight.coding.units import load_units
    from insight.embeddings import embed_segments
    from insight.themes.run import _segments
    from pipelines.embed import get_embedder

    embedder = get_embedder()
    embed_segments(estates.con, study_id=None, embedder=embedder)
    themes = set(_segments(estates.con, None, embedder.name, include_interviewer=False)["segment_id"].tolist())
    units = load_units(estates.con, None, need_vectors=False, need_lemmas=False)
    assert themes == set(units.segment_ids.tolist())
    assert not themes & asked(estates)


def test_cli_code_says_what_it_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_MODEL", "hashing")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    (tmp_path / "estate_a.txt").write_text(ESTATE_A)
    (tmp_path / "book.yaml").write_text(BOOK)
    db = str(tmp_path / "cli.duckdb")
    runner = CliRunner()
    assert runner.invoke(main, ["--db", db, "ingest", str(tmp_path / "estate_a.txt")]).exit_code == 0
    assert runner.invoke(main, ["--db", db, "codebook", "load", str(tmp_path / "book.yaml")]).exit_code == 0
    result = runner.invoke(main, ["--db", db, "code", "--methods", "rules"])
    assert result.exit_code == 0, result.output
    assert "Coded 3 segments with estates@1 (2 interviewer turns left out; --include-interviewer codes them):" \
        in result.output
    result = runner.invoke(main, ["--db", db, "code", "--methods", "rules", "--include-interviewer", "--json"])
    assert json.loads(result.stdout)["units"] == 5
