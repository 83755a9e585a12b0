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
(defusedxml), ZIP members that would land outside the project folder are refused, and reads are
bounded in size and compression ratio (:class:`Package`).
"""

from __future__ import annotations

import io
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
MAX_TOTAL_BYTES = 200 * 2**20  # everything read from one archive
MAX_RATIO = 100  # uncompressed/compressed above this, for a member over RATIO_FLOOR, is a zip bomb
RATIO_FLOOR = 2**20
MAX_QDC_BYTES = 50 * 2**20
_GUID_NAMESPACE = uuid.UUID("5b0e4a0c-2f4d-4c1e-9a53-7c6f1d2e8b91")
_LABELS = {"definition": "Definition", "include": "Include", "exclude": "Exclude", "examples": "Examples",
           "counter_examples": "Counter-examples", "keywords": "Keywords"}
_LABEL_RE = re.compile(r"^[ \t]*(definition|include|exclude|examples|counter[- ]?examples|keywords)[ \t]*:[ \t]*",
                       re.IGNORECASE | re.MULTILINE)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def guid(*parts) -> str:
    """A GUID that depends only on ``parts`` (stable across exports)."""
    return str(uuid.uuid5(_GUID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


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


def _safe_name(name: str) -> bool:
    name = name.replace("\\", "/")
    return not (name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"))


class Package:
    """A ``.qdpx`` ZIP opened in memory: every member name checked, every read bounded.

    Nothing is extracted to disk. A member whose path is absolute or climbs out with ``..`` makes
    the whole file refused; a member larger than what is left of :data:`MAX_TOTAL_BYTES`, or one
    that expands more than :data:`MAX_RATIO` times, is refused as a likely zip bomb.
    """

    def __init__(self, path: str | os.PathLike, data: bytes):
        self.path = str(path)
        if not data.strip():
            raise ReaderError(path, "the file is empty.", fix="Check that the export finished.")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise ReaderError(path, f"this is not a valid .qdpx (a .qdpx is a ZIP archive; {exc}).",
                              fix="Export the project again; if it came by e-mail or download, fetch it again.") from None
        for info in infos:
            if not _safe_name(info.filename):
                raise ReaderError(path, f"refused: the archive holds a member with an unsafe path "
                                        f"({info.filename!r}) that would land outside the project folder.",
                                  fix="Do not open this file; export the project again from the tool that made it.")
        self.members = {info.filename.replace("\\", "/").lower(): info for info in infos if not info.is_dir()}
        self.budget = MAX_TOTAL_BYTES

    def find(self, name: str) -> str | None:
        """The member for ``name`` (``internal://x.txt``, ``sources/x.txt``, ``project.qde``), any case."""
        name = name.replace("\\", "/")
        name = re.sub(r"^internal://", "", name, flags=re.IGNORECASE).lstrip("/").lower()
        for candidate in (name, "sources/" + name):
            if candidate in self.members:
                return candidate
        base = name.rsplit("/", 1)[-1]
        hits = [m for m in self.members if m.rsplit("/", 1)[-1] == base]
        return hits[0] if len(hits) == 1 else None

    def project_member(self) -> str:
        hits = [m for m in self.members if m.endswith(".qde") and "/" not in m.strip("/")]
        hits = hits or [m for m in self.members if m.endswith(".qde")]
        if not hits:
            raise ReaderError(self.path, "the archive has no project.qde, so it is not a REFI-QDA project.",
                              fix="Export the project again as REFI-QDA (.qdpx).")
        return "project.qde" if "project.qde" in hits else hits[0]

    def read(self, member: str) -> bytes:
        info = self.members[member]
        if info.flag_bits & 0x1:
            raise ReaderError(self.path, f"{info.filename} is encrypted.", fix="Export the project without a password.")
        if info.file_size > self.budget:
            raise ReaderError(self.path, f"refused: {info.filename} would expand to {info.file_size:,} bytes, more "
                                         f"than the {MAX_TOTAL_BYTES // 2**20} MB Insight reads from one project.",
                              fix="Export the project without its large media files.")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ReaderError(self.path, f"refused: {info.filename} expands {info.file_size // max(info.compress_size, 1)}"
                                         " times, which looks like a zip bomb.",
                              fix="Do not open this file; export the project again from the tool that made it.")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ReaderError(self.path, f"{info.filename} cannot be read from the archive ({exc}).",
                              fix="The file is damaged: export the project again.") from None
        if len(data) > info.file_size:
            raise ReaderError(self.path, f"refused: {info.filename} holds more data than its header says.",
                              fix="Do not open this file; export the project again from the tool that made it.")
        self.budget -= len(data)
        return data


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
    code with its coder and time; participants become cases with their attributes as variables
    and their documents as source references; memos become notes referenced from the code,
    source, selection or project they are about.
    """
    from lxml import etree

    from insight.export import _version, atomic

    study_id, study = scope.study_id, scope.study
    docs = con.execute("SELECT document_id, title, text, participant_id, created_at FROM documents "
                       "WHERE study_id = ? ORDER BY document_id", [study_id]).fetchall()
    cod_sql, params = scope.codings_sql()
    codings = con.execute(
        f"SELECT g.document_id, coalesce(c.start, g.start) AS s, coalesce(c.\"end\", g.\"end\") AS e, c.coder, c.code, "
        f"min(c.created_at) FROM ({cod_sql}) c JOIN segments g ON g.segment_id = c.segment_id "
        "GROUP BY ALL ORDER BY 1, 2, 3, 4, 5", params).fetchall()
    # memos of the study, and memos kept outside any study about one of its documents or segments
    memos = con.execute(
        "SELECT m.memo_id, m.target_kind, m.target_id, m.author, m.title, m.text, m.created_at, g.document_id, g.start, "
        "g.\"end\" FROM memos m LEFT JOIN segments g ON m.target_kind = 'segment' "
        "AND g.segment_id = TRY_CAST(m.target_id AS BIGINT) LEFT JOIN documents d ON d.document_id = "
        "coalesce(g.document_id, CASE WHEN m.target_kind = 'document' THEN TRY_CAST(m.target_id AS INTEGER) END) "
        "WHERE m.study_id = ? OR (m.study_id IS NULL AND d.study_id = ?) ORDER BY m.memo_id",
        [study_id, study_id]).fetchall()
    people = con.execute("SELECT participant_id, external_id, name FROM participants WHERE study_id = ? "
                         "ORDER BY participant_id", [study_id]).fetchall()
    values = con.execute("SELECT a.participant_id, a.name, a.value, a.value_number, a.value_date FROM attributes a "
                         "JOIN participants p USING (participant_id) WHERE p.study_id = ?", [study_id]).fetchall()

    book = scope.codebook
    codes = list(book.codes) if book is not None else []
    known = {c.name for c in codes}
    codes += [Code(name) for name in sorted({row[4] for row in codings} - known)]
    book_name = book.name if book is not None else study

    def code_guid(name: str) -> str:
        return guid("code", book_name, name)

    users = sorted({row[3] for row in codings} | {row[3] for row in memos if row[3]})
    user_guid = {name: guid("user", name) for name in users}
    doc_ids = {row[0] for row in docs}

    # memos: each becomes a note, referenced from what it is about
    note_refs: dict[tuple, list[str]] = {}
    selections: dict[tuple, dict] = {}
    for document_id, s, e, coder, code, created in codings:
        sel = selections.setdefault((document_id, s, e, coder), {"codings": [], "notes": [], "created": created})
        sel["codings"].append((code, created))
        if created is not None and (sel["created"] is None or created < sel["created"]):
            sel["created"] = created
    code_names = {c.name for c in codes}
    case_of = {str(key): external for participant_id, external, _ in people for key in (participant_id, external)}
    case_notes: dict[str, list[str]] = {}
    for memo_id, kind, target, author, _, text, created, seg_doc, seg_start, seg_end in memos:
        note = guid("note", study, memo_id)
        if kind == "participant" and target in case_of:
            case_notes.setdefault(case_of[target], []).append(text)  # a case has no NoteRef: its Description
        elif kind == "code" and target in code_names:
            note_refs.setdefault(("code", target), []).append(note)
        elif kind == "document" and target and target.isdigit() and int(target) in doc_ids:
            note_refs.setdefault(("document", int(target)), []).append(note)
        elif kind == "segment" and seg_doc is not None:
            sel = selections.setdefault((seg_doc, seg_start, seg_end, author), {"codings": [], "notes": [],
                                                                               "created": created})
            sel["notes"].append(note)
        else:
            note_refs.setdefault(("project",), []).append(note)

    root = etree.Element(f"{{{PROJECT_NS}}}Project", nsmap={None: PROJECT_NS}, name=xml_text(study),
                         origin=f"Insight {_version()}", creationDateTime=datetime.now().replace(microsecond=0).isoformat())
    if users:
        element = _sub(root, PROJECT_NS, "Users")
        for name in users:
            _sub(element, PROJECT_NS, "User", guid=user_guid[name], name=name)
    if codes:
        element = _sub(_sub(root, PROJECT_NS, "CodeBook"), PROJECT_NS, "Codes")
        code_notes = {key[1]: refs for key, refs in note_refs.items() if key[0] == "code"}
        _add_codes(element, PROJECT_NS, codes, code_guid, code_notes)

    from insight.export import attribute_names

    attrs = attribute_names(con, study_id)
    kinds = {name: _variable_type(kind, [v[3] for v in values if v[1] == name]) for name, kind in attrs}
    if attrs:
        element = _sub(root, PROJECT_NS, "Variables")
        for name, _ in attrs:
            _sub(element, PROJECT_NS, "Variable", guid=guid("variable", study, name), name=name,
                 typeOfVariable=kinds[name])
    by_person: dict[int, list] = {}
    for row in values:
        by_person.setdefault(row[0], []).append(row)
    docs_of: dict[int, list[int]] = {}
    for document_id, _, _, participant_id, _ in docs:
        if participant_id is not None:
            docs_of.setdefault(participant_id, []).append(document_id)
    order = {name: i for i, (name, _) in enumerate(attrs)}
    if people:
        element = _sub(root, PROJECT_NS, "Cases")
        for participant_id, external_id, name in people:
            case = _sub(element, PROJECT_NS, "Case", guid=guid("case", study, external_id), name=external_id)
            described = ([f"Name: {name}"] if name else []) + case_notes.get(external_id, [])
            if described:
                _sub(case, PROJECT_NS, "Description", "\n\n".join(described))
            for _, attr, text, number, when in sorted(by_person.get(participant_id, []), key=lambda r: order[r[1]]):
                value = _sub(case, PROJECT_NS, "VariableValue")
                _sub(value, PROJECT_NS, "VariableRef", targetGUID=guid("variable", study, attr))
                _value_element(value, kinds[attr], text, number, when)
            for document_id in docs_of.get(participant_id, []):
                _sub(case, PROJECT_NS, "SourceRef", targetGUID=guid("source", study, document_id))

    files: dict[str, str] = {}
    by_doc: dict[int, list] = {}
    for key in sorted(selections, key=lambda k: (k[0], k[1], k[2], k[3] or "")):
        by_doc.setdefault(key[0], []).append(key)
    if docs:
        element = _sub(root, PROJECT_NS, "Sources")
        for document_id, title, text, _, created in docs:
            source_guid = guid("source", study, document_id)
            files[f"sources/{source_guid}.txt"] = text
            source = _sub(element, PROJECT_NS, "TextSource", guid=source_guid, name=title,
                          plainTextPath=f"internal://{source_guid}.txt", creationDateTime=format_datetime(created))
            for key in by_doc.get(document_id, []):
                _, start, end, who = key
                sel = selections[key]
                selection = _sub(source, PROJECT_NS, "PlainTextSelection",
                                 guid=guid("selection", study, document_id, start, end, who),
                                 startPosition=str(start), endPosition=str(end),
                                 creatingUser=user_guid.get(who), creationDateTime=format_datetime(sel["created"]))
                for code, created_at in sel["codings"]:
                    coding = _sub(selection, PROJECT_NS, "Coding",
                                  guid=guid("coding", study, document_id, start, end, who, code),
                                  creatingUser=user_guid.get(who), creationDateTime=format_datetime(created_at))
                    _sub(coding, PROJECT_NS, "CodeRef", targetGUID=code_guid(code))
                for note in sel["notes"]:
                    _sub(selection, PROJECT_NS, "NoteRef", targetGUID=note)
            for note in note_refs.get(("document", document_id), []):
                _sub(source, PROJECT_NS, "NoteRef", targetGUID=note)
    notes = [m for m in memos if not (m[1] == "participant" and m[2] in case_of)]
    if notes:
        element = _sub(root, PROJECT_NS, "Notes")
        for memo_id, _, _, author, title, text, created, *_ in notes:
            note = _sub(element, PROJECT_NS, "Note", guid=guid("note", study, memo_id), name=title,
                        creatingUser=user_guid.get(author), creationDateTime=format_datetime(created))
            _sub(note, PROJECT_NS, "PlainTextContent", text)
    for note in note_refs.get(("project",), []):
        _sub(root, PROJECT_NS, "NoteRef", targetGUID=note)

    with atomic(Path(out)) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", _serialise(root))
            for name, text in files.items():
                archive.writestr(name, text.encode("utf-8"))
    return {"out": str(out), "format": "qdpx", **scope.settings(), "users": len(users), "codes": len(codes),
            "sources": len(docs), "selections": len(selections), "codings": len(codings), "cases": len(people),
            "notes": len(notes), "case_descriptions": len(case_notes)}


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
