"""Build each labelled set's .jsonl from its .txt (see SETS): [[KIND:text]] marks become character spans.

Run from the repository root: python tests/data/build_pii_testset.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = ("pii_testset", "pii_testset.heldout", "pii_names_phones", "pii_names_phones.heldout")
MARK = re.compile(r"\[\[(PERSON|EMAIL|PHONE|POSTCODE|ADDRESS|DOB|NHS):(.+?)\]\]")


def nhs_number(rng: random.Random) -> str:
    """A 10-digit number with a valid modulus-11 check digit, spaced 3-3-4."""
    while True:
        digits = [rng.choice([4, 6])] + [rng.randint(0, 9) for _ in range(8)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1))) % 11
        check = 0 if check == 11 else check
        if check != 10:
            s = "".join(map(str, digits + [check]))
            return f"{s[:3]} {s[3:6]} {s[6:]}"


def build(name: str = "pii_testset") -> list[dict]:
    rng = random.Random(8)
    source = (HERE / f"{name}.txt").read_text(encoding="utf-8")
    blocks = [b.strip("\n") for b in source.split("\n---\n")[1:]]
    out = []
    for number, block in enumerate(blocks, start=1):
        while "{NHS}" in block:
            block = block.replace("{NHS}", nhs_number(rng), 1)
        text, mentions, pos = [], [], 0
        last = 0
        for m in MARK.finditer(block):
            text.append(block[last:m.start()])
            pos += m.start() - last
            kind, body = m.group(1), m.group(2)
            # a PERSON mark may include a title for readability; the span is the name only
            title = re.match(r"(?:Mrs|Mr|Ms|Miss|Dr|Rev\.|Brother)\s+", body) if kind == "PERSON" else None
            start = pos + (title.end() if title else 0)
            text.append(body)
            pos += len(body)
            mentions.append({"start": start, "end": pos, "kind": kind, "text": body[title.end() if title else 0:]})
            last = m.end()
        text.append(block[last:])
        full = "".join(text)
        for mention in mentions:
            assert full[mention["start"]:mention["end"]] == mention["text"], mention
        out.append({"id": number, "text": full, "mentions": mentions})
    return out


if __name__ == "__main__":
    for name in SETS:
        rows = build(name)
        with open(HERE / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts: dict[str, int] = {}
        for row in rows:
            for m in row["mentions"]:
                counts[m["kind"]] = counts.get(m["kind"], 0) + 1
        print(f"{name}: {len(rows)} examples, {sum(counts.values())} mentions: {counts}")
