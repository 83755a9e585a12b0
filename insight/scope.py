"""Which study, which codebook and which person a call means when it does not say: one policy for
the facade, the CLI and the app.

Reads ``studies``, ``codebooks``, ``codings``, ``segments`` and ``documents``; writes nothing.

A study name always resolves to its id (unknown names raise :class:`NotFound` listing the known
ones). Without a name, ``default`` says what the call means:

* ``"all"``: every study (``None``), for reads that can span studies;
* ``"only"``: the only study, else every study (``None``), for theme runs and charts;
* ``"required"``: the only study; none or several is an error naming the choices, for steps that
  change or export one study.
"""

from __future__ import annotations

from insight.errors import InsightError, NotFound

ALL, ONLY, REQUIRED = "all", "only", "required"


def studies(con) -> list[tuple[int, str]]:
    """``(study_id, name)`` of every study, oldest first."""
    return [tuple(r) for r in con.execute("SELECT study_id, name FROM studies ORDER BY study_id").fetchall()]


def study_names(con) -> list[str]:
    return [name for _, name in studies(con)]


def resolve_study(con, name: str | None, *, default: str = ALL, purpose: str | None = None) -> int | None:
    """The id of study ``name``; without a name, as ``default`` says (see the module docstring).

    ``purpose`` words the ``"required"`` errors (``"export"``: "There is nothing to export ...").
    """
    rows = studies(con)
    if name is not None:
        for study_id, study in rows:
            if study == name:
                return study_id
        raise NotFound("study", name, [study for _, study in rows])
    if default == ALL:
        return None
    if len(rows) == 1:
        return rows[0][0]
    if default == ONLY:
        return None
    if not rows:
        raise InsightError(f"There is nothing to {purpose}: the workspace has no studies." if purpose
                           else "There are no studies yet.", hint="Ingest something first: insight ingest PATH")
    raise InsightError(f"The workspace holds {len(rows)} studies; say which one" + (f" to {purpose}." if purpose else "."),
                       hint="Use --study NAME, one of: " + ", ".join(repr(study) for _, study in rows) + ".")


def study_name(con, study_id: int) -> str:
    return con.execute("SELECT name FROM studies WHERE study_id = ?", [study_id]).fetchone()[0]


def new_study_name(con) -> str:
    """The study new files go to without ``--study``: the only study, else ``'default'``."""
    names = study_names(con)
    return names[0] if len(names) == 1 else "default"


def resolve_codebook(con, ref: str | None = None, study_id: int | None = None, *, required: bool = True) -> str | None:
    """The codebook reference a call means: ``ref`` when given.

    Without one, for a study: the codebook its codings use most, else the latest one tied to it.
    Otherwise: the first codebook not named after a study (REFI-QDA imports name theirs after the
    study), else the first. With ``required`` finding none is an error, else ``None``.
    """
    if ref:
        return ref
    if study_id is not None:
        row = con.execute(
            "SELECT b.name FROM codings c JOIN documents d USING (document_id) "
            "JOIN codebooks b ON b.codebook_id = c.codebook_id WHERE d.study_id = ? "
            "GROUP BY b.name ORDER BY count(*) DESC, b.name LIMIT 1", [study_id]).fetchone()
        if row is None:
            row = con.execute("SELECT name FROM codebooks WHERE study_id = ? ORDER BY codebook_id DESC LIMIT 1",
                              [study_id]).fetchone()
    else:
        row = con.execute("SELECT name FROM codebooks WHERE name NOT IN (SELECT name FROM studies) "
                          "ORDER BY codebook_id LIMIT 1").fetchone()
        if row is None:
            row = con.execute("SELECT name FROM codebooks ORDER BY codebook_id LIMIT 1").fetchone()
    if row is None and required:
        raise InsightError("There is no codebook yet.", hint="Load one: insight codebook load codebooks/FILE.yaml")
    return row[0] if row else None


def reference_codebook(con, study_id: int | None) -> str | None:
    """The codebook a study's imported codes are checked against: the one its codings use most,
    else the latest tied to it, else the first in the workspace; never one named after a study
    (those collect the codes that arrived with imported codings and were in no codebook, see
    :func:`insight.codebook.collect_imported_codes`). ``None`` when there is no such codebook."""
    own = "b.name NOT IN (SELECT name FROM studies)"
    row = None
    if study_id is not None:
        row = con.execute(
            "SELECT b.name FROM codings c JOIN documents d USING (document_id) "
            f"JOIN codebooks b ON b.codebook_id = c.codebook_id WHERE d.study_id = ? AND {own} "
            "GROUP BY b.name ORDER BY count(*) DESC, b.name LIMIT 1", [study_id]).fetchone()
        if row is None:
            row = con.execute(f"SELECT b.name FROM codebooks b WHERE b.study_id = ? AND {own} "
                              "ORDER BY b.codebook_id DESC LIMIT 1", [study_id]).fetchone()
    if row is None:
        row = con.execute(f"SELECT b.name FROM codebooks b WHERE {own} ORDER BY b.codebook_id LIMIT 1").fetchone()
    return row[0] if row else None


def current_user() -> str:
    """Who is acting: the login name, else ``'unknown'``."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
