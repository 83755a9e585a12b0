"""Codebooks: hierarchical codes with definitions, criteria, examples and keywords.

A codebook lives as a readable YAML file in ``codebooks/`` (diffable, reviewable in git) and as
numbered versions in the store (tables ``codebooks``, ``codebook_versions``, ``codes``: each
version is a full snapshot). The YAML shape::

    name: lived-experience
    title: Living with local services
    description: What the codebook is for.
    codes:
      - name: Access and contact
        definition: ...
        include: ...
        exclude: ...
        examples: ["..."]
        counter_examples: ["..."]
        keywords: [phone, "on hold", {pattern: [{LEMMA: wait}, {LOWER: for}]}]
        colour: "#1f77b4"
        children:
          - name: Phone and contact centre
            ...

A code may also name its parent with ``parent:`` instead of being nested under it.
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from pathlib import Path

from insight.codebook_model import CODE_FIELDS, LIST_FIELDS, TEXT_FIELDS, TOP_FIELDS, Code, Codebook  # noqa: F401
from insight.errors import CodebookError, NotFound
from insight.refi import read_qdc
from insight.store import next_ids
from insight.store import transaction as store_transaction

_ALIASES = {"color": "colour", "counterexamples": "counter_examples", "counter-examples": "counter_examples",
            "inclusion": "include", "exclusion": "exclude"}


# ---------------------------------------------------------------------------------------------
# Reading YAML with line numbers


def _loader():
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__keylines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        keys = [k.value for k, _ in node.value if hasattr(k, "value")]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise CodebookError("", f"the key {sorted(dupes)[0]!r} appears twice in one entry",
                                line=node.start_mark.line + 1, fix="Keep one of them.")
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def parse_yaml(text: str, source: str = "<codebook>") -> Codebook:
    """Parse and validate codebook YAML; mistakes raise :class:`CodebookError` with the line and fix."""
    import yaml

    try:
        data = yaml.load(text, Loader=_loader())
    except CodebookError as exc:
        raise CodebookError(source, exc.message.split(": ", 1)[-1], line=exc.line, fix=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CodebookError(source, f"not valid YAML ({getattr(exc, 'problem', None) or exc})",
                            line=mark.line + 1 if mark else None,
                            fix="Check the indentation and that text with a colon is quoted.") from None
    if not isinstance(data, dict):
        raise CodebookError(source, "a codebook is a mapping with 'name' and 'codes'", line=1,
                            fix="Start the file with `name: my-codebook` and a `codes:` list.")
    line = data.pop("__line__", 1)
    data.pop("__keylines__", None)
    unknown = [k for k in data if k not in TOP_FIELDS]
    if unknown:
        raise CodebookError(source, f"unknown field {unknown[0]!r} at the top level", line=line,
                            fix="Top-level fields: " + ", ".join(TOP_FIELDS) + ".")
    name = data.get("name") or Path(source).stem
    codes_raw = data.get("codes")
    if not isinstance(codes_raw, list) or not codes_raw:
        raise CodebookError(source, "the codebook has no `codes:` list", line=line,
                            fix="Add `codes:` with at least one `- name: ...` entry.")
    codes: list[Code] = []
    lines: dict[str, int] = {}
    parent_lines: dict[str, int] = {}

    def walk(entries, parent, parent_line):
        if not isinstance(entries, list):
            raise CodebookError(source, "`children` must be a list of codes", line=parent_line,
                                fix="Write each child as `- name: ...`.")
        for entry in entries:
            if not isinstance(entry, dict):
                raise CodebookError(source, f"a code must be a mapping, not {entry!r}", line=parent_line,
                                    fix="Write each code as `- name: ...` with its fields indented below.")
            at = entry.pop("__line__", parent_line)
            keylines = entry.pop("__keylines__", {})
            keylines = {_ALIASES.get(k, k): v for k, v in keylines.items()}
            entry = {_ALIASES.get(k, k): v for k, v in entry.items()}
            unknown = [k for k in entry if k not in CODE_FIELDS and k != "children"]
            if unknown:
                raise CodebookError(source, f"unknown field {unknown[0]!r} in code {entry.get('name')!r}",
                                    line=keylines.get(unknown[0], at),
                                    fix="Code fields: " + ", ".join(CODE_FIELDS) + ", children.")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise CodebookError(source, "a code has no name", line=at, fix="Add `name:` to it.")
            name = name.strip()
            if name in lines:
                raise CodebookError(source, f"duplicate code name {name!r} (first at line {lines[name]})", line=at,
                                    fix="Code names must be unique in a codebook: rename or merge one of them.")
            lines[name] = at
            code = Code(name=name, parent=entry.get("parent", parent))
            if "parent" in entry:
                parent_lines[name] = keylines.get("parent", at)
            for key in TEXT_FIELDS:
                value = entry.get(key) or ""
                if not isinstance(value, str):
                    raise CodebookError(source, f"{key!r} of {name!r} must be text", line=at,
                                        fix="Write it as one paragraph of text.")
                setattr(code, key, " ".join(value.split()))
            for key in LIST_FIELDS:
                value = entry.get(key) or []
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list):
                    raise CodebookError(source, f"{key!r} of {name!r} must be a list", line=at,
                                        fix=f"Write `{key}:` followed by `- ...` lines.")
                clean = []
                for item in value:
                    if isinstance(item, dict):
                        item.pop("__line__", None)
                        item.pop("__keylines__", None)
                        for sub in item.get("pattern", []) if isinstance(item.get("pattern"), list) else []:
                            if isinstance(sub, dict):
                                sub.pop("__line__", None)
                                sub.pop("__keylines__", None)
                        if key != "keywords" or not isinstance(item.get("pattern"), list):
                            raise CodebookError(source, f"{key!r} of {name!r} holds a mapping", line=at,
                                                fix="Keywords are words, phrases or {pattern: [...]} spaCy "
                                                    "Matcher patterns; examples are quotes.")
                        clean.append(item)
                    else:
                        clean.append(" ".join(str(item).split()))
                setattr(code, key, clean)
            colour = entry.get("colour")
            if colour is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", str(colour)):
                raise CodebookError(source, f"colour {colour!r} of {name!r} is not a hex colour",
                                    line=keylines.get("colour", at),
                                    fix="Write it like \"#1f77b4\" (quoted).")
            code.colour = colour
            codes.append(code)
            walk(entry.get("children") or [], name, at)

    walk(codes_raw, None, line)
    names = {c.name for c in codes}
    for code in codes:
        if code.parent is not None and code.parent not in names:
            raise CodebookError(source, f"code {code.name!r} names parent {code.parent!r}, which is not in the codebook",
                                line=parent_lines.get(code.name, lines[code.name]),
                                fix="Add the parent code, or fix the `parent:` name.")
    _check_cycles(codes, source, lines)
    return Codebook(name=str(name), title=str(data.get("title") or ""),
                    description=" ".join(str(data.get("description") or "").split()), codes=codes)


def _check_cycles(codes: list[Code], source: str, lines: dict[str, int]) -> None:
    parents = {c.name: c.parent for c in codes}
    for code in codes:
        seen, node = set(), code.name
        while node is not None:
            if node in seen:
                raise CodebookError(source, f"code {code.name!r} is its own ancestor", line=lines.get(code.name),
                                    fix="Fix the `parent:` fields so the codes form a tree.")
            seen.add(node)
            node = parents.get(node)


def read_file(path: str | Path) -> Codebook:
    """A codebook from a YAML file (or a REFI-QDA ``.qdc``)."""
    path = Path(path)
    if not path.exists():
        raise CodebookError(str(path), "no such file", fix="Check the path.")
    if path.suffix.lower() == ".qdc":
        return read_qdc(path)
    return parse_yaml(path.read_text(encoding="utf-8-sig"), str(path))


# ---------------------------------------------------------------------------------------------
# The store


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``'name@3'`` -> ``('name', 3)``; ``'name'`` -> ``('name', None)`` (the latest)."""
    name, _, version = ref.rpartition("@") if "@" in ref else (ref, "", "")
    if version:
        if not version.isdigit():
            raise CodebookError(ref, f"version {version!r} is not a number", fix="Write NAME@2.")
        return name, int(version)
    return name, None


def list_codebooks(con):
    return con.execute(
        """
        SELECT b.name, v.version, v.title, v.author, v.created_at, v.note,
               (SELECT count(*) FROM codes c WHERE c.codebook_id = b.codebook_id AND c.version = v.version) AS codes
        FROM codebooks b JOIN codebook_versions v USING (codebook_id)
        WHERE v.version = (SELECT max(version) FROM codebook_versions w WHERE w.codebook_id = b.codebook_id)
        ORDER BY b.name
        """).df()


def get(con, ref: str, version: int | None = None) -> Codebook:
    """A stored codebook version (``ref`` may be ``'name@3'``; default: the latest)."""
    name, v = parse_ref(ref)
    version = version or v
    row = con.execute("SELECT codebook_id FROM codebooks WHERE name = ?", [name]).fetchone()
    if not row:
        raise NotFound("codebook", name, [r[0] for r in con.execute("SELECT name FROM codebooks ORDER BY 1").fetchall()])
    codebook_id = row[0]
    versions = [r[0] for r in con.execute(
        "SELECT version FROM codebook_versions WHERE codebook_id = ? ORDER BY version", [codebook_id]).fetchall()]
    version = version or versions[-1]
    if version not in versions:
        raise NotFound("version of " + name, str(version), [str(v) for v in versions])
    meta = con.execute("SELECT title, description, author, created_at FROM codebook_versions WHERE codebook_id = ? "
                       "AND version = ?", [codebook_id, version]).fetchone()
    rows = con.execute(
        "SELECT name, parent, definition, include, exclude, examples, counter_examples, keywords, colour FROM codes "
        "WHERE codebook_id = ? AND version = ? ORDER BY position, name", [codebook_id, version]).fetchall()
    codes = [Code(r[0], r[1], r[2] or "", r[3] or "", r[4] or "", json.loads(r[5] or "[]"), json.loads(r[6] or "[]"),
                  json.loads(r[7] or "[]"), r[8]) for r in rows]
    return Codebook(name, meta[0] or "", meta[1] or "", codes, version, meta[2], meta[3])


def codebook_id(con, name: str) -> int | None:
    row = con.execute("SELECT codebook_id FROM codebooks WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def save(con, codebook: Codebook, *, author: str | None = None, note: str | None = None,
         study_id: int | None = None, source: str | None = None, transaction: bool = True) -> tuple[int, bool]:
    """Store ``codebook`` as a new version if it differs from the latest; returns
    ``(version, created)``. ``transaction=False`` when the caller holds one already."""
    cid = codebook_id(con, codebook.name)
    if cid is not None:
        latest = get(con, codebook.name)
        if _same(latest, codebook):
            return latest.version, False
    with (store_transaction(con) if transaction else nullcontext()):
        if cid is None:
            (cid,) = next_ids(con, "codebooks", "codebook_id")
            con.execute("INSERT INTO codebooks (codebook_id, name, study_id) VALUES (?, ?, ?)",
                        [cid, codebook.name, study_id])
            version = 1
        else:
            version = con.execute("SELECT max(version) FROM codebook_versions WHERE codebook_id = ?", [cid]).fetchone()[0] + 1
        con.execute("INSERT INTO codebook_versions (codebook_id, version, title, description, author, note, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [cid, version, codebook.title, codebook.description, author, note, source])
        for position, code in enumerate(codebook.codes):
            con.execute("INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [cid, version, code.name, code.parent, position, code.definition, code.include, code.exclude,
                         json.dumps(code.examples, ensure_ascii=False), json.dumps(code.counter_examples, ensure_ascii=False),
                         json.dumps(code.keywords, ensure_ascii=False), code.colour])
    codebook.version = version
    return version, True


def _same(a: Codebook, b: Codebook) -> bool:
    return (a.title, a.description, [c.as_dict() for c in a.codes]) == (b.title, b.description, [c.as_dict() for c in b.codes])


def diff(a: Codebook, b: Codebook) -> dict:
    """What changed from ``a`` to ``b``: codes added, removed, renamed, and fields changed per code.

    A removed code and an added code with the same definition (or the same examples) count as a
    rename.
    """
    old, new = {c.name: c for c in a.codes}, {c.name: c for c in b.codes}
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    renamed = []
    for r in list(removed):
        for n in list(added):
            o, c = old[r], new[n]
            if (o.definition and o.definition == c.definition) or (o.examples and o.examples == c.examples):
                renamed.append({"from": r, "to": n})
                removed.remove(r)
                added.remove(n)
                break
    changed = {}
    pairs = [(n, n) for n in new if n in old] + [(r["from"], r["to"]) for r in renamed]
    for o_name, n_name in pairs:
        o, c = old[o_name], new[n_name]
        diffs = [f for f in CODE_FIELDS[1:] if getattr(o, f) != getattr(c, f)]
        if diffs:
            changed[n_name] = {f: {"from": getattr(o, f), "to": getattr(c, f)} for f in diffs}
    meta = [f for f in ("title", "description") if getattr(a, f) != getattr(b, f)]
    return {"from": a.ref, "to": b.ref, "added": added, "removed": removed, "renamed": renamed,
            "changed": changed, "codebook_fields": meta}


_LATEST = "(SELECT codebook_id, max(version) AS version FROM codebook_versions GROUP BY codebook_id)"


def collect_imported_codes(con, study_id: int) -> int:
    """Codes used by the study's codings but in no codebook's latest version go into a codebook
    named after the study (a new version when new codes appear), so they can be refined or folded
    into a codebook's codes (:func:`insight.codebook_edit.fold_code`). Returns codes added.
    Codings without a codebook are then tied to the latest version of a codebook that holds their
    code."""
    study = con.execute("SELECT name FROM studies WHERE study_id = ?", [study_id]).fetchone()[0]
    known = {r[0] for r in con.execute(f"SELECT DISTINCT name FROM codes JOIN {_LATEST} USING (codebook_id, version)"
                                       ).fetchall()}
    used = [r[0] for r in con.execute(
        "SELECT DISTINCT c.code FROM codings c JOIN documents d USING (document_id) "
        "WHERE d.study_id = ? ORDER BY 1", [study_id]).fetchall()]
    new = [code for code in used if code not in known]
    added = 0
    if new:
        cid = codebook_id(con, study)
        base = get(con, study) if cid is not None else Codebook(study, study, "Codes that arrived with imported codings.")
        base.codes = base.codes + [Code(name) for name in new]
        save(con, base, author="insight", note=f"collected {len(new)} imported code(s)", study_id=study_id,
             transaction=False)
        added = len(new)
    # tie unversioned codings to the latest version of a codebook holding their code
    con.execute(
        f"""
        UPDATE codings SET codebook_id = v.codebook_id, codebook_version = v.version
        FROM (SELECT c.name, min(c.codebook_id) AS codebook_id, arg_min(c.version, c.codebook_id) AS version
              FROM codes c JOIN {_LATEST} USING (codebook_id, version) GROUP BY c.name) v
        WHERE codings.codebook_id IS NULL AND codings.code = v.name
        """)
    return added
