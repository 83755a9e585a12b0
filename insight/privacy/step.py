"""Pseudonymisation: the step that finds personal data and replaces it (writes ``runs``,
``pii_mentions``, ``pii_documents`` and the tables it rewrites)."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime

from insight.privacy.entities import _ID_LIKE, _Entities
from insight.privacy.render import _Renderer, _applied_map, _original_text, _render_fields
from insight.store import finish_run, frames, next_ids, record_run
from insight.store import transaction as store_transaction
from pipelines.pseudonymise import (REPLACE, STAFF, Mention, common_word, detect, known_mentions, known_pattern,
                                    lexicon, name_forms, ner_pipeline, regions_in_use, resolve_overlaps)

# ---------------------------------------------------------------------------------------------
# The step


def _known_names(con, study_id: int, entities: _Entities) -> tuple[list[str], list[str]]:
    strong, weak = entities.person_forms()
    lex = lexicon()
    for (name,) in con.execute(
            "SELECT DISTINCT coalesce(f.original, p.name) FROM participants p LEFT JOIN pii_fields f ON "
            "f.table_name = 'participants' AND f.column_name = 'name' AND f.row_id = p.participant_id "
            "WHERE p.study_id = ? AND p.name IS NOT NULL", [study_id]).fetchall():
        name = " ".join(str(name).split())
        if not name or _ID_LIKE.match(name) or STAFF.match(name) or name.lower() in lex["not"]:
            continue
        strong.append(name)
        parts = name.split()
        if len(parts) > 1:
            for part in (parts[0], parts[-1]):
                if len(part) > 2 and part.lower() not in lex["not"]:
                    (weak if part.lower() in lex["ambiguous"] else strong).append(part)
    return strong, weak


def _literals(con, study_id: int) -> list[tuple[str, re.Pattern]]:
    """What researchers added by hand, found again wherever it occurs."""
    out = []
    for kind, text in con.execute("SELECT DISTINCT kind, original FROM pii_mentions WHERE study_id = ? AND "
                                  "source = 'manual' AND status IN ('replaced', 'accepted')", [study_id]).fetchall():
        out.append((kind, re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)", re.IGNORECASE)))
    return out


def _segment_bounds(con, document_id: int) -> list[int]:
    """Where segments start and end in the original text, sorted."""
    back = _applied_map(con, document_id)
    rows = con.execute("SELECT start, \"end\" FROM segments WHERE document_id = ?", [document_id]).fetchall()
    return sorted({back(a, "start") for a, _ in rows} | {back(b, "end") for _, b in rows})


def _crosses(m: Mention, bounds: list[int]) -> bool:
    """Whether a segment boundary (sorted ``bounds``) falls strictly inside the mention."""
    i = bisect.bisect_right(bounds, m.start)
    return i < len(bounds) and bounds[i] < m.end


def pseudonymise(con, study_id: int, *, document_ids: list[int] | None = None, actor: str | None = None,
                 transaction: bool = True, use_ner: bool = True, progress=None) -> dict:
    """Find personal data in a study's documents and replace it with stable pseudonyms.

    Reads ``documents``, ``segments``, ``codings``, ``participants``, ``pii_*``; writes them (see the
    module docstring). Idempotent: re-running finds nothing new in text it has seen and never
    undoes a researcher's decision. ``document_ids`` limits the search to those documents (ingest
    uses it), though a name newly found there is also replaced where it occurs in the rest of the
    study. Returns counts by kind and status, and the ``run_id``.
    """
    regions_in_use()  # a wrong INSIGHT_PHONE_REGIONS is said before anything is read
    nlp = ner_pipeline() if use_ner else None
    with (store_transaction(con) if transaction else nullcontext()):
        run_id = None
        if transaction:
            settings = {"ner": (nlp.meta.get("insight_path") if nlp is not None else None), "threshold": REPLACE,
                        "names": "insight/data word lists", "phone_regions": list(regions_in_use()),
                        "documents": document_ids}
            run_id = record_run(con, "pseudonymise", study_id, settings, status="running")
        summary = _run(con, study_id, document_ids, actor, nlp, run_id, progress)
        if run_id is not None:
            finish_run(con, run_id, summary)
    summary["run_id"] = run_id
    return summary


def _run(con, study_id, document_ids, actor, nlp, run_id, progress) -> dict:
    entities = _Entities(con, study_id)
    strong, weak = _known_names(con, study_id, entities)
    known, known_weak = known_pattern(strong), known_pattern(weak)
    literals = _literals(con, study_id)
    all_docs = [r[0] for r in con.execute("SELECT document_id FROM documents WHERE study_id = ? ORDER BY document_id",
                                          [study_id]).fetchall()]
    targets = sorted(set(document_ids) & set(all_docs)) if document_ids is not None else all_docs
    found: dict[int, list[Mention]] = {}
    texts: dict[int, str] = {}
    existing: dict[int, list[tuple]] = defaultdict(list)
    for doc_id, mid, start, end, status in con.execute(
            "SELECT document_id, mention_id, start, \"end\", status FROM pii_mentions WHERE study_id = ?",
            [study_id]).fetchall():
        existing[doc_id].append((mid, start, end, status))

    def scan(doc_id: int, spacy_doc) -> list[Mention]:
        text = texts.setdefault(doc_id, _original_text(con, doc_id))
        mentions = detect(text, known=known, known_weak=known_weak, doc=spacy_doc)
        for kind, rx in literals:
            mentions += [Mention(m.start(), m.end(), kind, m.group(), "manual", 0.97) for m in rx.finditer(text)]
        return mentions

    # pass 1: every target document
    docs = iter([None] * len(targets))
    if nlp is not None:
        def texts_for_nlp():
            for d in targets:
                text = texts.setdefault(d, _original_text(con, d))
                nlp.max_length = max(nlp.max_length, len(text) + 1)
                yield text
        docs = nlp.pipe(texts_for_nlp(), batch_size=16)
    for number, (doc_id, spacy_doc) in enumerate(zip(targets, docs), start=1):
        found[doc_id] = scan(doc_id, spacy_doc)
        if progress:
            progress(number, len(targets))
    # pass 2: names found for the first time are names everywhere in the study
    # (and the parts of full names: "Xiadani" once "Xiadani Ruiz" was a speaker label); those that are
    # also words ("Grace", "Marigold") only mid-sentence
    fresh = name_forms(m.text for ms in found.values() for m in ms if m.kind == "PERSON" and m.score >= 0.55
                       and m.source not in ("known",))
    lex = lexicon()
    weak = {n for n in fresh if n.lower() in lex["ambiguous"] or (" " not in n and common_word(n))}
    fresh_strong, fresh_weak = sorted(fresh - weak), sorted(weak)
    again, again_weak = known_pattern(fresh_strong), known_pattern(fresh_weak)
    if again is not None or again_weak is not None:
        others = all_docs if document_ids is not None else targets
        for doc_id in others:
            text = texts.get(doc_id)
            if text is None:
                text = _original_text(con, doc_id)
            extra = [Mention(m.start, m.end, m.kind, m.text, "same name elsewhere", 0.75)
                     for m in known_mentions(text, again, again_weak)]
            if not extra:
                continue
            texts[doc_id] = text
            found.setdefault(doc_id, []).extend(extra)
    # merge with what is stored, resolve entities, write
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    touched: set[int] = set()
    now = datetime.now()
    rows = []
    next_mention = next_ids(con, "pii_mentions", "mention_id").start
    for doc_id in sorted(found):
        mentions = resolve_overlaps(found[doc_id])
        bounds = _segment_bounds(con, doc_id)
        stored = sorted(existing.get(doc_id, []), key=lambda s: s[1])
        stored_starts = [s[1] for s in stored]
        near: set[int] = set()
        for m in mentions:
            if _crosses(m, bounds):
                continue
            # stored mentions do not overlap one another, so those overlapping m are contiguous
            i = bisect.bisect_left(stored_starts, m.start)
            while i > 0 and stored[i - 1][2] > m.start:
                i -= 1
            clash = []
            while i < len(stored) and stored[i][1] < m.end:
                if stored[i][2] > m.start:
                    clash.append(stored[i])
                i += 1
            if clash:
                # a confident find replaces an earlier candidate; a researcher's decision stays
                if m.replace and all(s[3] == "candidate" for s in clash):
                    con.execute("DELETE FROM pii_mentions WHERE mention_id IN (" + ",".join(str(s[0]) for s in clash) + ")")
                    stored = [s for s in stored if s not in clash]
                    stored_starts = [s[1] for s in stored]
                else:
                    continue
            status = "replaced" if m.replace else "candidate"
            eid = entities.resolve(m.kind, m.text, near) if m.replace else None
            if eid is not None and entities.rows[eid]["status"] != "active":
                status = "undone"  # a researcher said this one is not personal data
            if eid is not None:
                near.add(eid)
            rows.append(dict(mention_id=next_mention, study_id=study_id, document_id=doc_id, start=m.start, end=m.end,
                             original=m.text, kind=m.kind, entity_id=eid, source=m.source, score=round(m.score, 3),
                             status=status, actor=actor, changed_at=now, run_id=run_id))
            i = bisect.bisect_left(stored_starts, m.start)
            stored.insert(i, (next_mention, m.start, m.end, status))
            stored_starts.insert(i, m.start)
            next_mention += 1
            counts[m.kind][status] += 1
            if status == "replaced":
                touched.add(doc_id)
    entities.flush()
    if rows:
        import pandas as pd

        cols = ", ".join(f'"{c}"' for c in rows[0])
        with frames(con, _insight_mentions=pd.DataFrame(rows)):
            con.execute(f"INSERT INTO pii_mentions ({cols}) SELECT {cols} FROM _insight_mentions")
    renderer = _Renderer(con, study_id)
    for doc_id in sorted(touched):
        renderer.document(doc_id)
    renderer.flush()
    fields = _render_fields(con, study_id, entities, None if document_ids is None else set(targets) | touched)
    replaced = sum(c.get("replaced", 0) for c in counts.values())
    return {"documents": len(targets), "changed_documents": len(touched), "replaced": replaced,
            "candidates": sum(c.get("candidate", 0) for c in counts.values()), "fields": fields,
            "by_kind": {k: dict(v) for k, v in sorted(counts.items())}, "new_pseudonyms": len(entities.new),
            "ner": nlp.meta.get("insight_path") if nlp is not None else None}
