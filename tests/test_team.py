"""A team: accounts per person, slowed log-ins, what each role may do, samples assigned blind,
agreement on a sample and the lead's adjudication (``insight/access.py``, ``insight/logins.py``,
``insight/team.py``, ``insight users`` and ``insight assign``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from insight import Workspace
from insight.cli import main
from insight.errors import InsightError
from insight.team import Team

# A panel export as councils have them: a BOM, Windows line endings, a blank answer, an HTML
# entity, two open questions, a ward column and a first coder's codes in their own columns.
PANEL = ("\ufeffid,ward,q1,codes_q1,q2,codes_q2\r\n"
         + "".join(f'R{i:02d},{"Eastgate" if i % 3 else "Northfield"},"{q1}",{c1},"{q2}",{c2}\r\n'
                   for i, (q1, c1, q2, c2) in enumerate([
                       ("Black mould in the bedroom again", "Damp", "The bus stops at six", "Transport"),
                       ("Nobody came to fix the boiler", "Repairs", "", ""),
                       ("Damp &amp; condensation on every window", "Damp", "Trains are too dear", "Transport"),
                       ("The repair line never answers", "Repairs", "Bus drivers are kind", ""),
                       ("Mould behind the wardrobe", "Damp;Repairs", "No evening buses", "Transport"),
                       ("Fine, no complaints", "", "The 42 is always late", "Transport"),
                       ("Leaking roof for a year", "Repairs", "I walk everywhere", ""),
                       ("Condensation streams down the glass", "Damp", "Taxi costs a fortune", "Transport"),
                       ("They fixed the door quickly", "Repairs", "Buses are fine", "Transport"),
                       ("Mouldy ceiling in the bathroom", "Damp", "Cycle lanes would help", ""),
                       ("Windows rotten, draughty", "Repairs", "Bus pass saved me", "Transport"),
                       ("Damp patch by the door", "Damp", "No trains on Sunday", "Transport"),
                   ], start=1)))


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_bytes(PANEL.encode("utf-8"))
    db = tmp_path / "team.duckdb"
    with Workspace(db) as ws:
        report = ws.ingest([path], study="Panel", id_col="id", text_cols=["q1", "q2"], attr_cols=["ward"],
                           code_cols=["codes_q1=q1", "codes_q2=q2"], coder="Ann")
        assert not report.failed, report.to_dict()
    return db


def segments(ws) -> pd.DataFrame:
    return ws.con.execute("SELECT segment_id, document_id, field FROM segments ORDER BY 1").df()


# -- accounts ----------------------------------------------------------------------------------


def test_accounts_are_people_with_roles_and_hashed_passwords(tmp_path):
    from insight import access

    db = str(tmp_path / "a.duckdb")
    access.add_user(db, "Priya Shah", "priya's long password", "lead")
    access.add_user(db, "Tom  Reid", "tom's long password", "coder")
    stored = access.password_file(db).read_text()
    assert "long password" not in stored and stored.count("scrypt$") == 2
    assert oct(access.password_file(db).stat().st_mode & 0o777) == "0o600"
    assert [(u["name"], u["role"]) for u in access.users(db)] == [("Priya Shah", "lead"), ("Tom Reid", "coder")]
    assert access.check_user(db, "tom reid", "tom's long password") == access.Login("coder", "Tom Reid")
    assert access.check_user(db, "Tom Reid", "priya's long password") is None
    assert access.check_user(db, "Nobody", "tom's long password") is None
    with pytest.raises(InsightError, match="already an account called 'Tom Reid'"):
        access.add_user(db, "TOM REID", "another long password", "viewer")
    for name in ("Consensus", "auto:rules", "", "x" * 61):
        with pytest.raises(InsightError):
            access.add_user(db, name, "a long enough password", "coder")
    with pytest.raises(InsightError, match="too short"):
        access.add_user(db, "Vic", "short", "viewer")
    with pytest.raises(InsightError, match="Unknown role"):
        access.add_user(db, "Vic", "a long enough password", "researcher")
    with pytest.raises(InsightError, match="only lead"):
        access.remove_user(db, "Priya Shah")
    access.set_user_password(db, "Tom Reid", "tom's new long password")
    assert access.check_user(db, "Tom Reid", "tom's long password") is None
    assert access.check_user(db, "Tom Reid", "tom's new long password").user == "Tom Reid"
    assert access.remove_user(db, "tom reid") == "Tom Reid" and access.remove_user(db, "Priya Shah") == "Priya Shah"
    assert not access.password_file(db).exists()


def test_role_passwords_still_work_and_a_researcher_is_a_lead(tmp_path):
    from insight import access

    db = str(tmp_path / "r.duckdb")
    access.set_password(db, "the researcher's long password")
    assert access.check_password(db, "the researcher's long password") == "researcher"
    assert access.lead_role("researcher") == "lead" and access.lead_exists(db)
    access.add_user(db, "Tom Reid", "tom's long password", "coder")
    assert not access.lead_exists(db)  # accounts retire the role passwords: a coder alone leads nobody
    access.add_user(db, "Priya Shah", "priya's long password", "lead")
    assert access.lead_exists(db) and access.roles_with_password(db) == ["researcher"]


def test_a_network_address_needs_a_lead(tmp_path, monkeypatch):
    from insight import access
    from insight import serve as serving

    db = str(tmp_path / "s.duckdb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    started = []
    monkeypatch.setattr(serving, "run_server", lambda cmd, env: started.append(cmd))
    access.add_user(db, "Tom Reid", "tom's long password", "coder")
    with pytest.raises(InsightError, match="no lead can log in") as refused:
        serving.serve(db, host="0.0.0.0")
    assert "insight users add NAME --role lead" in refused.value.hint and started == []
    access.add_user(db, "Priya Shah", "priya's long password", "lead")
    serving.serve(db, host="0.0.0.0")
    assert len(started) == 1


def test_users_commands(tmp_path):
    db = str(tmp_path / "u.duckdb")
    run = CliRunner()
    done = run.invoke(main, ["--db", db, "users", "add", "Priya Shah", "--role", "lead"],
                      input="priya's long password\n")
    assert done.exit_code == 0, done.output
    assert "Added Priya Shah (lead)" in done.stdout
    run.invoke(main, ["--db", db, "users", "add", "Tom Reid", "--role", "coder"], input="tom's long password\n")
    listed = run.invoke(main, ["--db", db, "users", "list", "--json"])
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)["users"]] == [("Priya Shah", "lead"),
                                                                                   ("Tom Reid", "coder")]
    changed = run.invoke(main, ["--db", db, "users", "passwd", "Tom Reid"], input="tom's new long password\n")
    assert changed.exit_code == 0 and "New password set for Tom Reid" in changed.stdout
    from insight.access import check_user

    assert check_user(db, "Tom Reid", "tom's new long password")
    bad = run.invoke(main, ["--db", db, "users", "remove", "Nobody"])
    assert bad.exit_code == 1 and "no account called 'Nobody'" in bad.stderr
    assert "Removed Tom Reid" in run.invoke(main, ["--db", db, "users", "remove", "Tom Reid"]).stdout


# -- log-ins slowed on the server ------------------------------------------------------------


def test_failed_logins_are_counted_per_account_and_address_and_wait_grows(tmp_path):
    from insight import logins

    db = str(tmp_path / "l.duckdb")
    tom = logins.keys("Tom Reid", "10.0.0.7")
    for n in range(1, 4):
        assert logins.failed(db, tom, now=1000.0) == 0  # three free tries
    assert logins.failed(db, tom, now=1000.0) == 5
    with pytest.raises(logins.LoginThrottled, match=r"this account \(4 in a row\): try again in 3 s"):
        logins.check_allowed(db, logins.keys("tom reid", "10.0.0.8"), now=1002.0)  # any address, any spelling
    with pytest.raises(logins.LoginThrottled, match="this address"):
        logins.check_allowed(db, logins.keys("Priya Shah", "10.0.0.7"), now=1002.0)  # same address, other name
    logins.check_allowed(db, logins.keys("Priya Shah", "10.0.0.9"), now=1002.0)
    logins.check_allowed(db, tom, now=1005.0)  # the wait is over
    assert logins.failed(db, tom, now=1005.0) == 10
    assert logins.failures(db, "account:tom reid") == 5
    logins.succeeded(db, tom)
    assert logins.failures(db, "account:tom reid") == 0
    assert [logins.wait_after(n) for n in range(3, 10)] == [0, 5, 10, 20, 40, 80, 160]


# -- what each role may do -------------------------------------------------------------------


def test_roles_and_who_may_act_as_whom():
    from insight.access import Login, bind, may, require
    from insight.workspace import Workspace as W

    assert may("lead", "save_codebook") and may("researcher", "team.assign")
    assert may("coder", "code_passage") and may("coder", "undo") and not may("coder", "save_codebook")
    assert not may("coder", "team.assign") and not may("coder", "pseudonymise") and not may("viewer", "accept")
    tom, priya = Login("coder", "Tom Reid"), Login("lead", "Priya Shah")
    require(tom, "code_passage", bind(W.code_passage, None, 1, 0, 5, "Damp", "Tom Reid"))
    with pytest.raises(InsightError, match="Tom Reid cannot act as 'Ann'"):
        require(tom, "code_passage", bind(W.code_passage, None, 1, 0, 5, "Damp", "Ann"))
    with pytest.raises(InsightError, match="cannot act as 'anyone'"):
        require(tom, "undo", bind(W.undo, None))  # a coder undoes only their own changes
    with pytest.raises(InsightError, match="A coder cannot change the study"):
        require(tom, "save_codebook")
    with pytest.raises(InsightError, match="A viewer cannot"):
        require(Login("viewer", "Vic"), "accept", bind(W.accept, None, 1, "Vic"))
    require(priya, "load_codebook", bind(W.load_codebook, None, "book.yaml"))  # a lead may leave the author out


# -- samples, blinding, agreement, adjudication -------------------------------------------------


def test_a_sample_is_stratified_and_reproducible(study):
    from insight.team import allocate

    with Workspace(study) as ws:
        team = Team(ws)
        first = team.assign("Tom Reid", share=0.5, by="question", seed=7, reference="Ann", lead="Priya Shah")
        again = team.assign("Tom Reid", share=0.5, by="question", seed=7, reference="Ann", name="again")
        other = team.assign("Tom Reid", share=0.5, by="question", seed=8, reference="Ann", name="other seed")
        units = {a: set(Team(ws).con.execute("SELECT segment_id FROM assignment_units WHERE assignment_id = ?",
                                             [a]).fetchnumpy()["segment_id"].tolist())
                 for a in (first["assignment_id"], again["assignment_id"], other["assignment_id"])}
        seen = ws.con.execute("SELECT DISTINCT segment_id FROM coverage WHERE coder = 'Ann' UNION SELECT segment_id "
                              "FROM coding_segments WHERE coder = 'Ann'").df()
        by_field = segments(ws).merge(seen).groupby("field").size()
    # Ann saw 12 q1 answers and 11 q2 answers (the blank one is no text): half of each, rounded by the
    # largest remainder, is 6 and 6 of 12 overall (share 0.5 of 23 rounds to 12).
    assert by_field.to_dict() == {"q1": 12, "q2": 11}
    assert first["population"] == 23 and first["units"] == 12
    assert first["strata"] == {"q1": [6, 12], "q2": [6, 11]} == {k: [int(v), int(by_field[k])] for k, v in
                                                               allocate(by_field, 12).items()}
    assert units[first["assignment_id"]] == units[again["assignment_id"]] != units[other["assignment_id"]]
    with Workspace(study) as ws:
        by_ward = Team(ws).assign("Bea", units=5, by="ward", seed=1)
        assert sum(n for n, _ in by_ward["strata"].values()) == 5
        with pytest.raises(InsightError, match="neither question, document nor an attribute"):
            Team(ws).assign("Bea", units=5, by="age", seed=1)
        with pytest.raises(InsightError, match="a share between 0 and 1"):
            Team(ws).assign("Bea", share=1.5)


def _code(ws, coder: str, segment_id: int, code: str) -> int:
    return ws.code_segment(int(segment_id), code, coder)


def test_blind_sample_hides_codings_both_ways_until_the_lead_unblinds(study):
    with Workspace(study) as ws:
        team = Team(ws)
        sample = team.assign("Tom Reid", units=4, by="question", seed=3, reference="Ann", lead="Priya Shah")
        units = team.blind_for("Tom Reid")["segment_id"].tolist()
        assert len(units) == 4
        toms = _code(ws, "Tom Reid", units[0], "Damp")
        outside = ws.con.execute("SELECT min(segment_id) FROM segments WHERE segment_id NOT IN "
                                 f"({', '.join(map(str, units))})").fetchone()[0]
        ann_outside = _code(ws, "Ann", outside, "Transport")
        codings = ws.codings()
        anns_on_sample = set(ws.con.execute(
            "SELECT DISTINCT coding_id FROM coding_segments WHERE coder = 'Ann' AND segment_id IN "
            f"({', '.join(map(str, units))})").fetchnumpy()["coding_id"].tolist())
        assert anns_on_sample  # the reference coded the sample's units
        hidden_from_tom = set(team.hidden_codings("Tom Reid"))
        assert hidden_from_tom == anns_on_sample and ann_outside not in hidden_from_tom
        assert set(team.hidden_codings("Ann")) == {toms}  # nor does Ann see Tom's
        assert set(team.hidden_codings(None)) == {toms}  # a viewer neither
        assert team.hidden_codings("Priya Shah", lead=True) == []
        assert team.blind_coders("Ann") == ["Tom Reid"] and team.blind_coders("Tom Reid") == []
        assert toms in codings["coding_id"].tolist()  # hidden, not gone
        team.unblind(sample["assignment_id"], "Priya Shah")
        assert team.hidden_codings("Tom Reid") == [] and team.hidden_codings("Ann") == []
        row = team.assignments().iloc[0]
        assert not row["blind"] and row["unblinded_by"] == "Priya Shah" and row["coded"] == 1
        with pytest.raises(InsightError, match="not blind any more"):
            team.unblind(sample["name"], "Priya Shah")


def test_agreement_on_a_sample_matches_sklearn_and_adjudication_settles_it(study):
    from sklearn.metrics import cohen_kappa_score

    with Workspace(study) as ws:
        team = Team(ws)
        sample = team.assign("Tom Reid", units=8, by="question", seed=11, reference="Ann", lead="Priya Shah")
        units = team.blind_for("Tom Reid")["segment_id"].tolist()
        ann = ws.con.execute("SELECT segment_id, code FROM coding_segments WHERE coder = 'Ann'").df()
        # Tom agrees with Ann on the first five units, misses Ann's codes on the sixth, and adds Damp on the rest.
        for i, unit in enumerate(units):
            for code in ann.loc[ann["segment_id"] == unit, "code"]:
                if i < 5:
                    _code(ws, "Tom Reid", unit, code)
            if i >= 6:
                _code(ws, "Tom Reid", unit, "Damp")
        result = team.sample_agreement(sample["name"], bootstrap=0)
        assert result["n_units"] == 8 and result["pairs"][0]["coders"] == ["Ann", "Tom Reid"]
        pair = result["pairs"][0]
        for row in pair["codes"]:
            a = [int(((ann["segment_id"] == u) & (ann["code"] == row["code"])).any()) for u in units]
            b = [int(bool(ws.con.execute("SELECT 1 FROM coding_segments WHERE coder = 'Tom Reid' AND segment_id = ? "
                                         "AND code = ?", [u, row["code"]]).fetchone())) for u in units]
            expected = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else None
            assert (row["kappa"] is None and (expected is None or np.isnan(expected))) or \
                row["kappa"] == pytest.approx(expected, abs=1e-4), row
            assert row["percent_agreement"] == pytest.approx(np.mean(np.array(a) == np.array(b)), abs=1e-4)

        _code(ws, "Cal", units[0], "Damp")  # a third person who saw one unit of the sample is judged on it alone
        third = team.sample_agreement(sample["name"], bootstrap=0)["pairs"]
        assert [(p["coders"], p["overall"]["n_units"]) for p in third] == [
            (["Ann", "Tom Reid"], 8), (["Ann", "Cal"], 1), (["Tom Reid", "Cal"], 1)]
        ws.remove_coding(int(ws.codings(coder="Cal")["coding_id"].iloc[0]), "Cal")
        ws.con.execute("DELETE FROM coverage WHERE coder = 'Cal'")
        split = team.disagreements(sample["name"])
        expected_split = {(u, c) for u in units for c in ann.loc[ann["segment_id"] == u, "code"] if
                          units.index(u) == 5 or (units.index(u) >= 6 and c != "Damp")}
        expected_split |= {(u, "Damp") for u in units[6:]
                           if not ((ann["segment_id"] == u) & (ann["code"] == "Damp")).any()}
        assert set(zip(split["segment_id"], split["code"])) == expected_split
        agreed = team.settle_agreed(sample["name"], "Priya Shah")
        for row in split.itertuples():
            team.adjudicate(sample["name"], int(row.segment_id), row.code,
                            "apply" if row.coded_by == "Ann" else "omit", "Priya Shah")
        first = split.iloc[0]
        team.adjudicate(sample["name"], int(first.segment_id), first.code, "omit", "Priya Shah", note="changed my mind")
        consensus = ws.con.execute("SELECT segment_id, code FROM coding_segments WHERE coder = 'Consensus' "
                                   "AND status = 'accepted'").df()
        ann_on_sample = {(u, c) for u, c in zip(ann["segment_id"], ann["code"]) if u in units}
        assert set(zip(consensus["segment_id"], consensus["code"])) == ann_on_sample - {(first.segment_id, first.code)}
        assert agreed == len({(u, c) for u, c in ann_on_sample if units.index(u) < 5})
        log = team.decisions(sample["name"])
        assert len(log) == agreed + len(split) + 1 and set(log["decided_by"]) == {"Priya Shah"}
        assert log.iloc[0]["note"] == "changed my mind" and log.iloc[0]["decision"] == "omit"
        actors = ws.con.execute("SELECT DISTINCT actor FROM coding_history WHERE coder = 'Consensus'").fetchall()
        assert actors == [("Priya Shah",)]
        after = team.sample_agreement(sample["name"], bootstrap=0)
        assert [p["coders"] for p in after["pairs"]] == [["Ann", "Tom Reid"], ["Ann", "Consensus"],
                                                         ["Tom Reid", "Consensus"]]
        with pytest.raises(InsightError, match="not in"):
            team.adjudicate(sample["name"], -1, "Damp", "apply", "Priya Shah")


def test_assign_commands_print_what_was_drawn(study):
    run = CliRunner()
    done = run.invoke(main, ["--db", str(study), "assign", "Tom Reid", "--share", "0.5", "--by", "question",
                             "--seed", "7", "--reference", "Ann"])
    assert done.exit_code == 0, done.output
    with Workspace(study, read_only=True) as ws:
        documents = ws.con.execute("SELECT count(DISTINCT document_id) FROM assignment_units JOIN segments "
                                   "USING (segment_id)").fetchone()[0]
    assert f"Assigned 12 units in {documents} documents to Tom Reid" in done.stdout
    assert "by question: q1 6 of 12, q2 6 of 11" in done.stdout
    from insight.access import add_user

    add_user(study, "Priya Shah", "priya's long password", "lead")
    refused = run.invoke(main, ["--db", str(study), "assign", "Sam", "--units", "3"])
    assert refused.exit_code == 1 and "'Sam' has no account" in refused.stderr
    listed = run.invoke(main, ["--db", str(study), "assign", "list"])
    assert "Sample 1 for Tom Reid" in listed.stdout and "blind" in listed.stdout
    assert "unblinded" in run.invoke(main, ["--db", str(study), "assign", "unblind", "1"]).stdout
