"""Ingest into the store: batches, re-ingest, changed files, two coders, transactions, units."""

import pytest

from conftest import check_offsets, make_docx
from insight.errors import InsightError

TRANSCRIPT = "Interviewer: How long have you lived in Eastgate?\nP1: Twelve years. Um, thirteen?\n\nIt changed a lot.\nInterviewer: How so?\nP1: The buses, mostly.\n"


def test_mixed_batch_ingests_good_files_and_names_bad_ones(ws, tmp_path):
    (tmp_path / "good.txt").write_text(TRANSCRIPT)
    (tmp_path / "notes.md").write_text("# Visit\n\nThe hub was warm and busy.\n\nTwo people asked about bus passes.\n")
    bad_docx = tmp_path / "broken.docx"
    bad_docx.write_bytes(make_docx(tmp_path / "ok.docx", ["P1: hi", "P2: hey"]).read_bytes()[:500])
    (tmp_path / "ok.docx").unlink()
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "data.csv").write_bytes(b"\x00\x01\x02\x03" * 100)
    report = ws.ingest([tmp_path], study="s")
    failed = {f.path.split("/")[-1]: f.reason for f in report.failed}
    assert set(failed) == {"broken.docx", "empty.txt", "data.csv"}
    assert "docx" in failed["broken.docx"] and "empty" in failed["empty.txt"] and "not a text file" in failed["data.csv"]
    assert report.totals()["documents"] == 2
    assert ws.con.execute("SELECT count(*) FROM files").fetchone()[0] == 2
    check_offsets(ws)


def test_reingest_adds_nothing_and_a_changed_file_is_a_new_document(ws, tmp_path):
    path = tmp_path / "p1.txt"
    path.write_text(TRANSCRIPT)
    first = ws.ingest([path], study="s")
    assert first.files[0].status == "added" and first.totals()["segments"] == 4
    again = ws.ingest([path], study="s")
    assert again.files[0].status == "unchanged" and again.totals() == {
        "documents": 0, "segments": 0, "codings": 0, "participants": 0}
    old_doc = ws.con.execute("SELECT min(document_id) FROM documents").fetchone()[0]
    seg = ws.con.execute("SELECT min(segment_id) FROM segments").fetchone()[0]
    ws.con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, coder, method, status) "
                   "SELECT 1, document_id, start, \"end\", 'Buses', 'Ann', 'human', 'accepted' FROM segments "
                   "WHERE segment_id = ?", [seg])
    path.write_text(TRANSCRIPT + "Interviewer: Thanks.\n")
    changed = ws.ingest([path], study="s")
    assert changed.files[0].status == "changed" and "new document" in changed.files[0].reason
    assert ws.con.execute("SELECT count(*) FROM documents").fetchone()[0] == 2
    assert ws.con.execute("SELECT count(*) FROM codings WHERE document_id = ?",
                          [old_doc]).fetchone()[0] == 1


def test_speakers_become_participants_but_interviewers_do_not(ws, tmp_path):
    (tmp_path / "P07_buses.txt").write_text(TRANSCRIPT.replace("P1:", "Gareth:"))
    ws.ingest([tmp_path], study="s")
    people = ws.participants("s")
    assert list(people["external_id"]) == ["P07"] and list(people["name"]) == ["Gareth"]
    rows = ws.con.execute("SELECT speaker, participant_id IS NOT NULL FROM segments ORDER BY ordinal").fetchall()
    assert rows == [("Interviewer", False), ("Gareth", True), ("Interviewer", False), ("Gareth", True)]


PRIYA = ("respondent_id,ward,q2,codes\n"
         "R1,Eastgate,More buses in the evening,Getting around\n"
         "R2,Riverside,\"Answer the phone, please\",Phone; Trust\n"
         "R3,Eastgate,Nothing really,\n")
TOM = ("respondent_id,q2,codes\n"
       "R1,More buses in the evening,Getting around; Trust\n"
       "R2,\"Answer the phone, please\",Phone\n")


def test_two_coders_spreadsheets_share_one_set_of_segments(ws, tmp_path):
    (tmp_path / "priya.csv").write_text(PRIYA)
    (tmp_path / "tom.csv").write_text(TOM)
    a = ws.ingest([tmp_path / "priya.csv"], study="s", id_col="respondent_id", text_cols=["q2"], attr_cols=["ward"],
                  code_cols=["codes"], coder="Priya")
    b = ws.ingest([tmp_path / "tom.csv"], study="s", id_col="respondent_id", text_cols=["q2"], code_cols=["codes"],
                  coder="Tom")
    assert a.totals()["segments"] == 3 and b.totals()["segments"] == 0
    assert b.files[0].status == "attached" and b.totals()["codings"] == 3
    assert ws.con.execute("SELECT count(*) FROM segments").fetchone()[0] == 3
    rows = ws.con.execute(
        "SELECT s.text, c.coder, c.code FROM coding_segments c JOIN segments s USING (segment_id) ORDER BY 1, 2, 3"
    ).fetchall()
    assert rows == [
        ("Answer the phone, please", "Priya", "Phone"), ("Answer the phone, please", "Priya", "Trust"),
        ("Answer the phone, please", "Tom", "Phone"),
        ("More buses in the evening", "Priya", "Getting around"),
        ("More buses in the evening", "Tom", "Getting around"), ("More buses in the evening", "Tom", "Trust"),
    ]
    # both coders' codes are collected into a codebook named after the study
    assert ws.stats("s")["codes"] == 3
    assert ws.stats("s")["codings"] == {"Priya": 3, "Tom": 3}
    again = ws.ingest([tmp_path / "tom.csv"], study="s", id_col="respondent_id", text_cols=["q2"], code_cols=["codes"],
                      coder="Tom")
    assert again.files[0].status == "unchanged"


def test_a_failure_mid_file_leaves_nothing_half_imported(ws, tmp_path, monkeypatch):
    import insight.ingest as ingest

    (tmp_path / "panel.csv").write_text(PRIYA)
    original = ingest._Writer.document
    calls = []

    def flaky(self, doc):
        calls.append(doc.title)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, doc)

    monkeypatch.setattr(ingest._Writer, "document", flaky)
    report = ws.ingest([tmp_path / "panel.csv"], study="s", id_col="respondent_id", text_cols=["q2"])
    assert report.failed and "disk full" in report.failed[0].reason
    for table in ("documents", "segments", "participants", "files", "attributes"):
        assert ws.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


@pytest.mark.parametrize("unit, expected", [
    ("turn", ["How long have you lived in Eastgate?", "Twelve years. Um, thirteen?\n\nIt changed a lot."]),
    ("paragraph", ["How long have you lived in Eastgate?", "Twelve years. Um, thirteen?", "It changed a lot."]),
    ("sentence", ["How long have you lived in Eastgate?", "Twelve years.", "Um, thirteen?", "It changed a lot."]),
])
def test_units(ws, tmp_path, unit, expected, monkeypatch):
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    from pipelines.nlp import get_nlp

    get_nlp.cache_clear()
    (tmp_path / "p.txt").write_text(TRANSCRIPT)
    ws.ingest([tmp_path / "p.txt"], study="s", unit=unit)
    texts = [r[0] for r in ws.con.execute("SELECT text FROM segments ORDER BY ordinal").fetchall()]
    assert texts[:len(expected)] == expected
    check_offsets(ws)


def test_an_installed_pipeline_is_used_when_named(tmp_path, monkeypatch):
    import spacy

    from pipelines.nlp import get_nlp

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "pipe")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", str(tmp_path / "pipe"))
    get_nlp.cache_clear()
    try:
        loaded = get_nlp()
        assert loaded.meta["insight_path"] == f"trained:{tmp_path / 'pipe'}"
        monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
        get_nlp.cache_clear()
        blank = get_nlp()
        assert blank.meta["insight_path"].startswith("blank:") and "lemmatizer" in blank.pipe_names
        assert [t.lemma_.lower() for t in blank("The buses were waiting")] == ["the", "bus", "be", "wait"]
    finally:
        get_nlp.cache_clear()


def test_bad_unit_and_kind(ws, tmp_path):
    with pytest.raises(InsightError, match="unit"):
        ws.ingest([tmp_path], study="s", unit="word")
    with pytest.raises(InsightError, match="kind"):
        ws.ingest([tmp_path], study="s", kind="novel")


def test_manifest_sets_options_per_file(ws, tmp_path):
    (tmp_path / "panel.csv").write_text(PRIYA)
    (tmp_path / "people.csv").write_text("participant_id,name,ward\nP1,Gareth Lewis,Northfield\n")
    (tmp_path / "P1_chat.txt").write_text(TRANSCRIPT.replace("P1:", "Gareth:"))
    (tmp_path / "ingest.yaml").write_text(
        "participants: {file: people.csv, id_col: participant_id, name_col: name}\n"
        "files:\n  panel.csv: {id_col: respondent_id, text_col: q2, attr_col: [ward], code_col: codes, coder: Priya}\n")
    report = ws.ingest([tmp_path], study="s")
    assert not report.failed and len(report.files) == 2
    people = ws.participants("s").set_index("external_id")
    assert people.loc["P1", "name"] == "Gareth Lewis" and people.loc["P1", "ward"] == "Northfield"
    assert people.loc["R2", "ward"] == "Riverside"
    assert ws.stats("s")["codings"] == {"Priya": 3}
