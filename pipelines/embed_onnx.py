"""The fast embedding path: a sentence-transformers model as ONNX, run by onnxruntime, in the most
quantised form that stays faithful to PyTorch on the CPU it runs on.

The model is exported once per machine from its local weights (nothing is downloaded) into
``~/.cache/insight/onnx/<model>-<fingerprint>/`` (``INSIGHT_CACHE_DIR`` or ``XDG_CACHE_HOME`` move
it): the transformer, mean pooling and L2 normalisation become one ONNX graph. The fingerprint
covers the model's files, the onnxruntime version and the CPU's instruction sets, so a cache shared
between machines (a home folder on a cluster) is checked again on each kind of CPU.

**The self-check.** Integer kernels differ by CPU: without VNNI, onnxruntime multiplies u8 x s8
pairs into 16-bit sums that can saturate, so one int8 graph gives other vectors on an AVX2 machine
than on a VNNI one. So the export measures, on this CPU, each variant of :data:`VARIANTS` (fastest
first) against PyTorch's own vectors of the 300 fixed real texts in ``data/fidelity_probes.json``
(short banking questions, long survey answers, interview turns), and keeps the first that holds
the bar with a margin (:data:`CHOOSE_BAR`), so that the product's bar (:data:`BAR`: mean cosine
>= 0.995 and the same nearest neighbour for >= 90% of texts) holds on text it has not seen:

- ``int8``: every weight matrix int8 (per output channel, 7-bit range so that no CPU saturates);
- ``int8-ffn-fp32``: the feed-forward output matrices kept in float32 (their inputs, after GELU,
  lose most when quantised per tensor);
- ``int8-attention``: only the attention projections (the square matrices) in int8;
- ``fp32``: the float32 graph, still faster than PyTorch (fused kernels, token-budget batches).

If none holds the bar the PyTorch path is used (and remembered, so the check is not repeated).
Measured on the packaged all-MiniLM-L6-v2 on a Xeon with AVX-512 but no VNNI: ``int8`` mean cosine
0.991 (neighbours 0.86), ``int8-ffn-fp32`` 0.995 (0.89 on unseen turns), ``int8-attention`` 0.998
(0.94): the last is chosen there. ``INSIGHT_EMBED_VARIANT`` forces one variant (still measured and
reported). What was measured is in ``export.json`` beside the model, and every embedder reports it
as :attr:`OnnxEmbedder.info`, which runs record in their settings.

After the export, encoding needs neither torch nor sentence-transformers: the ``tokenizers``
tokenizer from the model folder, texts sorted by token length, batches of about
``TOKEN_BUDGET`` tokens, and one onnxruntime session with one thread per usable core.

Vectors go into the cache under the plain model name (``all-MiniLM-L6-v2``), shared with the
PyTorch path: they are the same model, within the bar above.

>>> from pipelines.embed_onnx import unavailable
>>> unavailable("/no/such/model")
'/no/such/model is not a local sentence-transformers folder'
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from insight import config
from insight.errors import InsightError
from pipelines.models import model_name, model_path

EXPORT_FORMAT = 2  # bump when the exported graph or the choice changes, so old exports are rebuilt
TOKEN_BUDGET = 1024  # tokens per batch (texts x longest text): long texts go 8-16 at a time
MAX_BATCH = 128


@dataclass(frozen=True)
class Bar:
    """Fidelity to PyTorch's vectors: mean cosine per text, and the share of texts whose nearest
    other text is the same under both."""

    mean_cosine: float
    neighbours: float

    def holds(self, fidelity: dict) -> bool:
        return fidelity["mean_cosine"] >= self.mean_cosine and fidelity["neighbours"] >= self.neighbours


BAR = Bar(mean_cosine=0.995, neighbours=0.90)  # what the product promises on real text, on any CPU
CHOOSE_BAR = Bar(mean_cosine=0.997, neighbours=0.92)  # what a variant must show on the probes to be chosen

# Which weight matrices each variant quantises, by shape (rows x columns of the MatMul weight):
# square = attention projections, wide = feed-forward in, tall = feed-forward out.
VARIANTS: dict[str, frozenset] = {
    "int8": frozenset({"square", "wide", "tall"}),
    "int8-ffn-fp32": frozenset({"square", "wide"}),
    "int8-attention": frozenset({"square"}),
    "fp32": frozenset(),
}
PROBE_FILE = Path(__file__).parent / "data" / "fidelity_probes.json"

# Instruction sets that change what onnxruntime's kernels compute or how fast (x86 and Arm).
CPU_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
             "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve", "bf16")


@lru_cache(maxsize=1)
def probes() -> list[str]:
    """The fixed real texts the export checks itself on (see ``benchmarks/build_fidelity_probes.py``)."""
    return json.loads(PROBE_FILE.read_text(encoding="utf-8"))["texts"]


@lru_cache(maxsize=1)
def cpu_features() -> dict:
    """This CPU's name, architecture and the instruction sets in :data:`CPU_FLAGS` it has."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and name in ("", platform.machine(), platform.processor()):
                name = value.strip()
            elif key in ("flags", "Features"):
                flags.update(value.split())
    except OSError:
        pass
    have = [f for f in CPU_FLAGS if f in flags]
    vnni = any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp"))
    return {"cpu": name, "arch": platform.machine(), "flags": have, "int8_dot_product": vnni}


def cpu_summary() -> str:
    """One line for people: ``Intel Xeon ... (x86_64; avx2 avx512f ...; no VNNI)``."""
    f = cpu_features()
    return f"{f['cpu']} ({f['arch']}; {' '.join(f['flags']) or 'no SIMD flags read'}; " \
           f"{'VNNI' if f['int8_dot_product'] else 'no VNNI'})"


def forced_variant() -> str | None:
    """``INSIGHT_EMBED_VARIANT`` (one of :data:`VARIANTS`), or ``None`` to let the self-check choose."""
    value = (config.env("EMBED_VARIANT") or "").lower()
    if not value or value == "auto":
        return None
    if value not in VARIANTS:
        raise InsightError(f"INSIGHT_EMBED_VARIANT is {value!r}.",
                           hint="Use one of: auto, " + ", ".join(VARIANTS) + " (or INSIGHT_EMBED_BACKEND=torch).")
    return value


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
    return config.cache_dir() / "onnx"


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
    """Changes when the source model (file names, sizes, configs), the export format, the CPU's
    instruction sets, the onnxruntime version or ``INSIGHT_EMBED_VARIANT`` change."""
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps([EXPORT_FORMAT, asdict(layout) | {"path": None}, cpu_features(), _ort_version(),
                         forced_variant()]).encode())
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
        print(f"Preparing the fast embedding model for {name}: exporting and checking it against PyTorch on "
              f"this CPU (once per machine, about 40 s) ...",
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
        print(f"  done in {meta['seconds']:.0f} s: {describe(meta)}", file=sys.stderr, flush=True)
    return target


def export(layout: Layout, folder: Path, *, quantize: bool = True, variants=None) -> dict:
    """Export ``layout``'s model to ``folder/model.onnx`` in the first variant that holds
    :data:`CHOOSE_BAR` on this CPU (``variants`` in order; default :data:`VARIANTS`, or the forced
    one; ``quantize=False`` means float32 only). Returns the metadata written to ``export.json``;
    its ``variant`` is ``None`` when no variant held the bar (then there is no ``model.onnx``)."""
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

    # The reference: PyTorch's own vectors for the probes, in the same batches.
    texts = probes()
    tokenizer = load_tokenizer(layout)
    feeds = list(_batches(tokenizer, texts, names, TOKEN_BUDGET))
    with torch.no_grad():
        reference = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        for idx, feed in feeds:
            reference[idx] = wrapped(*(torch.from_numpy(feed[n]) for n in names)).numpy()

    forced = forced_variant()
    if variants is None:
        variants = ["fp32"] if not quantize else [forced] if forced else list(VARIANTS)
    tries, chosen = [], None
    for variant in variants:
        path = fp32 if variant == "fp32" else _quantize(fp32, folder / f"model-{variant}.onnx", VARIANTS[variant])
        measured = measure_fidelity(path, feeds, reference)
        tries.append({"variant": variant, **measured})
        if CHOOSE_BAR.holds(measured) or variant == forced:
            chosen = tries[-1]
            path.rename(folder / "model.onnx")
            break
    for leftover in folder.glob("model-*.onnx"):
        leftover.unlink()
    measured = {k: v for k, v in (chosen or {}).items() if k != "variant"}
    return {"variant": chosen and chosen["variant"], "forced": forced, "fidelity": measured,
            "fidelity_mean": measured.get("mean_cosine"), "fidelity_min": measured.get("min_cosine"),
            "bar": asdict(BAR), "choose_bar": asdict(CHOOSE_BAR), "probes": len(texts), "tries": tries,
            "cpu": cpu_features(), "layout": asdict(layout), "torch": torch.__version__,
            "onnxruntime": _ort_version(), "export_format": EXPORT_FORMAT,
            "seconds": round(time.perf_counter() - started, 1)}


def _quantize(fp32: Path, out: Path, shapes: frozenset) -> Path:
    """``fp32`` with the MatMul weights of the given shapes in int8 (per output channel, 7-bit
    range: u8 x s7 pairs cannot saturate the 16-bit sums CPUs without VNNI use, so the integer
    products are exact, and the same, on every x86 CPU)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {i.name: tuple(i.dims) for i in graph.initializer}
    nodes = []
    for node in graph.node:
        dims = weights.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) > 1 else None
        if dims and len(dims) == 2:
            shape = "square" if dims[0] == dims[1] else "wide" if dims[0] < dims[1] else "tall"
            if shape in shapes:
                nodes.append(node.name)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs advice about static models on the root logger
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         nodes_to_quantize=nodes, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return out


def fidelity(vectors: np.ndarray, reference: np.ndarray) -> dict:
    """How faithful ``vectors`` are to ``reference`` (row i of each is text i): mean and lowest
    cosine, and the share of texts whose nearest other text is the same under both.

    >>> ref = np.eye(3, dtype=np.float32)
    >>> fidelity(ref, ref) == {"mean_cosine": 1.0, "min_cosine": 1.0, "neighbours": 1.0, "texts": 3}
    True
    """
    a = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    b = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosine = (a * b).sum(1)
    sims_a, sims_b = a @ a.T, b @ b.T
    np.fill_diagonal(sims_a, -np.inf)
    np.fill_diagonal(sims_b, -np.inf)
    neighbours = float((sims_a.argmax(1) == sims_b.argmax(1)).mean()) if len(a) > 1 else 1.0
    return {"mean_cosine": round(float(cosine.mean()), 5), "min_cosine": round(float(cosine.min()), 5),
            "neighbours": round(neighbours, 4), "texts": len(a)}


def measure_fidelity(path: Path, feeds, reference: np.ndarray) -> dict:
    """:func:`fidelity` of the graph at ``path`` on the probe batches, plus its speed on them."""
    session = _session(path, threads=None)
    out = np.zeros_like(reference)
    started = time.perf_counter()
    for idx, feed in feeds:
        out[idx] = session.run(None, feed)[0]
    return {**fidelity(out, reference), "texts_per_s": round(len(reference) / (time.perf_counter() - started), 1)}


def describe(meta: dict) -> str:
    """One line about an export: the variant and its measured fidelity on this CPU."""
    if not meta.get("variant"):
        best = max(meta.get("tries") or [{}], key=lambda t: t.get("mean_cosine", 0))
        return (f"no ONNX variant held the bar on this CPU (best mean cosine {best.get('mean_cosine', 0):.4f}); "
                "PyTorch is used")
    f = meta["fidelity"]
    return (f"{meta['variant']}{' (forced)' if meta.get('forced') else ''}, against PyTorch on {meta['probes']} "
            f"texts: mean cosine {f['mean_cosine']:.4f}, same nearest neighbour {f['neighbours']:.1%}")


def _ort_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("onnxruntime")
    except Exception:
        return None


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
    """The threads an ONNX session uses: ``INSIGHT_THREADS`` when set (a Ray actor holding one CPU
    sets 1, so two actors on a node of two cores do not run four threads), else the CPUs this
    process may run on."""
    wanted = os.environ.get("INSIGHT_THREADS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
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
    """The fast embedder: same ``name`` and ``encode`` as the PyTorch one, faster (by how much
    depends on the variant this CPU allows: see ``benchmarks/embed_speed.py``).

    >>> embedder = OnnxEmbedder()                         # doctest: +SKIP
    >>> embedder.encode(["The bins were missed."]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model: str | None = None, *, quiet: bool = False, threads: int | None = None,
                 token_budget: int = TOKEN_BUDGET):
        self.name = model_name(model)
        self.layout = inspect_model(model_path(model))
        self.token_budget = token_budget
        folder = ensure_export(self.layout, self.name, quiet=quiet)
        self.export = _read_json(folder / "export.json") or {}
        if not self.export.get("variant"):
            raise ExportFailed(describe(self.export))
        self.backend = f"onnx-{self.export['variant']}"
        if not quiet:
            print(f"Loading embedding model {self.name} ({self.backend}) ...", file=sys.stderr, flush=True)
        self.session = _session(folder / "model.onnx", threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = load_tokenizer(self.layout)
        self.dim = int(self.session.get_outputs()[0].shape[-1] or 0) or None

    @property
    def info(self) -> dict:
        """What a run records of the vectors it used: model, backend, variant and its fidelity to
        PyTorch measured on this CPU."""
        fidelity = self.export["fidelity"]
        return {"model": self.name, "backend": self.backend, "variant": self.export["variant"],
                "forced": bool(self.export.get("forced")), "mean_cosine": fidelity["mean_cosine"],
                "min_cosine": fidelity["min_cosine"], "neighbours": fidelity["neighbours"],
                "probes": self.export.get("probes"), "cpu": cpu_summary()}

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
