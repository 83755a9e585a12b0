"""REFI-QDA interchange: ``.qdpx`` projects and ``.qdc`` codebooks for NVivo, ATLAS.ti, MAXQDA and
QualCoder (the standard and its schemas: ``../shared/refi-qda/``).

The format, touching no table: :func:`read_qdc` reads a codebook, :func:`export_qdc` writes one,
and the XML helpers serve :mod:`insight.refi_project` (a study as a ``.qdpx`` project, and what an
imported project brings besides documents and codings) and the reader in
:mod:`insight.readers.qdpx` (``insight ingest FILE.qdpx``).

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from insight.codebook_model import LIST_FIELDS, Code, Codebook
from insight.errors import CodebookError, InsightError, ReaderError
from insight.files import atomic, version

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


def sub_element(parent, ns: str, tag: str, text: str | None = None, **attrs):
    from lxml import etree

    element = etree.SubElement(parent, f"{{{ns}}}{tag}", {k: xml_text(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = xml_text(text)
    return element


def add_codes(parent, ns: str, codes: list[Code], code_guid: Callable[[str], str],
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
        item = sub_element(element, ns, "Code", guid=code_guid(code.name), name=code.name, isCodable="true",
                    color=_colour(code.colour))
        text = describe(code)
        if text:
            sub_element(item, ns, "Description", text)
        for note in (notes or {}).get(code.name, []):
            sub_element(item, ns, "NoteRef", targetGUID=note)
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
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS}, origin=f"Insight {version()}")
    codes = sub_element(root, CODEBOOK_NS, "Codes")
    add_codes(codes, CODEBOOK_NS, codebook.codes, lambda name: guid("code", codebook.name, name))
    return _serialise(root)


def export_qdc(codebook: Codebook, out: str | os.PathLike) -> dict:
    """Write ``codebook`` as a REFI-QDA ``.qdc``."""
    data = codebook_xml(codebook)
    with atomic(Path(out)) as tmp:
        tmp.write_bytes(data)
    return {"out": str(out), "format": "qdc", "codebook": codebook.ref, "codes": len(codebook.codes)}


def iter_names(items: Iterable, limit: int = 5) -> str:
    """``'a', 'b', 'c' and 4 more``: names in a warning without flooding it."""
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
