"""REFI-QDA: hand-made projects with known offsets, both counting conventions and line endings,
XSD validation of what Insight writes, the round trip, and untrusted files refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import SHARED

XSD = SHARED / "refi-qda"
NS = "urn:QDA-XML:project:1.0"

U_PRIYA = "8f0e7d2a-1111-4a4a-9b9b-000000000001"
U_SAM = "{8F0E7D2A-1111-4A4A-9B9B-000000000002}"  # braces and upper case, as some tools write them
C_EXPERIENCE = "c0000000-0000-4000-8000-000000000001"
C_WAITING = "c0000000-0000-4000-8000-000000000002"
C_NEGLECT = "c0000000-0000-4000-8000-000000000003"
C_KINDNESS = "c0000000-0000-4000-8000-000000000004"
S_AMELIE = "5a000000-0000-4000-8000-000000000001"
S_EMILE = "5a000000-0000-4000-8000-000000000002"
V_AGE = "7a000000-0000-4000-8000-000000000001"
V_WARD = "7a000000-0000-4000-8000-000000000002"
V_SCORE = "7a000000-0000-4000-8000-000000000003"

# Two sources. Selections start at the very first character and end at the very last one, and
# sit after emoji (two UTF-16 units each) and line breaks, so a wrong convention shows.
AMELIE = ["Amélie: We waited 😀 three weeks for the boiler.", "", "Interviewer: And then?", "",
          "Amélie: Nobody came. The café 🏠 on the corner helped more than the council did."]
EMILE = ["Émile's diary 🙂: the bus never came.", "", "I walked to the surgery in the rain 🌧️ and waited.", "",
         "The receptionist was kind, and the nurse 👩‍⚕️ phoned back the same day."]
SELECTIONS = {  # source -> (phrase, code, user guid, created)
    "amelie": [("We waited 😀 three weeks", C_WAITING, U_PRIYA, "2024-03-01T10:00:00Z"),
               ("Nobody came", C_NEGLECT, U_SAM, "2024-03-01T10:05:00"),
               ("café 🏠 on the corner", C_KINDNESS, U_PRIYA, "2024-03-01T10:06:00Z"),
               ("helped more than the council did.", C_KINDNESS, U_SAM, "2024-03-01T10:07:00Z")],
    "emile": [("Émile's diary", C_EXPERIENCE, U_PRIYA, "2024-03-02T09:00:00Z"),
              ("the bus never came", C_NEGLECT, U_PRIYA, "2024-03-02T09:01:00Z"),
              ("and waited", C_WAITING, U_SAM, "2024-03-02T09:02:00Z"),
              ("phoned back the same day.", C_KINDNESS, U_SAM, "2024-03-02T09:03:00Z")],
}
EXPECTED = {  # (code, coder, text) as they must land
    ("Waiting", "Priya", "We waited 😀 three weeks"), ("Neglect", "Sam", "Nobody came"),
    ("Kindness", "Priya", "café 🏠 on the corner"), ("Kindness", "Sam", "helped more than the council did."),
    ("Experience", "Priya", "Émile's diary"), ("Neglect", "Priya", "the bus never came"),
    ("Waiting", "Sam", "and waited"), ("Kindness", "Sam", "phoned back the same day."),
}


def units(text: str, unit: str) -> int:
    return len(text.encode("utf-16-le")) // 2 if unit == "utf16" else len(text)


def selection_xml(counted: str, phrase: str, code: str, user: str, created: str, unit: str, n: int) -> str:
    at = counted.index(phrase)
    start, end = units(counted[:at], unit), units(counted[:at + len(phrase)], unit)
    head = tail = ""
    if n == 0:  # a note on the first selection of each source
        tail = '<NoteRef targetGUID="90000000-0000-4000-8000-000000000003"/>'
    if n == 10:
        head = "<Description>Diary opens with a title.</Description>"
    return (f'<PlainTextSelection guid="e0000000-0000-4000-8000-{n:012d}" startPosition="{start}" endPosition="{end}" '
            f'creatingUser="{user}" creationDateTime="{created}">{head}'
            f'<Coding guid="f0000000-0000-4000-8000-{n:012d}" creatingUser="{user}" creationDateTime="{created}">'
            f'<CodeRef targetGUID="{code}"/></Coding>{tail}</PlainTextSelection>')


CODEBOOK = f"""<CodeBook><Codes>
  <Code guid="{C_EXPERIENCE}" name="Experience" isCodable="true" color="#a3c">
    <Description>Definition: What it is like to use a service.

Include: first-hand accounts.

Examples:
- I waited all day
- They never rang back</Description>
    <NoteRef targetGUID="90000000-0000-4000-8000-000000000002"/>
    <Code guid="{C_WAITING}" name="Waiting" isCodable="true" color="#1F77B4">
      <Description>Time spent waiting for a service or a reply.</Description>
    </Code>
    <Code guid="{C_NEGLECT}" name="Neglect" isCodable="true"/>
  </Code>
  <Code guid="{C_KINDNESS}" name="Kindness" isCodable="true" color="#2ca02c"/>
</Codes></CodeBook>"""


def project_xml(sources: str, *, extra_sources: str = "", tail: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="{NS}" name="Hand-made" origin="tests">
  <Users><User guid="{U_PRIYA}" name="Priya"/><User guid="{U_SAM.strip('{}').lower()}" name="Sam"/></Users>
  {CODEBOOK}
  <Variables>
    <Variable guid="{V_AGE}" name="age" typeOfVariable="Integer"/>
    <Variable guid="{V_WARD}" name="ward" typeOfVariable="Text"/>
    <Variable guid="{V_SCORE}" name="score" typeOfVariable="Float"/>
  </Variables>
  <Cases>
    <Case guid="ca000000-0000-4000-8000-000000000001" name="P-Amelie">
      <Description>Name: Amélie</Description>
      <VariableValue><VariableRef targetGUID="{V_AGE}"/><IntegerValue>34</IntegerValue></VariableValue>
      <VariableValue><VariableRef targetGUID="{V_WARD}"/><TextValue>Eastgate</TextValue></VariableValue>
      <SourceRef targetGUID="{S_AMELIE}"/>
    </Case>
    <Case guid="ca000000-0000-4000-8000-000000000002" name="P-Emile">
      <Description>Moved to the ward last spring.</Description>
      <VariableValue><VariableRef targetGUID="{V_AGE}"/><IntegerValue>71</IntegerValue></VariableValue>
      <VariableValue><VariableRef targetGUID="{V_SCORE}"/><FloatValue>2.5</FloatValue></VariableValue>
      <SourceRef targetGUID="{S_EMILE}"/>
    </Case>
  </Cases>
  <Sources>{sources}{extra_sources}</Sources>
  <Notes>
    <Note guid="90000000-0000-4000-8000-000000000001" name="Field diary" creatingUser="{U_PRIYA}"
          creationDateTime="2024-03-03T08:00:00Z"><PlainTextContent>Two visits this week.</PlainTextContent></Note>
    <Note guid="90000000-0000-4000-8000-000000000002" name="On waiting" creatingUser="{U_SAM}"
          creationDateTime="2024-03-03T08:30:00Z"><PlainTextContent>Split waiting by service?</PlainTextContent></Note>
    <Note guid="90000000-0000-4000-8000-000000000003" creatingUser="{U_SAM}"
          creationDateTime="2024-03-03T09:00:00Z"><PlainTextContent>Ask about the café.</PlainTextContent></Note>
    <Note guid="90000000-0000-4000-8000-000000000004" name="Diary note" creatingUser="{U_PRIYA}"
          creationDateTime="2024-03-03T09:30:00Z"><PlainTextContent>Written on the bus.</PlainTextContent></Note>
  </Notes>
  {tail}
  <NoteRef targetGUID="90000000-0000-4000-8000-000000000001"/>
</Project>"""


def sources_xml(unit: str, newline: str, *, counted_as: str | None = None,
                inline_crlf: bool = False) -> tuple[str, dict[str, bytes]]:
    """Source A as a file under ``Sources/`` (upper case); source B as a file, or inline text whose
    positions were counted over ``\\r\\n`` line ends (XML parsing hands back ``\\n``). Files are
    stored with ``newline``; positions count line breaks as ``counted_as`` (default: as stored)."""
    files = {}
    amelie = newline.join(AMELIE)
    emile = newline.join(EMILE)
    counted_as = counted_as or newline
    sel_a = "".join(selection_xml(counted_as.join(AMELIE), *sel, unit, n)
                    for n, sel in enumerate(SELECTIONS["amelie"]))
    files[f"Sources/{S_AMELIE.upper()}.TXT"] = amelie.encode("utf-8")
    text_a = (f'<TextSource guid="{S_AMELIE}" name="Amélie interview" plainTextPath="internal://{S_AMELIE}.txt" '
              f'richTextPath="internal://{S_AMELIE}.docx" creatingUser="{U_PRIYA}">{sel_a}</TextSource>')
    counted = "\r\n".join(EMILE) if inline_crlf else counted_as.join(EMILE)
    sel_b = "".join(selection_xml(counted, *sel, unit, 10 + n) for n, sel in enumerate(SELECTIONS["emile"]))
    if inline_crlf:
        body = f"<PlainTextContent>{counted}</PlainTextContent>{sel_b}"  # the parser hands back \n
        text_b = f'<TextSource guid="{S_EMILE}" name="Émile diary">{body}'
    else:
        files[f"sources/{S_EMILE}.txt"] = emile.encode("utf-8")
        text_b = f'<TextSource guid="{S_EMILE}" name="Émile diary" plainTextPath="internal://{S_EMILE}.txt">{sel_b}'
    text_b += '<NoteRef targetGUID="90000000-0000-4000-8000-000000000004"/></TextSource>'
    return text_a + text_b, files


def write_qdpx(path: Path, project: str, files: dict[str, bytes] | None = None, *,
               project_name: str = "project.qde") -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(project_name, project.encode("utf-8"))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return path


def make_project(tmp_path: Path, unit: str = "codepoints", newline: str = "\r\n", *, inline_crlf: bool = False,
                 counted_as: str | None = None, **extra) -> Path:
    sources, files = sources_xml(unit, newline, counted_as=counted_as, inline_crlf=inline_crlf)
    return write_qdpx(tmp_path / f"hand_{unit}_{len(newline)}.qdpx", project_xml(sources, **extra), files)


def landed(ws, study: str) -> set[tuple[str, str, str]]:
    rows = ws.con.execute(
        'SELECT c.code, c.coder, d.text, c.start, c."end" FROM codings c '
        "JOIN documents d USING (document_id) JOIN studies s USING (study_id) "
        "WHERE s.name = ?", [study]).fetchall()
    return {(code, coder, text[a:b]) for code, coder, text, a, b in rows}


def ingest_ok(ws, path: Path, study: str):
    report = ws.ingest([path], study=study)
    assert not report.failed, report.failed[0].reason
    return report.files[0]


# ---------------------------------------------------------------------------------------------
# Import


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("unit", ["codepoints", "utf16"])
def test_hand_made_project_lands_on_the_right_characters(ws, tmp_path, unit, newline):
    result = ingest_ok(ws, make_project(tmp_path, unit, newline), "s")
    assert landed(ws, "s") == EXPECTED
    note = " ".join(result.warnings)
    assert ("UTF-16" in note) == (unit == "utf16"), note
    if unit == "utf16":
        assert "selection positions were read as UTF-16 code units" in note
    texts = [r[0] for r in ws.con.execute("SELECT text FROM documents ORDER BY document_id").fetchall()]
    assert texts == ["\n".join(AMELIE), "\n".join(EMILE)]  # stored with \n, like every other reader


@pytest.mark.parametrize("unit", ["codepoints", "utf16"])
def test_inline_text_counted_over_crlf(ws, tmp_path, unit):
    result = ingest_ok(ws, make_project(tmp_path, unit, "\n", inline_crlf=True), "s")
    assert landed(ws, "s") == EXPECTED
    assert "two (\\r\\n) in 'Émile diary', and over the text as stored elsewhere" in " ".join(result.warnings)


@pytest.mark.parametrize("stored,counted,said", [("\r\n", "\n", "as one character"), ("\n", "\r\n", "as two")],
                         ids=["crlf-file-counted-as-lf", "lf-file-counted-as-crlf"])
@pytest.mark.parametrize("unit", ["codepoints", "utf16"])
def test_line_breaks_counted_unlike_the_file(ws, tmp_path, unit, stored, counted, said):
    result = ingest_ok(ws, make_project(tmp_path, unit, stored, counted_as=counted), "s")
    assert landed(ws, "s") == EXPECTED
    assert said in " ".join(result.warnings)


def test_selection_names_that_quote_the_text_decide_the_convention(ws, tmp_path):
    """One selection, after one emoji: word boundaries alone cannot tell; the quoted name can."""
    text = "I 😀 waited. Then I waited more."
    at = text.index("waited more")
    start = units(text[:at], "utf16")
    sel = (f'<PlainTextSelection guid="e0000000-0000-4000-8000-000000000001" name="waited mo…" '
           f'startPosition="{start}" endPosition="{start + 11}"><Coding guid="f0000000-0000-4000-8000-000000000001" '
           f'creatingUser="{U_PRIYA}"><CodeRef targetGUID="{C_WAITING}"/></Coding></PlainTextSelection>')
    source = f'<TextSource guid="{S_EMILE}" name="short"><PlainTextContent>{text}</PlainTextContent>{sel}</TextSource>'
    ingest_ok(ws, write_qdpx(tmp_path / "named.qdpx", project_xml(source)), "s")
    assert landed(ws, "s") == {("Waiting", "Priya", "waited more")}


def test_codes_cases_memos_and_skipped_media(ws, tmp_path):
    media = ('<PictureSource guid="b0000000-0000-4000-8000-000000000001" name="photo of the estate.jpg" '
             'path="internal://b0000000-0000-4000-8000-000000000001.jpg"><PictureSelection '
             'guid="b0000000-0000-4000-8000-000000000002" firstX="1" firstY="1" secondX="5" secondY="5"/>'
             '</PictureSource><AudioSource guid="b0000000-0000-4000-8000-000000000003" name="walk.m4a" '
             'path="relative:///walk.m4a"/>')
    pdf_text = "Report a missed bin online, the leaflet says."
    at = pdf_text.index("missed bin")
    media += ('<PDFSource guid="b0000000-0000-4000-8000-000000000004" name="leaflet.pdf" path="internal://l.pdf">'
              '<PDFSelection guid="b0000000-0000-4000-8000-000000000005" page="1" firstX="1" firstY="1" '
              'secondX="9" secondY="9"/><Representation guid="b0000000-0000-4000-8000-000000000006" '
              'plainTextPath="internal://l.txt"><PlainTextSelection guid="b0000000-0000-4000-8000-000000000007" '
              f'startPosition="{at}" endPosition="{at + 10}" creatingUser="{U_SAM}"><Coding '
              f'guid="b0000000-0000-4000-8000-000000000008" creatingUser="{U_SAM}"><CodeRef targetGUID="{C_NEGLECT}"/>'
              '</Coding></PlainTextSelection></Representation></PDFSource>')
    graph = '<Graphs><Graph guid="b0000000-0000-4000-8000-000000000009" name="Service map"/></Graphs>'
    sources, files = sources_xml("codepoints", "\r\n")
    files["sources/l.txt"] = pdf_text.encode("utf-8")
    result = ingest_ok(ws, write_qdpx(tmp_path / "media.qdpx", project_xml(sources, extra_sources=media, tail=graph),
                                      files), "s")
    warning = " ".join(result.warnings)
    assert "photo of the estate.jpg" in warning and "1 selection(s)" in warning and "walk.m4a" in warning
    assert "Service map" in warning and "1 area selection(s) in PDF 'leaflet.pdf'" in warning
    assert ("Neglect", "Sam", "missed bin") in landed(ws, "s")  # the PDF's text representation
    from insight.codebook import get

    book = get(ws.con, "Hand-made")
    codes = {c.name: c for c in book.codes}
    assert [c.name for c in book.codes] == ["Experience", "Waiting", "Neglect", "Kindness"]
    assert codes["Waiting"].parent == "Experience" and codes["Kindness"].parent is None
    assert codes["Experience"].colour == "#aa33cc" and codes["Waiting"].colour == "#1F77B4"
    assert codes["Experience"].definition == "What it is like to use a service."
    assert codes["Experience"].include == "first-hand accounts."
    assert codes["Experience"].examples == ["I waited all day", "They never rang back"]
    assert codes["Waiting"].definition == "Time spent waiting for a service or a reply."
    # codings are tied to the imported codebook
    assert ws.con.execute("SELECT count(*) FROM codings c JOIN codebooks b USING (codebook_id) "
                          "WHERE b.name = 'Hand-made'").fetchone()[0] == len(EXPECTED) + 1  # and the PDF's
    people = ws.participants("s").set_index("external_id")
    assert people.loc["P-Amelie", "name"] == "Amélie" and people.loc["P-Amelie", "ward"] == "Eastgate"
    assert people.loc["P-Amelie", "age"] == "34" and people.loc["P-Emile", "score"] == "2.5"
    owners = dict(ws.con.execute("SELECT d.title, p.external_id FROM documents d JOIN participants p "
                                 "USING (participant_id)").fetchall())
    assert owners == {"Amélie interview": "P-Amelie", "Émile diary": "P-Emile"}
    memos = {(kind, title): (target, author, text) for kind, target, author, title, text in ws.con.execute(
        "SELECT target_kind, target_id, author, title, text FROM memos").fetchall()}
    assert memos[("study", "Field diary")] == (None, "Priya", "Two visits this week.")
    assert memos[("code", "On waiting")] == ("Experience", "Sam", "Split waiting by service?")
    assert memos[("participant", "Case description")] == ("P-Emile", None, "Moved to the ward last spring.")
    doc_id, doc_title = ws.con.execute(
        "SELECT d.document_id, d.title FROM memos m JOIN documents d ON d.document_id = TRY_CAST(m.target_id AS INTEGER) "
        "WHERE m.title = 'Diary note'").fetchone()
    assert doc_title == "Émile diary"
    on_segments = dict(ws.con.execute(
        "SELECT m.text, g.text FROM memos m JOIN segments g ON g.segment_id = TRY_CAST(m.target_id AS BIGINT) "
        "WHERE m.target_kind = 'segment'").fetchall())
    assert on_segments == {"Ask about the café.": "We waited 😀 three weeks for the boiler."}
    # a selection's Description, when it holds one coding, is that coding's memo
    assert ws.con.execute("SELECT c.code, substring(d.text, c.start + 1, c.\"end\" - c.start) FROM codings c "
                          "JOIN documents d USING (document_id) WHERE c.memo = 'Diary opens with a title.'"
                          ).fetchall() == [("Experience", "Émile's diary")]


def test_broken_and_hostile_files_are_refused(ws, tmp_path):
    outside = tmp_path.parent / "evil.txt"
    sources, files = sources_xml("codepoints", "\n")
    cases = {
        "traversal.qdpx": (project_xml(sources), {**files, "../evil.txt": b"gotcha"}, "unsafe path"),
        "absolute.qdpx": (project_xml(sources), {**files, "/etc/evil.txt": b"gotcha"}, "unsafe path"),
        "xxe.qdpx": ('<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                     f'<Project xmlns="{NS}" name="x"><Description>&xxe;</Description></Project>', {}, "entities"),
        "laughs.qdpx": ('<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                        f'<Project xmlns="{NS}" name="x"><Description>&b;</Description></Project>', {}, "entities"),
        "broken.qdpx": (project_xml(sources)[:-40], files, "XML is broken"),
        "empty-project.qdpx": (f'<Project xmlns="{NS}" name="x"/>', {}, "no text sources"),
    }
    for name, (project, extra, reason) in cases.items():
        write_qdpx(tmp_path / name, project, extra)
    (tmp_path / "notzip.qdpx").write_bytes(b"PK but not really a zip file")
    cases["notzip.qdpx"] = (None, None, "not a valid .qdpx")
    with zipfile.ZipFile(tmp_path / "noproject.qdpx", "w") as archive:
        archive.writestr("sources/a.txt", "hello")
    cases["noproject.qdpx"] = (None, None, "no project.qde")
    bomb_sources = (f'<TextSource guid="{S_AMELIE}" name="bomb" plainTextPath="internal://big.txt"/>')
    write_qdpx(tmp_path / "bomb.qdpx", project_xml(bomb_sources), {"sources/big.txt": b"a" * (30 * 2**20)})
    cases["bomb.qdpx"] = (None, None, "zip bomb")
    report = ws.ingest([tmp_path / name for name in cases], study="s")
    reasons = {Path(f.path).name: f.reason for f in report.files}
    for name, (_, _, reason) in cases.items():
        assert reason in reasons[name], (name, reasons[name])
        assert str(tmp_path / name) in reasons[name]
    assert ws.con.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    assert ws.con.execute("SELECT count(*) FROM memos").fetchone()[0] == 0
    assert not outside.exists() and not Path("/etc/evil.txt").exists()


def test_read_qdc(tmp_path):
    from insight.codebook import read_file
    from insight.errors import CodebookError

    path = tmp_path / "services.qdc"
    path.write_text('<?xml version="1.0" encoding="utf-8"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0" '
                    f'origin="NVivo 14">{CODEBOOK[len("<CodeBook>"):]}', encoding="utf-8")
    book = read_file(path)
    assert book.name == "services" and "NVivo 14" in book.description
    assert [(c.name, c.parent) for c in book.codes] == [("Experience", None), ("Waiting", "Experience"),
                                                        ("Neglect", "Experience"), ("Kindness", None)]
    assert book.codes[0].examples == ["I waited all day", "They never rang back"]
    bad = tmp_path / "bad.qdc"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>&x;</Codes></CodeBook>')
    with pytest.raises(CodebookError, match="entities"):
        read_file(bad)
    wrong = tmp_path / "wrong.qdc"
    wrong.write_text(f'<Project xmlns="{NS}" name="x"/>')
    with pytest.raises(CodebookError, match="not a REFI-QDA codebook"):
        read_file(wrong)


def test_descriptions_round_trip_every_field():
    from insight.codebook import Code
    from insight.refi import describe, parse_description

    code = Code("Phone", definition="Contact by phone.", include="Calls, hold music.", exclude="Letters.",
                examples=["I rang six times", "on hold for an hour"], counter_examples=["I wrote to them"],
                keywords=["phone", "on hold", {"pattern": [{"LEMMA": "ring"}, {"LOWER": "back"}]}])
    text = describe(code)
    assert text.startswith("Definition: Contact by phone.") and "\n- on hold for an hour" in text
    fields = parse_description(text)
    assert {k: getattr(code, k) for k in fields} == fields and len(fields) == 6
    assert parse_description("Just a note\nover two lines") == {"definition": "Just a note\nover two lines"}


# ---------------------------------------------------------------------------------------------
# Export, validation and the round trip


def _schema(name: str):
    from lxml import etree

    if not (XSD / name).exists():
        pytest.skip("../shared/refi-qda is not here")
    return etree.XMLSchema(etree.parse(str(XSD / name)))


def snapshot(ws, study: str) -> dict:
    """Everything a round trip must keep, keyed by content rather than by ids."""
    from insight.export import default_codebook

    sid = ws.study_id(study)
    q = ws.con.execute
    book = default_codebook(ws.con, sid)
    codings = q('SELECT d.title, d.text, c.start, c."end", c.code, c.coder, c.created_at, c.memo '
                "FROM codings c JOIN documents d USING (document_id) "
                "WHERE d.study_id = ?", [sid]).fetchall()
    people = ws.participants(study).drop(columns=["participant_id", "study"]).fillna("")
    memos = q("""
        SELECT m.target_kind, coalesce(d.title, sd.title, m.target_id), g.text, m.author, m.title, m.text, m.created_at
        FROM memos m
        LEFT JOIN segments g ON m.target_kind = 'segment' AND g.segment_id = TRY_CAST(m.target_id AS BIGINT)
        LEFT JOIN documents sd ON sd.document_id = g.document_id
        LEFT JOIN documents d ON m.target_kind = 'document' AND d.document_id = TRY_CAST(m.target_id AS INTEGER)
        WHERE m.study_id = ?""", [sid]).fetchall()
    return {
        "codes": [c.as_dict() for c in book.codes],
        "sources": sorted(q("SELECT title, text FROM documents WHERE study_id = ?", [sid]).fetchall()),
        "codings": sorted((t, text[a:b], a, b, code, coder, when, memo)
                          for t, text, a, b, code, coder, when, memo in codings),
        "coders": sorted({row[5] for row in codings}),
        "cases": sorted(map(tuple, people.astype(str).to_numpy().tolist())),
        "case_columns": sorted(people.columns),
        "owners": sorted(q("SELECT d.title, p.external_id FROM documents d JOIN participants p USING (participant_id) "
                           "WHERE d.study_id = ?", [sid]).fetchall()),
        # a case's memo travels as its Description, which has no author or time
        "memos": sorted((m if m[0] != "participant" else m[:-1] + (None,) for m in memos), key=str),
    }


def test_exported_project_and_codebook_validate_and_round_trip(tmp_path):
    from lxml import etree

    from insight import Workspace

    project_schema, codebook_schema = _schema("Project.xsd"), _schema("Codebook.xsd")
    first = Workspace(tmp_path / "first.duckdb")
    ingest_ok(first, make_project(tmp_path, "utf16", "\r\n"), "one")
    out = tmp_path / "one.qdpx"
    summary = first.export(out, study="one")
    assert summary["sources"] == 2 and summary["codings"] == len(EXPECTED) and summary["users"] == 2
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        qde = etree.fromstring(archive.read("project.qde"))
    assert names[0] == "project.qde" and all(n.startswith("sources/") and n.endswith(".txt") for n in names[1:])
    assert project_schema.validate(qde), project_schema.error_log
    description = qde.find(f".//{{{NS}}}Code[@name='Experience']/{{{NS}}}Description").text
    assert "Definition: What it is like to use a service." in description and "- I waited all day" in description
    users = {u.get("name"): u.get("guid") for u in qde.iter(f"{{{NS}}}User")}
    codings = list(qde.iter(f"{{{NS}}}Coding"))
    assert {c.get("creatingUser") for c in codings} == set(users.values())
    assert all(c.get("creationDateTime") for c in codings)
    # the same study exported again gives the same GUIDs
    again = tmp_path / "again.qdpx"
    first.export(again, study="one")
    with zipfile.ZipFile(again) as archive:
        assert sorted(archive.namelist()) == sorted(names)

    qdc = tmp_path / "one.qdc"
    first.export(qdc, study="one", format="qdc")
    assert codebook_schema.validate(etree.parse(str(qdc))), codebook_schema.error_log
    from insight.codebook import read_file

    assert [c.as_dict() for c in read_file(qdc).codes] == snapshot(first, "one")["codes"]

    second = Workspace(tmp_path / "second.duckdb")
    result = ingest_ok(second, out, "two")
    assert "UTF-16" not in " ".join(result.warnings)  # Insight writes code points
    before, after = snapshot(first, "one"), snapshot(second, "two")
    for key in before:
        assert after[key] == before[key], key
    assert len(before["memos"]) == 5 and before["coders"] == ["Priya", "Sam"]
    first.close()
    second.close()


def test_sample_style_study_exports_valid_qdpx(ws, tmp_path):
    """A panel (attributes, several coders, a partial span, a suggestion) and an interview."""
    from lxml import etree

    schema = _schema("Project.xsd")
    (tmp_path / "panel.csv").write_text(
        "rid,ward,age,answer,codes\nR1,Eastgate,34,\"=SUM(A1) bins again & again <x>\",Bins\n"
        "R2,Riverside,67.5,Phone lines 😀 busy,Phone\n", encoding="utf-8")
    (tmp_path / "P9_interview.txt").write_text("Interviewer: How was it?\n\nP9: Slow.\n", encoding="utf-8")
    report = ws.ingest([tmp_path / "panel.csv", tmp_path / "P9_interview.txt"], study="s", id_col="rid",
                       text_cols=["answer"], attr_cols=["ward", "age"], code_cols=["codes"], coder="A")
    assert not report.failed
    seg = ws.con.execute("SELECT segment_id, start FROM segments WHERE text LIKE '%bins%'").fetchone()
    ws.code_segment(seg[0], "Bins", "B", start=seg[1] + 9, end=seg[1] + 13)
    ws.con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, coder, method, status) "
                   "SELECT 101, document_id, start, \"end\", 'Phone', 'auto', 'rules', 'suggested' FROM segments "
                   "WHERE segment_id = ?", [seg[0]])
    ws.con.execute("INSERT INTO memos (memo_id, study_id, target_kind, target_id, author, text) "
                   "VALUES (1, 1, 'segment', ?, 'B', 'odd <answer> & formula')", [str(seg[0])])
    out = tmp_path / "s.qdpx"
    summary = ws.export(out)
    assert summary["codings"] == 3 and summary["users"] == 2  # the suggestion is not a decision
    with zipfile.ZipFile(out) as archive:
        qde = etree.fromstring(archive.read("project.qde"))
        texts = {n: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("sources/")}
    assert schema.validate(qde), schema.error_log
    spans = set()
    for source in qde.iter(f"{{{NS}}}TextSource"):
        text = texts["sources/" + source.get("plainTextPath").split("//")[1]]
        for sel in source.iter(f"{{{NS}}}PlainTextSelection"):
            spans.add(text[int(sel.get("startPosition")):int(sel.get("endPosition"))])
    assert spans == {"=SUM(A1) bins again & again <x>", "bins", "Phone lines 😀 busy"}
    floats = [v.text for v in qde.iter(f"{{{NS}}}FloatValue")]
    assert floats == ["34.0", "67.5"]


def test_codes_sharing_a_passage_are_separate_selections_a_first_coding_reader_keeps(ws, tmp_path):
    """Several Codings under one PlainTextSelection are valid, but common readers keep only the
    first: each coding gets a selection of its own, and nothing is lost to such a reader."""
    from lxml import etree

    (tmp_path / "panel.csv").write_text("rid,answer,codes\nR1,The bus never comes and the bins stink,Transport;Bins\n"
                                        "R2,Lovely park,Parks\n", encoding="utf-8")
    report = ws.ingest([tmp_path / "panel.csv"], study="s", id_col="rid", text_cols=["answer"],
                       code_cols=["codes"], coder="A", code_sep=";")
    assert not report.failed
    seg = ws.con.execute("SELECT segment_id FROM segments WHERE text LIKE 'The bus%'").fetchone()[0]
    ws.code_segment(seg, "Transport", "B")
    ws.code_segment(seg, "Bins", "B")
    want = set(ws.con.execute("SELECT g.text, c.coder, c.code FROM coding_segments c JOIN segments g "
                              "USING (segment_id) WHERE c.status = 'accepted'").fetchall())
    assert len(want) == 5
    out = tmp_path / "s.qdpx"
    summary = ws.export(out)
    with zipfile.ZipFile(out) as archive:
        qde = etree.fromstring(archive.read("project.qde"))
        texts = {n: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("sources/")}
    assert _schema("Project.xsd").validate(qde)
    users = {u.get("guid"): u.get("name") for u in qde.iter(f"{{{NS}}}User")}
    codes = {c.get("guid"): c.get("name") for c in qde.iter(f"{{{NS}}}Code")}
    first_only = set()
    selections = list(qde.iter(f"{{{NS}}}PlainTextSelection"))
    for source in qde.iter(f"{{{NS}}}TextSource"):
        text = texts["sources/" + source.get("plainTextPath").split("//")[1]]
        for sel in source.iter(f"{{{NS}}}PlainTextSelection"):
            coding = sel.find(f"{{{NS}}}Coding")  # what a first-Coding-only reader sees
            first_only.add((text[int(sel.get("startPosition")):int(sel.get("endPosition"))],
                            users[coding.get("creatingUser")], codes[coding.find(f"{{{NS}}}CodeRef").get("targetGUID")]))
    assert all(len(sel.findall(f"{{{NS}}}Coding")) == 1 for sel in selections)
    assert len(selections) == summary["selections"] == summary["codings"] == 5
    assert first_only == want
    assert len({sel.get("guid") for sel in selections}) == 5
