"""The workbench with a team (``AppTest``): people log in by name, a failed log-in slows the next try
across reloads, every coding records the person logged in, each role is refused what it may not do
before anything is written, a blind coder's Code page shows their sample only, and the lead
adjudicates on the Agreement page."""

from __future__ import annotations

import pytest

from insight import Workspace
from insight import access
from insight.errors import InsightError
from test_app import app, built, clean, db, ro  # noqa: F401  (the small study and its fixtures)

LEAD, CODER, VIEWER = ("Priya Shah", "priya's long password"), ("Tom Reid", "tom's long password"), \
    ("Vic Lowe", "vic's long password")


@pytest.fixture
def team(db):
    access.add_user(db, *LEAD, "lead")
    access.add_user(db, *CODER, "coder")
    access.add_user(db, *VIEWER, "viewer")
    return db


def log_in(at, name: str, password: str):
    at.text_input(key="insight.login.name").set_value(name)
    at.text_input(key="insight.login.password").set_value(password)
    return next(b for b in at.button if b.label == "Log in").click().run()


def test_log_in_by_name_and_the_coder_of_a_coding_is_the_login(team):
    at = app("coding")
    assert [t.value for t in at.title] == ["Insight"] and not any(b.key == "coding.accept" for b in at.button)
    log_in(at, *CODER)
    clean(at)
    assert at.title[0].value == "Code"
    assert not any(t.key == "shell.coder" for t in at.sidebar.text_input)  # no name box: the login is the name
    assert any("Tom Reid" in c.value and "coder" in c.value for c in at.sidebar.caption)
    assert "Run auto-coders" not in at.segmented_control(key="coding.view").options
    with ro(team) as ws:
        doc = int(ws.documents("Council")["document_id"].iloc[0])
        text = ws.document(doc)["text"]
    at.selectbox(key="coding.hand.doc").set_value(doc).run()
    at.session_state[f"coding.passages.{doc}"] = {"action": "code", "start": 0, "end": 12, "code": "Damp",
                                                  "text": text[:12], "nonce": "t1"}
    at.run()
    clean(at)
    with ro(team) as ws:
        coded = ws.codings(study="Council", coder="Tom Reid")
        history = ws.history(study="Council")
    assert list(zip(coded["start"], coded["end"], coded["code"])) == [(0, 12, "Damp")]
    assert history.iloc[0]["actor"] == "Tom Reid"


def test_a_wrong_password_is_refused_and_slowed_across_reloads(team, monkeypatch):
    from insight import logins

    clock = [1_000_000.0]
    monkeypatch.setattr(logins, "_now", lambda: clock[0])
    at = app()
    for n in range(1, 4):
        log_in(at, "Tom Reid", f"wrong guess {n}")
        assert any("do not match" in e.value for e in at.error) and at.title[0].value == "Insight"
    at = app()  # a reload: a new session, the same server-side count
    log_in(at, "tom reid", "wrong guess 4")
    assert any("wait 5 s" in e.value for e in at.error)
    at = app()
    log_in(at, *CODER)  # the right password, but too soon: refused unchecked
    assert any("Too many failed log-ins for this account (4 in a row): try again in 5 s" in e.value for e in at.error)
    assert at.title[0].value == "Insight" and logins.failures(team, "account:tom reid") == 4
    clock[0] += 6
    log_in(at, *CODER)
    clean(at)
    assert at.title[0].value == "Overview" and logins.failures(team, "account:tom reid") == 0


def test_a_session_ends_after_the_idle_hours(team, monkeypatch):
    at = app()
    log_in(at, *LEAD)
    clean(at)
    at.session_state[access.SEEN_KEY] = at.session_state[access.SEEN_KEY] - access.SESSION_HOURS * 3600 - 1
    at.run()
    assert at.title[0].value == "Insight" and any("after 8 hours" in i.value for i in at.info)


# Every writing verb the app calls, with arguments as the pages give them: a coder may make the
# first group (as themselves), nobody but a lead the second, a viewer none.
CODER_CALLS = [("code_passage", (1, 0, 5, "Damp", "{me}"), {}), ("accept", (1, "{me}"), {}),
               ("reject", (1, "{me}"), {}), ("remove_coding", (1, "{me}"), {}), ("recode", (1, "Damp", "{me}"), {}),
               ("set_coding_memo", (1, "memo", "{me}"), {}), ("undo", ("{me}",), {}),
               ("add_memo", ("A memo",), {"author": "{me}"})]
LEAD_CALLS = [("ingest", (["x.txt"],), {}), ("load_codebook", ("book.yaml",), {}), ("save_codebook", (None,), {}),
              ("edit_code", ("Damp",), {}), ("add_code", ("New",), {}), ("delete_code", ("Damp",), {}),
              ("merge_codes", ("Damp", "Repairs"), {}), ("code", (), {}), ("run_themes", (), {}),
              ("run_gaps", (), {}), ("pseudonymise", (), {}), ("reveal_pseudonym", ("[PERSON 1]",), {}),
              ("reverse_pseudonyms", (), {}), ("accept_pseudonyms", ([1],), {}), ("fold_code", ("a", "b"), {}),
              ("team.assign", ("Tom Reid",), {"share": 0.2}), ("team.unblind", (1,), {}),
              ("team.adjudicate", (1, 1, "Damp", "apply"), {}), ("team.settle_agreed", (1,), {})]


def _fill(value, me):
    return me if value == "{me}" else value


@pytest.mark.parametrize("verb,args,kwargs", CODER_CALLS + LEAD_CALLS, ids=lambda x: x if isinstance(x, str) else "")
def test_each_action_is_checked_before_anything_is_written(verb, args, kwargs, monkeypatch, tmp_path):
    from insight.ui import db as ui_db

    opened = []
    monkeypatch.setenv("INSIGHT_DB", str(tmp_path / "never.duckdb"))
    monkeypatch.setattr(ui_db.Gate, "write", lambda self, *a, **k: opened.append(a))
    for role, name in (("viewer", "Vic Lowe"), ("coder", "Tom Reid")):
        login = access.Login(role, name)
        monkeypatch.setattr(access, "current_login", lambda login=login: login)
        call_args = tuple(_fill(a, name) for a in args)
        call_kwargs = {k: _fill(v, name) for k, v in kwargs.items()}
        if role == "coder" and (verb, args, kwargs) in CODER_CALLS:
            ui_db.act(verb, *call_args, **call_kwargs)  # allowed as themselves ...
            assert len(opened) == 1
            opened.clear()
            other = tuple("Ann" if a == name else a for a in call_args)
            with pytest.raises(InsightError, match="cannot act as"):  # ... never as someone else
                ui_db.act(verb, *other, **{k: "Ann" if v == name else v for k, v in call_kwargs.items()})
        else:
            with pytest.raises(InsightError, match=f"A {role} cannot"):
                ui_db.act(verb, *call_args, **call_kwargs)
        assert opened == [] and not (tmp_path / "never.duckdb").exists()


def test_a_viewer_on_the_code_page_changes_nothing(team):
    at = app("coding", coding_view="Review suggestions")
    log_in(at, *VIEWER)
    with ro(team) as ws:
        before = ws.codings(study="Council")
    at.button(key="coding.accept").click().run()
    assert any("A viewer cannot" in e.value for e in at.error)
    with ro(team) as ws:
        assert ws.codings(study="Council").equals(before)


def test_a_blind_coder_sees_the_sample_only_and_the_lead_adjudicates(team):
    from insight.team import Team

    with Workspace(team) as ws:
        sample = Team(ws).assign("Tom Reid", units=3, reference="Ann", seed=2, lead="Priya Shah")
        units = Team(ws).blind_for("Tom Reid")
        documents = ws.documents("Council").set_index("document_id")
        docs = {f"{documents.title[d]} \u00b7 {documents.kind[d]}" for d in set(units["document_id"])}
    at = app("coding")
    log_in(at, *CODER)
    clean(at)
    assert any("Blind coding" in i.value for i in at.info)
    assert set(at.selectbox(key="coding.hand.doc").options) == docs and len(docs) < len(documents)
    at.switch_page("pages/agreement.py").run()
    assert any("Your sample is blind" in i.value for i in at.info)
    at.switch_page("pages/browse.py").run()
    clean(at)

    first = int(units["segment_id"].iloc[0])
    with Workspace(team) as ws:
        ws.code_segment(first, "Transport", "Tom Reid")  # as Tom would on the Code page
        split = Team(ws).disagreements(sample["name"])
    lead = app("agreement", agreement_view="Samples")
    log_in(lead, *LEAD)
    clean(lead)
    assert not any("is blind" in i.value for i in lead.info)  # a lead reads a blind sample
    lead.button(key="agreement.unblind").click().run()
    clean(lead)
    with ro(team) as ws:
        assert not Team(ws).assignments().iloc[0]["blind"]
    assert any("Ann" in m.value and "Tom Reid" in m.value and "on 3 units" in m.value for m in lead.markdown)
    lead.button(key="agreement.settle").click().run()
    target = split.iloc[0]
    lead.button(key=f"agreement.adj.{int(target.segment_id)}.{target.code}.apply").click().run()
    clean(lead)
    with ro(team) as ws:
        log = Team(ws).decisions(sample["name"])
        consensus = ws.codings(study="Council", coder="Consensus")
    assert set(log["decided_by"]) == {"Priya Shah"} and log.iloc[0]["code"] == target.code
    assert (int(target.segment_id), target.code) in set(zip(consensus["segment_id"], consensus["code"]))


def test_many_sessions_coding_at_once_lose_nothing(team):
    """Sessions of one app process write through one gate (``insight/ui/db.py``): each write opens the
    database alone, under the gate's lock, while other threads read; every coding lands, under its coder."""
    import threading

    from insight.ui.db import Gate

    gate = Gate(str(team))
    with ro(team) as ws:
        segments = ws.segments("Council").head(10)
        before = len(ws.codings(study="Council"))
    coders = ["Tom Reid", "Bea", "Cal", "Dee"]  # none of them coded before
    failures = []

    def work(coder: str) -> None:
        try:
            for row in segments.itertuples():
                gate.write("code_segment", int(row.segment_id), "Damp", coder)
                with gate.lock:
                    gate.reader().codings(study="Council")
                gate.release()
        except Exception as exc:  # noqa: BLE001  (reported below)
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(c,)) for c in coders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with ro(team) as ws:
        codings = ws.codings(study="Council")
    assert len(codings) == before + len(coders) * len(segments)
    mine = codings[codings["coder"].isin(coders) & (codings["code"] == "Damp")]
    assert mine.groupby("coder")["segment_id"].nunique().to_dict() == {c: len(segments) for c in coders}


def _charts(at) -> str:
    return " ".join(chart.proto.spec for chart in at.get("plotly_chart"))


def test_a_blind_coders_figures_wait_for_the_lead(team):
    """While Tom's sample is blind, others see none of his counts (Overview's charts, agreement
    pairs, Test & refine's gold coders); the lead does, and everyone does once it is unblinded."""
    from insight.team import Team

    with Workspace(team) as ws:
        Team(ws).assign("Tom Reid", units=3, reference="Ann", seed=2, lead="Priya Shah")
        for segment in Team(ws).blind_for("Tom Reid")["segment_id"]:
            ws.code_segment(int(segment), "Transport", "Tom Reid")
    viewer = app()
    log_in(viewer, *VIEWER)
    clean(viewer)
    assert "Ann" in _charts(viewer) and "Tom Reid" not in _charts(viewer)
    assert any("1 coder(s) left out of these figures while samples are blind" in c.value for c in viewer.caption)
    viewer.switch_page("pages/refine.py").run()
    clean(viewer)
    assert "Tom Reid" not in viewer.selectbox(key="refine.gold").options
    lead = app()
    log_in(lead, *LEAD)
    clean(lead)
    assert "Tom Reid" in _charts(lead)
    lead.switch_page("pages/refine.py").run()
    assert "Tom Reid" in lead.selectbox(key="refine.gold").options
    with Workspace(team) as ws:
        Team(ws).unblind(1, "Priya Shah")
    viewer.switch_page("pages/overview.py").run()
    assert "Tom Reid" in _charts(viewer)
