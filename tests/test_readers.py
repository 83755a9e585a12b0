"""Every reader, on small files the tests make, including a bad file of each kind."""

import json
from pathlib import Path

import pytest

from conftest import make_blank_pdf, make_docx, make_pdf
from insight.errors import ColumnNotFound, ReaderError, UnsupportedFormat
from insight.readers import reader_for
from insight.readers.base import IngestOptions, find_turns


def read(path: Path, **options):
    return reader_for(path).read(path, path.read_bytes(), IngestOptions(**options))


def spoken(doc):
    return [(t.speaker, doc.text[t.start:t.end]) for t in doc.turns]


@pytest.mark.parametrize("label, speaker, ms", [
    ("Interviewer:", "Interviewer", None),
    ("P3:", "P3", None),
    ("JANE DOE:", "JANE DOE", None),
    ("[00:01:23] Jane:", "Jane", 83000),
    ("00:01:23 Jane Doe:", "Jane Doe", 83000),
    ("Jane (00:01:23):", "Jane", 83000),
    ("**Interviewer:**", "Interviewer", None),
])
def test_speaker_label_forms(label, speaker, ms):
    other = "Someone Else:"
    text = f"{label} First thing said.\n{other} A reply.\n{label} And more,\nover two lines.\n"
    turns = find_turns(text)
    assert [t.speaker for t in turns] == [speaker, "Someone Else", speaker]
    assert text[turns[2].start:turns[2].end] == "And more,\nover two lines."
    assert turns[0].start_ms == ms


def test_prose_without_speakers_becomes_paragraphs():
    text = "# Notes\n\nWe arrived at ten.\nIt was cold.\n\nNote: the hub was busy.\n\n\nLater the rain stopped.\n"
    turns = find_turns(text)
    assert [text[t.start:t.end] for t in turns] == [
        "We arrived at ten.\nIt was cold.", "Note: the hub was busy.", "Later the rain stopped."]
    assert all(t.speaker is None for t in turns)


def test_crlf_and_lf_give_the_same_segments(tmp_path):
    body = "Interviewer: How was it?\nP1: Fine, um, mostly.\n\nThe bins though.\nInterviewer: Right.\n"
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_bytes(body.encode())
    b.write_bytes(body.replace("\n", "\r\n").encode())
    assert spoken(read(a).documents[0]) == spoken(read(b).documents[0])


def test_encodings_utf8_bom_and_cp1252_fallback(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffP1: café £5\nP2: ok\n".encode("utf-8"))
    result = read(bom)
    assert result.encoding == "utf-8-sig"
    assert spoken(result.documents[0])[0] == ("P1", "café £5")
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes("P1: It cost £40 – honestly\nP2: ok\n".encode("cp1252"))
    result = read(legacy)
    assert result.encoding == "cp1252"
    assert "£40 – honestly" in result.documents[0].text
    assert result.warnings and "cp1252" in result.warnings[0] and "line 1" in result.warnings[0]


def test_empty_and_binary_text_files_are_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ReaderError, match="empty"):
        read(empty)
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(ReaderError, match="not a text file"):
        read(binary)


def test_unsupported_extension_lists_known_ones(tmp_path):
    with pytest.raises(UnsupportedFormat, match=r"\.docx"):
        reader_for(tmp_path / "a.mp3")


def test_docx_paragraphs_speakers_and_comments(tmp_path):
    path = make_docx(tmp_path / "i.docx", [
        "Interview with P4",
        "Interviewer: Tell me about the repairs.",
        "P4: The damp came back in the bedroom, it always does.",
        "Interviewer: And the council?",
        "P4: They sent someone in the end.",
    ], comments=[(2, "Priya Shah", "Damp and mould"), (4, "Priya Shah", "Housing repairs")])
    doc = read(path).documents[0]
    assert [s for s, _ in spoken(doc)][1:] == ["Interviewer", "P4", "Interviewer", "P4"]
    codes = {(c.code, c.coder, doc.text[c.start:c.end]) for c in doc.codings}
    assert codes == {
        ("Damp and mould", "Priya Shah", "P4: The damp came back in the bedroom, it always does."),
        ("Housing repairs", "Priya Shah", "P4: They sent someone in the end."),
    }


def test_corrupt_docx(tmp_path):
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ReaderError, match="not a valid .docx"):
        read(bad)
    good = make_docx(tmp_path / "g.docx", ["P1: hello", "P2: hi"])
    truncated = tmp_path / "t.docx"
    truncated.write_bytes(good.read_bytes()[:400])
    with pytest.raises(ReaderError):
        read(truncated)


def test_vtt_voice_tags_merge_into_turns(tmp_path):
    path = tmp_path / "z.vtt"
    path.write_text(
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\n<v Interviewer>Thanks for joining.\n\n"
        "2\n00:00:03.500 --> 00:00:05.000\n<v Aisha Begum>No problem.\n\n"
        "3\n00:00:05.000 --> 00:01:07.250\n<v Aisha Begum>The buses are the thing.</v>\n")
    doc = read(path).documents[0]
    assert spoken(doc) == [("Interviewer", "Thanks for joining."), ("Aisha Begum", "No problem. The buses are the thing.")]
    assert [t.start_ms for t in doc.turns] == [1000, 3500]
    assert doc.turns[1].end_ms == 67250


def test_bad_vtt(tmp_path):
    path = tmp_path / "bad.vtt"
    path.write_text("1\n00:00:01.000 --> 00:00:03.000\nhello\n")
    with pytest.raises(ReaderError, match="WEBVTT"):
        read(path)


def test_srt_name_prefixes_and_continuations(tmp_path):
    path = tmp_path / "s.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nInterviewer: How long have you lived here?\n\n"
        "2\n00:00:02,500 --> 00:00:04,000\nGareth: Twenty years.\n\n"
        "3\n00:00:04,000 --> 00:00:06,000\nMaybe more.\n\n"
        "4\n00:00:06,000 --> 00:00:07,000\n[Interviewer]: Wow.\n")
    doc = read(path).documents[0]
    assert spoken(doc) == [("Interviewer", "How long have you lived here?"), ("Gareth", "Twenty years. Maybe more."),
                           ("Interviewer", "Wow.")]
    assert doc.turns[1].start_ms == 2500


def test_bad_srt_names_the_line(tmp_path):
    path = tmp_path / "bad.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nHi\n\n2\n00:00:0x,000 --> 00:00:04,000\nYo\n")
    with pytest.raises(ReaderError) as info:
        read(path)
    assert info.value.line == 5


def test_pdf_text_layer_and_scanned_pdf(tmp_path):
    doc = read(make_pdf(tmp_path / "t.pdf", ["Interviewer: How are you?", "P2: Tired, to be honest."])).documents[0]
    assert ("P2", "Tired, to be honest.") in spoken(doc)
    with pytest.raises(ReaderError, match="no text layer"):
        read(make_blank_pdf(tmp_path / "scan.pdf"))
    fake = tmp_path / "fake.pdf"
    fake.write_text("hello")
    with pytest.raises(ReaderError, match="not a PDF"):
        read(fake)


PANEL = (
    "respondent_id,ward,age_band,q1,q2,codes_q2\n"
    "R1,Eastgate,25-34,\"The bins, again, were missed\",More buses please,Getting around\n"
    "R2,Riverside,65-74,,\"Answer the phone! I waited an hour\",Phone; Trust\n"
    "R3,Eastgate,75+,Fine,,\n"
)


def test_csv_survey_shape(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(PANEL)
    result = read(path, text_cols=["q1", "q2"], id_col="respondent_id", attr_cols=["ward", "age_band"],
                  code_cols=["codes_q2"], coder="Priya")
    assert [p.external_id for p in result.participants] == ["R1", "R2", "R3"]
    assert result.participants[1].attributes == {"ward": "Riverside", "age_band": "65-74"}
    r1, r2, r3 = result.documents
    assert [(t.field, r1.text[t.start:t.end]) for t in r1.turns] == [("q1", "The bins, again, were missed"),
                                                                    ("q2", "More buses please")]
    assert [(r2.text[c.start:c.end], c.code, c.coder) for c in r2.codings] == [
        ("Answer the phone! I waited an hour", "Phone", "Priya"), ("Answer the phone! I waited an hour", "Trust", "Priya")]
    assert r3.turns[0].field == "q1" and not r3.codings


def test_csv_missing_column_lists_the_columns(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(PANEL)
    with pytest.raises(ColumnNotFound) as info:
        read(path, text_cols=["q9"])
    assert "'respondent_id'" in str(info.value) and "'codes_q2'" in str(info.value)


def test_code_col_needs_a_coder(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(PANEL)
    with pytest.raises(ReaderError, match="--coder"):
        read(path, text_cols=["q2"], code_cols=["codes_q2"])


def test_csv_guessing_reports_what_it_chose(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text("id,ward,answer\n" + "".join(
        f"{i},{['A', 'B'][i % 2]},this is a fairly long open answer number {i} about the bins\n" for i in range(10)))
    result = read(path)
    assert "answer" in result.warnings[-1] and "guessed" in result.warnings[-1]
    assert len(result.documents) == 10 and result.participants[0].attributes == {"ward": "A"}


def test_malformed_and_binary_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,"unclosed\n2,3\n')
    with pytest.raises(ReaderError):
        read(bad, text_cols=["b"])
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ReaderError, match="not a text file"):
        read(binary)


def test_transcript_table_shape(tmp_path):
    path = tmp_path / "turns.csv"
    path.write_text("speaker,time,text\nInterviewer,00:00:05,Hello\nP1,12.5,Hi there\nP1,00:15,More\n")
    doc = read(path, speaker_col="speaker", time_col="time", text_cols=["text"]).documents[0]
    assert spoken(doc) == [("Interviewer", "Hello"), ("P1", "Hi there"), ("P1", "More")]
    assert [t.start_ms for t in doc.turns] == [5000, 12500, 15000]


def test_transcript_times_as_people_type_them_and_one_bad_time_costs_only_its_time(tmp_path):
    """Bracketed and parenthesised times, commas before milliseconds, blank cells, a typo and a
    stray word, Windows line endings: every turn goes in, the unreadable times are named."""
    path = tmp_path / "turns.csv"
    rows = [("Interviewer", "[00:00:00]", "Thanks for coming."), ("Speaker 1", "[00:03:09]", "No problem."),
            ("Speaker 1", "(5:00)", "It was the bins, mostly."), ("Interviewer", "", "Go on."),
            ("Speaker 1", "01::05:00", "Three weeks."), ("Speaker 2", "00:06:01,250", "Four, really."),
            ("Speaker 2", "later", "Then they came."), ("Interviewer", "421", "Thank you.")]
    path.write_bytes(("speaker,time,text\r\n" + "".join(f'{a},"{b}","{c}"\r\n' for a, b, c in rows)).encode())
    result = read(path, speaker_col="speaker", time_col="time", text_cols=["text"])
    doc = result.documents[0]
    assert spoken(doc) == [(a, c) for a, _, c in rows]
    assert [t.start_ms for t in doc.turns] == [0, 189000, 300000, None, None, 361250, None, 421000]
    warning = " ".join(result.warnings)
    assert "2 time(s) could not be read" in warning and "row 6 ('01::05:00')" in warning and "row 8 ('later')" in warning


def test_xlsx_survey_and_broken_xlsx(tmp_path):
    import pandas as pd

    path = tmp_path / "panel.xlsx"
    pd.DataFrame({"id": ["A", "B"], "ward": ["X", "Y"], "q": ["Too many potholes on my road", "Library is great"]}) \
        .to_excel(path, index=False)
    result = read(path, text_cols=["q"], id_col="id", attr_cols=["ward"])
    assert [d.title for d in result.documents] == ["A", "B"]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ReaderError, match="xlsx"):
        read(broken, text_cols=["q"])


def test_diary_csv_and_json(tmp_path):
    path = tmp_path / "diary.csv"
    path.write_text("participant_id,entry_date,entry\nD01,2026-04-06,Rained all day.\nD02,07/04/2026,Bus late again\n")
    docs = read(path, kind="diary", participant_col="participant_id", date_col="entry_date", text_cols=["entry"]).documents
    assert [(d.participant, str(d.date), d.kind) for d in docs] == [("D01", "2026-04-06", "diary"),
                                                                    ("D02", "2026-04-07", "diary")]
    js = tmp_path / "diary.json"
    js.write_text(json.dumps([{"participant_id": "D01", "entry_date": "2026-04-08", "entry": "Went to the hub 😊"}]))
    doc = read(js).documents[0]
    assert doc.participant == "D01" and "😊" in doc.text and str(doc.date) == "2026-04-08"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"participant_id": "D01",')
    with pytest.raises(ReaderError, match="not valid JSON"):
        read(bad)
    baddate = tmp_path / "baddate.csv"
    baddate.write_text("participant_id,entry_date,entry\nD01,someday,Hi\n")
    with pytest.raises(ReaderError) as info:
        read(baddate, kind="diary", participant_col="participant_id", date_col="entry_date", text_cols=["entry"])
    assert info.value.row == 2


def test_a_comment_listing_several_codes_gives_one_coding_per_code(tmp_path):
    path = make_docx(tmp_path / "c.docx", ["P1: It felt calm, and strange, and beautiful.", "P1: Nothing else."],
                     comments=[(0, "Author", "serenity;  beauty ; ambiguity;"), (1, "Author", "none")])
    doc = read(path).documents[0]
    got = sorted((c.code, doc.text[c.start:c.end]) for c in doc.codings)
    assert got == [("ambiguity", "P1: It felt calm, and strange, and beautiful."),
                   ("beauty", "P1: It felt calm, and strange, and beautiful."),
                   ("none", "P1: Nothing else."),
                   ("serenity", "P1: It felt calm, and strange, and beautiful.")]


def test_real_word_comments_with_several_codes(tmp_path):
    """The games-as-art study's passage coding in Word: 199 comments, 132 of them listing several codes."""
    from conftest import ROOT

    path = ROOT.parent / "shared" / "data" / "games-as-art" / "bopp_test_input.docx"
    if not path.exists():
        pytest.skip("../shared is not here")
    from docx import Document

    comments = [c.text for c in Document(str(path)).comments]
    doc = read(path).documents[0]
    assert len(comments) == 199 and sum(";" in c for c in comments) == 132
    want = sum(len({" ".join(p.split()) for p in c.split(";") if p.strip()}) for c in comments)
    assert len(doc.codings) == want > 199
    assert not any(";" in c.code for c in doc.codings)
    assert all(doc.text[c.start:c.end].strip() for c in doc.codings)


def _comment_passages(path) -> dict[str, str]:
    """Each Word comment's anchored text, read straight from ``word/document.xml`` (independent of
    the reader): the text runs between its ``commentRangeStart`` and ``commentRangeEnd``."""
    import zipfile

    from lxml import etree

    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    root = etree.fromstring(zipfile.ZipFile(path).read("word/document.xml"))
    open_ids: set[str] = set()
    text: dict[str, list[str]] = {}
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if event == "start" and el.tag == w + "commentRangeStart":
            open_ids.add(el.get(w + "id"))
            text.setdefault(el.get(w + "id"), [])
        elif event == "start" and el.tag == w + "commentRangeEnd":
            open_ids.discard(el.get(w + "id"))
        elif event == "start" and el.tag == w + "t":
            for cid in open_ids:
                text[cid].append(el.text or "")
        elif event == "end" and el.tag in (w + "p", w + "tab", w + "br"):
            for cid in open_ids:
                text[cid].append(" ")
    return {cid: " ".join("".join(parts).split()) for cid, parts in text.items()}


def test_real_word_comments_land_as_exact_passages(tmp_path):
    """Ingested, every one of the 199 comments is a coding of exactly its passage (none empty,
    none cut to a segment), one coding per code of the comment, and the long export quotes it."""
    from conftest import ROOT

    path = ROOT.parent / "shared" / "data" / "games-as-art" / "bopp_test_input.docx"
    if not path.exists():
        pytest.skip("../shared is not here")
    import pandas as pd
    from docx import Document

    from insight import Workspace

    passages = _comment_passages(path)
    codes = {str(c.comment_id): {" ".join(p.split()) for p in c.text.split(";") if p.strip()}
             for c in Document(str(path)).comments}
    assert len(passages) == 199 and all(passages.values())
    want = sorted((passages[cid], code) for cid, names in codes.items() for code in names)
    ws = Workspace(tmp_path / "g.duckdb")
    report = ws.ingest([path], study="games")
    assert not report.failed
    ws.export(tmp_path / "long.csv", study="games")
    long = pd.read_csv(tmp_path / "long.csv", keep_default_na=False)
    coded = long[long["code"] != ""]
    got = sorted((" ".join(t.split()), code) for t, code in zip(coded["coded_text"], coded["code"]))
    assert got == want
    assert len(coded) == len(want) > 199 and not (coded["coded_text"].str.strip() == "").any()
    ws.close()
