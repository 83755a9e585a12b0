"""REFI-QDA interchange: ``.qdpx`` projects and ``.qdc`` codebooks for NVivo, ATLAS.ti, MAXQDA and
QualCoder (the standard and its schemas: ``../shared/refi-qda/``).

Export reads the study's documents, segments, codings, codebook, participants, attributes and
memos and writes one file. Import of a project is the reader in :mod:`insight.readers.qdpx`
(``insight ingest FILE.qdpx``); :func:`store_extras` stores what a reader cannot express as
documents and codings (the project's codebook and its notes). :func:`read_qdc` reads a codebook.

A code's definition, include/exclude criteria, examples, counter-examples and keywords travel in
its ``<Description>`` as labelled, readable text (:func:`describe`), which other tools show as is
and which :func:`parse_description` turns back into fields. GUIDs are derived from names
(:func:`guid`), so exporting the same study twice gives the same GUIDs.

Files from elsewhere are untrusted: XML is parsed without entity expansion or external entities
(defusedxml); ZIP archives are opened by :class:`insight.readers.qdpx.Package`, which refuses
members that would land outside the project folder and bounds every read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
import zipfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable

from insight.codebook import LIST_FIELDS, Code, Codebook
from insight.errors import CodebookError, InsightError, ReaderError

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
MAX_QDC_BYTES = 50 * 2**20
_GUID_NAMESPACE = uuid.UUID("5b0e4a0c-2f4d-4c1e-9a53-7c6f1d2e8b91")
_GUID_PREFIX = _GUID_NAMESPACE.bytes
_LABELS = {"definition": "Definition", "include": "Include", "exclude": "Exclude", "examples": "Examples",
           "counter_examples": "Counter-examples", "keywords": "Keywords"}
_LABEL_RE = re.compile(r"^[ \t]*(definition|include|exclude|examples|counter[- ]?examples|keywords)[ \t]*:[ \t]*",
                       re.IGNORECASE | re.MULTILINE)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def guid(*parts) -> str:
    """A GUID that depends only on ``parts`` (stable across exports): ``uuid5`` over them, computed
    without building ``UUID`` objects (an export makes millions).

    >>> guid("user", "Priya") == str(uuid.uuid5(_GUID_NAMESPACE, "user\x1fPriya"))
    True
    """
    digest = bytearray(hashlib.sha1(_GUID_PREFIX + "\x1f".join(map(str, parts)).encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def norm_guid(value: str | None) -> str:
    return (value or "").strip().strip("{}").lower()


def local(tag) -> str:
    """An element's name without its namespace (files from other tools vary in namespace)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element, name: str) -> list:
    return [child for child in element if local(child.tag) == name]


def child(element, name: str):
    for item in element:
        if local(item.tag) == name:
            return item
    return None


def text_of(element, name: str) -> str | None:
    item = child(element, name)
    return item.text if item is not None and item.text is not None else None


def parse_datetime(value: str | None) -> datetime | None:
    """An ``xsd:dateTime`` as a naive datetime (UTC when the file gives a zone); ``None`` if absent or bad."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def format_datetime(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.isoformat()


def xml_text(value) -> str:
    """Text an XML 1.0 document can hold (control characters dropped)."""
    return _NOT_XML.sub("", str(value))


# ---------------------------------------------------------------------------------------------
# Code descriptions


def describe(code: Code) -> str:
    """A code's criteria as labelled text for ``<Description>``::

        Definition: ...

        Include: ...

        Examples:
        - ...
    """
    parts = []
    for key in ("definition", "include", "exclude"):
        value = getattr(code, key)
        if value:
            parts.append(f"{_LABELS[key]}: {value}")
    for key in LIST_FIELDS:
        values = getattr(code, key)
        if values:
            items = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
            parts.append(f"{_LABELS[key]}:\n" + "\n".join("- " + " ".join(item.split()) for item in items))
    return "\n\n".join(parts)


def parse_description(text: str | None) -> dict:
    """The fields :func:`describe` wrote; a description without labels is the definition."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return {}
    matches = list(_LABEL_RE.finditer(text))
    out: dict = {}
    head = text[: matches[0].start()].strip() if matches else text
    if head:
        out["definition"] = head
    for i, match in enumerate(matches):
        body = text[match.end(): matches[i + 1].start() if i + 1 < len(matches) else len(text)].strip()
        label = match.group(1).lower().replace(" ", "-")
        key = {"counter-examples": "counter_examples", "counterexamples": "counter_examples"}.get(label, label)
        if key in LIST_FIELDS:
            out[key] = out.get(key, []) + _items(body, key)
        elif body:
            out[key] = f"{out[key]}\n{body}" if out.get(key) else body
    return out


def _items(body: str, key: str) -> list:
    items: list[str] = []
    bulleted = any(re.match(r"^\s*[-*•]\s", line) for line in body.split("\n"))
    for line in body.split("\n"):
        if not line.strip():
            continue
        bullet = re.match(r"^\s*[-*•]\s+(.*)$", line)
        if bullet or not bulleted or not items:
            items.append((bullet.group(1) if bullet else line).strip())
        else:
            items[-1] += " " + line.strip()
    out: list = []
    for item in items:
        if key == "keywords" and item.startswith("{"):
            try:
                value = json.loads(item)
                if isinstance(value, dict) and isinstance(value.get("pattern"), list):
                    out.append(value)
                    continue
            except ValueError:
                pass
        out.append(item)
    return out


def _colour(value: str | None) -> str | None:
    value = (value or "").strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        return "#" + "".join(ch * 2 for ch in value[1:])
    return None


def codes_from_xml(codes_element, warnings: list[str] | None = None) -> tuple[list[Code], dict[str, str]]:
    """The codes under a ``<Codes>`` element, parents before children, and GUID -> code name.

    Code names must be unique in an Insight codebook; a repeated name becomes ``Parent > Name``.
    """
    codes: list[Code] = []
    by_guid: dict[str, str] = {}
    seen: set[str] = set()

    def walk(element, parent: str | None) -> None:
        for item in children(element, "Code"):
            key = norm_guid(item.get("guid"))
            name = " ".join((item.get("name") or "").split()) or f"(unnamed code {key[:8]})"
            if name in seen:
                new = f"{parent} > {name}" if parent else f"{name} ({key[:8]})"
                while new in seen:
                    new += "'"
                if warnings is not None:
                    warnings.append(f"code name {name!r} appears more than once; the one under "
                                    f"{parent or 'the top level'!r} was renamed {new!r}.")
                name = new
            seen.add(name)
            fields = parse_description(text_of(item, "Description"))
            codes.append(Code(name=name, parent=parent, colour=_colour(item.get("color")), **fields))
            if key:
                by_guid[key] = name
            walk(item, name)

    walk(codes_element, None)
    return codes, by_guid


# ---------------------------------------------------------------------------------------------
# Reading untrusted files


def parse_xml(data: bytes, source: str, *, member: str | None = None):
    """Parse XML with defusedxml: no DTD entities, no external references; errors name the place."""
    import defusedxml
    from defusedxml import ElementTree as SafeET

    where = f"{source} ({member})" if member else source
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise ReaderError(where, f"refused: the XML declares entities or external references "
                                 f"({exc.__class__.__name__}), which could read files from this computer or "
                                 "exhaust its memory; Insight never expands them.",
                          fix="Export the project again from the tool that made it.") from None
    except SafeET.ParseError as exc:
        line = getattr(exc, "position", (None,))[0]
        raise ReaderError(where, f"the XML is broken ({exc}).", line=line,
                          fix="The file is damaged or incomplete: export it again.") from None


def read_qdc(path: str | os.PathLike) -> Codebook:
    """A codebook from a REFI-QDA ``.qdc`` file (hierarchy, colours, descriptions parsed into
    definition/include/exclude/examples where they are labelled); named after the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_QDC_BYTES:
            raise CodebookError(str(path), f"the file is {size:,} bytes; a codebook is far smaller.",
                                fix="Check that this is a .qdc codebook.")
        data = path.read_bytes()
    except OSError as exc:
        raise CodebookError(str(path), f"cannot be read ({exc.strerror}).", fix="Check the path.") from None
    try:
        root = parse_xml(data, str(path))
    except ReaderError as exc:
        raise CodebookError(str(path), exc.reason, line=exc.line, fix=exc.fix) from None
    codes_element = child(root, "Codes") if local(root.tag) == "CodeBook" else None
    if codes_element is None:
        raise CodebookError(str(path), f"this is not a REFI-QDA codebook (its root is <{local(root.tag)}>, "
                                       "expected <CodeBook> holding <Codes>).",
                            fix="Export the codebook again as REFI-QDA (.qdc).")
    codes, _ = codes_from_xml(codes_element)
    if not codes:
        raise CodebookError(str(path), "the codebook has no codes.", fix="Check that the export finished.")
    origin = root.get("origin")
    return Codebook(name=path.stem, title=path.stem,
                    description=f"Imported from a REFI-QDA codebook made by {origin}." if origin else "",
                    codes=codes)


# ---------------------------------------------------------------------------------------------
# Writing


def _sub(parent, ns: str, tag: str, text: str | None = None, **attrs):
    from lxml import etree

    element = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: xml_text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = xml_text(text)
    return element


def _add_codes(parent, ns: str, codes: list[Code], code_guid: Callable[[str], str],
               notes: dict[str, list[str]] | None = None) -> None:
    names = {c.name for c in codes}
    kids: dict[str | None, list[Code]] = {}
    for code in codes:
        kids.setdefault(code.parent if code.parent in names and code.parent != code.name else None, []).append(code)
    done: set[str] = set()

    def add(element, code: Code) -> None:
        if code.name in done:
            return
        done.add(code.name)
        item = _sub(element, ns, "Code", guid=code_guid(code.name), name=code.name, isCodable="true",
                    color=_colour(code.colour))
        text = describe(code)
        if text:
            _sub(item, ns, "Description", text)
        for note in (notes or {}).get(code.name, []):
            _sub(item, ns, "NoteRef", targetGUID=note)
        for kid in kids.get(code.name, []):
            add(item, kid)

    for code in kids.get(None, []):
        add(parent, code)
    for code in codes:  # codes caught in a parent cycle still get out, at the top level
        add(parent, code)


def _serialise(root) -> bytes:
    from lxml import etree

    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True, standalone=True)


def codebook_xml(codebook: Codebook) -> bytes:
    """A ``.qdc`` document for ``codebook``."""
    from lxml import etree

    if not codebook.codes:
        raise InsightError(f"Codebook {codebook.ref!r} has no codes to export.")
    from insight.export import _version

    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS}, origin=f"Insight {_version()}")
    codes = _sub(root, CODEBOOK_NS, "Codes")
    _add_codes(codes, CODEBOOK_NS, codebook.codes, lambda name: guid("code", codebook.name, name))
    return _serialise(root)


def export_qdc(codebook: Codebook, out: str | os.PathLike) -> dict:
    """Write ``codebook`` as a REFI-QDA ``.qdc``."""
    from insight.export import atomic

    data = codebook_xml(codebook)
    with atomic(Path(out)) as tmp:
        tmp.write_bytes(data)
    return {"out": str(out), "format": "qdc", "codebook": codebook.ref, "codes": len(codebook.codes)}


def _variable_type(kind: str, numbers: list) -> str:
    if kind == "number":
        whole = all(n is None or (float(n).is_integer() and abs(n) < 1e18) for n in numbers)
        return "Integer" if whole else "Float"
    return "Date" if kind == "date" else "Text"


def _value_element(parent, kind: str, text, number, when) -> None:
    if kind == "Integer" and number is not None:
        _sub(parent, PROJECT_NS, "IntegerValue", str(int(number)))
    elif kind == "Float" and number is not None:
        _sub(parent, PROJECT_NS, "FloatValue", format(Decimal(repr(float(number))), "f"))
    elif kind == "Date" and when is not None:
        _sub(parent, PROJECT_NS, "DateValue", when.isoformat())
    else:
        _sub(parent, PROJECT_NS, "TextValue", text or "")


def export_qdpx(con, scope, out: str | os.PathLike) -> dict:
    """Write the study in ``scope`` as a REFI-QDA project (``project.qde`` + ``sources/*.txt``).

    Users are the coders and memo authors; the codebook is the scope's (plus any code used but not
    in it); each document is a text source; codings in scope (default: accepted) become
    ``PlainTextSelection``s (code-point offsets, one per span and coder) holding a ``Coding`` per
    code with its coder and time; participants become cases with their attributes as variables,
    their documents as source references and their memos as the case description; other memos
    become notes referenced from the code, source, selection or project they are about.

    The sources are streamed into the archive one document at a time, so memory stays flat for
    large studies.
    """
    from lxml import etree

    from insight.export import _version, atomic, attribute_names

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
            _sub(head[-1], PROJECT_NS, "User", guid=user_guid[name], name=name)
    if codes:
        head.append(element("CodeBook"))
        code_notes = {key[1]: ids for key, ids in refs.items() if key[0] == "code"}
        _add_codes(_sub(head[-1], PROJECT_NS, "Codes"), PROJECT_NS, codes, code_guids.__getitem__, code_notes)
    kinds = {name: _variable_type(kind, [v[3] for v in values if v[1] == name]) for name, kind in attrs}
    if attrs:
        head.append(element("Variables"))
        for name, _ in attrs:
            _sub(head[-1], PROJECT_NS, "Variable", guid=guid("variable", study, name), name=name,
                 typeOfVariable=kinds[name])
    if people:
        head.append(_cases_element(study, people, values, attrs, kinds, docs, case_notes))

    with atomic(Path(out)) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            big = len(docs) * 10_000 + len(memos) * 1_000 > 2**30  # a rough guess of the XML's size
            with archive.open("project.qde", "w", force_zip64=big) as raw, etree.xmlfile(raw, encoding="utf-8") as xf:
                xf.write_declaration(standalone=True)
                attrib = {"name": xml_text(study), "origin": f"Insight {_version()}",
                          "creationDateTime": datetime.now().replace(microsecond=0).isoformat()}
                with xf.element(f"{{{PROJECT_NS}}}Project", attrib, nsmap={None: PROJECT_NS}):
                    for part in head:
                        xf.write(part, pretty_print=True)
                    selections = 0
                    if docs:
                        cursor = con.execute(
                            f"SELECT g.document_id, coalesce(c.start, g.start), coalesce(c.\"end\", g.\"end\"), "
                            f"c.coder, c.code, min(c.created_at) FROM ({cod_sql}) c JOIN segments g "
                            "ON g.segment_id = c.segment_id GROUP BY ALL ORDER BY 1, 2, 3, 4, 5", params)
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
                            note = _sub(part, PROJECT_NS, "Note", guid=guid("note", study, memo_id), name=title,
                                        creatingUser=user_guid.get(author), creationDateTime=format_datetime(created))
                            _sub(note, PROJECT_NS, "PlainTextContent", text)
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
    """One ``TextSource``: a selection per (span, coder) holding a ``Coding`` per code, then notes."""
    from lxml import etree

    tag = f"{{{PROJECT_NS}}}"
    source_guid = guid("source", study, document_id)
    source = etree.Element(tag + "TextSource", guid=source_guid, name=xml_text(title),
                           plainTextPath=f"internal://{source_guid}.txt", nsmap={None: PROJECT_NS})
    if created is not None:
        source.set("creationDateTime", format_datetime(created))
    spans: dict[tuple, list] = {}
    for _, start, end, coder, code, when in rows:
        spans.setdefault((start, end, coder), []).append((code, when))
    for key in memo_spans:
        spans.setdefault(key, [])
    for start, end, who in sorted(spans, key=lambda k: (k[0], k[1], k[2] or "")):
        codings = spans[(start, end, who)]
        first = min((w for _, w in codings if w is not None), default=None)
        selection = etree.SubElement(source, tag + "PlainTextSelection",
                                     guid=guid("selection", study, document_id, start, end, who),
                                     startPosition=str(start), endPosition=str(end))
        if who in user_guid:
            selection.set("creatingUser", user_guid[who])
        if first is not None:
            selection.set("creationDateTime", format_datetime(first))
        for code, when in codings:
            coding = etree.SubElement(selection, tag + "Coding",
                                      guid=guid("coding", study, document_id, start, end, who, code),
                                      creatingUser=user_guid[who])
            if when is not None:
                coding.set("creationDateTime", format_datetime(when))
            etree.SubElement(coding, tag + "CodeRef", targetGUID=code_guids[code])
        for note in memo_spans.get((start, end, who), []):
            etree.SubElement(selection, tag + "NoteRef", targetGUID=note)
    for note in notes:
        etree.SubElement(source, tag + "NoteRef", targetGUID=note)
    return source, len(spans)


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
        case = _sub(cases, PROJECT_NS, "Case", guid=guid("case", study, external_id), name=external_id)
        described = ([f"Name: {name}"] if name else []) + case_notes.get(external_id, [])
        if described:
            _sub(case, PROJECT_NS, "Description", "\n\n".join(described))
        for _, attr, text, number, when in sorted(by_person.get(participant_id, []), key=lambda r: order[r[1]]):
            value = _sub(case, PROJECT_NS, "VariableValue")
            _sub(value, PROJECT_NS, "VariableRef", targetGUID=guid("variable", study, attr))
            _value_element(value, kinds[attr], text, number, when)
        for document_id in docs_of.get(participant_id, []):
            _sub(case, PROJECT_NS, "SourceRef", targetGUID=guid("source", study, document_id))
    return cases


# ---------------------------------------------------------------------------------------------
# Storing what came with an imported project


def store_extras(con, study_id: int, file_id: int, result) -> dict:
    """Store a reader's codebook and memos (inside the ingest transaction); returns counts.

    Document and segment memos find their document among the ones this file added (in order,
    by title and text) and their segment as the first one overlapping the noted span; a memo
    whose target did not become a document is kept on the study.
    """
    from insight.codebook import save
    from insight.store import next_ids

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
                hit = con.execute('SELECT segment_id FROM segments WHERE document_id = ? AND start < ? AND "end" > ? '
                                  "ORDER BY start LIMIT 1", [document_id, max(memo.span[1], memo.span[0] + 1),
                                                             memo.span[0]]).fetchone()
                kind, target = ("segment", str(hit[0])) if hit else ("document", str(document_id))
            else:
                kind, target = "document", str(document_id)
        rows.append({"study_id": study_id, "target_kind": kind, "target_id": target, "author": memo.author,
                     "title": memo.title, "text": memo.text, "created_at": memo.created_at or datetime.now()})
    import pandas as pd

    ids = next_ids(con, "memos", "memo_id", len(rows))
    _insight_memos = pd.DataFrame(rows).assign(memo_id=list(ids))  # noqa: F841 (DuckDB reads it by name)
    con.execute("INSERT INTO memos (memo_id, study_id, target_kind, target_id, author, title, text, created_at) "
                "SELECT memo_id, study_id, target_kind, target_id, author, title, text, created_at FROM _insight_memos")
    out["memos"] = len(rows)
    return out


def iter_names(items: Iterable, limit: int = 5) -> str:
    """``'a', 'b', 'c' and 4 more``: names in a warning without flooding it."""
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
