"""Pseudonymisation: kinds, keys and the study's entities (``pii_entities``: one row per person,
email, phone... with its label)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from insight.errors import InsightError
from insight.store import frames, next_ids
from pipelines.pseudonymise import KINDS, LABELS, lexicon, phone_key

ACTIVE = ("replaced", "accepted")
STATUSES = ("replaced", "accepted", "undone", "candidate")
_ID_LIKE = re.compile(r"^[A-Za-z]{0,5}[-_ ]?\d+[A-Za-z]?$")


def _check_kind(kind: str) -> str:
    kind = kind.upper().replace(" ", "_")
    kind = {"NHS_NUMBER": "NHS", "NAME": "PERSON", "DATE_OF_BIRTH": "DOB"}.get(kind, kind)
    if kind not in KINDS:
        raise InsightError(f"Unknown kind of personal data {kind!r}.", hint="Use one of: " + ", ".join(KINDS) + ".")
    return kind




# ---------------------------------------------------------------------------------------------
# Keys and entities


def _person_key(text: str) -> str:
    words = [w.strip(".,") for w in re.split(r"\s+", text.strip())]
    titles = lexicon()["title"]
    while len(words) > 1 and words[0].lower().rstrip(".") in titles:
        words = words[1:]
    key = " ".join(words).lower()
    return re.sub(r"['’]s$", "", key)


def entity_key(kind: str, text: str) -> str:
    """What makes two mentions the same thing: a folded name, an email, a phone's digits...

    >>> entity_key("PHONE", "+44 (0)7700 900183"), entity_key("PHONE", "07700 900 183")
    ('+447700900183', '+447700900183')
    >>> entity_key("POSTCODE", "nb4 7qt")
    'NB47QT'
    """
    if kind == "PERSON":
        return _person_key(text)
    if kind == "EMAIL":
        return re.sub(r"\s+(?:dot)\s+", ".", re.sub(r"\s+at\s+", "@", text.strip().lower()))
    if kind == "PHONE":
        return phone_key(text)
    if kind in ("POSTCODE",):
        return re.sub(r"\s+", "", text).upper()
    if kind == "NHS":
        return re.sub(r"\D", "", text)
    return " ".join(re.sub(r"[,.]", " ", text).lower().split())


class _Entities:
    """A study's entities, their labels and the forms each has been seen in.

    People are matched by their first and last names: "Margaret", "Margaret Jones" and "Mrs Jones"
    are one person when nothing else in the study shares those names (or, for a single name, when
    the person was already seen in the same document)."""

    def __init__(self, con, study_id: int):
        self.con, self.study_id = con, study_id
        self.rows: dict[int, dict] = {}
        self.alias: dict[tuple[str, str], int] = {}
        self.numbers: dict[str, int] = defaultdict(int)
        self.labels: set[str] = set()
        # active people by token: the first and last token of full names, and single names
        self.first: dict[str, set[int]] = defaultdict(set)
        self.last: dict[str, set[int]] = defaultdict(set)
        self.single: dict[str, set[int]] = defaultdict(set)
        for eid, kind, number, label, original, status in con.execute(
                "SELECT entity_id, kind, number, label, original, status FROM pii_entities WHERE study_id = ?",
                [study_id]).fetchall():
            self.rows[eid] = dict(kind=kind, number=number, label=label, original=original, status=status)
            self.alias[(kind, entity_key(kind, original))] = eid
            self.numbers[kind] = max(self.numbers[kind], number)
            self.labels.add(label)
            self._index(eid)
        for kind, original, eid in con.execute(
                "SELECT kind, original, entity_id FROM pii_mentions WHERE study_id = ? AND entity_id IS NOT NULL "
                "AND status <> 'candidate'", [study_id]).fetchall():
            self.alias.setdefault((kind, entity_key(kind, original)), eid)
        self.next_id = next_ids(con, "pii_entities", "entity_id").start
        self.new: list[int] = []

    def _tokens(self, eid: int) -> list[str]:
        return _person_key(self.rows[eid]["original"]).split()

    def _index(self, eid: int, drop: bool = False) -> None:
        row = self.rows[eid]
        if row["kind"] != "PERSON" or row["status"] != "active":
            return
        tokens = self._tokens(eid)
        if not tokens:
            return
        targets = [self.single[tokens[0]]] if len(tokens) == 1 else [self.first[tokens[0]], self.last[tokens[-1]]]
        for target in targets:
            (target.discard if drop else target.add)(eid)

    def resolve(self, kind: str, text: str, near: set[int] = frozenset(), label: str | None = None) -> int:
        """The entity for a mention, made if needed; ``near``: entities already seen in this document."""
        key = entity_key(kind, text)
        if label is not None:
            for eid, row in self.rows.items():
                if row["label"] == label:
                    if row["kind"] != kind:
                        raise InsightError(f"{label} is a {row['kind']}, not a {kind}.")
                    self.alias[(kind, key)] = eid
                    return eid
            return self._make(kind, text, key, label)
        if (kind, key) in self.alias:
            return self.alias[(kind, key)]
        if kind == "PERSON" and key:
            eid = self._person(key.split(), near)
            if eid is not None:
                if len(key.split()) > len(self._tokens(eid)):  # "Margaret" turns out to be Margaret Jones
                    self._index(eid, drop=True)
                    self.rows[eid]["original"] = text if not text.isupper() else text.title()
                    self.rows[eid]["dirty"] = True
                    self._index(eid)
                self.alias[(kind, key)] = eid
                return eid
        return self._make(kind, text, key, None)

    def _person(self, tokens: list[str], near: set[int]) -> int | None:
        head, tail = tokens[0], tokens[-1]
        if len(tokens) >= 2:
            same = self.first[head] & self.last[tail]
            if len(same) == 1:
                return next(iter(same))
            if len(self.single[head]) == 1 and not self.first[head]:
                return next(iter(self.single[head]))
            if len(self.single[tail]) == 1 and not self.last[tail]:
                return next(iter(self.single[tail]))
            return None
        matches = self.first[head] | self.last[head]
        local = matches & near
        if len(local) == 1:
            return next(iter(local))
        if len(matches) == 1 and not local:
            return next(iter(matches))
        return None

    def _make(self, kind: str, text: str, key: str, label: str | None) -> int:
        eid = self.next_id
        self.next_id += 1
        self.numbers[kind] += 1
        if label is None:
            label = f"[{LABELS[kind]} {self.numbers[kind]}]"
            while label in self.labels:
                self.numbers[kind] += 1
                label = f"[{LABELS[kind]} {self.numbers[kind]}]"
        elif label in self.labels:
            raise InsightError(f"The pseudonym {label!r} is already in use in this study.", hint="Choose another.")
        original = text if not (kind == "PERSON" and text.isupper()) else text.title()
        self.rows[eid] = dict(kind=kind, number=self.numbers[kind], label=label, original=original, status="active")
        self.alias[(kind, key)] = eid
        self.labels.add(label)
        self.new.append(eid)
        self._index(eid)
        return eid

    def flush(self) -> None:
        """Write new entities and changed originals (in two statements, however many there are)."""
        import pandas as pd

        now = datetime.now()
        new = [dict(study_id=self.study_id, entity_id=e, kind=self.rows[e]["kind"], number=self.rows[e]["number"],
                    label=self.rows[e]["label"], original=self.rows[e]["original"], status="active", created_at=now)
               for e in self.new if not self.rows[e].get("written")]
        for e in self.new:
            self.rows[e]["written"] = True
            self.rows[e].pop("dirty", None)
        if new:
            with frames(self.con, _insight_entities=pd.DataFrame(new)):
                self.con.execute("INSERT INTO pii_entities (study_id, entity_id, kind, number, label, original, status, "
                                 "created_at) SELECT study_id, entity_id, kind, number, label, original, status, "
                                 "created_at FROM _insight_entities")
        dirty = [(eid, row["original"]) for eid, row in self.rows.items() if row.pop("dirty", False)]
        if dirty:
            with frames(self.con, _insight_dirty=pd.DataFrame(dirty, columns=["entity_id", "original"])):
                self.con.execute("UPDATE pii_entities SET original = d.original FROM _insight_dirty d WHERE "
                                 "pii_entities.study_id = ? AND pii_entities.entity_id = d.entity_id", [self.study_id])

    def person_forms(self) -> tuple[list[str], list[str]]:
        """Names to look for everywhere: (strong, weak). Parts of full names that are also ordinary
        words ("Grace") are weak: matched only mid-sentence."""
        lex = lexicon()
        strong, weak = set(), set()
        for (kind, key), eid in self.alias.items():
            row = self.rows.get(eid)
            if kind != "PERSON" or row is None or row["status"] != "active" or not key:
                continue
            words = key.split()
            if len(words) == 1 and (key in lex["ambiguous"] or key in lex["not"]):
                weak.add(key.title())
            else:
                strong.add(" ".join(w.title() if w.islower() else w for w in words))
            if len(words) > 1:
                for part in (words[0], words[-1]):
                    if len(part) > 2 and part not in lex["not"]:
                        (weak if part in lex["ambiguous"] else strong).add(part.title())
        return sorted(strong), sorted(weak - strong)
