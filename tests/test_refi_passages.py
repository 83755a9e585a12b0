"""REFI-QDA passages, lossless: a project written here with lxml from the 1.5 spec (not with
Insight's writer), whose selections cross paragraph and speaker-turn boundaries and are counted in
UTF-16 code units after emoji and accented text, imports with every coding's exact text, exports
one ``PlainTextSelection`` per coding that validates against ``Project.xsd``, and re-imports with
identical ranges."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from conftest import SHARED

NS = "urn:QDA-XML:project:1.0"
XSD = SHARED / "refi-qda" / "Project.xsd"

# Stored with Windows line ends; the tool counted positions over the file as stored.
LINES = [
    "Interviewer: Tell me about the winter 👩‍👧 you moved in.",
    "",
    "Zoë: The heating failed 🥶 in the first week. Nobody came for a month.",
    "",
    "I rang every day. The cafe\u0301 downstairs let me charge my phone.",
    "",
    "Interviewer: Did the council ever explain?",
    "",
    "Zoë: No. A letter came in March 📬 saying the case was closed. Closed! Je suis épuisée.",
]
TEXT = "\r\n".join(LINES) + "\r\n"
GUIDS = {name: f"{n:08x}-0000-4000-8000-{n:012x}" for n, name in enumerate(
    ["source", "u_ana", "u_ben", "c_neglect", "c_heat", "c_letter", "c_coping", "c_feeling"], start=1)}
CODES = {"c_neglect": "Neglect", "c_heat": "Heating", "c_letter": "Letters", "c_coping": "Coping",
         "c_feeling": "Feeling"}
# (first words, last words, code, user): start mid-sentence, cross paragraphs and turns, nest, overlap
SELECTIONS = [
    ("heating failed", "for a month.", "c_heat", "u_ana"),                          # inside one turn, after 🥶
    ("Nobody came", "charge my phone.", "c_neglect", "u_ana"),                      # across two paragraphs
    ("let me charge", "explain?", "c_coping", "u_ben"),                             # across a speaker turn
    ("first week", "A letter came", "c_neglect", "u_ben"),                          # across three turns
    ("A letter came in March 📬", "Closed!", "c_letter", "u_ana"),                  # emoji inside
    ("Je suis épuisée", "épuisée.", "c_feeling", "u_ben"),                          # the very end
    ("Tell me", "moved in.", "c_feeling", "u_ana"),                                 # a ZWJ emoji inside
]


def _utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def expected() -> list[tuple[str, str, str]]:
    """(text as Insight stores it, with \\n line ends; code; coder) for every selection."""
    stored = TEXT.replace("\r\n", "\n")
    out = []
    for first, last, code, user in SELECTIONS:
        a = stored.index(first)
        b = stored.index(last, a) + len(last)
        out.append((stored[a:b], CODES[code], {"u_ana": "Ana", "u_ben": "Ben"}[user]))
    return sorted(out)


def write_project(path):
    """The project, built element by element from the spec with lxml."""
    from lxml import etree
    from lxml.builder import ElementMaker

    E = ElementMaker(namespace=NS, nsmap={None: NS})
    selections = []
    for n, (first, last, code, user) in enumerate(SELECTIONS):
        a = TEXT.index(first)
        b = TEXT.index(last, a) + len(last)
        selections.append(E.PlainTextSelection(
            E.Coding(E.CodeRef(targetGUID=GUIDS[code]), guid=f"c0de0000-0000-4000-8000-{n:012x}",
                     creatingUser=GUIDS[user], creationDateTime="2025-05-01T10:00:00Z"),
            guid=f"5e100000-0000-4000-8000-{n:012x}", startPosition=str(_utf16(TEXT[:a])),
            endPosition=str(_utf16(TEXT[:b])), creatingUser=GUIDS[user], creationDateTime="2025-05-01T10:00:00Z"))
    project = E.Project(
        E.Users(E.User(guid=GUIDS["u_ana"], name="Ana"), E.User(guid=GUIDS["u_ben"], name="Ben")),
        E.CodeBook(E.Codes(*[E.Code(guid=GUIDS[key], name=name, isCodable="true") for key, name in CODES.items()])),
        E.Sources(E.TextSource(*selections, guid=GUIDS["source"], name="Zoë interview",
                               plainTextPath=f"internal://{GUIDS['source']}.txt")),
        name="Winter", origin="lxml, by hand from the REFI-QDA 1.5 spec")
    if XSD.exists():
        schema = etree.XMLSchema(etree.parse(str(XSD)))
        assert schema.validate(project), schema.error_log  # the input itself follows the spec
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", etree.tostring(project, xml_declaration=True, encoding="utf-8"))
        archive.writestr(f"sources/{GUIDS['source']}.txt", TEXT.encode("utf-8"))
    return path


def codings(ws) -> list[tuple]:
    return sorted(ws.con.execute(
        "SELECT substring(d.text, c.start + 1, c.\"end\" - c.start), c.code, c.coder, c.start, c.\"end\" "
        "FROM codings c JOIN documents d USING (document_id)").fetchall())


def test_a_spec_written_project_round_trips_every_passage_exactly(tmp_path):
    from lxml import etree

    from insight import Workspace

    first = Workspace(tmp_path / "first.duckdb")
    report = first.ingest([write_project(tmp_path / "winter.qdpx")], study="w")
    assert not report.failed, report.failed[0].reason
    assert "UTF-16" in " ".join(report.files[0].warnings)  # the convention was recognised
    got = codings(first)
    assert [(t, c, who) for t, c, who, _, _ in got] == expected()
    # the two passages across speaker turns cross segments (turns are the segments here, paragraphs
    # of one turn stay one segment); neither was cut to its first one
    crossing = first.con.execute("SELECT count(*) FROM (SELECT coding_id FROM coding_segments GROUP BY 1 "
                                 "HAVING count(*) > 1)").fetchone()[0]
    assert crossing == 2
    first.export(tmp_path / "long.csv", study="w")
    long = pd.read_csv(tmp_path / "long.csv", keep_default_na=False)
    coded = long[long["code"] != ""]
    assert sorted(zip(coded["coded_text"], coded["code"], coded["coder"])) == expected()
    assert len(coded) == len(SELECTIONS)

    out = tmp_path / "again.qdpx"
    summary = first.export(out, study="w")
    assert summary["selections"] == summary["codings"] == len(SELECTIONS)
    with zipfile.ZipFile(out) as archive:
        qde = etree.fromstring(archive.read("project.qde"))
        stored = {n: archive.read(n).decode("utf-8") for n in archive.namelist() if n.startswith("sources/")}
    if XSD.exists():
        schema = etree.XMLSchema(etree.parse(str(XSD)))
        assert schema.validate(qde), schema.error_log
    else:
        pytest.skip("../shared/refi-qda is not here: the export was not validated")
    (source_text,) = stored.values()
    users = {u.get("guid"): u.get("name") for u in qde.iter(f"{{{NS}}}User")}
    codes = {c.get("guid"): c.get("name") for c in qde.iter(f"{{{NS}}}Code")}
    written = []
    for sel in qde.iter(f"{{{NS}}}PlainTextSelection"):
        (coding,) = sel.findall(f"{{{NS}}}Coding")  # one coding per selection
        code = codes[coding.find(f"{{{NS}}}CodeRef").get("targetGUID")]
        a, b = int(sel.get("startPosition")), int(sel.get("endPosition"))
        written.append((source_text[a:b], code, users[coding.get("creatingUser")], a, b))
    assert sorted(written) == got  # the exact ranges, in code points

    second = Workspace(tmp_path / "second.duckdb")
    assert not second.ingest([out], study="w2").failed
    assert codings(second) == got
    first.close()
    second.close()
