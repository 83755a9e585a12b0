"""The codebook model: a codebook and its codes, as plain data (no store, no file format).

:mod:`insight.codebook` reads and writes them (YAML files and the store); :mod:`insight.refi` as
REFI-QDA XML. Touches no table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from insight.errors import NotFound

CODE_FIELDS = ("name", "parent", "definition", "include", "exclude", "examples", "counter_examples", "keywords",
               "colour")
TEXT_FIELDS = ("definition", "include", "exclude")
LIST_FIELDS = ("examples", "counter_examples", "keywords")
TOP_FIELDS = ("name", "title", "description", "codes")


@dataclass
class Code:
    """One code; ``parent`` is the parent code's name (``None`` at the top level)."""

    name: str
    parent: str | None = None
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: list[str] = field(default_factory=list)
    counter_examples: list[str] = field(default_factory=list)
    keywords: list = field(default_factory=list)
    colour: str | None = None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Codebook:
    name: str
    title: str = ""
    description: str = ""
    codes: list[Code] = field(default_factory=list)
    version: int | None = None
    author: str | None = None
    created_at: object = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    def code(self, name: str) -> Code:
        for code in self.codes:
            if code.name == name:
                return code
        raise NotFound("code", name, [c.name for c in self.codes])

    def names(self) -> list[str]:
        return [c.name for c in self.codes]

    def children(self, name: str | None) -> list[Code]:
        return [c for c in self.codes if c.parent == name]

    def to_dict(self) -> dict:
        def nest(code: Code) -> dict:
            out = {"name": code.name}
            for key in CODE_FIELDS[2:]:
                value = getattr(code, key)
                if value not in (None, "", []):
                    out[key] = value
            kids = self.children(code.name)
            if kids:
                out["children"] = [nest(k) for k in kids]
            return out

        top = {"name": self.name}
        if self.title:
            top["title"] = self.title
        if self.description:
            top["description"] = self.description
        top["codes"] = [nest(c) for c in self.codes if c.parent is None or c.parent not in self.names()]
        return top

    def to_yaml(self) -> str:
        import yaml

        class _Dumper(yaml.SafeDumper):
            pass

        def _str(dumper, value):
            style = ">" if len(value) > 90 and "\n" not in value else ("|" if "\n" in value else None)
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        _Dumper.add_representer(str, _str)
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
