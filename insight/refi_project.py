"""REFI-QDA projects and the store: :func:`export_qdpx` writes a study as a ``.qdpx`` project and
:func:`store_extras` stores what an imported project brings besides documents and codings.

Export reads the study's documents, segments, codings, codebook, participants, attributes and
memos and writes one file; import writes ``codebooks``/``codebook_versions``/``codes`` and
``memos`` (the format itself is :mod:`insight.refi`).
"""

from __future__ import annotations

import os
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from insight.codebook import save
from insight.codebook_model import Code
from insight.files import atomic, version
from insight.refi import PROJECT_NS, add_codes, format_datetime, guid, sub_element, xml_text
from insight.selection import attribute_names
from insight.store import frames, next_ids


def _variable_type(kind: str, numbers: list) -> str:
    if kind == "number":
        whole = all(n is None or (float(n).is_integer() and abs(n) < 1e18) for n in numbers)
        return "Integer" if whole else "Float"
    return "Date" if kind == "date" else "Text"


def _value_element(parent, kind: str, text, number, when) -> None:
    if kind == "Integer" and number is not None:
        sub_element(parent, PROJECT_NS, "IntegerValue", str(int(number)))
    elif kind == "Float" and number is not None:
        sub_element(parent, PROJECT_NS, "FloatValue", format(Decimal(repr(float(number))), "f"))
    elif kind == "Date" and when is not None:
        sub_element(parent, PROJECT_NS, "DateValue", when.isoformat())
    else:
        sub_element(parent, PROJECT_NS, "TextValue", text or "")


def export_qdpx(con, scope, out: str | os.PathLike) -> dict:
    """Write the study in ``scope`` as a REFI-QDA project (``project.qde`` + ``sources/*.txt``).

    Users are the coders and memo authors; the codebook is the scope's (plus any code used but not
    in it); each document is a text source; codings in scope (default: accepted) become
    ``PlainTextSelection``s (code-point offsets, one per coding, the form every reader
    understands) each holding its ``Coding`` with coder and time; participants become cases with their attributes as variables,
    their documents as source references and their memos as the case description; other memos
    become notes referenced from the code, source, selection or project they are about.

    The sources are streamed into the archive one document at a time, so memory stays flat for
    large studies.
    """
    from lxml import etree

    study_id, study = scope.study_id, scope.study
    q = con.execute
    docs = q("SELECT document_id, title, participant_id, created_at FROM documents WHERE study_id = ? "
             "ORDER BY document_id", [study_id]).fetchall()
    cod_sql, params = scope.codings_sql()
    pairs = q(f"SELECT DISTINCT coder, code FROM ({cod_sql})", params).fetchall()
    coders, used = {p[0] for p in pairs}, {p[1] for p in pairs}
    # memos of the study, and memos kept outside any study about one of its documents or segments
    memos = q(
        "SELECT m.memo_id, m.target_kind, m.target_id, m.author, m.title, m.text, m.created_at, g.document_id, g.start, "
        "g.\"end\" FROM memos m LEFT JOIN segments g ON m.target_kind = 'segment' "
        "AND g.segment_id = TRY_CAST(m.target_id AS BIGINT) LEFT JOIN documents d ON d.document_id = "
        "coalesce(g.document_id, CASE WHEN m.target_kind = 'document' THEN TRY_CAST(m.target_id AS INTEGER) END) "
        "WHERE m.study_id = ? OR (m.study_id IS NULL AND d.study_id = ?) ORDER BY m.memo_id",
        [study_id, study_id]).fetchall()
    people = q("SELECT participant_id, external_id, name FROM participants WHERE study_id = ? "
               "ORDER BY participant_id", [study_id]).fetchall()
    values = q("SELECT a.participant_id, a.name, a.value, a.value_number, a.value_date FROM attributes a "
               "JOIN participants p USING (participant_id) WHERE p.study_id = ?", [study_id]).fetchall()
    attrs = attribute_names(con, study_id)

    book = scope.codebook
    codes = list(book.codes) if book is not None else []
    codes += [Code(name) for name in sorted(used - {c.name for c in codes})]
    book_name = book.name if book is not None else study
    code_guids = {c.name: guid("code", book_name, c.name) for c in codes}
    users = sorted(coders | {row[3] for row in memos if row[3]})
    user_guid = {name: guid("user", name) for name in users}
    doc_ids = {row[0] for row in docs}

    # where each memo goes: a case's description, or a note referenced from what it is about
    case_of = {str(key): external for participant_id, external, _ in people for key in (participant_id, external)}
    case_notes: dict[str, list[str]] = {}
    refs: dict[tuple, list[str]] = {}
    memo_selections: dict[int, dict[tuple, list[str]]] = {}
    notes = []
    for memo in memos:
        memo_id, kind, target, author, _, text, _, seg_doc, seg_start, seg_end = memo
        note = guid("note", study, memo_id)
        if kind == "participant" and target in case_of:
            case_notes.setdefault(case_of[target], []).append(text)  # a case has no NoteRef
            continue
        notes.append(memo)
        if kind == "code" and target in code_guids:
            refs.setdefault(("code", target), []).append(note)
        elif kind == "document" and target and target.isdigit() and int(target) in doc_ids:
            refs.setdefault(("document", int(target)), []).append(note)
        elif kind == "segment" and seg_doc is not None:
            memo_selections.setdefault(seg_doc, {}).setdefault((seg_start, seg_end, author), []).append(note)
        else:
            refs.setdefault(("project",), []).append(note)

    def element(tag: str, **attrs):
        return etree.Element(f"{{{PROJECT_NS}}}{tag}", {k: xml_text(v) for k, v in attrs.items() if v is not None},
                             nsmap={None: PROJECT_NS})

    head = []
    if users:
        head.append(element("Users"))
        for name in users:
            sub_element(head[-1], PROJECT_NS, "User", guid=user_guid[name], name=name)
    if codes:
        head.append(element("CodeBook"))
        code_notes = {key[1]: ids for key, ids in refs.items() if key[0] == "code"}
        add_codes(sub_element(head[-1], PROJECT_NS, "Codes"), PROJECT_NS, codes, code_guids.__getitem__, code_notes)
    kinds = {name: _variable_type(kind, [v[3] for v in values if v[1] == name]) for name, kind in attrs}
    if attrs:
        head.append(element("Variables"))
        for name, _ in attrs:
            sub_element(head[-1], PROJECT_NS, "Variable", guid=guid("variable", study, name), name=name,
                 typeOfVariable=kinds[name])
    if people:
        head.append(_cases_element(study, people, values, attrs, kinds, docs, case_notes))

    with atomic(Path(out)) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            big = len(docs) * 10_000 + len(memos) * 1_000 > 2**30  # a rough guess of the XML's size
            with archive.open("project.qde", "w", force_zip64=big) as raw, etree.xmlfile(raw, encoding="utf-8") as xf:
                xf.write_declaration(standalone=True)
                attrib = {"name": xml_text(study), "origin": f"Insight {version()}",
                          "creationDateTime": datetime.now().replace(microsecond=0).isoformat()}
                with xf.element(f"{{{PROJECT_NS}}}Project", attrib, nsmap={None: PROJECT_NS}):
                    for part in head:
                        xf.write(part, pretty_print=True)
                    selections = 0
                    if docs:
                        cursor = con.execute(
                            f"SELECT c.document_id, c.start, c.\"end\", c.coder, c.code, min(c.created_at), "
                            f"string_agg(DISTINCT c.memo, chr(10) || chr(10)) FROM ({cod_sql}) c "
                            "GROUP BY ALL ORDER BY 1, 2, 3, 4, 5", params)
                        stream = _by_document(cursor)
                        pending = next(stream, None)
                        with xf.element(f"{{{PROJECT_NS}}}Sources"):
                            for document_id, title, _, created in docs:
                                rows = []
                                if pending is not None and pending[0] == document_id:
                                    rows = pending[1]
                                    pending = next(stream, None)
                                source, n = _source_element(study, document_id, title, created, rows,
                                                            memo_selections.get(document_id, {}), code_guids,
                                                            user_guid, refs.get(("document", document_id), []))
                                selections += n
                                xf.write(source, pretty_print=True)
                    if notes:
                        part = element("Notes")
                        for memo_id, _, _, author, title, text, created, *_ in notes:
                            note = sub_element(part, PROJECT_NS, "Note", guid=guid("note", study, memo_id), name=title,
                                        creatingUser=user_guid.get(author), creationDateTime=format_datetime(created))
                            sub_element(note, PROJECT_NS, "PlainTextContent", text)
                        xf.write(part, pretty_print=True)
                    for note in refs.get(("project",), []):
                        xf.write(element("NoteRef", targetGUID=note), pretty_print=True)
            texts = con.execute("SELECT document_id, text FROM documents WHERE study_id = ? ORDER BY document_id",
                                [study_id])
            while batch := texts.fetchmany(1000):
                for document_id, text in batch:
                    archive.writestr(f"sources/{guid('source', study, document_id)}.txt", text.encode("utf-8"))
    codings = con.execute(f"SELECT count(*) FROM ({cod_sql})", params).fetchone()[0]
    return {"out": str(out), "format": "qdpx", **scope.settings(), "users": len(users), "codes": len(codes),
            "sources": len(docs), "selections": selections, "codings": codings, "cases": len(people),
            "notes": len(notes), "case_descriptions": len(case_notes)}


def _by_document(cursor, size: int = 10_000):
    """``(document_id, rows)`` from a cursor ordered by document, one document at a time."""
    current, rows = None, []
    while batch := cursor.fetchmany(size):
        for row in batch:
            if row[0] != current and rows:
                yield current, rows
                rows = []
            current = row[0]
            rows.append(row)
    if rows:
        yield current, rows


def _source_element(study: str, document_id: int, title: str, created, rows: list, memo_spans: dict,
                    code_guids: dict, user_guid: dict, notes: list[str]):
    """One ``TextSource``: a selection per coding (its exact passage, coder, code; the coding's memo
    as the selection's ``Description``), each holding its one ``Coding``; a span's notes on its first selection (or on a selection of its own); then notes."""
    from lxml import etree

    tag = f"{{{PROJECT_NS}}}"
    source_guid = guid("source", study, document_id)
    source = etree.Element(tag + "TextSource", guid=source_guid, name=xml_text(title),
                           plainTextPath=f"internal://{source_guid}.txt", nsmap={None: PROJECT_NS})
    if created is not None:
        source.set("creationDateTime", format_datetime(created))
    spans: dict[tuple, list] = {}
    for _, start, end, coder, code, when, memo in rows:
        spans.setdefault((start, end, coder), []).append((code, when, memo))
    for key in memo_spans:
        spans.setdefault(key, [])
    count = 0
    for start, end, who in sorted(spans, key=lambda k: (k[0], k[1], k[2] or "")):
        # One selection per coding (several Codings under one selection are valid, but common
        # readers keep only the first); the span's notes go on its first selection.
        notes_here = memo_spans.get((start, end, who), [])
        for code, when, memo in sorted(spans[(start, end, who)], key=lambda c: c[0]) or [(None, None, None)]:
            key = (start, end, who) if code is None else (start, end, who, code)
            selection = etree.SubElement(source, tag + "PlainTextSelection", guid=guid("selection", study, document_id, *key),
                                         startPosition=str(start), endPosition=str(end))
            count += 1
            if who in user_guid:
                selection.set("creatingUser", user_guid[who])
            if when is not None:
                selection.set("creationDateTime", format_datetime(when))
            if memo:  # the coding's memo
                etree.SubElement(selection, tag + "Description").text = xml_text(memo)
            if code is not None:
                coding = etree.SubElement(selection, tag + "Coding",
                                          guid=guid("coding", study, document_id, start, end, who, code),
                                          creatingUser=user_guid[who])
                if when is not None:
                    coding.set("creationDateTime", format_datetime(when))
                etree.SubElement(coding, tag + "CodeRef", targetGUID=code_guids[code])
            for note in notes_here:
                etree.SubElement(selection, tag + "NoteRef", targetGUID=note)
            notes_here = []
    for note in notes:
        etree.SubElement(source, tag + "NoteRef", targetGUID=note)
    return source, count


def _cases_element(study: str, people, values, attrs, kinds, docs, case_notes):
    """``Cases``: one per participant with its variables, sources and description."""
    by_person: dict[int, list] = {}
    for row in values:
        by_person.setdefault(row[0], []).append(row)
    docs_of: dict[int, list[int]] = {}
    for document_id, _, participant_id, _ in docs:
        if participant_id is not None:
            docs_of.setdefault(participant_id, []).append(document_id)
    order = {name: i for i, (name, _) in enumerate(attrs)}
    from lxml import etree

    cases = etree.Element(f"{{{PROJECT_NS}}}Cases", nsmap={None: PROJECT_NS})
    for participant_id, external_id, name in people:
        case = sub_element(cases, PROJECT_NS, "Case", guid=guid("case", study, external_id), name=external_id)
        described = ([f"Name: {name}"] if name else []) + case_notes.get(external_id, [])
        if described:
            sub_element(case, PROJECT_NS, "Description", "\n\n".join(described))
        for _, attr, text, number, when in sorted(by_person.get(participant_id, []), key=lambda r: order[r[1]]):
            value = sub_element(case, PROJECT_NS, "VariableValue")
            sub_element(value, PROJECT_NS, "VariableRef", targetGUID=guid("variable", study, attr))
            _value_element(value, kinds[attr], text, number, when)
        for document_id in docs_of.get(participant_id, []):
            sub_element(case, PROJECT_NS, "SourceRef", targetGUID=guid("source", study, document_id))
    return cases


def store_extras(con, study_id: int, file_id: int, result) -> dict:
    """Store a reader's codebook and memos (inside the ingest transaction); returns counts.

    Document and segment memos find their document among the ones this file added (in order,
    by title and text) and their segment as the first one overlapping the noted span; a memo
    whose target did not become a document is kept on the study.
    """
    out = {"codes": 0, "memos": 0}
    book = getattr(result, "codebook", None)
    if book is not None and book.codes:
        save(con, book, author="insight", note="imported with a REFI-QDA project", study_id=study_id,
             transaction=False)
        out["codes"] = len(book.codes)
    memos = getattr(result, "memos", None) or []
    if not memos:
        return out
    stored = con.execute("SELECT document_id, title, text FROM documents WHERE file_id = ? ORDER BY document_id",
                         [file_id]).fetchall()
    doc_ids: dict[int, int] = {}
    position = 0
    for index, doc in enumerate(result.documents):
        for j in range(position, len(stored)):
            if stored[j][1] == doc.title and stored[j][2] == doc.text:
                doc_ids[index] = stored[j][0]
                position = j + 1
                break
    rows = []
    for memo in memos:
        kind, target = memo.target_kind, memo.target
        if kind in ("document", "segment"):
            document_id = doc_ids.get(memo.document)
            if document_id is None:
                kind, target = "study", None
            elif kind == "segment" and memo.span:
                hit = next(iter(con.execute('SELECT segment_id FROM segments WHERE document_id = ? AND start < ? '
                                            'AND "end" > ? ORDER BY start LIMIT 1',
                                            [document_id, max(memo.span[1], memo.span[0] + 1),
                                             memo.span[0]]).fetchall()), None)
                kind, target = ("segment", str(hit[0])) if hit else ("document", str(document_id))
            else:
                kind, target = "document", str(document_id)
        rows.append({"study_id": study_id, "target_kind": kind, "target_id": target, "author": memo.author,
                     "title": memo.title, "text": memo.text, "created_at": memo.created_at or datetime.now()})
    import pandas as pd

    ids = next_ids(con, "memos", "memo_id", len(rows))
    with frames(con, _insight_memos=pd.DataFrame(rows).assign(memo_id=list(ids))):
        con.execute("INSERT INTO memos (memo_id, study_id, target_kind, target_id, author, title, text, created_at) "
                    "SELECT memo_id, study_id, target_kind, target_id, author, title, text, created_at "
                    "FROM _insight_memos")
    out["memos"] = len(rows)
    return out
