"""The fast embedding path: a sentence-transformers model as int8 ONNX, run by onnxruntime.

The model is exported once per machine from its local weights (nothing is downloaded) into
``~/.cache/insight/onnx/<model>-<fingerprint>/`` (``INSIGHT_CACHE_DIR`` or ``XDG_CACHE_HOME`` move
it): the transformer, mean pooling and L2 normalisation become one ONNX graph, whose weight matrices
are then quantised to int8 per output channel (``onnxruntime.quantization.quantize_dynamic``).
The export checks itself: on fixed probe sentences the int8 vectors must have a mean cosine of at
least ``MIN_FIDELITY`` to the PyTorch vectors, else the float32 graph is kept instead. What it
measured is in ``export.json`` beside the model.

After the export, encoding needs neither torch nor sentence-transformers: the ``tokenizers``
tokenizer from the model folder, texts sorted by token length, batches of about
``TOKEN_BUDGET`` tokens, and one onnxruntime session with one thread per usable core.

Why per-channel: with one scale per weight matrix the int8 model's vectors had a mean cosine of
0.949 to PyTorch's on the benchmark texts; one scale per output channel gives 0.990, at the same
speed (see ``benchmarks/embed_speed.py``).

Vectors go into the cache under the plain model name (``all-MiniLM-L6-v2``), shared with the
PyTorch path: they are the same model, and the fidelity check keeps them within cosine 0.98.

>>> from pipelines.embed_onnx import unavailable
>>> unavailable("/no/such/model")
'/no/such/model is not a local sentence-transformers folder'
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from insight.errors import InsightError

EXPORT_FORMAT = 1  # bump when the exported graph changes, so old exports are rebuilt
MIN_FIDELITY = 0.98
TOKEN_BUDGET = 1024  # tokens per batch (texts x longest text): long texts go 8-16 at a time
MAX_BATCH = 128
PROBES = [
    "Yes.",
    "The bins were not collected again this week.",
    "I rang the council three times and nobody called me back.",
    "Damp and mould in the children's bedroom since October",
    "She said the library is the only warm place she goes to in the day.",
    "Bus cuts mean I can't get to the hospital for my appointments",
    "We need more youth clubs, the kids have nowhere to go after school",
    "Council tax is too high for what we get",
    "honestly no idea",
    "The repairs team came out, looked at the boiler, said they would order a part, and then I heard "
    "nothing for six weeks while my daughter and I used a fan heater in the front room.",
    "When my mum got ill I gave up work to care for her. The carers' assessment took months, and by the "
    "time anyone visited we had already worked out our own routine with the neighbours, who were "
    "brilliant, but I was exhausted and I felt nobody at the council understood what a day looked like.",
    "Interviewer: Can you tell me about the last time you used the contact centre?",
    "I would rather speak to a person than fill in another online form that loses my details.",
    "The food bank volunteers know my name; the benefits office makes me feel like a number.",
    "Street lighting on the canal path is broken and I don't feel safe walking home after my shift "
    "finishes at ten, so I get a taxi I can't really afford.",
    "More police on the estate",
]


class ExportFailed(InsightError):
    """The model could not be exported to ONNX here; the PyTorch path is used instead."""


@dataclass
class Layout:
    """What the fast path needs to know about a sentence-transformers folder."""

    path: str
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    token_type_ids: bool


def cache_root() -> Path:
    """Where exported models live: ``$INSIGHT_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/insight/onnx``,
    else ``~/.cache/insight/onnx``."""
    base = os.environ.get("INSIGHT_CACHE_DIR")
    if base:
        return Path(base) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "insight" / "onnx"


def missing_packages() -> list[str]:
    """The packages the fast path needs that are not installed (empty when it can run)."""
    import importlib.util

    return [p for p in ("onnxruntime", "tokenizers") if importlib.util.find_spec(p) is None]


def inspect_model(path: str | os.PathLike) -> Layout:
    """Read a sentence-transformers folder; raises :class:`ExportFailed` for shapes the fast path
    does not cover (a Dense layer, max or weighted pooling, no ``tokenizer.json``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ExportFailed(f"{path} is not a local sentence-transformers folder")
    if not (folder / "tokenizer.json").exists():
        raise ExportFailed(f"{path} has no tokenizer.json")
    modules = _read_json(folder / "modules.json") or []
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds and (kinds[0] != "Transformer" or not set(kinds[1:]) <= {"Pooling", "Normalize"}):
        raise ExportFailed(f"{path} has modules {kinds}; the fast path handles Transformer, Pooling, Normalize")
    pooling = "mean"
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            config = _read_json(folder / module.get("path", "") / "config.json") or {}
            modes = [k for k, v in config.items() if k.startswith("pooling_mode") and v]
            if modes == ["pooling_mode_cls_token"]:
                pooling = "cls"
            elif modes not in ([], ["pooling_mode_mean_tokens"]):
                raise ExportFailed(f"{path} pools with {modes}; the fast path handles mean or CLS pooling")
    sbert = _read_json(folder / "sentence_bert_config.json") or {}
    config = _read_json(folder / "config.json") or {}
    max_len = int(sbert.get("max_seq_length") or min(512, config.get("max_position_embeddings", 512)))
    return Layout(str(folder), max_len, pooling, normalize=True,
                  token_type_ids=int(config.get("type_vocab_size", 0) or 0) > 0)


def unavailable(model_path: str) -> str | None:
    """Why the fast path cannot serve ``model_path`` (``None`` when it can)."""
    missing = missing_packages()
    if missing:
        return "not installed: " + ", ".join(missing) + " (pip install " + " ".join(missing) + ")"
    try:
        inspect_model(model_path)
    except ExportFailed as exc:
        return exc.message
    return None


def fingerprint(layout: Layout) -> str:
    """Changes when the source model or the export format changes (file names, sizes, configs)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps([EXPORT_FORMAT, asdict(layout) | {"path": None}]).encode())
    folder = Path(layout.path)
    for item in sorted(folder.rglob("*")):
        if item.is_file():
            h.update(f"{item.relative_to(folder)}:{item.stat().st_size}".encode())
            if item.suffix == ".json" and item.stat().st_size < 1_000_000:
                h.update(item.read_bytes())
    return h.hexdigest()


def export_dir(layout: Layout, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-60:]
    return cache_root() / f"{safe}-{fingerprint(layout)}"


def ensure_export(layout: Layout, name: str, *, quiet: bool = False) -> Path:
    """The folder of the exported model, exporting it first if this machine has not yet."""
    target = export_dir(layout, name)
    if (target / "export.json").exists():
        return target
    if not quiet:
        print(f"Preparing the fast embedding model for {name} (once per machine, about 10 s) ...",
              file=sys.stderr, flush=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as exc:
        raise ExportFailed(f"cannot write the export cache {target.parent} ({exc.strerror or exc}); "
                           "set INSIGHT_CACHE_DIR to a writable folder") from None
    try:
        meta = export(layout, tmp)
        (tmp / "export.json").write_text(json.dumps(meta, indent=2))
        try:
            tmp.rename(target)
        except OSError:  # another process finished the same export first: use theirs
            if not (target / "export.json").exists():
                raise
    except ExportFailed:
        raise
    except Exception as exc:  # torch/onnx version trouble: say what, fall back to PyTorch
        raise ExportFailed(f"exporting {name} to ONNX failed ({exc.__class__.__name__}: {exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print(f"  done: {meta['variant']}, mean cosine to PyTorch {meta['fidelity_mean']:.4f} "
              f"({meta['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return target


def export(layout: Layout, folder: Path, *, quantize: bool = True) -> dict:
    """Export ``layout``'s model to ``folder/model.onnx`` (int8 when faithful enough); returns the
    metadata written to ``export.json``."""
    started = time.perf_counter()
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    try:
        model = AutoModel.from_pretrained(layout.path, attn_implementation="eager").eval()
    except (TypeError, ValueError):
        model = AutoModel.from_pretrained(layout.path).eval()

    class Pooled(torch.nn.Module):
        """Transformer, pooling and normalisation in one graph: the session returns sentence vectors."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            hidden = self.inner(**kwargs).last_hidden_state
            if layout.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    wrapped = Pooled(model).eval()
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if layout.token_type_ids else [])
    dummy = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"sentence_embedding": {0: "batch"}}
    fp32 = folder / "model-fp32.onnx"
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        export_kwargs = dict(input_names=names, output_names=["sentence_embedding"], dynamic_axes=axes,
                             opset_version=17)
        try:
            torch.onnx.export(wrapped, dummy, str(fp32), dynamo=False, **export_kwargs)
        except TypeError:  # a torch without the dynamo switch
            torch.onnx.export(wrapped, dummy, str(fp32), **export_kwargs)

    # The reference: PyTorch's own vectors for the probes.
    tokenizer = load_tokenizer(layout)
    feeds = list(_batches(tokenizer, PROBES, names, TOKEN_BUDGET))
    with torch.no_grad():
        reference = np.zeros((len(PROBES), model.config.hidden_size), dtype=np.float32)
        for idx, feed in feeds:
            reference[idx] = wrapped(*(torch.from_numpy(feed[n]) for n in names)).numpy()

    variant, chosen = "fp32", fp32
    fidelity = _fidelity(fp32, feeds, reference)
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = folder / "model-int8.onnx"
        import logging

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs advice about static models on the root logger
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            root.setLevel(level)
        q = _fidelity(int8, feeds, reference)
        if q[0] >= MIN_FIDELITY:
            variant, chosen, fidelity = "int8", int8, q
    chosen.rename(folder / "model.onnx")
    for leftover in folder.glob("model-*.onnx"):
        leftover.unlink()
    import onnxruntime

    return {"variant": variant, "fidelity_mean": round(fidelity[0], 5), "fidelity_min": round(fidelity[1], 5),
            "probes": len(PROBES), "min_fidelity": MIN_FIDELITY, "layout": asdict(layout),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "export_format": EXPORT_FORMAT,
            "seconds": round(time.perf_counter() - started, 1)}


def _fidelity(path: Path, feeds, reference: np.ndarray) -> tuple[float, float]:
    session = _session(path, threads=None)
    out = np.zeros_like(reference)
    for idx, feed in feeds:
        out[idx] = session.run(None, feed)[0]
    cos = (out * reference).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(reference, axis=1))
    return float(cos.mean()), float(cos.min())


def load_tokenizer(layout: Layout):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(layout.path) / "tokenizer.json"))
    tokenizer.no_padding()  # tokenizer.json may pad to a fixed length; batches pad themselves
    tokenizer.enable_truncation(layout.max_seq_length)
    return tokenizer


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or usable_cpus()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_batches(lengths: list[int], budget: int = TOKEN_BUDGET, max_batch: int = MAX_BATCH,
                 texts: list[str] | None = None) -> list[np.ndarray]:
    """Indices of texts grouped into batches: sorted by length (then by ``texts``), each batch's
    size times its longest text kept within ``budget`` tokens (so short texts go many at a time,
    long ones few).

    The int8 graph quantises activations per batch, so a text's vector depends slightly on its
    batch companions: with ties broken by the text itself, the same set of texts always makes the
    same batches, whatever order it comes in, and the same study gives the same vectors.

    >>> [b.tolist() for b in plan_batches([5, 100, 6, 7], budget=20)]
    [[0, 2], [3], [1]]
    >>> [b.tolist() for b in plan_batches([5, 5, 5], budget=10, texts=["c", "a", "b"])]
    [[1, 2], [0]]
    """
    if texts is None:
        order = np.argsort(np.asarray(lengths), kind="stable")
    else:
        order = np.asarray(sorted(range(len(lengths)), key=lambda i: (lengths[i], texts[i])), dtype=np.int64)
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < max_batch and (end + 1 - start) * lengths[order[end]] <= budget:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def _batches(tokenizer, texts: list[str], names: list[str], budget: int):
    """``(indices, feed)`` per batch: padded int64 arrays named as the graph's inputs."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=True)
    lengths = [len(e.ids) for e in encodings]
    for idx in plan_batches(lengths, budget, texts=texts):
        width = max(lengths[i] for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            n = lengths[i]
            ids[row, :n] = encodings[i].ids
            mask[row, :n] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        yield idx, feed


class OnnxEmbedder:
    """The fast embedder: same ``name`` and ``encode`` as the PyTorch one, about three times faster.

    >>> embedder = OnnxEmbedder()                         # doctest: +SKIP
    >>> embedder.encode(["The bins were missed."]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model: str | None = None, *, quiet: bool = False, threads: int | None = None,
                 token_budget: int = TOKEN_BUDGET):
        from pipelines.embed import model_name, model_path

        self.name = model_name(model)
        self.layout = inspect_model(model_path(model))
        self.token_budget = token_budget
        folder = ensure_export(self.layout, self.name, quiet=quiet)
        self.export = _read_json(folder / "export.json") or {}
        self.backend = f"onnx-{self.export.get('variant', 'int8')}"
        if not quiet:
            print(f"Loading embedding model {self.name} ({self.backend}) ...", file=sys.stderr, flush=True)
        self.session = _session(folder / "model.onnx", threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = load_tokenizer(self.layout)
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 0) or None

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        out = None
        for idx, feed in _batches(self.tokenizer, texts, self.inputs, self.token_budget):
            vectors = self.session.run(None, feed)[0]
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        return out


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
