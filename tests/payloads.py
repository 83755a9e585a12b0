"""A study whose every text field holds markdown and HTML payloads pointing at ``base`` (a local
address a test watches): transcript text with a blank line inside a turn, file names and so document
titles, speaker names, participant attribute values, a codebook's title, description, code names,
definitions and examples, coder names, memo text, theme labels. Shared by ``test_security.py``
(headless, ``AppTest``) and ``test_security_browser.py`` (Chromium)."""

from __future__ import annotations

from pathlib import Path

import yaml


def payloads(base: str, tag: str) -> str:
    """Markdown image and link, an HTML image, a bare address, a web address and an e-mail, each
    pointing at ``base`` and marked with ``tag`` (which field it came from)."""
    return (f"![{tag}]({base}/{tag}-img.png) [{tag} link]({base}/{tag}-link) <img src=\"{base}/{tag}-html.png\"> "
            f"<a href=\"{base}/{tag}-a\">{tag} a</a> {base}/{tag}-bare www.{tag}.example.org {tag}@example.org")


def file_payload(base: str) -> str:
    """A file name cannot hold ``/``: ``http:HOST:PORT`` is the same address to a browser."""
    short = base.replace("http://", "http:")
    return f"interview ![f]({short}) [fl]({short}) <img src={short}>"


def transcript(base: str) -> str:
    """A transcript as a researcher's export has it: a turn with a blank line inside it (the
    payload after the blank line), Windows line endings, an HTML entity."""
    return (f"Interviewer: Hello Sam Jones, how is the flat &amp; the damp?\r\n"
            f"P1: It is damp, the mould is back again in every room.\r\n\r\n"
            f"{payloads(base, 'turn')}\r\n"
            f"Interviewer: **Thanks** <b>bold</b> # heading\r\n"
            f"P1: The repair never came and the boiler broke again.\r\n")


ANSWERS = ["The bins were missed again this week", "Lovely park but the bins overflow", "The bus never comes on time",
           "Damp in the bedroom and black mould", "The boiler broke in January", "Nobody fixed the window",
           "The library closed early again", "Bring back the evening bus", "Mould on the ceiling every winter",
           "The repair line never answers", "Street lights are out on our road", "The bins smell in summer"]


def panel(base: str) -> str:
    """A panel export: the ward (an attribute) holds a payload in one of its values, and a code
    column names a code with a payload."""
    ward = payloads(base, "ward").replace('"', "'")
    rows = [f'R{i},"{ward if i % 3 == 0 else "Eastgate"}","{text} ({i})"' for i, text in enumerate(ANSWERS * 3)]
    return "id,ward,answer\r\n" + "\r\n".join(rows) + "\r\n"


def speakers_table(base: str) -> str:
    """A transcript as a spreadsheet whose speaker column holds a payload."""
    who = payloads(base, "speaker").replace('"', "'")
    return (f'speaker,text\r\nInterviewer,How is the bus?\r\n"{who}",The bus never comes on Sundays.\r\n'
            f"Interviewer,And the bins?\r\n\"{who}\",The bins were missed again.\r\n")


def codebook(base: str) -> str:
    book = {"name": "council", "title": "Council " + payloads(base, "booktitle"),
            "description": "About it.\n\n" + payloads(base, "bookdesc"),
            "codes": [{"name": "Damp", "definition": "Damp " + payloads(base, "definition"),
                       "examples": ["Black mould " + payloads(base, "example")], "keywords": ["damp", "mould"]},
                      {"name": code_name(base), "definition": "Buses.", "keywords": ["bus"]},
                      {"name": "Repairs", "keywords": ["repair", "boiler", "fix"]}]}
    return yaml.safe_dump(book, allow_unicode=True, sort_keys=False)


def code_name(base: str) -> str:
    return f"Bus ![c]({base}/code-img.png) [c]({base}/code-link)"


def coder(base: str) -> str:
    return f"Ann ![k]({base}/coder-img.png) [k]({base}/coder-link)"


def build(folder: Path, base: str) -> Path:
    """The study in ``folder/study.duckdb``: files ingested, the codebook loaded, codings by two
    coders (one with a payload name), a memo, the rules auto-coder, a theme run whose labels hold
    payloads. Returns the database path."""
    import duckdb

    from insight import Workspace

    folder.mkdir(parents=True, exist_ok=True)
    interview = folder / (file_payload(base) + ".txt")
    interview.write_bytes(transcript(base).encode("utf-8"))
    (folder / "panel.csv").write_text(panel(base), encoding="utf-8")
    (folder / "bus chat.csv").write_text(speakers_table(base), encoding="utf-8")
    (folder / "council.yaml").write_text(codebook(base), encoding="utf-8")
    db = folder / "study.duckdb"
    with Workspace(db) as ws:
        ws.ingest([interview], study="Council")
        ws.ingest([folder / "panel.csv"], study="Council", id_col="id", text_cols=["answer"], attr_cols=["ward"])
        ws.ingest([folder / "bus chat.csv"], study="Council", speaker_col="speaker", text_cols=["text"])
        ws.load_codebook(folder / "council.yaml", author=coder(base))
        docs = ws.documents("Council")
        for row in docs.itertuples():
            text = ws.document(int(row.document_id))["text"]
            for who, code in ((coder(base), code_name(base)), ("Bea", "Damp")):
                ws.code_passage(int(row.document_id), 0, min(20, len(text)), code, who, codebook="council")
        ws.add_memo("Memo " + payloads(base, "memo") + "\n\nSecond paragraph.", author=coder(base), study="Council")
        ws.code(study="Council", codebook="council", methods=["rules"])
        run = ws.run_themes(study="Council", min_size=3)
        ws.run_gaps(study="Council", min_size=3)
    con = duckdb.connect(str(db))
    con.execute("UPDATE themes SET label = ? || ' ' || CAST(theme_id AS VARCHAR) WHERE run_id = ?",
                ["Theme " + payloads(base, "theme"), run["run_id"]])
    con.close()
    return db
