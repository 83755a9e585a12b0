"""What an export covers: the study, coders, codebook and statuses (:class:`Scope`), and the
segment columns every export shares (document, participant, attributes, theme).

Reads ``studies``, ``codings``, ``segments``, ``documents``, ``participants``, ``attributes``,
``codebooks``, ``runs``, ``themes`` and ``segment_themes``; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from insight.codebook import Codebook, get
from insight import scope as scope_rules
from insight.errors import InsightError, NotFound
from insight.statuses import ACCEPTED, STATUSES
from insight.themes.read import latest_run


@dataclass
class Scope:
    """An export's resolved study, coders, codebook and statuses (checked against the store).

    ``codebook`` orders and describes the codes; only when ``restrict`` (it was named) does it also
    limit the codings to its codes."""

    study_id: int
    study: str
    coders: list[str] | None
    codebook: "Codebook | None"
    statuses: tuple[str, ...]
    restrict: bool = False

    def codings_sql(self) -> tuple[str, list]:
        """A query for the codings in scope (every column of ``codings``: passages, not segments), with its
        parameters."""
        where = ["d.study_id = ?", "list_contains(?, c.status)"]
        params: list = [self.study_id, list(self.statuses)]
        if self.coders is not None:
            where.append("list_contains(?, c.coder)")
            params.append(self.coders)
        if self.restrict and self.codebook is not None:
            where.append("list_contains(?, c.code)")
            params.append(self.codebook.names())
        sql = "SELECT c.* FROM codings c JOIN documents d USING (document_id) WHERE " + " AND ".join(where)
        return sql, params

    def settings(self) -> dict:
        return {
            "study": self.study,
            "coders": ", ".join(self.coders) if self.coders is not None else "all",
            "statuses": ", ".join(self.statuses),
            "codebook": (self.codebook.ref if self.restrict else
                         f"{self.codebook.ref} describes the codes; codings of any code are included"
                         if self.codebook is not None else "none (every code used)"),
        }


def resolve_study(con, name: str | None) -> tuple[int, str]:
    """``(study_id, name)``; with no name, the only study (several or none is an error): the
    ``required`` rule of :mod:`insight.scope`."""
    study_id = scope_rules.resolve_study(con, name, default=scope_rules.REQUIRED, purpose="export")
    return study_id, scope_rules.study_name(con, study_id)


def default_codebook(con, study_id: int) -> "Codebook | None":
    """The latest version of the codebook the study's codings use most, else one tied to the study."""
    name = scope_rules.resolve_codebook(con, None, study_id, required=False)
    return get(con, name) if name else None


def resolve_scope(con, *, study: str | None = None, coders: Iterable[str] | None = None,
                  codebook: str | None = None, statuses: Iterable[str] | None = (ACCEPTED,),
                  codebook_default: bool = False) -> Scope:
    """Check and resolve what to export; unknown studies, coders, codebooks and statuses raise
    :class:`NotFound`/:class:`InsightError` naming the valid ones.

    ``codebook`` is ``'name'`` or ``'name@version'``; without it the codings of every code count,
    and with ``codebook_default`` the study's main codebook describes them (see
    :func:`default_codebook`).
    """
    study_id, name = resolve_study(con, study)
    coders = list(dict.fromkeys(coders)) if coders else None
    if coders:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT c.coder FROM codings c JOIN documents d "
            "USING (document_id) WHERE d.study_id = ? ORDER BY 1", [study_id]).fetchall()]
        for coder in coders:
            if coder not in known:
                raise NotFound("coder", coder, known)
    statuses = tuple(statuses) if statuses else STATUSES
    for status in statuses:
        if status not in STATUSES:
            raise InsightError(f"Unknown coding status {status!r}.", hint="Use one of: " + ", ".join(STATUSES) + ".")
    book = get(con, codebook) if codebook else (default_codebook(con, study_id) if codebook_default else None)
    return Scope(study_id, name, coders, book, statuses, restrict=bool(codebook))


def latest_theme_run(con, study_id: int) -> int | None:
    """The study's latest theme run (runs over all studies do not count for one study's export)."""
    return latest_run(con, study_id, study_only=True)


def participant_label_sql(alias: str = "p") -> str:
    """How reports name a participant: name, else id. :mod:`insight.privacy` replaces names in
    place, so a pseudonymised study shows its pseudonyms here."""
    return f"coalesce(nullif(trim({alias}.name), ''), {alias}.external_id)"


def attribute_names(con, study_id: int) -> list[tuple[str, str]]:
    """``(name, type)`` of every participant attribute in the study, in the order they arrived."""
    return [tuple(r) for r in con.execute(
        "SELECT a.name, mode(a.type) FROM attributes a JOIN participants p USING (participant_id) "
        "WHERE p.study_id = ? GROUP BY a.name ORDER BY min(a.rowid)", [study_id]).fetchall()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


BASE_COLUMNS = ("study", "document_id", "document", "kind", "date", "participant", "segment_id", "speaker",
                "field", "start_time", "start_ms", "char_start", "char_end", "text", "theme_id", "theme")
LONG_COLUMNS = ("code", "coder", "method", "status", "decided", "score", "coded_start", "coded_end", "coded_text",
                "last_segment_id", "memo", "codebook", "coded_at", "coding_id")


def overlaps(segment: str = "g", coding: str = "c", *, start: str = "start", end: str = '"end"') -> str:
    """The SQL condition "this coding's passage touches this segment" (one shared character)."""
    return (f"{segment}.document_id = {coding}.document_id AND {segment}.{start} < {coding}.\"end\" "
            f"AND {segment}.{end} > {coding}.start")


def unique_name(name: str, taken: set[str], prefix: str) -> str:
    out = name if name not in taken else prefix + name
    while out in taken:
        out = "_" + out
    taken.add(out)
    return out


def segments_sql(con, scope: Scope) -> tuple[str, list, list[str]]:
    """The query for every segment of the study with its document, participant, attributes and
    theme; returns ``(sql, params, attribute column names)``. Rows come in document order."""
    attrs = attribute_names(con, scope.study_id)
    taken = set(BASE_COLUMNS) | set(LONG_COLUMNS) | {"ordinal"}
    typed = {"number": "a.value_number", "date": "a.value_date"}
    pivots, params, names = [], [], []
    for name, kind in attrs:
        column = unique_name(name, taken, "attr_")
        names.append(column)
        pivots.append(f"max({typed.get(kind, 'a.value')}) FILTER (WHERE a.name = ?) AS {_quote(column)}")
        params.append(name)
    attr_cte = (
        "attrs AS (SELECT a.participant_id, " + ", ".join(pivots) + " FROM attributes a JOIN participants p "
        "USING (participant_id) WHERE p.study_id = ? GROUP BY a.participant_id)"
        if pivots else "attrs AS (SELECT NULL::INTEGER AS participant_id)")
    if pivots:
        params.append(scope.study_id)
    run = latest_theme_run(con, scope.study_id)
    attr_select = "".join(f", attrs.{_quote(n)}" for n in names)
    sql = f"""
        WITH {attr_cte}
        SELECT s.name AS study, d.document_id, d.title AS document, d.kind, d.doc_date AS date,
               p.external_id AS participant{attr_select}, g.segment_id, g.speaker, g.field,
               CASE WHEN g.start_ms IS NOT NULL THEN printf('%02d:%02d:%02d', g.start_ms // 3600000,
                    (g.start_ms // 60000) % 60, (g.start_ms // 1000) % 60) END AS start_time,
               g.start_ms, g.start AS char_start, g."end" AS char_end, g.text,
               st.theme_id, th.label AS theme, g.ordinal
        FROM segments g JOIN documents d ON d.document_id = g.document_id
        JOIN studies s ON s.study_id = d.study_id
        LEFT JOIN participants p ON p.participant_id = coalesce(g.participant_id, d.participant_id)
        LEFT JOIN attrs ON attrs.participant_id = p.participant_id
        LEFT JOIN segment_themes st ON st.segment_id = g.segment_id AND st.run_id = ?
        LEFT JOIN themes th ON th.run_id = st.run_id AND th.theme_id = st.theme_id
        WHERE d.study_id = ?
    """
    params += [run, scope.study_id]
    return sql, params, names


def ordered_codes(scope: Scope, used: Iterable[str]) -> list[str]:
    """Codebook order first (every code of the codebook), then any other code used, by name."""
    book = scope.codebook.names() if scope.codebook is not None else []
    return book + sorted(set(used) - set(book))
