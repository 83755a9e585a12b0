"""A team codes one study: samples assigned to a second coder, blind until a lead unblinds them,
agreement on each sample, and the lead's adjudication into a consensus coder.

- :func:`assign` draws a sample of units (segments): a share or a number, stratified by question
  (the panel column a segment answers; other segments by document kind), by document, or by a
  participant attribute, reproducible with a seed. It is drawn from the units the reference coder
  saw (when one is named), else from the study, without the interviewer's turns.
- While a sample is blind (:func:`hidden_codings`), its coder sees no one else's codings and no
  suggestions on its units, and nobody but a lead sees that coder's codings there.
- :func:`sample_agreement` compares every pair of people who coded the sample with
  :mod:`insight.reliability`: the sample's coder and the consensus on all of its units (a unit left
  uncoded counts as no code), anyone else on the units they saw.
- :func:`adjudicate` settles one disagreement (unit x code) into the coder ``Consensus``; every
  decision is a row of ``adjudications`` (who decided, when, who had coded it), and the consensus
  coding's history names the lead who decided.

Tables: reads ``segments``, ``documents``, ``attributes``, ``codings`` (``coding_segments``),
``coverage``; writes ``assignments``, ``assignment_units``, ``adjudications``, and through
:mod:`insight.coding` the consensus coder's ``codings``, ``coverage`` and ``coding_history``.
"""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd

from insight import reliability
from insight.access import CONSENSUS
from insight.coding import code_segment, coding_codebook, remove_coding
from insight.coding.units import researcher_segments
from insight.errors import InsightError, NotFound
from insight.statuses import AUTO
from insight.store import frames, next_ids, transaction

BY = ("question", "document")  # besides a participant attribute's name
_HUMAN = "c.method = 'human' AND c.status = 'accepted'"  # a person's codings (imported ones included)


# -- assigning a sample ------------------------------------------------------------------------


def _population(con, study_id: int | None, reference: str | None, include_interviewer: bool) -> pd.DataFrame:
    frame = con.execute(
        "SELECT g.segment_id, g.document_id, coalesce(g.field, d.kind) AS question, "
        "coalesce(g.participant_id, d.participant_id) AS participant_id FROM segments g JOIN documents d "
        "USING (document_id) WHERE ? IS NULL OR d.study_id = ? ORDER BY g.segment_id", [study_id, study_id]).df()
    if not include_interviewer:
        frame = frame[~frame["segment_id"].isin(researcher_segments(con, study_id))]
    if reference is not None:
        seen = {r[0] for r in con.execute(reliability._seen_sql(), [reference, reference]).fetchall()}
        if not seen:
            raise InsightError(f"{reference!r} has coded nothing to sample from.",
                               hint="Name the coder whose work the sample checks (see insight stats), or leave "
                                    "--reference out to sample the whole study.")
        frame = frame[frame["segment_id"].isin(seen)]
    return frame.reset_index(drop=True)


def _strata(con, frame: pd.DataFrame, by: str | None, study_id: int | None) -> pd.Series:
    if by is None:
        return pd.Series("all", index=frame.index)
    if by == "question":
        return frame["question"].astype(str)
    if by == "document":
        return frame["document_id"].astype(str)
    values = con.execute("SELECT a.participant_id, a.value FROM attributes a JOIN participants p USING "
                         "(participant_id) WHERE a.name = ? AND (? IS NULL OR p.study_id = ?)",
                         [by, study_id, study_id]).fetchall()
    if not values:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM attributes ORDER BY 1").fetchall()]
        raise InsightError(f"Cannot stratify by {by!r}: it is neither question, document nor an attribute.",
                           hint="Attributes here: " + (", ".join(names) or "none") + ".")
    lookup = dict(values)
    return frame["participant_id"].map(lambda p: lookup.get(p) or "(none)").astype(str)


def allocate(sizes: pd.Series, total: int) -> pd.Series:
    """Units per stratum, proportional to its size (largest remainders; ties to the first stratum).

    >>> allocate(pd.Series({"a": 50, "b": 30, "c": 20}), 7).tolist()
    [4, 2, 1]
    """
    quota = sizes * total / sizes.sum()
    counts = np.floor(quota).astype(int)
    left = int(total - counts.sum())
    order = (quota - counts).sort_values(ascending=False, kind="stable").index[:left]
    counts[order] += 1
    return counts.clip(upper=sizes)


def assign(con, study_id: int | None, coder: str, *, share: float | None = None, units: int | None = None,
           by: str | None = None, seed: int = 0, reference: str | None = None, name: str | None = None,
           lead: str | None = None, include_interviewer: bool = False) -> dict:
    """Draw a sample of units for ``coder`` (blind until :func:`unblind`); returns what was drawn."""
    if not coder or coder.startswith(AUTO) or coder == CONSENSUS or coder == reference:
        raise InsightError(f"{coder!r} cannot be given a sample.",
                           hint="Assign it to a person other than the reference coder.")
    if (share is None) == (units is None) or (share is not None and not 0 < share <= 1) or (units or 1) < 1:
        raise InsightError("Say how large the sample is: a share between 0 and 1, or a number of units.",
                           hint="e.g. --share 0.2 or --units 50")
    frame = _population(con, study_id, reference, include_interviewer)
    if frame.empty:
        raise InsightError("There are no units to sample.", hint="Ingest documents first.")
    frame["stratum"] = _strata(con, frame, by, study_id)
    total = min(len(frame), units if units is not None else max(1, round(share * len(frame))))
    counts = allocate(frame.groupby("stratum", sort=True).size(), total)
    chosen = pd.concat([group.sample(n=int(counts[stratum]), random_state=seed)
                        for stratum, group in frame.groupby("stratum", sort=True) if counts[stratum]])
    settings = {"share": share, "units": units, "by": by, "seed": seed, "population": len(frame),
                "include_interviewer": include_interviewer}
    with transaction(con):
        (assignment_id,) = next_ids(con, "assignments", "assignment_id")
        name = name or f"Sample {assignment_id} for {coder}"
        if con.execute("SELECT 1 FROM assignments WHERE name = ? AND (study_id IS NOT DISTINCT FROM ?)",
                       [name, study_id]).fetchone():
            raise InsightError(f"There is already an assignment called {name!r}.", hint="Give this one another name.")
        con.execute("INSERT INTO assignments (assignment_id, study_id, name, coder, reference, settings, created_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [assignment_id, study_id, name, coder, reference, json.dumps(settings), lead])
        rows = chosen[["segment_id", "stratum"]].assign(assignment_id=assignment_id)
        with frames(con, _insight_sample=rows):
            con.execute("INSERT INTO assignment_units SELECT assignment_id, segment_id, stratum FROM _insight_sample")
    by_stratum = chosen.groupby("stratum").size()
    sizes = frame.groupby("stratum").size()
    return {"assignment_id": assignment_id, "name": name, "coder": coder, "reference": reference,
            "units": len(chosen), "documents": int(chosen["document_id"].nunique()), "population": len(frame),
            "by": by, "seed": seed, "strata": {s: [int(by_stratum.get(s, 0)), int(n)] for s, n in sizes.items()}}


def resolve(con, assignment: int | str) -> dict:
    """One assignment by id or name."""
    rows = con.execute("SELECT * FROM assignments WHERE CAST(assignment_id AS TEXT) = ? OR name = ? "
                       "ORDER BY assignment_id", [str(assignment), str(assignment)]).df()
    if rows.empty:
        known = [r[0] for r in con.execute("SELECT name FROM assignments ORDER BY assignment_id").fetchall()]
        raise NotFound("assignment", str(assignment), known)
    return rows.iloc[0].to_dict()


def assignments(con, study_id: int | None = None) -> pd.DataFrame:
    """Every assignment with its size, how many of its units its coder has coded, and whether it is blind."""
    return con.execute(
        "SELECT a.assignment_id, a.name, a.coder, a.reference, a.blind, count(u.segment_id) AS units, "
        "count(DISTINCT g.document_id) AS documents, count(u.segment_id) FILTER (WHERE u.segment_id IN "
        f"(SELECT c.segment_id FROM coding_segments c WHERE c.coder = a.coder AND {_HUMAN})) AS coded, "
        "a.created_by, a.created_at, a.unblinded_by, a.unblinded_at, a.settings FROM assignments a "
        "LEFT JOIN assignment_units u USING (assignment_id) LEFT JOIN segments g USING (segment_id) "
        "WHERE ? IS NULL OR a.study_id IS NULL OR a.study_id = ? GROUP BY ALL ORDER BY a.assignment_id",
        [study_id, study_id]).df()


def unblind(con, assignment: int | str, lead: str | None) -> dict:
    """End the blinding of one sample: everyone may see its codings again (the lead decides when)."""
    row = resolve(con, assignment)
    if not row["blind"]:
        raise InsightError(f"{row['name']!r} is not blind any more (unblinded by {row['unblinded_by']}).")
    with transaction(con):
        con.execute("UPDATE assignments SET blind = false, unblinded_by = ?, unblinded_at = current_timestamp "
                    "WHERE assignment_id = ?", [lead, row["assignment_id"]])
    return {"assignment_id": int(row["assignment_id"]), "name": row["name"], "coder": row["coder"]}


def sample_units(con, assignment: int | str) -> np.ndarray:
    row = resolve(con, assignment)
    ids = con.execute("SELECT segment_id FROM assignment_units WHERE assignment_id = ? ORDER BY 1",
                      [row["assignment_id"]]).fetchall()
    return np.array([r[0] for r in ids], dtype=np.int64)


def sample_documents(con, assignment: int | str) -> pd.DataFrame:
    """The documents a sample's units are in, with how many units each holds."""
    row = resolve(con, assignment)
    return con.execute("SELECT d.document_id, d.title, count(*) AS units FROM assignment_units u JOIN segments g "
                       "USING (segment_id) JOIN documents d ON d.document_id = g.document_id WHERE u.assignment_id = ? "
                       "GROUP BY ALL ORDER BY d.document_id", [int(row["assignment_id"])]).df()


# -- blinding ----------------------------------------------------------------------------------


def _blinding(con) -> bool:
    """Whether any sample is blind (a database from before teams, opened read-only, has none)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'assignments'").fetchone()
    return bool(exists[0]) and bool(con.execute("SELECT count(*) FROM assignments WHERE blind").fetchone()[0])


def hidden_codings(con, viewer: str | None, *, lead: bool = False) -> list[int]:
    """The codings ``viewer`` must not see while samples are blind: on a blind sample's units, its
    coder sees only their own codings (no one else's, no suggestions), and nobody else but a lead
    sees that coder's codings there."""
    if lead or not _blinding(con):
        return []
    rows = con.execute(
        "SELECT DISTINCT c.coding_id FROM coding_segments c JOIN assignment_units u USING (segment_id) "
        "JOIN assignments a ON a.assignment_id = u.assignment_id AND a.blind "
        "WHERE (a.coder = ? AND c.coder IS DISTINCT FROM ?) OR (a.coder IS DISTINCT FROM ? AND c.coder = a.coder) "
        "ORDER BY 1", [viewer, viewer, viewer]).fetchall()
    return [r[0] for r in rows]


def blind_coders(con, viewer: str | None = None) -> list[str]:
    """Coders with a blind sample, other than ``viewer``: whose figures a non-lead may not see yet."""
    if not _blinding(con):
        return []
    rows = con.execute("SELECT DISTINCT coder FROM assignments WHERE blind AND coder IS DISTINCT FROM ? ORDER BY 1",
                       [viewer]).fetchall()
    return [r[0] for r in rows]


def blind_for(con, coder: str | None) -> pd.DataFrame:
    """The blind samples ``coder`` is coding (the Code page shows them and hides the rest)."""
    if not _blinding(con):
        return pd.DataFrame({"assignment_id": [], "name": [], "segment_id": [], "document_id": []})
    return con.execute("SELECT a.assignment_id, a.name, u.segment_id, g.document_id FROM assignments a "
                       "JOIN assignment_units u USING (assignment_id) JOIN segments g USING (segment_id) "
                       "WHERE a.blind AND a.coder = ? ORDER BY u.segment_id", [coder]).df()


# -- agreement on a sample, side by side --------------------------------------------------------


def sample_coders(con, unit_ids: np.ndarray) -> list[str]:
    """The people (and the consensus) who coded any of these units, by name."""
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
        rows = con.execute("SELECT DISTINCT c.coder FROM coding_segments c JOIN _insight_units USING (segment_id) "
                           f"WHERE {_HUMAN} ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def _pair_order(row: dict, people: list[str]) -> list[tuple[str, str]]:
    """Every pair, the reference (else the first) as A and the sample's coder as B where they meet."""
    first = [p for p in (row["reference"], row["coder"]) if p in people]
    ordered = first + [p for p in people if p not in first and p != CONSENSUS] + [CONSENSUS] * (CONSENSUS in people)
    return list(combinations(ordered, 2))


def sample_agreement(con, assignment: int | str, *, bootstrap: int = 500) -> dict:
    """Agreement per code for every pair of coders of one sample, on all of its units."""
    row = resolve(con, assignment)
    unit_ids = sample_units(con, assignment)
    people = sample_coders(con, unit_ids)
    pairs = []
    for a, b in _pair_order(row, people):
        both = np.array(sorted(_units_for(con, row, a, unit_ids) & _units_for(con, row, b, unit_ids)), dtype=np.int64)
        if not len(both):
            continue
        with frames(con, _insight_units=pd.DataFrame({"segment_id": both})):
            codes = [r[0] for r in con.execute(
                "SELECT DISTINCT c.code FROM coding_segments c JOIN _insight_units USING (segment_id) "
                f"WHERE c.coder IN (?, ?) AND {_HUMAN} ORDER BY 1", [a, b]).fetchall()]
        result = reliability.compare(reliability.decisions(con, a, both, codes),
                                     reliability.decisions(con, b, both, codes), codes, bootstrap=bootstrap)
        result["coders"] = [a, b]
        pairs.append(result)
    coded = {p: int(len(set(unit_ids) & _coded_units(con, p, unit_ids))) for p in people}
    return {"assignment_id": int(row["assignment_id"]), "name": row["name"], "coder": row["coder"],
            "reference": row["reference"], "blind": bool(row["blind"]), "n_units": len(unit_ids), "coded": coded,
            "pairs": pairs, "units_note": f"{len(unit_ids):,} units in {row['name']!r}. Its coder and the "
                                          "consensus are compared on all of them (a unit left uncoded counts as no "
                                          "code); anyone else on the ones they saw. " + reliability.UNIT_RULE}


def _units_for(con, row: dict, person: str, unit_ids: np.ndarray) -> set[int]:
    """The sample's units ``person`` is judged on: all of them for the sample's coder (asked to code
    them) and the consensus, else those they saw (coded or looked at)."""
    if person in (row["coder"], CONSENSUS):
        return set(unit_ids.tolist())
    seen = {r[0] for r in con.execute(reliability._seen_sql(), [person, person]).fetchall()}
    return set(unit_ids.tolist()) & seen


def _coded_units(con, coder: str, unit_ids: np.ndarray) -> set[int]:
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
        rows = con.execute("SELECT DISTINCT c.segment_id FROM coding_segments c JOIN _insight_units USING "
                           f"(segment_id) WHERE c.coder = ? AND {_HUMAN}", [coder]).fetchall()
    return {r[0] for r in rows}


def side_by_side(con, document_id: int, coders: list[str]) -> pd.DataFrame:
    """One row per segment of a document: its text and, per coder, the codes they gave it; ``sample``
    names the assignments the segment is in."""
    frame = con.execute(
        "SELECT g.segment_id, g.ordinal, g.speaker, g.text, (SELECT string_agg(DISTINCT a.name, '; ') FROM "
        "assignment_units u JOIN assignments a USING (assignment_id) WHERE u.segment_id = g.segment_id) AS sample "
        "FROM segments g WHERE g.document_id = ? ORDER BY g.ordinal", [document_id]).df()
    for coder in coders:
        codes = con.execute(
            "SELECT c.segment_id, string_agg(DISTINCT c.code, '; ' ORDER BY c.code) FROM coding_segments c "
            f"WHERE c.document_id = ? AND c.coder = ? AND {_HUMAN} GROUP BY 1", [document_id, coder]).fetchall()
        frame[coder] = frame["segment_id"].map(dict(codes)).fillna("")
    return frame


# -- adjudication ------------------------------------------------------------------------------


def _pair(row: dict, people: list[str], coder_a: str | None, coder_b: str | None) -> tuple[str, str]:
    b = coder_b or row["coder"]
    a = coder_a or row["reference"] or next((p for p in people if p not in (b, CONSENSUS)), None)
    if a is None or a == b:
        raise InsightError(f"{row['name']!r} has no second coder to compare {b} with yet.",
                           hint="Adjudication needs two people's codings on the sample.")
    return a, b


def disagreements(con, assignment: int | str, coder_a: str | None = None, coder_b: str | None = None) -> pd.DataFrame:
    """Each unit x code of the sample where the two coders differ, with the lead's latest decision."""
    row = resolve(con, assignment)
    unit_ids = sample_units(con, assignment)
    a, b = _pair(row, sample_coders(con, unit_ids), coder_a, coder_b)
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
        frame = con.execute(
            f"""
            WITH coded AS (SELECT DISTINCT c.segment_id, c.code, c.coder FROM coding_segments c
                           JOIN _insight_units USING (segment_id) WHERE c.coder IN (?, ?) AND {_HUMAN}),
                 split AS (SELECT segment_id, code, min(coder) AS coded_by FROM coded GROUP BY 1, 2
                           HAVING count(*) = 1),
                 latest AS (SELECT segment_id, code, decision, decided_by, decided_at FROM adjudications
                            WHERE assignment_id = ? QUALIFY row_number() OVER
                            (PARTITION BY segment_id, code ORDER BY decision_id DESC) = 1)
            SELECT s.segment_id, s.code, s.coded_by, d.title AS document, g.speaker, g.text,
                   l.decision, l.decided_by, l.decided_at
            FROM split s JOIN segments g USING (segment_id) JOIN documents d ON d.document_id = g.document_id
            LEFT JOIN latest l ON l.segment_id = s.segment_id AND l.code = s.code
            ORDER BY s.segment_id, s.code
            """, [a, b, int(row["assignment_id"])]).df()
    return frame.assign(coder_a=a, coder_b=b)


def adjudicate(con, assignment: int | str, segment_id: int, code: str, decision: str, lead: str | None, *,
               codebook: str | None = None, note: str | None = None) -> dict:
    """Settle one unit x code of a sample: ``apply`` gives the consensus coder the code on the unit,
    ``omit`` leaves it (or takes it) off. A later decision on the same unit and code replaces the
    earlier one; every decision stays in ``adjudications``."""
    if decision not in ("apply", "omit"):
        raise InsightError(f"Unknown decision {decision!r}.", hint="Use apply or omit.")
    row = resolve(con, assignment)
    if segment_id not in set(sample_units(con, assignment).tolist()):
        raise InsightError(f"Segment {segment_id} is not in {row['name']!r}.",
                           hint="Adjudicate the units of the sample (see its disagreements).")
    coded_by = [r[0] for r in con.execute(
        f"SELECT DISTINCT c.coder FROM coding_segments c WHERE c.segment_id = ? AND c.code = ? AND {_HUMAN} "
        "AND c.coder <> ? ORDER BY 1", [segment_id, code, CONSENSUS]).fetchall()]
    with transaction(con):
        existing = [r[0] for r in con.execute(
            "SELECT DISTINCT coding_id FROM coding_segments WHERE segment_id = ? AND code = ? AND coder = ? "
            "AND method = 'human' AND status = 'accepted'", [segment_id, code, CONSENSUS]).fetchall()]
        coding_id = existing[0] if existing else None
        if decision == "apply" and not existing:
            coding_id = code_segment(con, segment_id, code, CONSENSUS, codebook=coding_codebook(con, codebook))
        if decision == "omit":
            for cid in existing:
                remove_coding(con, cid, CONSENSUS)
        con.execute("INSERT INTO coverage VALUES (?, ?) ON CONFLICT DO NOTHING", [CONSENSUS, segment_id])
        if lead:  # the consensus coder's changes are the lead's decisions: say whose
            con.execute("UPDATE coding_history SET actor = ? WHERE actor = ?", [lead, CONSENSUS])
        (decision_id,) = next_ids(con, "adjudications", "decision_id")
        con.execute("INSERT INTO adjudications (decision_id, assignment_id, segment_id, code, decision, coded_by, "
                    "decided_by, coding_id, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [decision_id, int(row["assignment_id"]), segment_id, code, decision, json.dumps(coded_by),
                     lead or "", coding_id if decision == "apply" else None, note])
    return {"decision_id": decision_id, "segment_id": segment_id, "code": code, "decision": decision,
            "coding_id": coding_id if decision == "apply" else None, "coded_by": coded_by}


def settle_agreed(con, assignment: int | str, lead: str | None, *, coder_a: str | None = None,
                  coder_b: str | None = None, codebook: str | None = None) -> int:
    """Give the consensus coder every code both coders applied to a unit of the sample (each one a
    decision of ``lead``, noted "both coded"); returns how many were added."""
    row = resolve(con, assignment)
    unit_ids = sample_units(con, assignment)
    a, b = _pair(row, sample_coders(con, unit_ids), coder_a, coder_b)
    with frames(con, _insight_units=pd.DataFrame({"segment_id": unit_ids})):
        agreed = con.execute(
            "SELECT c.segment_id, c.code FROM coding_segments c JOIN _insight_units USING (segment_id) "
            f"WHERE c.coder IN (?, ?) AND {_HUMAN} GROUP BY 1, 2 HAVING count(DISTINCT c.coder) = 2 "
            "EXCEPT SELECT segment_id, code FROM coding_segments WHERE coder = ? AND status = 'accepted' "
            "ORDER BY 1, 2", [a, b, CONSENSUS]).fetchall()
    with transaction(con):
        for segment_id, code in agreed:
            adjudicate(con, assignment, segment_id, code, "apply", lead, codebook=codebook, note="both coded")
        for segment_id in unit_ids.tolist():
            con.execute("INSERT INTO coverage VALUES (?, ?) ON CONFLICT DO NOTHING", [CONSENSUS, segment_id])
    return len(agreed)


def decisions(con, assignment: int | str) -> pd.DataFrame:
    """Every adjudication of a sample, newest first: who decided what, when, and who had coded it."""
    row = resolve(con, assignment)
    return con.execute(
        "SELECT j.decision_id, j.decided_at, j.decided_by, j.segment_id, j.code, j.decision, j.coded_by, j.note, "
        "d.title AS document, g.text FROM adjudications j JOIN segments g USING (segment_id) "
        "JOIN documents d ON d.document_id = g.document_id WHERE j.assignment_id = ? ORDER BY j.decision_id DESC",
        [int(row["assignment_id"])]).df()


class Team:
    """The team verbs over a :class:`~insight.Workspace` (``Team(ws).assign("Tom", share=0.2)``)."""

    def __init__(self, workspace):
        self.ws = workspace
        self.con = workspace.con

    def assign(self, coder: str, *, study: str | None = None, share: float | None = None, units: int | None = None,
               by: str | None = None, seed: int = 0, reference: str | None = None, name: str | None = None,
               lead: str | None = None, include_interviewer: bool = False) -> dict:
        return assign(self.con, self.ws.study_id(study, default="only"), coder, share=share, units=units, by=by,
                      seed=seed, reference=reference, name=name, lead=lead, include_interviewer=include_interviewer)

    def assignments(self, study: str | None = None) -> pd.DataFrame:
        return assignments(self.con, self.ws.study_id(study))

    def unblind(self, assignment: int | str, lead: str | None = None) -> dict:
        return unblind(self.con, assignment, lead)

    def sample_documents(self, assignment: int | str) -> pd.DataFrame:
        return sample_documents(self.con, assignment)

    def hidden_codings(self, viewer: str | None, *, lead: bool = False) -> list[int]:
        return hidden_codings(self.con, viewer, lead=lead)

    def blind_coders(self, viewer: str | None = None) -> list[str]:
        return blind_coders(self.con, viewer)

    def blind_for(self, coder: str | None) -> pd.DataFrame:
        return blind_for(self.con, coder)

    def sample_agreement(self, assignment: int | str, *, bootstrap: int = 500) -> dict:
        return sample_agreement(self.con, assignment, bootstrap=bootstrap)

    def side_by_side(self, document_id: int, coders: list[str]) -> pd.DataFrame:
        return side_by_side(self.con, document_id, coders)

    def disagreements(self, assignment: int | str, coder_a: str | None = None, coder_b: str | None = None):
        return disagreements(self.con, assignment, coder_a, coder_b)

    def adjudicate(self, assignment: int | str, segment_id: int, code: str, decision: str, lead: str | None = None,
                   *, note: str | None = None) -> dict:
        return adjudicate(self.con, assignment, segment_id, code, decision, lead, note=note)

    def settle_agreed(self, assignment: int | str, lead: str | None = None) -> int:
        return settle_agreed(self.con, assignment, lead)

    def decisions(self, assignment: int | str) -> pd.DataFrame:
        return decisions(self.con, assignment)
