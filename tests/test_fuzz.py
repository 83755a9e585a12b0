"""Every reader against generated and mutated input: the only outcomes are a result whose spans
fit its text, or the library's own error with a message.

Hypothesis runs with a fixed seed (``derandomize``) and a bounded number of examples, so the file
takes well under a minute; ``INSIGHT_FUZZ_SCALE=20`` runs twenty times as many (a deeper search,
for a nightly job). Inputs: random bytes; text in many encodings (and broken ones) shaped like
transcripts, captions, tables and diaries; valid seed files with bits flipped, bytes inserted and
deleted, and truncations; ZIP containers (docx, xlsx, qdpx) cut short, with members damaged,
dropped, renamed out of their folder, or made into bombs; XML with entities.
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_docx, make_pdf
from insight.errors import InsightError
from insight.readers import reader_for, supported_suffixes
from insight.readers.base import IngestOptions

SCALE = float(os.environ.get("INSIGHT_FUZZ_SCALE", "1"))
ZIPPED = (".docx", ".xlsx", ".xlsm", ".qdpx")


def fuzz_settings(examples: int, **extra):
    return settings(max_examples=max(1, int(examples * SCALE)), derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture], **extra)


# ---------------------------------------------------------------------------------------------
# Seeds: one small valid file per format


TRANSCRIPT = ("# Interview 3\n\nInterviewer: How long have you lived in Eastgate?\n\n"
              "[00:01:02] Margaret Jones: Forty years. Café on the corner, £2 a tea.\n\n"
              "P3: Yes — and the bins, don't get me started.\nInterviewer: Right.\n")


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["respondent_id", "ward", "q1_services"])
    sheet.append(["R1", "Eastgate", "The library closing has left older people with nowhere warm to go."])
    sheet.append(["R2", "Millbrook", "Bins are collected late every week and nobody answers the phone line."])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _qdpx() -> bytes:
    ns = "urn:QDA-XML:project:1.0"
    project = (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="{ns}" name="fuzz">'
               '<Users><User guid="10000000-0000-4000-8000-000000000001" name="Priya"/></Users>'
               '<CodeBook><Codes><Code guid="20000000-0000-4000-8000-000000000001" name="housing" isCodable="true"/>'
               '</Codes></CodeBook><Sources>'
               '<TextSource guid="30000000-0000-4000-8000-000000000001" name="Interview" '
               'plainTextPath="internal://30000000-0000-4000-8000-000000000001.txt">'
               '<PlainTextSelection guid="40000000-0000-4000-8000-000000000001" startPosition="13" endPosition="40" '
               'creatingUser="10000000-0000-4000-8000-000000000001"><Coding guid="50000000-0000-4000-8000-000000000001" '
               'creatingUser="10000000-0000-4000-8000-000000000001"><CodeRef '
               'targetGUID="20000000-0000-4000-8000-000000000001"/></Coding></PlainTextSelection>'
               '</TextSource></Sources></Project>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", project.encode("utf-8"))
        archive.writestr("sources/30000000-0000-4000-8000-000000000001.txt",
                         "Interviewer: The damp in the back bedroom came back.\r\nP1: Twice.\r\n".encode("utf-8"))
    return out.getvalue()


def _seeds(tmp: Path) -> dict[str, bytes]:
    seeds = {
        ".txt": TRANSCRIPT.encode("utf-8"),
        ".md": TRANSCRIPT.encode("utf-8"),
        ".vtt": ("WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n<v Interviewer>How are things?</v>\n\n"
                 "2\n00:00:04.500 --> 00:00:09.000\n<v Aisha Begum>Honestly? Hard. The forms.</v>\n\n"
                 "00:00:09.500 --> 00:00:12.000\nAisha Begum: And the phone.\n").encode("utf-8"),
        ".srt": ("1\n00:00:01,000 --> 00:00:04,000\nInterviewer: How are things?\n\n"
                 "2\n00:00:04,500 --> 00:00:09,000\nGareth: Bins, mainly. Seagulls.\n").encode("utf-8"),
        ".csv": ("respondent_id,ward,age_band,q1_services\nR1,Eastgate,35-44,\"The library closing has left "
                 "older people with nowhere warm to go, honestly.\"\nR2,Millbrook,75+,Bins are collected late every "
                 "week and nobody answers the phone line.\n").encode("utf-8"),
        ".json": json.dumps([{"participant_id": "D01", "entry_date": "2026-04-06", "entry": "Rang the council. "
                              "Forty minutes on hold."},
                             {"participant_id": "D02", "entry_date": "06/04/2026", "entry": "Warm space at the hub."}]
                            ).encode("utf-8"),
        ".jsonl": b'{"participant_id": "D01", "date": "2026-04-06", "text": "Rang the council."}\n'
                  b'{"participant_id": "D01", "date": "2026-04-07", "text": "Still waiting."}\n',
        ".xlsx": _xlsx(),
        ".docx": make_docx(tmp / "seed.docx", ["Interviewer: How was the hub?", "P2: Warm. Busy. Brenda did the tea."],
                           [(1, "Priya", "warm spaces")]).read_bytes(),
        ".pdf": make_pdf(tmp / "seed.pdf", ["Interviewer: How was the hub?", "P2: Warm and busy."]).read_bytes(),
        ".qdpx": _qdpx(),
    }
    seeds[".tsv"] = seeds[".csv"].replace(b",", b"\t")
    seeds[".xlsm"] = seeds[".xlsx"]
    seeds[".markdown"] = seeds[".text"] = seeds[".txt"]
    return seeds


SEEDS = _seeds(Path(__import__("tempfile").mkdtemp(prefix="insight-fuzz-")))
ALL_SUFFIXES = supported_suffixes()
# one suffix per reader and parsing path (.md, .markdown, .text read as .txt; .xlsm as .xlsx; .tsv as
# .csv), so the budget goes on distinct code; a reader added later is fuzzed through its first suffix
_SAME = {".md", ".markdown", ".text", ".xlsm", ".tsv"}
SUFFIXES = [s for s in ALL_SUFFIXES if s not in _SAME]
CHEAP = {".txt", ".vtt", ".srt", ".json", ".jsonl"}  # a millisecond or two per input


def budget(suffix: str, cheap: int, dear: int) -> int:
    return cheap if suffix in CHEAP else dear


def test_every_reader_has_a_seed():
    from insight.readers.base import REGISTRY

    assert set(ALL_SUFFIXES) <= set(SEEDS), f"add a seed for {sorted(set(ALL_SUFFIXES) - set(SEEDS))}"
    assert {REGISTRY[s].name for s in SUFFIXES} == {r.name for r in REGISTRY.values()}


# ---------------------------------------------------------------------------------------------
# The property


def outcome(suffix: str, data: bytes, **options) -> str:
    """Read ``data`` as a ``suffix`` file: ``'ok'`` or ``'error'``; anything else fails the test."""
    path = Path(f"fuzzed{suffix}")
    started = time.monotonic()
    try:
        result = reader_for(path).read(path, data, IngestOptions(**options))
    except InsightError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
        assert time.monotonic() - started < 20, "a bad file took too long to refuse"
        return "error"
    for doc in result.documents:
        assert isinstance(doc.text, str)
        for turn in doc.turns:
            assert 0 <= turn.start <= turn.end <= len(doc.text), (turn, len(doc.text))
        for coding in doc.codings:
            assert 0 <= coding.start <= coding.end <= len(doc.text), (coding, len(doc.text))
    return "ok"


def test_seeds_read():
    for suffix in SUFFIXES:
        assert outcome(suffix, SEEDS[suffix]) == "ok", suffix


# ---------------------------------------------------------------------------------------------
# Strategies


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """The seed with a few random edits: bit flips, byte changes, insertions, deletions, a cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate", "duplicate"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[i] = draw(st.sampled_from([0, 0xFF, 0x80, 0xC3, 0x0A, 0x0D, 0x3C, 0x26, 0x22, 0x2C, 0x3A]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[i:]
        else:
            j = draw(st.integers(i, min(len(data), i + 200)))
            data[j:j] = data[i:j]
    return bytes(data)


SPEAKERS = ["Interviewer", "P3", "JANE DOE", "[00:01:23] Jane", "00:01:23 Jane Doe", "Jane (00:01:23)", "**Q:**",
            "Note", "<v Ann>", "Ann", "[Ann]", "Ἀθῆναι", "😀", ""]
PIECES = ["\n", "\r\n", "\r", "\n\n", "\t", " ", ":", "-->", "00:00:01,000 --> 00:00:02,000", "00:01.5 --> 00:02.5",
          "WEBVTT", "NOTE", "1", "<", ">", "</v>", "&amp;", '"', ",", ";", "|", "{", "}", "[", "]", "\ufeff",
          "\u2028", "\x00", "\x0c", "£", "é", "—", "\ud7ff", "日本", "# ", "participant_id", "date", "entry"]


@st.composite
def textlike(draw) -> bytes:
    """Text shaped like the formats (labels, timings, delimiters, JSON), in an arbitrary encoding."""
    parts = draw(st.lists(st.one_of(st.sampled_from(SPEAKERS), st.sampled_from(PIECES),
                                    st.text(max_size=30)), max_size=40))
    text = "".join(parts)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1",
                                     "utf-32"]))
    data = text.encode(encoding, errors="replace") if encoding in ("cp1252", "latin-1") else \
        text.encode(encoding, errors="surrogatepass")
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4)) + data[cut:]  # broken sequences mid-stream
    return data


@st.composite
def json_diary(draw) -> bytes:
    value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                         lambda children: st.lists(children, max_size=4) | st.dictionaries(
                             st.sampled_from(["participant_id", "participant", "date", "entry_date", "entry", "text",
                                              "body", "x"]), children, max_size=5), max_leaves=12)
    entries = draw(st.lists(value, max_size=5) | value)
    return json.dumps(entries, allow_nan=True).encode("utf-8")


@st.composite
def rezipped(draw, seed: bytes) -> bytes:
    """The seed's ZIP rebuilt with one member damaged, dropped, renamed or added."""
    with zipfile.ZipFile(io.BytesIO(seed)) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    index = draw(st.integers(0, len(members) - 1))
    op = draw(st.sampled_from(["mutate", "truncate", "drop", "rename", "add", "stored"]))
    name, body = members[index]
    if op == "mutate":
        members[index] = (name, draw(mutated(body)) if body else body)
    elif op == "truncate":
        members[index] = (name, body[:draw(st.integers(0, len(body)))])
    elif op == "drop":
        del members[index]
    elif op == "rename":
        members[index] = (draw(st.sampled_from(["../" + name, "/" + name, name.upper(), "a/../../" + name,
                                                "C:/" + name, name + "/"])), body)
    else:
        members.append((draw(st.sampled_from(["../evil.txt", "word/../../evil.xml", "x" * 200, "[Content_Types].xml"])),
                        draw(st.binary(max_size=64))))
    out = io.BytesIO()
    mode = zipfile.ZIP_STORED if op == "stored" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", mode) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate member name is one of the damages
        for member, data in members:
            try:
                archive.writestr(member, data)
            except ValueError:
                pass  # a name zipfile itself will not write
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# The tests: one per format and kind of input


def _fuzz(test, examples):
    """Run a Hypothesis test body with this suffix's budget (settings are per call, not per module)."""
    return fuzz_settings(examples)(test)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mutated_seed(suffix):
    @given(data=st.data())
    def run(data):
        outcome(suffix, data.draw(mutated(SEEDS[suffix])))

    _fuzz(run, budget(suffix, 500, 200))()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes(suffix):
    @given(blob=st.binary(max_size=3000))
    def run(blob):
        outcome(suffix, blob)

    _fuzz(run, budget(suffix, 300, 100))()


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s not in ZIPPED + (".pdf",)])
def test_generated_text(suffix):
    @given(data=st.data())
    def run(data):
        json_shaped = suffix in (".json", ".jsonl") and data.draw(st.booleans())
        outcome(suffix, data.draw(json_diary()) if json_shaped else data.draw(textlike()))

    _fuzz(run, budget(suffix, 400, 200))()


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s in ZIPPED])
def test_damaged_zip_members(suffix):
    @given(data=st.data())
    def run(data):
        outcome(suffix, data.draw(rezipped(SEEDS[suffix])))

    _fuzz(run, 120)()


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s in ZIPPED])
def test_every_truncation_of_a_zip(suffix):
    """A ZIP cut short anywhere (a download that stopped) is refused with a message, or read."""
    seed = SEEDS[suffix]
    step = max(1, len(seed) // int(150 * SCALE))
    for cut in range(0, len(seed), step):
        outcome(suffix, seed[:cut])


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".vtt", ".srt", ".json", ".jsonl"])
def test_invalid_encodings(suffix):
    seed = SEEDS[suffix].decode("utf-8")
    broken = [
        seed.encode("utf-16")[:-1],                      # odd number of bytes after a UTF-16 BOM
        b"\xff\xfe" + "P1: hi\ud800 there".encode("utf-16-le", "surrogatepass"),  # a lone surrogate
        b"\xef\xbb\xbf" + seed.encode("utf-8")[:-1] + b"\xe2\x82",               # cut mid-character
        seed.encode("utf-8").replace(b"e", b"\xe9"),     # Latin-1 bytes in UTF-8 text
        b"\xed\xa0\x80" + seed.encode("utf-8"),          # an encoded surrogate
        seed.encode("utf-32"),
        b"\xfe\xff" + seed.encode("utf-16-be")[:-3],
        seed.encode("utf-8") + b"\x00" * 9000 + b"more",  # NUL bytes beyond the sniffed head
    ]
    for blob in broken:
        outcome(suffix, blob)


# ---------------------------------------------------------------------------------------------
# XML entities and zip bombs


def _docx_with(document_xml: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(SEEDS[".docx"])) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members:
            archive.writestr(name, document_xml if name == "word/document.xml" else body)
    return out.getvalue()


def _xlsx_with(member: str, xml: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(SEEDS[".xlsx"])) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members:
            archive.writestr(name, xml if name == member else body)
    return out.getvalue()


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
LAUGHS = ('<!DOCTYPE w:document [<!ENTITY a "lollollollollollollollollollol">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)) + "]>")


@pytest.mark.parametrize("dtd, body", [
    (f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{Path(__file__).resolve()}">]>', "&xxe;"),
    (LAUGHS, "&i;"),
    ('<!DOCTYPE w:document [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>', "hello"),
])
def test_docx_entities_are_never_expanded(dtd, body):
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>{dtd}<w:document xmlns:w="{W_NS}"><w:body>'
           f"<w:p><w:r><w:t>P1: {body}</w:t></w:r></w:p><w:p><w:r><w:t>P2: fine.</w:t></w:r></w:p></w:body></w:document>")
    started = time.monotonic()
    path = Path("entities.docx")
    try:
        result = reader_for(path).read(path, _docx_with(xml.encode()), IngestOptions())
    except InsightError as exc:
        assert str(exc)
        return
    finally:
        assert time.monotonic() - started < 5
    text = result.documents[0].text
    assert "test_docx_entities" not in text and "lollol" not in text and len(text) < 200


@pytest.mark.parametrize("entity", [f'<!ENTITY xxe SYSTEM "file://{Path(__file__).resolve()}">',
                                    '<!ENTITY xxe "lollollollol"><!ENTITY b "&xxe;&xxe;&xxe;&xxe;&xxe;&xxe;">'])
def test_xlsx_entities_are_refused(entity):
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(io.BytesIO(SEEDS[".xlsx"])) as archive:
        original = archive.read(member).decode("utf-8")
    assert "Eastgate" in original
    head, _, rest = original.partition("?>")
    xml = f"{head}?><!DOCTYPE worksheet [{entity}]>" + rest.replace("Eastgate", "&xxe;")
    try:
        result = outcome_raising(".xlsx", _xlsx_with(member, xml.encode()))
    except InsightError as exc:
        assert "damaged" in str(exc) or "refused" in str(exc)
        return
    text = "".join(d.text for d in result.documents) + json.dumps([p.attributes for p in result.participants])
    assert "test_xlsx_entities" not in text and "lollol" not in text


def outcome_raising(suffix: str, data: bytes):
    path = Path(f"fuzzed{suffix}")
    return reader_for(path).read(path, data, IngestOptions())


def _bomb(suffix: str) -> bytes:
    """The seed with one more member of 48 MB of spaces (about 50 kB compressed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(SEEDS[suffix])) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        with dst.open("customXml/item9.xml", "w") as handle:
            chunk = b" " * (1 << 20)
            for _ in range(48):
                handle.write(chunk)
    return out.getvalue()


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".qdpx"])
def test_zip_bombs_are_refused_quickly(suffix):
    """docx and xlsx libraries would inflate every part, so those are refused up front; the qdpx
    reader inflates only the parts it needs, within a budget, so an unused bomb is harmless."""
    bomb = _bomb(suffix)
    started = time.monotonic()
    if suffix == ".qdpx":
        assert outcome(suffix, bomb) in ("ok", "error")
    else:
        with pytest.raises(InsightError, match="(?i)bomb"):
            outcome_raising(suffix, bomb)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s in ZIPPED])
def test_zip_members_cannot_escape(suffix, tmp_path, monkeypatch):
    """Nothing a reader does writes outside its folder (nothing is extracted at all)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inner").mkdir()
    monkeypatch.chdir(tmp_path / "inner")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(SEEDS[suffix])) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("../escaped.txt", b"gotcha")
        dst.writestr("/tmp/insight-escaped.txt", b"gotcha")
    try:
        outcome(suffix, out.getvalue())
    finally:
        assert not (tmp_path / "escaped.txt").exists()
        assert not Path("/tmp/insight-escaped.txt").exists()


# ---------------------------------------------------------------------------------------------
# Through ingest: a bad file never leaves half of itself behind


def test_ingest_is_whole_or_nothing(tmp_path):
    """Mutated files through ingest into one database (pseudonymising too): each file is stored
    whole (its files row, documents and segments, offsets exact) or not at all, with a reason."""
    from insight import Workspace
    from insight.ingest import ensure_study, ingest_file

    with Workspace(":memory:") as ws:
        study_id = ensure_study(ws.con, "s")
        counter = iter(range(10 ** 6))

        @given(data=st.data())
        def run(data):
            suffix = data.draw(st.sampled_from([".txt", ".vtt", ".csv", ".json", ".docx"]))
            path = tmp_path / f"f{next(counter)}{suffix}"
            path.write_bytes(data.draw(mutated(SEEDS[suffix])))
            before = {t: ws.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("files", "documents", "segments")}
            result = ingest_file(ws.con, study_id, path, IngestOptions(study="s", pseudonymise=data.draw(st.booleans())))
            after = {t: ws.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
            assert result.status in ("added", "failed", "unchanged"), result
            if result.status != "added":
                assert result.reason and after == before, result
                assert "This is a bug in Insight" not in result.reason, result.reason
                return
            assert after["files"] == before["files"] + 1
            assert after["documents"] - before["documents"] == result.documents
            assert after["segments"] - before["segments"] == result.segments
            bad = ws.con.execute('SELECT count(*) FROM segments g JOIN documents d USING (document_id) '
                                 'WHERE substr(d.text, g.start + 1, g."end" - g.start) <> g.text').fetchone()[0]
            assert bad == 0

        _fuzz(run, 40)()
