#!/usr/bin/env python3
"""Export the proteus model corpus as weightless ONNX graphs.

Run with the export venv (see corpus/README.md):

    corpus/.venv-export/bin/python corpus/export.py [--only NAME ...] [--out DIR]

Every model is built with random weights (no downloads), exported with
torch.onnx (torch 1.13) at opset 13 and 17, checked once with ONNX Runtime
against the PyTorch output, and then stripped of its floating-point weights
(see strip_weights) before it is written to DIR/<name>-op<opset>.onnx.

With --holdout it exports the held-out set (HOLDOUT: torchvision models not
in the corpus) the same way, at opset 17 only, to corpus/holdout/.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import warnings

# Nothing may be downloaded: the models are built from configs / weights=None.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "models")
HOLDOUT_OUT = os.path.join(HERE, "holdout")
OPSETS = (13, 17)
SEQ = 128

# ---------------------------------------------------------------------------
# Model definitions
# ---------------------------------------------------------------------------

VISION = [
    # name, constructor kwargs, input side
    ("resnet18", {}, 224),
    ("resnet50", {}, 224),
    ("resnext50_32x4d", {}, 224),
    ("mobilenet_v2", {}, 224),
    ("mobilenet_v3_large", {}, 224),
    ("googlenet", {"aux_logits": False, "init_weights": True}, 224),
    ("inception_v3", {"aux_logits": False, "init_weights": True}, 299),
    ("densenet121", {}, 224),
    ("mnasnet1_0", {}, 224),
    ("squeezenet1_1", {}, 224),
    ("vgg11", {}, 224),
    ("alexnet", {}, 224),
    ("vit_b_16", {}, 224),
]

# Held-out set (--holdout): torchvision architectures that are NOT in the
# corpus, exported the same way (weights=None, batch 1, static 224x224,
# verified, stripped) at opset 17 only, to show that inspect and shape
# inference generalise beyond the models they were developed on.
HOLDOUT = [
    ("efficientnet_b0", {}, 224),
    ("shufflenet_v2_x1_0", {}, 224),
    ("regnet_y_400mf", {}, 224),
    ("convnext_tiny", {}, 224),
    ("mobilenet_v3_small", {}, 224),
    ("resnet34", {}, 224),
    ("wide_resnet50_2", {}, 224),
    ("mnasnet0_5", {}, 224),
    ("vgg13_bn", {}, 224),
    ("swin_t", {}, 224),
]
HOLDOUT_OPSETS = (17,)

# torchvision zero-initialises vit_b_16's classifier, so its output is all
# zeros and an ORT-vs-torch comparison would prove nothing. For the check only
# (after export; the stored file is unaffected since these weights are
# stripped anyway), these parameters are refilled with the same random values
# in both the torch module and the ONNX initializers.
CHECK_RANDOMIZE = {"vit_b_16": ("heads.head.weight", "heads.head.bias")}

# name -> (model class, config class)
TEXT = {
    "bert": ("BertModel", "BertConfig"),
    "roberta": ("RobertaModel", "RobertaConfig"),
    "distilbert": ("DistilBertModel", "DistilBertConfig"),
    "xlm": ("XLMModel", "XLMConfig"),
    "gpt2": ("GPT2Model", "GPT2Config"),
}


class LastHiddenState(torch.nn.Module):
    """(input_ids, attention_mask) -> last_hidden_state only."""

    def __init__(self, model, extra_kwargs):
        super().__init__()
        self.model = model
        self.extra_kwargs = extra_kwargs

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         return_dict=True, **self.extra_kwargs)
        return out.last_hidden_state


class Spec:
    def __init__(self, name, kind, opsets, dynamic=False, arg=None, side=224):
        self.name, self.kind, self.opsets = name, kind, opsets
        self.dynamic, self.arg, self.side = dynamic, arg, side

    # -- building ----------------------------------------------------------
    def build(self):
        """Return (module, vocab_size or None). Seeds torch first."""
        torch.manual_seed(0)
        if self.kind == "vision":
            import torchvision
            kwargs = dict(self.arg)
            fn = getattr(torchvision.models, self.base)
            model = fn(weights=None, **kwargs)
            return model.eval(), None
        import transformers
        model_cls, cfg_cls = TEXT[self.base]
        cfg_kwargs = {"attn_implementation": "eager"}
        extra = {}
        if self.base == "gpt2":
            cfg_kwargs["use_cache"] = False
            extra["use_cache"] = False
        config = getattr(transformers, cfg_cls)(**cfg_kwargs)
        model = getattr(transformers, model_cls)(config).eval()
        return LastHiddenState(model, extra).eval(), config.vocab_size

    @property
    def base(self):
        return self.name[:-4] if self.name.endswith("-dyn") else self.name

    # -- inputs --------------------------------------------------------------
    def example_inputs(self, vocab, batch=1, seq=SEQ, seed=0):
        rng = np.random.default_rng(seed)
        if self.kind == "vision":
            x = rng.standard_normal((batch, 3, self.side, self.side),
                                    dtype=np.float32)
            return {"input": x}
        ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        if seq > 8:  # exercise padding in the verification run
            mask[:, -seq // 8:] = 0
        return {"input_ids": ids, "attention_mask": mask}

    def io_names(self):
        if self.kind == "vision":
            return ["input"], ["output"]
        return ["input_ids", "attention_mask"], ["last_hidden_state"]

    def dynamic_axes(self):
        if not self.dynamic:
            return None
        if self.kind == "vision":
            return {"input": {0: "batch"}, "output": {0: "batch"}}
        axes = {0: "batch", 1: "seq"}
        return {"input_ids": axes, "attention_mask": axes,
                "last_hidden_state": axes}


def all_specs():
    specs = [Spec(n, "vision", OPSETS, arg=kw, side=s) for n, kw, s in VISION]
    specs += [Spec(n, "text", OPSETS) for n in TEXT]
    specs.append(Spec("resnet18-dyn", "vision", (17,), dynamic=True, arg={},
                      side=224))
    specs.append(Spec("bert-dyn", "text", (17,), dynamic=True))
    return specs


def holdout_specs():
    return [Spec(n, "vision", HOLDOUT_OPSETS, arg=kw, side=s)
            for n, kw, s in HOLDOUT]


# ---------------------------------------------------------------------------
# Weight stripping
# ---------------------------------------------------------------------------

FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.BFLOAT16,
}
STRIP_MIN_ELEMENTS = 16  # strip when numel > this
DATA_FIELDS = ("raw_data", "float_data", "int32_data", "string_data",
               "int64_data", "double_data", "uint64_data", "external_data")


def numel(t):
    n = 1
    for d in t.dims:
        n *= d
    return n


def strip_tensor(t):
    for f in DATA_FIELDS:
        t.ClearField(f)
    t.ClearField("data_location")  # absent == DEFAULT


def strip_graph(g):
    """Strip float initializers (> 16 elements) of g and of its subgraphs.

    Returns the number of initializers stripped. Constant nodes are kept.
    """
    n = 0
    for t in g.initializer:
        if t.data_type in FLOAT_TYPES and numel(t) > STRIP_MIN_ELEMENTS:
            strip_tensor(t)
            n += 1
    for node in g.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                n += strip_graph(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sg in a.graphs:
                    n += strip_graph(sg)
    return n


# ---------------------------------------------------------------------------
# Verification with ONNX Runtime
# ---------------------------------------------------------------------------

def verify(path, model, spec, module, vocab):
    """Run the full (unstripped) model in ORT and compare with PyTorch.

    `path` is the exported file, `model` the same loaded as a ModelProto
    (modified in place when CHECK_RANDOMIZE names parameters).
    """
    import onnxruntime as ort
    from onnx import numpy_helper

    names = CHECK_RANDOMIZE.get(spec.base, ())
    if names:
        gen = torch.Generator().manual_seed(1)
        params = dict(module.named_parameters())
        inits = {t.name: t for t in model.graph.initializer}
        with torch.no_grad():
            for n in names:
                p = params[n]
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
                inits[n].CopyFrom(numpy_helper.from_array(p.numpy(), n))
        path = os.path.join(os.path.dirname(path), "check.onnx")
        onnx.save(model, path)

    if spec.dynamic:  # check the symbolic axes with a different shape
        feeds = spec.example_inputs(vocab, batch=2, seq=64, seed=1)
    else:
        feeds = spec.example_inputs(vocab, seed=1)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    with torch.no_grad():
        ref = module(*[torch.from_numpy(v) for v in feeds.values()])
    ref = ref.numpy()
    if got.shape != ref.shape:
        raise RuntimeError(f"ORT shape {got.shape} != torch shape {ref.shape}")
    err = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    return err, scale


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def describe(model):
    g = model.graph
    ops = {(n.domain or "ai.onnx", n.op_type) for n in g.node}
    return len(g.node), ops


def export_one(spec, opset, out_dir, do_verify, log):
    fname = f"{spec.name}-op{opset}.onnx"
    out_path = os.path.join(out_dir, fname)
    module, vocab = spec.build()
    feeds = spec.example_inputs(vocab, seed=0)
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    in_names, out_names = spec.io_names()
    with tempfile.TemporaryDirectory(prefix="proteus-corpus-") as td:
        # A path (not a buffer) so that >2 GiB models (xlm) can be written
        # with external data; it is folded back in and stripped below.
        tmp = os.path.join(td, "model.onnx")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.onnx.export(
                module, args, tmp,
                export_params=True,
                opset_version=opset,
                do_constant_folding=True,
                training=torch.onnx.TrainingMode.EVAL,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=spec.dynamic_axes(),
            )
        seen = {}
        for w in caught:
            msg = str(w.message).strip().splitlines()[0][:120]
            where = f"{os.path.basename(w.filename)}:{w.lineno}"
            key = (w.category.__name__, where, msg)
            seen[key] = seen.get(key, 0) + 1
        for (cat, where, msg), count in seen.items():
            log(f"  warning [{fname}] {cat} x{count} at {where}: {msg}")
        model = onnx.load(tmp, load_external_data=True)
        if do_verify:
            err, scale = verify(tmp, model, spec, module, vocab)
            status = "ok" if err <= 1e-3 * max(scale, 1.0) else "MISMATCH"
            if scale == 0.0:
                status = "ok (output all zeros: weak check)"
            log(f"  verify [{fname}]: ORT {status}, max|diff| {err:.3g} "
                f"(max|ref| {scale:.3g})")
    del module
    stripped = strip_graph(model.graph)
    data = model.SerializeToString()
    with open(out_path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out_path + ".tmp", out_path)
    nodes, ops = describe(model)
    print(f"{fname}: {nodes} nodes, {len(ops)} op types, "
          f"{stripped} initializers stripped, {len(data)} bytes, "
          f"sha256 {hashlib.sha256(data).hexdigest()[:16]}", flush=True)


def table(out_dir, specs):
    """Markdown table of the files in out_dir (for corpus/README.md)."""
    rows = []
    for fname in sorted(os.listdir(out_dir)):
        if not fname.endswith(".onnx"):
            continue
        path = os.path.join(out_dir, fname)
        m = onnx.load(path, load_external_data=False)
        nodes, ops = describe(m)
        stem = fname[:-5]
        name, opset = stem.rsplit("-op", 1)
        rows.append((name, int(opset), nodes, len(ops), os.path.getsize(path)))
    order = {s.name: i for i, s in enumerate(specs)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0], r[1]))
    print("| model | opset | nodes | op types | file size (bytes) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:,} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="export only this model (repeatable or comma list; "
                         "e.g. resnet18, bert-dyn)")
    ap.add_argument("--opset", type=int, action="append", default=[],
                    help="export only this opset (repeatable)")
    ap.add_argument("--holdout", action="store_true",
                    help="the held-out set instead of the corpus (opset 17; "
                         "default --out corpus/holdout)")
    ap.add_argument("--out", default=None,
                    help="output directory (default corpus/models, or "
                         "corpus/holdout with --holdout)")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the ONNX Runtime check of the full model")
    ap.add_argument("--list", action="store_true", help="list model names")
    ap.add_argument("--table", action="store_true",
                    help="print a markdown table of the files in --out")
    a = ap.parse_args()

    specs = holdout_specs() if a.holdout else all_specs()
    if a.out is None:
        a.out = HOLDOUT_OUT if a.holdout else DEFAULT_OUT
    if a.list:
        for s in specs:
            print(s.name, " ".join(f"op{o}" for o in s.opsets))
        return 0
    if a.table:
        table(a.out, specs)
        return 0
    only = {x for o in a.only for x in o.split(",") if x}
    unknown = only - {s.name for s in specs}
    if unknown:
        ap.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    if only:
        specs = [s for s in specs if s.name in only]
    os.makedirs(a.out, exist_ok=True)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    failed = []
    for s in specs:
        for opset in s.opsets:
            if a.opset and opset not in a.opset:
                continue
            try:
                export_one(s, opset, a.out, not a.no_verify, log)
            except Exception as e:  # keep going, report at the end
                log(f"FAILED {s.name}-op{opset}: {type(e).__name__}: {e}")
                failed.append(f"{s.name}-op{opset}")
    if failed:
        log("failed: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
