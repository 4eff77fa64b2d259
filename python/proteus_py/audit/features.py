"""Reading bucket files into a light, name-independent form, and the graph
statistics of threat-model class 2.

A `SubGraph` keeps what every attack needs from one ONNX file: the operator
graph (op types, attributes, which value feeds which input slot), the
interface (dtype and shape of each input and output, by position), the
initializers (dims, dtype, whether data is present, summary statistics of
the data, the values of small tensors), value_info, and the metadata and
layout facts (names, producer, opsets, order, file size).  Weights are never
kept: a tensor's statistics are computed from a subsample when it is read,
so a bucket of 100 MB files is read one file at a time in little memory.
Files are read with load_external_data=False; external data is not followed
(its statistics are then missing, like those of a weightless tensor)."""
from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

# ----------------------------------------------------------------------------
# op categories (all of ai.onnx, general: nothing here is fitted to a corpus)

_CATS = {
    "conv": "Conv ConvTranspose ConvInteger QLinearConv DeformConv",
    "matmul": "MatMul Gemm MatMulInteger QLinearMatMul Einsum",
    "norm": "BatchNormalization LayerNormalization InstanceNormalization GroupNormalization "
            "LpNormalization MeanVarianceNormalization LRN",
    "activation": "Relu Sigmoid Tanh LeakyRelu PRelu Elu Selu Celu Gelu HardSigmoid HardSwish "
                  "Softplus Softsign Mish ThresholdedRelu Softmax LogSoftmax Hardmax",
    "pool": "MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool GlobalLpPool MaxRoiPool "
            "RoiAlign MaxUnpool",
    "arith": "Add Sub Mul Div Pow Sqrt Exp Log Neg Abs Reciprocal Erf Floor Ceil Round Min Max "
             "Sum Mean Mod Sign Clip Cos Sin Tan Acos Asin Atan Cosh Sinh Tanh Acosh Asinh Atanh",
    "logic": "Equal Less Greater LessOrEqual GreaterOrEqual Not And Or Xor Where IsNaN IsInf "
             "BitShift BitwiseAnd BitwiseOr BitwiseXor BitwiseNot",
    "reduce": "ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL1 ReduceL2 ReduceLogSum "
              "ReduceLogSumExp ReduceSumSquare ArgMax ArgMin CumSum TopK",
    "layout": "Reshape Transpose Flatten Squeeze Unsqueeze Concat Split Slice Gather GatherElements "
              "GatherND Expand Tile Pad DepthToSpace SpaceToDepth ScatterND ScatterElements "
              "Scatter Trilu Resize Upsample Compress ReverseSequence",
    "shapeops": "Shape Size ConstantOfShape Range NonZero OneHot EyeLike",
    "cast": "Cast CastLike",
    "const": "Constant Identity Dropout",
}
OP_CATEGORY = {}
for _c, _ops in _CATS.items():
    for _o in _ops.split():
        OP_CATEGORY.setdefault(_o, _c)
CATEGORIES = list(_CATS) + ["other"]


def op_category(op):
    return OP_CATEGORY.get(op, "other")


_ONNX_OPS = None


def onnx_ops():
    """Every ai.onnx operator name this onnx knows (the GNN's one-hot
    vocabulary; general, not fitted)."""
    global _ONNX_OPS
    if _ONNX_OPS is None:
        import onnx.defs
        _ONNX_OPS = sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")})
    return _ONNX_OPS


FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
CANONICAL_NAME = re.compile(r"^[iowtn][0-9]+$")
HEX_FILE = re.compile(r"^[0-9a-f]{16}\.onnx$")

# ----------------------------------------------------------------------------
# data model


@dataclass
class Tensor:
    name: str
    dtype: int
    dims: tuple
    has_data: bool
    stats: dict | None = None        # summary of the data (float tensors with data)
    values: np.ndarray | None = None  # small tensors only (<= 64 elements)

    @property
    def numel(self):
        n = 1
        for d in self.dims:
            n *= max(int(d), 0)
        return n


@dataclass
class Node:
    op: str
    domain: str
    inputs: list
    outputs: list
    attrs: dict
    name: str


@dataclass
class SubGraph:
    file: str
    size: int = 0
    mtime: float = 0.0
    inputs: list = field(default_factory=list)   # [(name, dtype, shape)]
    outputs: list = field(default_factory=list)
    nodes: list = field(default_factory=list)
    inits: dict = field(default_factory=dict)     # name -> Tensor, insertion = file order
    value_info: dict = field(default_factory=dict)  # name -> (dtype, shape)
    meta: dict = field(default_factory=dict)
    parse_error: str | None = None
    # derived, filled by finish()
    producer: dict = field(default_factory=dict)   # value -> (node index, output slot)
    consumers: dict = field(default_factory=dict)  # value -> [(node index, input slot)]
    succ: list = field(default_factory=list)       # node -> sorted successor node indices
    pred: list = field(default_factory=list)

    @property
    def interface(self):
        """What every file of one bucket group shares: dtype and shape of
        each input and output, by position.  Names are left out."""
        return (tuple((d, s) for _, d, s in self.inputs), tuple((d, s) for _, d, s in self.outputs))

    def finish(self):
        self.producer = {}
        self.consumers = defaultdict(list)
        for i, n in enumerate(self.nodes):
            for k, o in enumerate(n.outputs):
                if o:
                    self.producer[o] = (i, k)
        for i, n in enumerate(self.nodes):
            for k, v in enumerate(n.inputs):
                if v:
                    self.consumers[v].append((i, k))
        self.consumers = dict(self.consumers)
        succ = [set() for _ in self.nodes]
        pred = [set() for _ in self.nodes]
        for v, cons in self.consumers.items():
            p = self.producer.get(v)
            if p is None:
                continue
            for c, _ in cons:
                if c != p[0]:
                    succ[p[0]].add(c)
                    pred[c].add(p[0])
        self.succ = [sorted(s) for s in succ]
        self.pred = [sorted(s) for s in pred]
        return self

    def value_type(self, name):
        """(dtype, shape) of a value if the file says it, else None."""
        for lst in (self.inputs, self.outputs):
            for n, d, s in lst:
                if n == name:
                    return d, s
        if name in self.value_info:
            return self.value_info[name]
        t = self.inits.get(name)
        if t is not None:
            return t.dtype, t.dims
        return None

    def labeled_edges(self):
        """(producer op, consumer op, consumer input slot) for every
        node-to-node data edge."""
        out = []
        for v, cons in self.consumers.items():
            p = self.producer.get(v)
            if p is None:
                continue
            for c, k in cons:
                out.append((self.nodes[p[0]].op, self.nodes[c].op, k))
        return out


# ----------------------------------------------------------------------------
# reading

MAX_SAMPLE = 4096


def _shape_of(t):
    if not t.HasField("tensor_type"):
        return None
    tt = t.tensor_type
    if not tt.HasField("shape"):
        return None
    dims = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(str(d.dim_param))
        else:
            dims.append("?")
    return tuple(dims)


def _vi(v):
    dt = v.type.tensor_type.elem_type if v.type.HasField("tensor_type") else -1
    return v.name, int(dt), _shape_of(v.type)


_NP = {
    onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32, onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.BOOL: np.bool_,
    onnx.TensorProto.INT16: np.int16, onnx.TensorProto.UINT16: np.uint16,
}


def tensor_has_data(t):
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return False
    return bool(len(t.raw_data) or len(t.float_data) or len(t.int32_data) or len(t.int64_data)
                or len(t.double_data) or len(t.uint64_data) or len(t.string_data))


def _sample(t, numel):
    """A deterministic strided subsample (<= MAX_SAMPLE elements) of a
    tensor's data, as float64; None if unreadable."""
    dt = _NP.get(t.data_type)
    if dt is None:
        return None
    if len(t.raw_data):
        raw = t.raw_data
        item = np.dtype(dt).itemsize
        n = len(raw) // item
        if n == 0:
            return None
        step = max(1, n // MAX_SAMPLE)
        a = np.frombuffer(raw, dtype=dt, count=n)[::step][:MAX_SAMPLE]
        return a.astype(np.float64)
    for fld in ("float_data", "int64_data", "int32_data", "double_data"):
        vals = getattr(t, fld)
        if len(vals):
            n = len(vals)
            step = max(1, n // MAX_SAMPLE)
            a = np.asarray(vals[::step][:MAX_SAMPLE], dtype=np.float64)
            if t.data_type == onnx.TensorProto.FLOAT16 and fld == "int32_data":
                a = np.asarray(vals[::step][:MAX_SAMPLE], dtype=np.uint16).view(np.float16).astype(np.float64)
            return a
    return None


def weight_stats(a, dims):
    """Summary statistics of a (sub)sample of a float tensor."""
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"finite": 0.0}
    m = float(a.mean())
    s = float(a.std())
    fan_in = 1
    for d in dims[1:]:
        fan_in *= max(int(d), 1)
    if len(dims) == 1:
        fan_in = 1
    z = (a - m) / s if s > 0 else np.zeros_like(a)
    kurt = float((z ** 4).mean()) - 3.0 if s > 0 else 0.0
    skew = float((z ** 3).mean()) if s > 0 else 0.0
    uniq = float(np.unique(a).size) / a.size
    st = {
        "finite": 1.0,
        "mean": m, "std": s, "absmean": float(np.abs(a).mean()),
        "kurt": kurt, "skew": skew,
        "zero": float((a == 0).mean()),
        "pos": float((a > 0).mean()),
        "uniq": uniq,
        "scale": s * math.sqrt(fan_in),   # std relative to a fan-in initialisation
        "maxabs": float(np.abs(a).max()),
    }
    # low-rank structure of a matrix view (on a small block of the sample)
    if len(dims) >= 2 and a.size >= 256:
        r = int(math.isqrt(a.size))
        r = min(r, 48)
        blk = a[: r * r].reshape(r, r)
        try:
            sv = np.linalg.svd(blk, compute_uv=False)
            p = sv / max(sv.sum(), 1e-30)
            ent = float(-(p * np.log(p + 1e-30)).sum())
            st["erank"] = math.exp(ent) / r
        except np.linalg.LinAlgError:
            pass
    return st


def _attr_value(a):
    t = a.type
    A = onnx.AttributeProto
    if t == A.INT:
        return int(a.i)
    if t == A.FLOAT:
        return float(a.f)
    if t == A.STRING:
        return a.s.decode("utf-8", "replace")
    if t == A.INTS:
        return tuple(int(x) for x in a.ints)
    if t == A.FLOATS:
        return tuple(float(x) for x in a.floats)
    if t == A.STRINGS:
        return tuple(x.decode("utf-8", "replace") for x in a.strings)
    if t == A.TENSOR:
        tp = a.t
        numel = 1
        for d in tp.dims:
            numel *= d
        val = None
        if numel <= 64:
            try:
                val = numpy_helper.to_array(tp)
            except Exception:  # noqa: BLE001 - a malformed constant is itself a finding
                val = None
        return ("tensor", int(tp.data_type), tuple(int(d) for d in tp.dims), val)
    if t == A.GRAPH:
        return ("graph", len(a.g.node))
    return ("attr", int(t))


def read(path, stat=True):
    """Parses one bucket file into a SubGraph (never raises on a bad file:
    parse_error says what went wrong)."""
    sg = SubGraph(file=os.path.basename(path))
    if stat:
        st = os.stat(path)
        sg.size, sg.mtime = st.st_size, st.st_mtime
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001
        sg.parse_error = f"{type(e).__name__}: {e}"
        return sg
    return from_model(m, sg)


def from_model(m, sg):
    g = m.graph
    init_names = {t.name for t in g.initializer}
    sg.inputs = [_vi(v) for v in g.input if v.name not in init_names]
    sg.outputs = [_vi(v) for v in g.output]
    for v in g.value_info:
        _, d, s = _vi(v)
        sg.value_info[v.name] = (d, s)
    for t in g.initializer:
        dims = tuple(int(d) for d in t.dims)
        has = tensor_has_data(t)
        ten = Tensor(t.name, int(t.data_type), dims, has)
        numel = ten.numel
        if has:
            if numel <= 64:
                try:
                    ten.values = numpy_helper.to_array(t)
                except Exception:  # noqa: BLE001
                    ten.values = None
            if t.data_type in FLOAT_TYPES:
                a = _sample(t, numel)
                if a is not None:
                    ten.stats = weight_stats(a, dims)
        sg.inits[t.name] = ten
    for n in g.node:
        attrs = {a.name: _attr_value(a) for a in n.attribute}
        sg.nodes.append(Node(n.op_type, n.domain, list(n.input), list(n.output), attrs, n.name))
    sg.meta = {
        "checks": validity_checks(m),
        "producer_name": m.producer_name, "producer_version": m.producer_version,
        "ir_version": int(m.ir_version), "domain": m.domain, "model_version": int(m.model_version),
        "opsets": tuple(sorted((o.domain, int(o.version)) for o in m.opset_import)),
        "graph_name": g.name, "doc": m.doc_string, "graph_doc": g.doc_string,
        "node_docs": sum(1 for n in g.node if n.doc_string),
        "metadata_props": len(m.metadata_props), "functions": len(m.functions),
        "sparse_inits": len(g.sparse_initializer),
        "input_names": [v[0] for v in sg.inputs], "output_names": [v[0] for v in sg.outputs],
        "init_names": [t.name for t in g.initializer],
        "node_names": [n.name for n in g.node],
        "value_info_names": [v.name for v in g.value_info],
        "init_inputs": sum(1 for v in g.input if v.name in init_names),
    }
    return sg.finish()


def _numel(t):
    n = 1
    for d in t.dims:
        n *= d
    return n


def _stripped(m):
    """A copy of the model whose float initializers of more than 16
    elements are graph inputs instead (same types and shapes): the checker
    and shape inference then see the same graph, weightless or not."""
    g = m.graph
    if not any(t.data_type in FLOAT_TYPES and _numel(t) > 16 for t in g.initializer):
        return m
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    g2 = m2.graph
    del g2.initializer[:]
    for t in g.initializer:
        if t.data_type in FLOAT_TYPES and _numel(t) > 16:
            g2.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            g2.initializer.append(t)
    return m2


CHECKS = ["checker", "infer", "infer_mismatch", "negative_dim", "zero_dim", "unused_input", "unused_init",
          "dead_output", "cycle", "undefined_input", "duplicate_output"]


def validity_checks(m):
    """Facts a real exporter never produces, one flag (or count) each."""
    out = {c: 0 for c in CHECKS}
    try:
        m2 = _stripped(m)
    except Exception:  # noqa: BLE001
        out["checker"] = 1
        return out
    try:
        onnx.checker.check_model(m2)
    except Exception:  # noqa: BLE001
        out["checker"] = 1
    declared = {}
    for v in list(m2.graph.output) + list(m2.graph.value_info):
        declared[v.name] = (v.type.tensor_type.elem_type, _shape_of(v.type))
    try:
        inf = onnx.shape_inference.infer_shapes(m2, check_type=True, strict_mode=True, data_prop=True)
        got = {}
        for v in list(inf.graph.output) + list(inf.graph.value_info):
            got[v.name] = (v.type.tensor_type.elem_type, _shape_of(v.type))
        bad = 0
        for name, (dt, shp) in declared.items():
            g = got.get(name)
            if g is None:
                continue
            if dt and g[0] and dt != g[0]:
                bad += 1
            elif shp is not None and g[1] is not None and len(shp) == len(g[1]):
                if any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(shp, g[1])):
                    bad += 1
            elif shp is not None and g[1] is not None:
                bad += 1
        out["infer_mismatch"] = bad
    except Exception:  # noqa: BLE001
        out["infer"] = 1
    g = m.graph
    dims = []
    for v in list(g.input) + list(g.output) + list(g.value_info):
        s = _shape_of(v.type)
        if s:
            dims += [d for d in s if isinstance(d, int)]
    for t in g.initializer:
        dims += list(t.dims)
    out["negative_dim"] = sum(1 for d in dims if d < 0)
    out["zero_dim"] = sum(1 for d in dims if d == 0)
    used = set()
    for n in g.node:
        used.update(x for x in n.input if x)
    outs = {v.name for v in g.output}
    init_names = {t.name for t in g.initializer}
    out["unused_input"] = sum(1 for v in g.input if v.name not in used and v.name not in init_names and v.name not in outs)
    out["unused_init"] = sum(1 for t in g.initializer if t.name not in used)
    produced = []
    for n in g.node:
        produced += [x for x in n.output if x]
    out["dead_output"] = sum(1 for x in produced if x not in used and x not in outs)
    out["duplicate_output"] = len(produced) - len(set(produced))
    known = {v.name for v in g.input} | init_names
    order_ok = True
    undefined = 0
    prod_set = set(produced)
    for n in g.node:
        for x in n.input:
            if x and x not in known:
                if x in prod_set:
                    order_ok = False
                else:
                    undefined += 1
        known.update(x for x in n.output if x)
    out["undefined_input"] = undefined
    out["cycle"] = 0 if order_ok else 1   # not in topological order (or a cycle)
    return out


def read_bucket(bucket):
    """Every file the manifest lists (or every *.onnx when there is none),
    in manifest order, parsed."""
    files = bucket_files(bucket)
    out = [read(os.path.join(bucket, f)) for f in files]
    for g in out:   # where the file lies (the optimizer attack runs ONNX Runtime on it)
        g.meta["path"] = os.path.abspath(os.path.join(bucket, g.file))
    return out


def bucket_files(bucket):
    import json
    mp = os.path.join(bucket, "manifest.json")
    if os.path.exists(mp):
        with open(mp) as f:
            man = json.load(f)
        return list(man.get("files", []))
    return sorted(f for f in os.listdir(bucket) if f.endswith(".onnx"))


# ----------------------------------------------------------------------------
# graph statistics (threat-model class 2)

def _undirected(sg):
    adj = [set() for _ in sg.nodes]
    for i, s in enumerate(sg.succ):
        for j in s:
            adj[i].add(j)
            adj[j].add(i)
    return adj


def clustering(adj):
    """Average local clustering coefficient of an undirected graph (nodes of
    degree < 2 count 0, as networkx does)."""
    if not adj:
        return 0.0
    tot = 0.0
    for i, nb in enumerate(adj):
        d = len(nb)
        if d < 2:
            continue
        nbl = list(nb)
        links = 0
        for a in range(d):
            na = adj[nbl[a]]
            for b in range(a + 1, d):
                if nbl[b] in na:
                    links += 1
        tot += 2.0 * links / (d * (d - 1))
    return tot / len(adj)


def diameter(adj):
    """Longest shortest path over connected pairs (undirected)."""
    best = 0
    for s in range(len(adj)):
        dist = {s: 0}
        q = deque([s])
        while q:
            u = q.popleft()
            for v in adj[u]:
                if v not in dist:
                    dist[v] = dist[u] + 1
                    q.append(v)
        best = max(best, max(dist.values()))
    return best


def components(adj):
    seen, c = set(), 0
    for s in range(len(adj)):
        if s in seen:
            continue
        c += 1
        stack = [s]
        seen.add(s)
        while stack:
            u = stack.pop()
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
    return c


def depth(sg):
    """Longest path (in nodes) of the operator DAG; cycles count as broken."""
    n = len(sg.nodes)
    indeg = [len(p) for p in sg.pred]
    q = deque(i for i in range(n) if indeg[i] == 0)
    lvl = [1] * n
    seen = 0
    while q:
        u = q.popleft()
        seen += 1
        for v in sg.succ[u]:
            lvl[v] = max(lvl[v], lvl[u] + 1)
            indeg[v] -= 1
            if indeg[v] == 0:
                q.append(v)
    if seen < n:
        return -1
    return max(lvl) if n else 0


GRAPH_STATS = [
    "nodes", "edges", "avg_degree", "clustering", "diameter", "depth", "width",
    "max_in", "max_out", "in0", "in1", "in2", "in3p", "out0", "out1", "out2", "out3p",
    "inputs", "outputs", "initializers", "components", "sources", "sinks",
] + [f"cat_{c}" for c in CATEGORIES]


def graph_stats(sg):
    n = len(sg.nodes)
    adj = _undirected(sg)
    e = sum(len(s) for s in sg.succ)
    ind = [len(p) for p in sg.pred]
    outd = [len(s) for s in sg.succ]
    dep = depth(sg) if n else 0
    st = {
        "nodes": n, "edges": e,
        "avg_degree": (2.0 * e / n) if n else 0.0,
        "clustering": clustering(adj),
        "diameter": diameter(adj) if n else 0,
        "depth": dep,
        "width": (n / dep) if dep > 0 else 0.0,
        "max_in": max(ind, default=0), "max_out": max(outd, default=0),
        "inputs": len(sg.inputs), "outputs": len(sg.outputs), "initializers": len(sg.inits),
        "components": components(adj) if n else 0,
        "sources": sum(1 for d in ind if d == 0), "sinks": sum(1 for d in outd if d == 0),
    }
    for name, arr in (("in", ind), ("out", outd)):
        for k in range(3):
            st[f"{name}{k}"] = (sum(1 for d in arr if d == k) / n) if n else 0.0
        st[f"{name}3p"] = (sum(1 for d in arr if d >= 3) / n) if n else 0.0
    cats = Counter(op_category(x.op) for x in sg.nodes)
    for c in CATEGORIES:
        st[f"cat_{c}"] = (cats.get(c, 0) / n) if n else 0.0
    return st


# ----------------------------------------------------------------------------
# structural fingerprints (repetition, zoo matching)

def _fmt_attr(v):
    if isinstance(v, tuple) and v and v[0] == "tensor":
        val = v[3]
        return f"T{v[1]}{v[2]}:{None if val is None else np.asarray(val).ravel()[:16].tolist()}"
    return repr(v)


def node_label(sg, i, with_shapes=True):
    n = sg.nodes[i]
    parts = [n.op]
    for k in sorted(n.attrs):
        parts.append(f"{k}={_fmt_attr(n.attrs[k])}")
    if with_shapes:
        for v in n.inputs:
            t = sg.inits.get(v)
            if t is not None:
                parts.append(f"w{t.dtype}{t.dims}")
        for v in n.outputs[:1]:
            vt = sg.value_type(v)
            if vt:
                parts.append(f"o{vt[0]}{vt[1]}")
    return "|".join(parts)


def wl_features(sg, iters=2, with_shapes=True):
    """Weisfeiler-Lehman subtree labels (a Counter of hashed strings) over
    the directed operator graph: name-independent, order-independent."""
    import hashlib

    def h(s):
        return hashlib.blake2b(s.encode(), digest_size=8).hexdigest()

    lab = [h(node_label(sg, i, with_shapes)) for i in range(len(sg.nodes))]
    feats = Counter(lab)
    for _ in range(iters):
        new = []
        for i in range(len(sg.nodes)):
            ins = sorted(lab[j] for j in sg.pred[i])
            outs = sorted(lab[j] for j in sg.succ[i])
            new.append(h(lab[i] + "(" + ",".join(ins) + ")[" + ",".join(outs) + "]"))
        lab = new
        feats.update(lab)
    return feats


def wl_hash(sg, with_shapes=True):
    """One hash for the whole graph (equal for isomorphic-looking files)."""
    import hashlib
    f = wl_features(sg, iters=3, with_shapes=with_shapes)
    s = ",".join(f"{k}:{v}" for k, v in sorted(f.items()))
    s += "|" + repr(sg.interface)
    return hashlib.blake2b(s.encode(), digest_size=12).hexdigest()


def jaccard(a, b):
    """Weighted Jaccard similarity of two Counters."""
    if not a and not b:
        return 1.0
    inter = sum(min(v, b.get(k, 0)) for k, v in a.items())
    union = sum(a.values()) + sum(b.values()) - inter
    return inter / union if union else 0.0
