"""Builds ``pipelines/data/fidelity_probes.json``: the fixed texts the fast embedder checks itself on.

Run once from the repository root with ``../shared`` beside it (``python benchmarks/build_fidelity_probes.py``);
the file it writes is committed, so the check needs neither ``../shared`` nor a network.

300 real texts of every length the product embeds: 100 online-banking questions (BANKING77 test split,
CC BY 4.0, Casanueva et al. 2020; one or two per intent: short, near-duplicate phrasings, which is
what makes nearest neighbours hard), 80 answers from the games-as-art survey (MIT, Bopp, Opwis &
Mekler via LLMCode: long, typos, lower case), and 120 interview turns, diary entries and panel answers
from the sample study in ``corpora/``. A fixed seed picks them.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "pipelines" / "data" / "fidelity_probes.json"


def banking(n: int, rng: random.Random) -> list[str]:
    rows = list(csv.DictReader(open(SHARED / "banking77" / "test.csv", encoding="utf-8")))
    by_label: dict[str, list[str]] = {}
    for row in rows:
        by_label.setdefault(row["category"], []).append(row["text"].strip())
    picked = [rng.choice(texts) for _, texts in sorted(by_label.items())]
    rest = [t for t in (r["text"].strip() for r in rows) if t not in picked]
    return picked + rng.sample(rest, n - len(picked))


def games(n: int, rng: random.Random) -> list[str]:
    rows = list(csv.DictReader(open(SHARED / "games-as-art" / "bopp_test.csv", encoding="cp1252")))
    texts = [t.strip() for r in rows for t in (r["experience"], r["why_art"]) if len(t.strip()) > 3]
    return rng.sample(sorted(set(texts)), n)


def sample_study(n: int, rng: random.Random) -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "corpora" / "interviews").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            turn = re.sub(r"^[A-Za-z0-9 ]{1,20}:\s*", "", line).strip()
            if turn:
                texts.append(turn)
    for row in csv.DictReader(open(ROOT / "corpora" / "diary" / "diary_entries.csv", encoding="utf-8")):
        texts.append(row["entry"].strip())
    for row in csv.DictReader(open(ROOT / "corpora" / "panel" / "citizens_panel_spring_2026.csv", encoding="utf-8")):
        texts += [row[c].strip() for c in ("q1_recent_contact", "q2_one_change", "q3_neighbourhood") if row[c].strip()]
    return rng.sample(sorted(set(texts)), n)


def main() -> None:
    rng = random.Random(20261201)
    probes = banking(100, rng) + games(80, rng) + sample_study(120, rng)
    assert len(probes) == len(set(probes)) == 300
    OUT.write_text(json.dumps({
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "texts": probes,
    }, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    lengths = sorted(len(t.split()) for t in probes)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(probes)} texts, words min {lengths[0]}, "
          f"median {lengths[len(lengths) // 2]}, max {lengths[-1]}")


if __name__ == "__main__":
    main()
