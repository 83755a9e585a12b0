"""Re-testing a codebook after an edit, against re-embedding: 100,000 cached segments, 50 codes.

    .venv/bin/python benchmarks/retest_speed.py

A synthetic store (``benchmarks/_store.py``: 100,000 segments, two coders, cached lemmas and
vectors) is built in a temporary folder. ``insight.codetest.test_codebook`` (rules and semantic)
runs once, as a researcher's first test in a session would; then one code's definition is edited
(saved as a new codebook version) and the codebook re-tested, five times with a different code
each time: the median of those re-tests is the figure. Only the edited code's texts are embedded.

The comparison is what the re-test would cost if the segments had to be embedded again: the
throughput of Insight's default embedder (and of plain PyTorch sentence-transformers) measured on
a sample of 1,000 of the store's texts, **extrapolated** to 100,000 (labelled as such).

Target (issue 3): the re-test under one second. Results: ``benchmarks/results/retest_speed.json``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from _common import log, median, print_rows, row, write_result

N = 100_000
CODES = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--sample", type=int, default=1000, help="Texts embedded to measure throughput.")
    parser.add_argument("--no-torch", action="store_true", help="Skip the PyTorch throughput.")
    args = parser.parse_args()

    from _store import BagOfWordsEmbedder, build_store
    from insight import store
    from insight.codebook import get, save
    from insight.codetest import test_codebook

    with tempfile.TemporaryDirectory(prefix="insight-retest-") as tmp:
        con = store.connect(Path(tmp) / "store.duckdb")
        embedder = BagOfWordsEmbedder(CODES)
        log(f"Building a store of {args.n:,} segments ...")
        started = time.perf_counter()
        counts = build_store(con, args.n, n_codes=CODES, embedder=embedder)
        build_s = time.perf_counter() - started
        book = get(con, "synthetic")
        started = time.perf_counter()
        first = test_codebook(con, 1, book, embedder=embedder)
        first_s = time.perf_counter() - started
        log(f"first test: {first_s:.2f}s ({first['passed']} passed, {first['failed']} failed)")
        reruns = []
        for i in range(args.edits):
            code = book.codes[(11 * i + 5) % len(book.codes)]
            code.definition = code.definition.rstrip(".") + f", and {code.keywords[0]} edit {i}."
            save(con, book, author="benchmark", note=f"edited {code.name}")
            book = get(con, "synthetic")
            before = embedder.texts_encoded
            started = time.perf_counter()
            report = test_codebook(con, 1, book, embedder=embedder)
            seconds = time.perf_counter() - started
            reruns.append({"code": code.name, "seconds": round(seconds, 4),
                           "texts_embedded": embedder.texts_encoded - before, "passed": report["passed"]})
            log(f"re-test after editing {code.name}: {seconds:.3f}s "
                f"({embedder.texts_encoded - before} code texts embedded)")
        texts = [r[0] for r in con.execute("SELECT text FROM segments USING SAMPLE 2000 ROWS (reservoir, 7)")
                 .fetchall()][:args.sample]
        con.close()

    retest_s = median(r["seconds"] for r in reruns)
    rates = {}
    from pipelines.embed import SentenceTransformerEmbedder, get_embedder

    fast = get_embedder()
    rates[f"default ({getattr(fast, 'backend', '?')})"] = _rate(fast, texts)
    if not args.no_torch and getattr(fast, "backend", "torch") != "torch":
        rates["PyTorch sentence-transformers"] = _rate(SentenceTransformerEmbedder(quiet=True), texts)
    extrapolated = {name: args.n / rate for name, rate in rates.items()}
    for name, rate in rates.items():
        log(f"embedding throughput, {name}: {rate:.0f} texts/s -> {args.n:,} texts in "
            f"{extrapolated[name]:.0f}s (extrapolated)")
    default_name = next(iter(rates))
    summary = [
        row(f"re-test after editing one code ({args.n:,} cached segments, {CODES} codes)", retest_s, "s",
            baseline=f"re-embedding {args.n:,} texts, {default_name} (extrapolated from {len(texts):,})",
            baseline_value=extrapolated[default_name], target="< 1 s", passed=retest_s < 1.0),
    ]
    if len(rates) > 1:
        name = list(rates)[1]
        summary.append(row(f"re-test vs re-embedding with {name}", retest_s, "s",
                           baseline=f"re-embedding {args.n:,} texts, {name} (extrapolated)",
                           baseline_value=extrapolated[name]))
    figures = {"segments": counts["segments"], "codes": CODES, "build_s": round(build_s, 2),
               "first_test_s": round(first_s, 3), "retest_median_s": round(retest_s, 4), "reruns": reruns,
               "methods": first["methods"], "embedding_sample": len(texts),
               "embedding_texts_per_s": {k: round(v, 1) for k, v in rates.items()},
               "reembed_extrapolated_s": {k: round(v, 1) for k, v in extrapolated.items()},
               "ratio_reembed_over_retest": {k: round(v / retest_s, 1) for k, v in extrapolated.items()}}
    write_result("retest_speed", figures=figures, summary=summary,
                 settings={"edits": args.edits, "embedder_for_code_texts": "bag-of-words synthetic (_store.py)",
                           "segment_vectors": "cached in the embeddings table (synthetic, 384-d)"})
    print_rows(summary)
    for k, v in extrapolated.items():
        print(f"  re-embedding instead ({k}, extrapolated): {v:.0f}s = {v / retest_s:,.0f} x the re-test")


def _rate(embedder, texts: list[str]) -> float:
    embedder.encode(texts[:64])  # warm-up
    times = []
    for _ in range(3):
        random.Random(len(times)).shuffle(texts)
        started = time.perf_counter()
        embedder.encode(texts)
        times.append(time.perf_counter() - started)
    return len(texts) / median(times)


if __name__ == "__main__":
    main()
