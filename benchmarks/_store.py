"""Synthetic stores for the scale and re-test benchmarks, built in bulk through DataFrames/Arrow.

A store of ``n`` segments: one study, a participant (with ward and age band) per document of
``SEGMENTS_PER_DOC`` speaker turns, segments whose text is ~12 background words plus the topic
words of 0-2 of ``n_codes`` codes, two human coders (``coder_a``, ``coder_b``: the true topics with
different noise, status ``accepted``, both covering every segment), cached lemmas, and a vector per
text in ``embeddings`` under :class:`BagOfWordsEmbedder`'s name, so a codebook test finds every
segment embedded and only embeds code texts.

The vectors are bags of random word vectors (normalised sums), so a code's definition and
examples, written from its topic words, are near the segments that have that topic: semantic
scores mean something, and rules find the keywords.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

SEGMENTS_PER_DOC = 20
DIM = 384
MODEL = "synthetic-bow-384"
BACKGROUND = (
    "council housing repair boiler damp bus route library carer benefit rent bin collection street light "
    "park club school nurse doctor appointment phone form online list neighbour family winter heating bill "
    "food bank volunteer space community centre transport hospital pharmacy job advice debt landlord noise "
    "parking safety police shop market friend daughter son mother father worker manager support service hub "
    "visit week month year morning evening night weekend time money help problem answer question letter email "
    "office staff team care home garden road pavement the a my our their and but because when after before so "
    "then never always often again still is was were have had could would not very really just about with for "
    "from to of in on"
).split()


def topic_words(n_codes: int) -> list[list[str]]:
    """Four made-up words per code (``k07a`` .. ``k07d``): unambiguous keywords for synthetic text."""
    return [[f"k{j:02d}{c}" for c in "abcd"] for j in range(n_codes)]


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class BagOfWordsEmbedder:
    """Deterministic 384-d vectors: the normalised sum of one random vector per word (topic words
    weigh three times). Used for both the stored segment vectors and the code texts."""

    name = MODEL

    def __init__(self, n_codes: int = 50, seed: int = 0):
        self.vocab = BACKGROUND + [w for ws in topic_words(n_codes) for w in ws]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        rng = np.random.default_rng(seed)
        self.table = rng.normal(size=(len(self.vocab), DIM)).astype(np.float32)
        self.weights = np.array([1.0] * len(BACKGROUND) + [3.0] * (len(self.vocab) - len(BACKGROUND)), np.float32)
        self.calls = 0
        self.texts_encoded = 0

    def _unknown(self, word: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(word.encode()))
        return rng.normal(size=DIM).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace(",", " ").split():
                j = self.index.get(word)
                out[i] += self.table[j] * self.weights[j] if j is not None else self._unknown(word)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def encode_indices(self, rows: list[np.ndarray]) -> np.ndarray:
        """Vectors for texts given as vocabulary indices (the bulk path for millions of segments)."""
        from scipy import sparse

        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        cols = np.concatenate(rows)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        counts = sparse.csr_matrix((self.weights[cols], cols, indptr), shape=(len(rows), len(self.vocab)))
        out = np.asarray(counts @ self.table, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def synthetic_codebook(n_codes: int = 50, name: str = "synthetic"):
    """A flat codebook of ``n_codes`` codes, every field filled from the topic words."""
    from insight.codebook import Code, Codebook

    words = topic_words(n_codes)
    codes = []
    for j, (a, b, c, d) in enumerate(words):
        other = words[(j + 1) % n_codes]
        codes.append(Code(
            name=f"Code {j:02d}",
            definition=f"Residents talk about {a} and {b}, often with {c} at home or {d} in the street.",
            include=f"Any mention of {a} or {b}.", exclude=f"Not {other[0]} on its own.",
            examples=[f"the {a} was bad again this week", f"we had {b} and {c} for a month",
                      f"nobody helps with the {d} and the {a}"],
            counter_examples=[f"the {other[0]} and {other[1]} were fine", f"my {other[2]} came on time"],
            keywords=[a, b]))
    return Codebook(name=name, title="Synthetic codebook", description="Made by benchmarks/_store.py", codes=codes)


def build_store(con, n: int, *, n_codes: int = 50, seed: int = 0, study: str = "scale", embedder=None,
                chunk: int = 200_000) -> dict:
    """Fill an empty workspace with ``n`` synthetic segments and everything they need; returns
    counts. Every table is written with one ``INSERT ... SELECT`` per chunk of a DataFrame."""
    import pandas as pd

    from insight.codebook import save

    embedder = embedder or BagOfWordsEmbedder(n_codes, seed)
    rng = np.random.default_rng(seed)
    words = topic_words(n_codes)
    n_bg = len(BACKGROUND)
    study_id = 1
    con.execute("INSERT INTO studies (study_id, name) VALUES (?, ?)", [study_id, study])
    n_docs = -(-n // SEGMENTS_PER_DOC)
    wards = np.array(["North", "South", "East", "West", "Central", "Riverside", "Hill", "Park"])
    bands = np.array(["16-24", "25-34", "35-44", "45-54", "55-64", "65+"])
    df_participants = pd.DataFrame({"participant_id": np.arange(1, n_docs + 1), "study_id": study_id,
                                 "external_id": [f"P{i}" for i in range(1, n_docs + 1)]})
    con.execute("INSERT INTO participants (participant_id, study_id, external_id) SELECT * FROM df_participants")
    df_attrs = pd.DataFrame({"participant_id": np.repeat(df_participants["participant_id"].to_numpy(), 2),
                          "name": np.tile(["ward", "age_band"], n_docs), "type": "category",
                          "value": np.column_stack([rng.choice(wards, n_docs), rng.choice(bands, n_docs)]).ravel()})
    con.execute("INSERT INTO attributes (participant_id, name, type, value) SELECT * FROM df_attrs")

    counts = {"segments": 0, "codings": 0, "documents": n_docs, "participants": n_docs}
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        ids = np.arange(start + 1, start + m + 1)
        # topics: 40% none, 45% one, 15% two
        k = rng.choice([0, 1, 2], size=m, p=[0.40, 0.45, 0.15])
        t1 = rng.integers(0, n_codes, size=m)
        t2 = (t1 + rng.integers(1, n_codes, size=m)) % n_codes
        lengths = rng.integers(8, 17, size=m)
        bg = rng.integers(0, n_bg, size=(m, 16))
        picks = rng.integers(0, 4, size=(m, 2, 2))
        rows, texts = [], []
        for i in range(m):
            idx = list(bg[i, :lengths[i]])
            for t, topic in enumerate((t1[i], t2[i])[:k[i]]):
                for p in picks[i, t]:
                    idx.insert(int(rng.integers(0, len(idx) + 1)), n_bg + 4 * int(topic) + int(p))
            rows.append(np.asarray(idx, dtype=np.int64))
            texts.append(" ".join(embedder.vocab[j] for j in idx) + ".")
        hashes = [text_hash(t) for t in texts]
        doc = (ids - 1) // SEGMENTS_PER_DOC + 1
        ordinal = (ids - 1) % SEGMENTS_PER_DOC
        # offsets into the document text: "P<id>: <text>\n" per turn
        prefix = np.array([len(f"P{d}: ") for d in doc])
        tlen = np.array([len(t) for t in texts])
        line = prefix + tlen + 1
        frame = pd.DataFrame({"doc": doc, "line": line})
        line_start = frame.groupby("doc")["line"].cumsum().to_numpy() - line
        seg_start = line_start + prefix
        df_segments = pd.DataFrame({
            "segment_id": ids, "document_id": doc, "ordinal": ordinal, "start": seg_start, "end": seg_start + tlen,
            "speaker": [f"P{d}" for d in doc], "participant_id": doc, "unit": "turn", "text": texts,
            "text_hash": hashes})
        con.execute('INSERT INTO segments (segment_id, document_id, ordinal, start, "end", speaker, participant_id, '
                    'unit, text, text_hash) SELECT * FROM df_segments')
        df_docs = (df_segments.assign(line=df_segments["speaker"] + ": " + df_segments["text"])
                .groupby("document_id", sort=True)["line"].agg("\n".join) + "\n").reset_index()
        df_documents = pd.DataFrame({"document_id": df_docs["document_id"], "study_id": study_id,
                                     "kind": "interview", "title": "Interview " + df_docs["document_id"].astype(str),
                                     "text": df_docs["line"], "participant_id": df_docs["document_id"]})
        con.execute("INSERT INTO documents (document_id, study_id, kind, title, text, participant_id) "
                    "SELECT * FROM df_documents")
        df_lemmas = pd.DataFrame({"text_hash": hashes, "pipeline": "synthetic",
                               "lemmas": [t.rstrip(".") for t in texts]})
        con.execute("INSERT OR IGNORE INTO lemmas SELECT * FROM df_lemmas")
        vectors = embedder.encode_indices(rows)
        _insert_vectors(con, hashes, embedder.name, vectors)
        # two coders: the true topics, each with its own 10% misses and 3% false codes
        coding_rows = []
        for coder, noise_seed in (("coder_a", 1), ("coder_b", 2)):
            r = np.random.default_rng(seed * 100 + noise_seed + start)
            seg = np.concatenate([ids[k >= 1], ids[k >= 2]])
            code = np.concatenate([t1[k >= 1], t2[k >= 2]])
            keep = r.random(len(seg)) > 0.10
            extra = r.random(m) < 0.03
            seg = np.concatenate([seg[keep], ids[extra]])
            code = np.concatenate([code[keep], r.integers(0, n_codes, size=int(extra.sum()))])
            coding_rows.append(pd.DataFrame({"segment_id": seg, "code": [f"Code {c:02d}" for c in code],
                                             "coder": coder}))
        df_codings = pd.concat(coding_rows, ignore_index=True).drop_duplicates(["segment_id", "code", "coder"])
        first = con.execute("SELECT coalesce(max(coding_id), 0) + 1 FROM codings").fetchone()[0]
        df_codings.insert(0, "coding_id", np.arange(first, first + len(df_codings)))
        con.execute("INSERT INTO codings (coding_id, document_id, start, \"end\", code, codebook_id, "
                    "codebook_version, coder, method, status, score) SELECT c.coding_id, g.document_id, g.start, "
                    "g.\"end\", c.code, 1, 1, c.coder, 'human', 'accepted', NULL FROM df_codings c "
                    "JOIN segments g USING (segment_id)")
        df_coverage = pd.DataFrame({"coder": np.repeat(["coder_a", "coder_b"], m), "segment_id": np.tile(ids, 2)})
        con.execute("INSERT INTO coverage SELECT * FROM df_coverage")
        counts["segments"] += m
        counts["codings"] += len(df_codings)
    book = synthetic_codebook(n_codes)
    save(con, book, author="benchmark", study_id=study_id)
    counts["codes"] = n_codes
    counts["words"] = int(con.execute("SELECT sum(len(string_split(text, ' '))) FROM segments").fetchone()[0])
    return counts


def _insert_vectors(con, hashes: list[str], model: str, vectors: np.ndarray) -> None:
    """Vectors into ``embeddings`` through Arrow (a list<float> column), never row by row."""
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
    table = pa.table({"text_hash": pa.array(hashes), "model": pa.array([model] * len(hashes)),
                      "vector": pa.ListArray.from_arrays(offsets, flat)})
    con.register("_bench_vectors", table)
    try:
        con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, model, vector FROM _bench_vectors")
    finally:
        con.unregister("_bench_vectors")
