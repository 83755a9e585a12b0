"""Editing a stored codebook: load a file (YAML, .qdc or a spreadsheet), add, edit, rename, move,
delete and merge codes, and fold codes that came with imported codings (typos) into the
codebook's. Every edit is validated like a YAML file and saved as a new version; a renamed, merged
or folded code takes its codings along (:func:`insight.coding.relabel`, one logged change that
``undo`` reverses).

Writes ``codebooks``, ``codebook_versions`` and ``codes`` (through :mod:`insight.codebook`) and
``codings`` (through :mod:`insight.coding`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from insight import codebook as cb
from insight import codebook_sheet, coding
from insight.codebook_model import nearest_names, unknown_codes
from insight.errors import CodebookError
from insight.scope import current_user
from insight.store import transaction as store_transaction


def load(con, path: str | Path, *, author: str | None = None, note: str | None = None,
         study_id: int | None = None, name: str | None = None, columns: dict | None = None,
         sheet: str | None = None) -> dict:
    """Load a codebook file: YAML, REFI-QDA ``.qdc``, or a spreadsheet (CSV/XLSX, one row per code;
    ``columns`` and ``sheet`` as :func:`insight.codebook_sheet.read_sheet` takes them). A change
    makes a new numbered version, and a code it renames (see :func:`insight.codebook.diff`) takes
    its codings along. ``name`` stores it under that codebook name instead of the file's own.
    A spreadsheet's result also says which column held what and what was skipped or added."""
    report = None
    if Path(path).suffix.lower() in codebook_sheet.SUFFIXES + (".xls",):
        book, report = codebook_sheet.read_sheet(path, columns=columns, sheet=sheet, name=name)
    elif columns or sheet:
        raise CodebookError(str(path), "column and sheet options are for spreadsheet codebooks (.csv, .xlsx)",
                            fix="Leave them out for a YAML or .qdc file.")
    else:
        book = cb.read_file(path)
    book.name = name or book.name
    version, created = cb.save(con, book, author=author or current_user(), note=note, source=str(path),
                               study_id=study_id)
    renamed = []
    if created and version > 1:
        changes = cb.diff(cb.get(con, f"{book.name}@{version - 1}"), cb.get(con, f"{book.name}@{version}"))
        for pair in changes["renamed"]:
            moved = relabel(con, pair["from"], pair["to"], author or current_user())
            renamed.append({**pair, "codings": moved["moved"] + moved["removed"]})
    out = {"codebook": book.name, "version": version, "created": created, "codes": len(book.codes),
           "renamed": renamed}
    if report is not None:
        out["sheet"] = report.to_dict()
        out["sheet"]["columns_line"] = report.columns_line()
    return out


def save(con, book, *, author: str | None = None, note: str | None = None) -> int:
    """Store an edited codebook as a new version; returns the version number."""
    version, _ = cb.save(con, book, author=author or current_user(), note=note)
    return version


def edit_code(con, book, name: str, *, author: str | None = None, note: str | None = None, **fields) -> int:
    """Change fields of one code (``new_name`` renames it, ``parent`` moves it) in a new version."""
    old = book.code(name)
    new_name = (fields.pop("new_name", None) or name).strip()
    if "parent" in fields and not fields["parent"]:
        fields["parent"] = None
    check_code_fields(book, fields)
    if new_name != name and new_name in book.names():
        raise CodebookError(book.ref, f"there is already a code named {new_name!r}",
                            fix="Choose another name, or merge the two codes.")
    if fields.get("parent"):
        book.code(fields["parent"])
        if fields["parent"] == name or is_ancestor(book, name, fields["parent"]):
            raise CodebookError(book.ref, f"{name!r} cannot move under {fields['parent']!r}, which is inside it",
                                fix="Choose a parent outside this code's branch.")
    edited = replace(old, name=new_name, **fields)
    codes = [edited if c.name == name else (replace(c, parent=new_name) if c.parent == name else c)
             for c in book.codes]
    change = f"renamed {name} to {new_name}" if new_name != name else f"edited {name}"
    version = save_edit(con, book, codes, author, note or change)
    relabel(con, name, new_name, author)
    return version


def add_code(con, book, name: str, *, parent: str | None = None, author: str | None = None,
             note: str | None = None, **fields) -> int:
    """Add a code (under ``parent``) in a new version."""
    name = (name or "").strip()
    if not name:
        raise CodebookError(book.ref, "a new code needs a name", fix="Type a name for it.")
    if name in book.names():
        raise CodebookError(book.ref, f"there is already a code named {name!r}", fix="Choose another name.")
    if parent:
        book.code(parent)
    check_code_fields(book, fields)
    return save_edit(con, book, book.codes + [cb.Code(name=name, parent=parent or None, **fields)], author,
                     note or f"added {name}")


def delete_code(con, book, name: str, *, author: str | None = None, note: str | None = None) -> int:
    """Remove a code in a new version; its children move up to its parent, its codings stay."""
    gone = book.code(name)
    codes = [replace(c, parent=gone.parent) if c.parent == name else c for c in book.codes if c.name != name]
    return save_edit(con, book, codes, author, note or f"deleted {name}")


def merge_codes(con, book, source: str, target: str, *, author: str | None = None, note: str | None = None) -> int:
    """Merge ``source`` into ``target`` in a new version: ``target`` gains its examples,
    counter-examples, keywords, children and codings, and ``source`` goes."""
    src, dst = book.code(source), book.code(target)
    if source == target:
        raise CodebookError(book.ref, "a code cannot be merged into itself", fix="Pick two different codes.")
    if is_ancestor(book, source, target):
        raise CodebookError(book.ref, f"{target!r} is inside {source!r}",
                            fix=f"Merge {target!r} into {source!r} instead, or move it out first.")

    def union(a: list, b: list) -> list:
        return a + [x for x in b if x not in a]

    merged = replace(dst, examples=union(dst.examples, src.examples),
                     counter_examples=union(dst.counter_examples, src.counter_examples),
                     keywords=union(dst.keywords, src.keywords))
    codes = [merged if c.name == target else (replace(c, parent=target) if c.parent == source else c)
             for c in book.codes if c.name != source]
    version = save_edit(con, book, codes, author, note or f"merged {source} into {target}")
    relabel(con, source, target, author)
    return version


def relabel(con, old: str, new: str, author: str | None) -> dict:
    """A renamed or merged code takes its codings along (see :func:`insight.coding.relabel`)."""
    return coding.relabel(con, old, new, actor=author)


def check_code_fields(book, fields: dict) -> None:
    unknown = [k for k in fields if k not in cb.CODE_FIELDS or k == "name"]
    if unknown:
        raise CodebookError(book.ref, f"unknown code field {unknown[0]!r}",
                            fix="Code fields: new_name, " + ", ".join(cb.CODE_FIELDS[1:]) + ".")
    colour = fields.get("colour")
    if colour and not (len(colour) == 7 and colour[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in colour[1:])):
        raise CodebookError(book.ref, f"colour {colour!r} is not a hex colour", fix="Write it like #1f77b4.")


def is_ancestor(book, ancestor: str, name: str | None) -> bool:
    seen = set()
    while name is not None and name not in seen:
        seen.add(name)
        name = next((c.parent for c in book.codes if c.name == name), None)
        if name == ancestor:
            return True
    return False


def save_edit(con, book, codes: list, author: str | None, note: str) -> int:
    """Validate an edited code list exactly as a YAML file would be, then store it."""
    edited = replace(book, codes=codes, version=None)
    checked = cb.parse_yaml(edited.to_yaml(), f"{book.name} (edited in the app)")
    checked.name = book.name
    return save(con, checked, author=author, note=note)


def unknown_in_study(con, study_id: int | None, book) -> list[dict]:
    """The codes of a study's codings (every study's when ``study_id`` is ``None``) that ``book``
    lacks, each with its codings, nearest names and suggested fold (see
    :func:`insight.codebook_model.unknown_codes`), most codings first."""
    used = dict(con.execute(
        "SELECT c.code, count(*) FROM codings c JOIN documents d USING (document_id) "
        "WHERE ? IS NULL OR d.study_id = ? GROUP BY c.code",
        [study_id, study_id]).fetchall())
    return unknown_codes(book, used)


def fold_code(con, book, old: str, new: str, *, author: str | None = None) -> dict:
    """Fold code ``old``, which came with imported codings and is not in ``book`` (a typo such as
    ``beween``), into ``book``'s code ``new``: every coding of ``old`` becomes one of ``new``, tied to
    ``book``'s version (one logged change that ``insight undo`` reverses), and ``old`` leaves the
    codebooks that collected it (those named after a study) in a new version of each."""
    if old in book.names():
        raise CodebookError(book.ref, f"{old!r} is a code of this codebook, not one that came with the data",
                            fix="Merge the two codes instead (the Codebook page's Merge tab, or "
                                "Workspace.merge_codes).")
    if new not in book.names():
        near = [n for n, _ in nearest_names(new, book.names())]
        raise CodebookError(book.ref, f"{new!r} is not a code of this codebook",
                            fix=(f"Did you mean {', '.join(map(repr, near))}? " if near else "")
                            + "Fold into one of its codes (insight codebook show lists them).")
    count = con.execute("SELECT count(*) FROM codings WHERE code = ?", [old]).fetchone()[0]
    if not count:
        raise CodebookError(book.ref, f"no coding uses the code {old!r}",
                            fix="insight codebook fold (with no names) lists the codes that came with the data.")
    collectors = []
    with store_transaction(con):
        moved = coding.relabel(con, old, new, actor=author or current_user(),
                               codebook=(cb.codebook_id(con, book.name), book.version))
        for (name,) in con.execute("SELECT b.name FROM codebooks b WHERE b.name IN (SELECT name FROM studies) "
                                   "ORDER BY b.name").fetchall():
            holder = cb.get(con, name)
            if old in holder.names():
                gone = holder.code(old)
                holder.codes = [replace(c, parent=gone.parent) if c.parent == old else c
                                for c in holder.codes if c.name != old]
                holder.version = None
                version, _ = cb.save(con, holder, author=author or current_user(), transaction=False,
                                     note=f"folded {old} into {book.name}'s {new}")
                collectors.append(f"{name}@{version}")
    return {"from": old, "to": new, "codebook": book.ref, "codings": moved["moved"] + moved["removed"],
            "merged_duplicates": moved["removed"], "removed_from": collectors}
