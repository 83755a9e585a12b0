"""Pseudonymisation: what it finds (measured on a labelled test set), how it rewrites the store,
and the review list (accept, undo, add, rename, reveal, reverse)."""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, check_offsets
from insight.cli import main
from insight.privacy import accept, add, pseudonymise, rename, reveal, reverse, review, undo
from pipelines.pseudonymise import KINDS, detect, nhs_valid

DATA = ROOT / "tests" / "data"
CORPORA = ROOT / "corpora"

# ---------------------------------------------------------------------------------------------
# The labelled test set: recall and precision per kind


def load_set(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def score(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per kind: a found mention is right when it overlaps a labelled one of the same kind."""
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    for row in rows:
        found = [m for m in detect(row["text"]) if m.replace]
        for gold in row["mentions"]:
            hit = any(m.kind == gold["kind"] and m.start < gold["end"] and gold["start"] < m.end for m in found)
            (tp if hit else fn)[gold["kind"]] += 1
        for m in found:
            if not any(m.kind == g["kind"] and m.start < g["end"] and g["start"] < m.end for g in row["mentions"]):
                fp[m.kind] += 1
    table = {}
    for kind in list(KINDS) + ["ALL"]:
        t = sum(tp.values()) if kind == "ALL" else tp[kind]
        f = sum(fp.values()) if kind == "ALL" else fp[kind]
        n = sum(fn.values()) if kind == "ALL" else fn[kind]
        table[kind] = {"n": t + n, "precision": t / (t + f) if t + f else 1.0, "recall": t / (t + n) if t + n else 1.0}
    return table


def print_table(title: str, table: dict) -> None:
    print(f"\n{title}\n{'kind':<9} {'n':>4} {'precision':>9} {'recall':>7}")
    for kind, row in table.items():
        print(f"{kind:<9} {row['n']:>4} {row['precision']:>9.3f} {row['recall']:>7.3f}")


def test_test_set_is_built_from_its_source():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", DATA / "build_pii_testset.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name in build.SETS:
        assert build.build(name) == load_set(name), f"rebuild {name}.jsonl: python tests/data/build_pii_testset.py"
    rows = load_set("pii_testset")
    assert sum(len(r["mentions"]) for r in rows) >= 200
    for row in [r for name in build.SETS for r in load_set(name)]:
        for m in row["mentions"]:
            assert row["text"][m["start"]:m["end"]] == m["text"]
            if m["kind"] == "NHS":
                assert nhs_valid(re.sub(r"\D", "", m["text"]))


# Floors a little under what the rules score today (see the table printed with -s), so a change
# that loses recall or precision fails here.
FLOORS = {"PERSON": (0.97, 0.95), "EMAIL": (1.0, 1.0), "PHONE": (0.95, 0.95), "POSTCODE": (0.95, 0.95),
          "ADDRESS": (0.95, 0.95), "DOB": (0.95, 0.95), "NHS": (1.0, 1.0), "ALL": (0.98, 0.96)}
# The held-out set was written after the rules and never tuned on: a fairer estimate, lower floors.
HELD_OUT_FLOORS = {"PERSON": (0.95, 0.9), "PHONE": (0.95, 0.95), "ALL": (0.95, 0.93)}


def test_recall_and_precision_per_kind():
    table = score(load_set("pii_testset"))
    print_table("pii_testset (rules)", table)
    for kind, (precision, recall) in FLOORS.items():
        assert table[kind]["precision"] >= precision, (kind, table[kind])
        assert table[kind]["recall"] >= recall, (kind, table[kind])


def test_recall_and_precision_on_the_held_out_set():
    table = score(load_set("pii_testset.heldout"))
    print_table("pii_testset.heldout (rules)", table)
    for kind, (precision, recall) in HELD_OUT_FLOORS.items():
        assert table[kind]["precision"] >= precision, (kind, table[kind])
        assert table[kind]["recall"] >= recall, (kind, table[kind])


# Phone numbers as people in and outside the UK write them and names in no shipped list: the bars
# hold per kind and overall, on the part the rules were tuned on and on the held-out part.
BAR_RECALL, BAR_PRECISION = 0.97, 0.95


@pytest.mark.parametrize("name", ["pii_names_phones", "pii_names_phones.heldout"])
def test_names_and_phones_set_meets_the_bars(name):
    rows = load_set(name)
    table = score(rows)
    print_table(f"{name} (rules)", table)
    kinds = {m["kind"] for row in rows for m in row["mentions"]}
    assert {"PERSON", "PHONE"} <= kinds and table["PERSON"]["n"] >= 40 and table["PHONE"]["n"] >= 15
    for kind in sorted(kinds) + ["ALL"]:
        assert table[kind]["recall"] >= BAR_RECALL, (kind, table[kind])
        assert table[kind]["precision"] >= BAR_PRECISION, (kind, table[kind])


def test_the_score_counts_misses_and_false_alarms():
    """The scorer the bars rest on: a miss lowers recall, a find with no label lowers precision."""
    row = {"text": "Ring 07700 900123, Mrs Jones.", "mentions": [
        {"start": 5, "end": 17, "kind": "PHONE", "text": "07700 900123"},
        {"start": 0, "end": 4, "kind": "PERSON", "text": "Ring"}]}  # a wrong label: Ring is missed
    table = score([row])
    assert table["PHONE"] == {"n": 1, "precision": 1.0, "recall": 1.0}
    assert table["PERSON"] == {"n": 1, "precision": 0.0, "recall": 0.0}  # Jones found, not labelled
    assert table["ALL"]["recall"] == 0.5 and table["ALL"]["precision"] == 0.5


# ---------------------------------------------------------------------------------------------
# Detection, kind by kind


def found(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in detect(text) if m.replace]


@pytest.mark.parametrize("text, expected", [
    ("Email me: jo.bloggs+council@example.co.uk.", [("EMAIL", "jo.bloggs+council@example.co.uk")]),
    ("it's margaret dot jones at gmail dot com", [("EMAIL", "margaret dot jones at gmail dot com")]),
    ("Ring 07700 900 183 or (01632) 960 001.", [("PHONE", "07700 900 183"), ("PHONE", "(01632) 960 001")]),
    ("Abroad: +1 416 555 0198, 0033 1 23 45 67 89.", [("PHONE", "+1 416 555 0198"), ("PHONE", "0033 1 23 45 67 89")]),
    ("Postcodes LS6 2AB, ls62ab and EC1A 1BB.", [("POSTCODE", "LS6 2AB"), ("POSTCODE", "ls62ab"), ("POSTCODE", "EC1A 1BB")]),
    ("We moved to Flat 3, 12 Marsh Lane last year.", [("ADDRESS", "Flat 3, 12 Marsh Lane")]),
    ("Her date of birth is 3rd March 1951 and his is 04/07/1949.", [("DOB", "3rd March 1951"), ("DOB", "04/07/1949")]),
    ("NHS number 943 476 5919, please.", [("NHS", "943 476 5919")]),
    ("Mrs Jones and Dr Okafor came.", [("PERSON", "Jones"), ("PERSON", "Okafor")]),
    ("My name is Siobhan and my son Kayden is seven.", [("PERSON", "Siobhan"), ("PERSON", "Kayden")]),
])
def test_each_kind(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "Reference 40022871, case 1234567890.",                  # reference numbers are not phones
    "It cost £1,250.00 and 12.5% interest.",
    "The appointment is on 12/03/2026 at the Civic Centre.",  # a date that is not a date of birth
    "NHS number 943 476 5918.",                              # a bad check digit
    "We walked down Marsh Lane to Kingsmead Library.",        # a street without a number, a place
    "Grace period ends in May. Will they listen? I hope so.",  # names that are words
    "Universal Credit and the Household Support Fund.",
    "In March I rang Tesco, then Citizens Advice.",
    "Interviewer: Okay. P3: Yes.",
])
def test_what_is_not_personal_data(text):
    assert found(text) == []


@pytest.mark.parametrize("text, expected", [
    ("Her cell is +1 (415) 555-0132.", "+1 (415) 555-0132"),
    ("Call 415-555-0132 after six.", "415-555-0132"),
    ("It's (415) 555 0132, the office.", "(415) 555 0132"),
    ("Try 604.555.0128 in Vancouver.", "604.555.0128"),
    ("Toll free 1-800-555-0199.", "1-800-555-0199"),
    ("UK: +44 7700 900123.", "+44 7700 900123"),
    ("Mobile 07700 900123 please.", "07700 900123"),
    ("Text 07700900123.", "07700900123"),
    ("Mobile no. 07700 900 461, tel. no: 0113 496 0099.", "07700 900 461|0113 496 0099"),
    ("The office in Paris: +33 1 23 45 67 89.", "+33 1 23 45 67 89"),
    ("The flat in Berlin: +49 (0)30 12345678.", "+49 (0)30 12345678"),
    ("Dublin +353 87 123 4567.", "+353 87 123 4567"),
    ("Lagos 00234 803 123 4567.", "00234 803 123 4567"),
    ("My number is 4155550132.", "4155550132"),            # a bare run, after a phone word
    ("Ring 943 476 5919, that's my mobile.", "943 476 5919"),  # passes the NHS check, but a phone word before
])
def test_phone_numbers_in_national_and_international_formats(text, expected):
    assert found(text) == [("PHONE", number) for number in expected.split("|")]


@pytest.mark.parametrize("text, expected", [
    ("Hearing on 03/06/2025 at 10:15, or 14.05.2025 at 09:30.", []),
    ("It cost £1,250.00, then 1,430.55, then $4,155.50.", []),
    ("The case 2024-118 and ref. 0045221908 and claim 2291-4456-01.", []),
    ("Invoice number 0412 556 901 from the council.", []),
    ("Order #445-221-9087 arrived.", []),
    ("In 2019-2020 it was 35-40 minutes, 1 in 5 households.", []),
    ("Postcode NB4 7QT, flat 12, room 101.", [("POSTCODE", "NB4 7QT")]),
    ("NHS number 943 476 5919.", [("NHS", "943 476 5919")]),
    ("NHS number 943 476 5918.", []),                         # a bad check digit is still no phone
    ("His number is 4155550132 but case 4155550132 is not.", [("PHONE", "4155550132")]),
])
def test_what_phone_numbers_are_not(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text, names", [
    ("My son Oluwaseun is nine.", ["Oluwaseun"]),
    ("A lady called Xiadani rang.", ["Xiadani"]),
    ("A woman named Thandiwe answered.", ["Thandiwe"]),
    ("Mrs Featherstonehaugh and Dr Abernathy came.", ["Featherstonehaugh", "Abernathy"]),
    ("Her friend Bartholomew drove us.", ["Bartholomew"]),
    ("Our German neighbour, Wiebke, has a key.", ["Wiebke"]),
    ("The guy from the energy company, Jovan, was rude.", ["Jovan"]),
    ("Then Ingeborg said the review was off.", ["Ingeborg"]),
    ("I told Ottoline everything.", ["Ottoline"]),
    ("Honestly, Siobhan.", ["Siobhan"]),
    ("Thanks, Xochitl. That helps.", ["Xochitl"]),
    ("[00:12:03] Xiadani Ruiz: I work nights.", ["Xiadani Ruiz"]),
    ("Hollis Abernathy   0:03\nCan everyone hear me?", ["Hollis Abernathy"]),
    ("Caoilfhionn. C-A-O-I-L-F-H-I-O-N-N.", ["Caoilfhionn"]),
    ("It was Quentin who found the flat.", ["Quentin"]),
    ("My kids are Eldon and Marigold.", ["Eldon", "Marigold"]),
    ("Evangeline is my neighbour's girl.", ["Evangeline"]),
    ("The man on the phone, Brayden, he said to wait.", ["Brayden"]),
    ("Honestly? Zebedee. Zebedee rang me every day.", ["Zebedee", "Zebedee"]),  # found once, found again
])
def test_names_in_no_list_by_where_they_stand(text, names):
    assert [t for k, t in found(text) if k == "PERSON"] == names


@pytest.mark.parametrize("text", [
    "I rang Barclays, then Shelter, then I emailed Ofgem.",
    "My friend from Leeds, she said the Jobcentre is worse.",
    "It was Northfield Housing who sorted it.",
    "Then Northfield, then Eastgate, and Riverside last.",
    "Field Note: the hub was busy.",
])
def test_places_and_organisations_in_name_positions(text):
    assert [t for k, t in found(text) if k == "PERSON"] == []


def test_candidates_are_listed_not_replaced():
    mentions = detect("I asked Zorblax about the bins.")
    assert [(m.text, m.replace) for m in mentions if m.kind == "PERSON"] == [("Zorblax", False)]


# ---------------------------------------------------------------------------------------------
# In the store


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def study(ws, tmp_path):
    write(tmp_path, "a.txt", "Interviewer: Hello Margaret.\n\nMargaret Jones: Hello. My neighbour Mr Patel "
                             "helps. Ring me on 07700 900 183.\n\nInterviewer: Thanks, Margaret.\n")
    write(tmp_path, "b.txt", "Interviewer: You mentioned Mrs Jones last time?\n\nP2: Yes, Margaret. "
                             "Mr Patel too. Email patel.family@example.com.\n\nInterviewer: Right.\n")
    ws.ingest([tmp_path / "a.txt", tmp_path / "b.txt"], study="s")
    return ws


def texts(ws) -> list[str]:
    return [t for (t,) in ws.con.execute("SELECT text FROM documents ORDER BY document_id").fetchall()]


def labels_of(ws, original: str) -> set[str]:
    return {r[0] for r in ws.con.execute("SELECT e.label FROM pii_mentions m JOIN pii_entities e USING (study_id, "
                                         "entity_id) WHERE m.original = ?", [original]).fetchall()}


def test_consistent_pseudonyms_across_documents(study):
    ws = study
    result = pseudonymise(ws.con, ws.study_id("s"))
    assert result["replaced"] >= 8
    a, b = texts(ws)
    for name in ("Margaret", "Jones", "Patel", "07700", "example.com"):
        assert name not in a and name not in b
    person = labels_of(ws, "Margaret") | labels_of(ws, "Margaret Jones") | labels_of(ws, "Jones")
    assert len(person) == 1, person  # Margaret, Margaret Jones and Mrs Jones are one person
    assert labels_of(ws, "Patel") and labels_of(ws, "Patel") != person
    assert "Mr [PERSON" in a and "Mrs [PERSON" in b  # titles stay
    assert check_offsets(ws) == 6
    speakers = {s for (s,) in ws.con.execute("SELECT DISTINCT speaker FROM segments").fetchall()}
    assert "Margaret Jones" not in speakers and person <= speakers
    names = {n for (n,) in ws.con.execute("SELECT name FROM participants").fetchall()}
    assert "Margaret Jones" not in names
    originals = {t for (t,) in ws.con.execute("SELECT original FROM pii_documents").fetchall()}
    assert any("Margaret Jones" in t for t in originals)


def test_rerunning_changes_nothing(study):
    ws = study
    pseudonymise(ws.con, ws.study_id("s"))
    before = texts(ws), ws.con.execute("SELECT count(*) FROM pii_mentions").fetchone()
    again = pseudonymise(ws.con, ws.study_id("s"))
    assert again["replaced"] == 0 and again["changed_documents"] == 0
    assert (texts(ws), ws.con.execute("SELECT count(*) FROM pii_mentions").fetchone()) == before
    runs = ws.con.execute("SELECT status FROM runs WHERE step = 'pseudonymise'").fetchall()
    assert runs == [("done",), ("done",)]


def test_coding_spans_and_hashes_follow(study):
    ws = study
    seg = ws.con.execute("SELECT segment_id, start, text FROM segments WHERE text LIKE '%Ring me%'").fetchone()
    doc_text = texts(ws)[0]
    a = doc_text.index("Ring me")
    coding = ws.code_segment(seg[0], "contact", "ann", start=a, end=a + len("Ring me"))
    ws.con.execute("INSERT INTO lemmas VALUES ((SELECT text_hash FROM segments WHERE segment_id = ?), 'x', 'l')", [seg[0]])
    pseudonymise(ws.con, ws.study_id("s"))
    start, end = ws.con.execute('SELECT start, "end" FROM codings WHERE coding_id = ?', [coding]).fetchone()
    assert texts(ws)[0][start:end] == "Ring me"
    from insight.ingest import text_hash

    for sid, body, h in ws.con.execute("SELECT segment_id, text, text_hash FROM segments").fetchall():
        assert h == text_hash(body)
    assert ws.con.execute("SELECT count(*) FROM lemmas").fetchone()[0] == 0  # the original's lemmas went too


def test_undo_accept_add_rename_reveal_reverse(study):
    ws = study
    sid = ws.study_id("s")
    original = texts(ws)
    pseudonymise(ws.con, sid)
    frame = review(ws.con, sid)
    assert {"mention_id", "original", "pseudonym", "status", "context"} <= set(frame.columns)
    phone = frame[frame.kind == "PHONE"].mention_id.tolist()
    assert undo(ws.con, phone, actor="ann") == 1
    assert "07700 900 183" in texts(ws)[0]
    assert accept(ws.con, phone, actor="ann") == 1
    assert "07700 900 183" not in texts(ws)[0] and "[PHONE 1]" in texts(ws)[0]
    # a missed one, added by hand, everywhere and in future runs
    result = add(ws.con, sid, "Hello", kind="PERSON", label="[PERSON 99]", actor="ann")
    assert result["replaced"] == 2 and all("Hello" not in t for t in texts(ws))
    assert pseudonymise(ws.con, sid)["replaced"] == 0
    # researcher-chosen pseudonym
    person = labels_of(ws, "Margaret").pop()
    rename(ws.con, sid, person, "Anna")
    assert "Anna" in texts(ws)[1] and person not in texts(ws)[1]
    assert "Anna" in {s for (s,) in ws.con.execute("SELECT DISTINCT speaker FROM segments").fetchall()}
    assert reveal(ws.con, sid, "Anna")["original"] in ("Margaret Jones", "Margaret")
    # undoing a pseudonym puts the speaker label back too
    undo(ws.con, study_id=sid, label="Anna", actor="ann")
    assert "Margaret Jones" in {s for (s,) in ws.con.execute("SELECT DISTINCT speaker FROM segments").fetchall()}
    check_offsets(ws)
    reverse(ws.con, sid)
    assert texts(ws) == original
    assert ws.con.execute("SELECT count(*) FROM pii_mentions").fetchone()[0] == 0
    check_offsets(ws)


def test_a_candidate_can_be_accepted(ws, tmp_path):
    write(tmp_path, "c.txt", "Interviewer: Who helped?\n\nP1: I asked Zorblax about it, and Zorblax knew.\n")
    ws.ingest([tmp_path / "c.txt"], study="s")
    sid = ws.study_id("s")
    result = pseudonymise(ws.con, sid)
    assert result["candidates"] >= 1
    candidates = review(ws.con, sid, status="candidate")
    assert "Zorblax" in texts(ws)[0]
    accept(ws.con, candidates.mention_id.tolist()[:1], actor="ann")
    assert texts(ws)[0].count("Zorblax") == 1


def test_ingest_pseudonymises_and_later_files_reuse_pseudonyms(tmp_path):
    db = str(tmp_path / "p.duckdb")
    write(tmp_path, "one.txt", "Interviewer: Thank you, Kirsty.\n\nKirsty Hughes: My son Kayden was ill.\n")
    write(tmp_path, "two.txt", "Interviewer: And Kayden?\n\nP2: Kayden is fine. Kirsty said so. dob 01/02/1990\n")
    runner = CliRunner()
    out = runner.invoke(main, ["--db", db, "ingest", str(tmp_path / "one.txt"), "--study", "s", "--pseudonymise"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["--db", db, "ingest", str(tmp_path / "two.txt"), "--study", "s", "--pseudonymise",
                               "--json"])
    assert out.exit_code == 0, out.output
    from insight import Workspace

    with Workspace(db) as ws:
        one, two = texts(ws)
        assert "Kirsty" not in one + two and "Kayden" not in one + two and "01/02/1990" not in two
        kayden = re.search(r"son (\[PERSON \d+\])", one).group(1)
        assert two.count(kayden) == 2  # the same pseudonym in the later file
        check_offsets(ws)
        options = json.loads(ws.con.execute("SELECT options FROM files LIMIT 1").fetchone()[0])
        assert options.get("pseudonymise") is True


def test_a_name_found_later_is_replaced_in_earlier_documents(ws, tmp_path):
    write(tmp_path, "x1.txt", "Interviewer: Anything else?\n\nP1: Ask Thandiwe.\n")
    write(tmp_path, "x2.txt", "Interviewer: Who?\n\nP2: My support worker is Thandiwe, she is great.\n")
    ws.ingest([tmp_path / "x1.txt"], study="s", pseudonymise=True)
    assert "Thandiwe" in texts(ws)[0]  # one mention, no cue: a candidate only
    ws.ingest([tmp_path / "x2.txt"], study="s", pseudonymise=True)
    assert all("Thandiwe" not in t for t in texts(ws))
    check_offsets(ws)


def test_part_of_a_full_name_found_once_is_looked_for_in_the_whole_study(ws, tmp_path):
    """"my son Kagiso Mokoena" is found by its cue in one transcript; "Kagiso" alone, with nothing
    around it that says name (alone it is only a candidate), is replaced in another."""
    write(tmp_path, "y1.txt", "[00:00:04] Interviewer: Hello.\r\n\r\n"
                              "[00:00:09] P1: My son Kagiso Mokoena is eleven.\r\n")
    write(tmp_path, "y2.txt", "Interviewer: Who else?\n\nP2: I saw Kagiso at the shop on Tuesday.\n")
    assert [m.replace for m in detect("P2: I saw Kagiso at the shop on Tuesday.") if m.text == "Kagiso"] == [False]
    ws.ingest([tmp_path / "y1.txt", tmp_path / "y2.txt"], study="s")
    pseudonymise(ws.con, ws.study_id("s"))
    one, two = texts(ws)
    assert "Kagiso" not in one + two and "Mokoena" not in one
    assert labels_of(ws, "Kagiso") == labels_of(ws, "Kagiso Mokoena")  # one person
    check_offsets(ws)


def test_one_phone_number_written_two_ways_is_one_pseudonym(ws, tmp_path):
    write(tmp_path, "z.txt", "Interviewer: Number?\n\nP1: +1 (415) 555-0132. In the US it's just 415-555-0132. "
                             "And mine, 07700 900123, or +44 7700 900 123 from abroad.\n")
    ws.ingest([tmp_path / "z.txt"], study="s")
    pseudonymise(ws.con, ws.study_id("s"))
    text = texts(ws)[0]
    assert re.findall(r"\[PHONE \d+\]", text) == ["[PHONE 1]", "[PHONE 1]", "[PHONE 2]", "[PHONE 2]"], text


def test_phone_regions_setting(monkeypatch, ws, tmp_path):
    text = "Ring my mum in Boston on 617-555-0166, or +1 617 555 0167."
    assert found(text) == [("PHONE", "617-555-0166"), ("PHONE", "+1 617 555 0167")]
    monkeypatch.setenv("INSIGHT_PHONE_REGIONS", " gb ")  # a British study only: US national numbers are not read
    assert found(text) == [("PHONE", "+1 617 555 0167")]
    monkeypatch.setenv("INSIGHT_PHONE_REGIONS", "GB,XX")
    write(tmp_path, "r.txt", "Interviewer: Hi.\n\nP1: " + text + "\n")
    ws.ingest([tmp_path / "r.txt"], study="s")
    from insight.errors import InsightError

    with pytest.raises(InsightError, match="Unknown phone region XX") as err:
        pseudonymise(ws.con, ws.study_id("s"))
    assert "GB,US" in err.value.hint
    assert "617-555-0166" in texts(ws)[0]
    db = ws.path
    ws.close()
    result = CliRunner().invoke(main, ["--db", db, "pseudonymise"])
    assert result.exit_code == 1 and "Unknown phone region XX" in result.stderr and "Traceback" not in result.output


def test_cli_commands(study, tmp_path):
    db = study.path
    study.close()
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "pseudonymise", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["replaced"] >= 8
    listed = json.loads(runner.invoke(main, ["--db", db, "pseudonyms", "--kind", "EMAIL", "--json"]).stdout)
    assert [m["original"] for m in listed["mentions"]] == ["patel.family@example.com"]
    mid = listed["mentions"][0]["mention_id"]
    assert runner.invoke(main, ["--db", db, "pseudonyms", "undo", str(mid)]).exit_code == 0
    assert runner.invoke(main, ["--db", db, "pseudonyms", "accept", str(mid)]).exit_code == 0
    assert runner.invoke(main, ["--db", db, "pseudonyms", "add", "Right", "--kind", "PERSON"]).exit_code == 0
    out = runner.invoke(main, ["--db", db, "pseudonyms", "rename", "[EMAIL 1]", "[EMAIL A]"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["--db", db, "pseudonyms", "reveal", "[EMAIL A]"])
    assert "patel.family@example.com" in out.stdout
    out = runner.invoke(main, ["--db", db, "pseudonyms", "reveal", "[NOPE 1]"])
    assert out.exit_code == 1 and "No pseudonym named" in out.stderr and "Traceback" not in out.output
    text = runner.invoke(main, ["--db", db, "pseudonyms"]).stdout
    assert "replaced" in text and "->" in text
    assert runner.invoke(main, ["--db", db, "pseudonyms", "reverse", "--yes"]).exit_code == 0


# ---------------------------------------------------------------------------------------------
# A trained NER, when one is there (a tiny pipeline made here stands in for en_core_web_sm)


def test_ner_path(tmp_path, monkeypatch):
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Quilla Vantreese"},
                        {"label": "GPE", "pattern": "Kingsmead"}])
    nlp.to_disk(tmp_path / "tiny_ner")
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", str(tmp_path / "tiny_ner"))
    from pipelines.pseudonymise import ner_pipeline

    model = ner_pipeline()
    assert model is not None
    text = "We met Quilla Vantreese near Kingsmead, and Zorblax."
    mentions = detect(text, doc=model(text))
    assert [(m.text, m.source) for m in mentions if m.replace] == [("Quilla Vantreese", "ner")]
    from insight import Workspace

    with Workspace(tmp_path / "n.duckdb") as ws:
        write(tmp_path, "n.txt", "Interviewer: Hi.\n\nP1: " + text + "\n")
        ws.ingest([tmp_path / "n.txt"], study="s")
        result = pseudonymise(ws.con, ws.study_id("s"))
        assert result["ner"].startswith("trained:") and "Quilla" not in texts(ws)[0]
    monkeypatch.setenv("INSIGHT_SPACY_MODEL", "blank")
    assert ner_pipeline() is None


# ---------------------------------------------------------------------------------------------
# The sample study


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    db = str(folder / "sample.duckdb")
    runner = CliRunner()
    result = runner.invoke(main, ["--db", db, "ingest", str(CORPORA), "--study", "sample"])
    assert result.exit_code == 0, result.output
    from insight import Workspace

    with Workspace(db) as ws:
        before = texts(ws)
        ws.con.execute("CHECKPOINT")
    shutil.copy(db, folder / "plain.duckdb")
    result = runner.invoke(main, ["--db", db, "pseudonymise", "--json"])
    assert result.exit_code == 0, result.output
    return db, before, json.loads(result.stdout)


PARTICIPANT_NAMES = ["Margaret", "Dave Okafor", "Okafor", "Jordan", "Aisha Begum", "Aisha", "Gareth", "Tomasz"]
OTHER_NAMES = ["Dennis", "Brenda", "Joanne", "Kirsty", "Lorraine", "Andrei", "Kev", "Shaz", "Hughes", "Patel"]


def test_sample_study_names_are_replaced_consistently(sample):
    from insight import Workspace

    db, before, result = sample
    with Workspace(db, read_only=True) as ws:
        after = texts(ws)
        assert check_offsets(ws) > 1000
        for name in PARTICIPANT_NAMES + OTHER_NAMES:
            pattern = re.compile(rf"\b{re.escape(name)}\b", re.IGNORECASE)
            assert any(pattern.search(t) for t in before), name
            assert not any(pattern.search(t) for t in after), name
        # one person, one pseudonym, in every document and speaker label
        rows = ws.con.execute("SELECT m.original, e.label, m.document_id FROM pii_mentions m JOIN pii_entities e "
                              "USING (study_id, entity_id) WHERE m.status = 'replaced' AND m.kind = 'PERSON'").fetchall()
        label_of: dict[str, set] = defaultdict(set)
        docs_of: dict[str, set] = defaultdict(set)
        for original, label, doc in rows:
            label_of[original.lower()].add(label)
            docs_of[label].add(doc)
        assert all(len(labels) == 1 for labels in label_of.values()), label_of
        assert len(label_of["margaret"]) == 1
        assert label_of["dave"] == label_of["okafor"] == label_of["dave okafor"]
        assert label_of["aisha"] == label_of["aisha begum"]
        assert max(len(d) for d in docs_of.values()) >= 5  # Dennis, across D02's diary entries
        speakers = {s for (s,) in ws.con.execute("SELECT DISTINCT speaker FROM segments WHERE speaker IS NOT NULL")
                    .fetchall()}
        assert not speakers & {"Margaret", "DAVE OKAFOR", "Jordan", "Aisha Begum", "Gareth", "Tomasz"}
        assert label_of["margaret"] <= speakers
        names = {n for (n,) in ws.con.execute("SELECT name FROM participants WHERE name IS NOT NULL").fetchall()}
        assert not names & {"Margaret", "Dave Okafor", "Jordan", "Aisha Begum", "Gareth", "Tomasz"}
    # few false alarms: places and services stay
    joined = "\n".join(after)
    for place in ("Kingsmead", "Millbrook", "Universal Credit", "Riverside", "Hollins Park", "Northfield", "Eastgate"):
        assert place in joined, place


def test_sample_study_pseudonymised_at_ingest_matches(sample, tmp_path):
    """Pseudonymising file by file at ingest gives the same text as pseudonymising the study after."""
    db, _, _ = sample
    other = str(tmp_path / "ingest.duckdb")
    result = CliRunner().invoke(main, ["--db", other, "ingest", str(CORPORA / "interviews"), "--study", "sample",
                                       "--pseudonymise"])
    assert result.exit_code == 0, result.output
    from insight import Workspace

    def interviews(path):
        with Workspace(path, read_only=True) as ws:
            rows = ws.con.execute("SELECT title, text FROM documents WHERE kind = 'interview' ORDER BY title").fetchall()
        return {t: re.sub(r"\[([A-Z ]+) \d+\]", r"[\1]", x) for t, x in rows}

    assert interviews(other) == interviews(db)


def test_a_pseudonym_undone_stays_undone_in_new_documents(study, tmp_path):
    ws = study
    sid = ws.study_id("s")
    pseudonymise(ws.con, sid)
    label = labels_of(ws, "Patel").pop()
    undo(ws.con, study_id=sid, label=label, actor="ann")
    write(tmp_path, "c.txt", "Interviewer: And then?\n\nP3: Mr Patel came round again.\n")
    ws.ingest([tmp_path / "c.txt"], study="s", pseudonymise=True)
    assert all("Patel" in t for t in texts(ws))
    assert set(review(ws.con, sid, label=label).status) == {"undone"}
