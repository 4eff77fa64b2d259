"""The learned classifier of threat-model class 1: GraphSAGE (mean
aggregation over a sparse adjacency, 3 layers of 128, mean pooling, as in
the paper's Appendix A.5), written directly in torch.

Two featurizations:
  gnn-paper  one-hot op type per node, undirected neighbourhoods (the paper)
  gnn-full   also the directed topology (in- and out-neighbourhoods apart),
             output dtype/rank/shape, attributes, initializer shapes and
             statistics, and how often the zoo's real subgraphs show the
             node's op, attribute values, attribute set, output dims and
             producer->consumer pairs; plus graph-level facts of the file.

The zoo tables a full featurization consults are counted per model family,
so that a training graph is always featurized with tables that leave out
its own family (cross-fitting): otherwise every training real would see
its own patterns as "seen in the zoo" and an unseen model's reals would not.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from torch import nn

from . import features as F

HIDDEN = 128
LAYERS = 3

# ----------------------------------------------------------------------------
# zoo tables

SEP = "\x1f"


def _k(*parts):
    return SEP.join(str(p) for p in parts)


def dim_token(d):
    """A dim as the tables count it: its value, or '?' for any symbolic
    dim (symbol names are arbitrary)."""
    return d if isinstance(d, int) else "?"


def table_keys(sg):
    """Counter of table keys of one real subgraph."""
    c = Counter()
    for n in sg.nodes:
        c[_k("op", n.op)] += 1
        c[_k("aset", n.op, ",".join(sorted(n.attrs)))] += 1
        for a, v in n.attrs.items():
            c[_k("attr", n.op, a, F._fmt_attr(v))] += 1
    for p, q, slot in sg.labeled_edges():
        c[_k("bi", p, q, slot)] += 1
    for i, n in enumerate(sg.nodes):
        vt = sg.value_type(n.outputs[0]) if n.outputs else None
        if vt and vt[1]:
            for d in vt[1]:
                c[_k("dim", n.op, dim_token(d))] += 1
        for slot, v in enumerate(n.inputs):
            t = sg.inits.get(v)
            if t is not None and t.dtype in F.FLOAT_TYPES and t.numel > 16:
                c[_k("wshape", n.op, slot, t.dims)] += 1
    return c


class Tables:
    """Zoo counts per family; view(exclude) sums the others."""

    def __init__(self, by_family=None):
        self.by_family = by_family or {}
        self._views = {}

    @classmethod
    def from_reals(cls, pairs):
        by = {}
        for fam, sg in pairs:
            by.setdefault(fam, Counter()).update(table_keys(sg))
        return cls(by)

    def view(self, exclude=()):
        ex = frozenset(exclude)
        v = self._views.get(ex)
        if v is None:
            tot = Counter()
            for fam, c in self.by_family.items():
                if fam not in ex:
                    tot.update(c)
            v = self._views[ex] = dict(tot)
        return v


# ----------------------------------------------------------------------------
# featurization

DTYPES = [1, 10, 11, 7, 6, 9]   # float, float16, double, int64, int32, bool


def _lg(x, scale):
    return math.log2(1.0 + max(float(x), 0.0)) / scale


def _cnt(tv, key):
    return math.log1p(tv.get(key, 0)) / 10.0


def op_vocab():
    return F.onnx_ops()


def _static_node(sg):
    """Table-independent node features (n x S) and, per node, the zoo-table
    keys its table features look up; cached on the SubGraph."""
    cached = getattr(sg, "_gnn_static", None)
    if cached is not None:
        return cached
    rows, keys = [], []
    graph_in = {v[0] for v in sg.inputs}
    graph_out = {v[0] for v in sg.outputs}
    for i, n in enumerate(sg.nodes):
        f = []
        cat = F.op_category(n.op)
        f += [1.0 if cat == c else 0.0 for c in F.CATEGORIES]
        vt = sg.value_type(n.outputs[0]) if n.outputs and n.outputs[0] else None
        dt, shp = (vt if vt else (-1, None))
        f += [1.0 if dt == d else 0.0 for d in DTYPES] + [1.0 if (dt not in DTYPES) else 0.0]
        rank = len(shp) if shp is not None else -1
        f += [1.0 if rank == r else 0.0 for r in range(6)] + [1.0 if (rank < 0 or rank >= 6) else 0.0]
        ints = [d for d in (shp or ()) if isinstance(d, int)]
        numel = 1
        for d in ints:
            numel *= max(d, 0)
        sym = any(not isinstance(d, int) for d in (shp or ()))
        f += [_lg(numel, 24), _lg(ints[1] if len(ints) > 1 else 0, 12), _lg(ints[-1] if ints else 0, 12),
              1.0 if sym else 0.0, 1.0 if any(d <= 0 for d in ints) else 0.0]
        n_init = [sg.inits[v] for v in n.inputs if v in sg.inits]
        f += [len(n.inputs) / 4.0, len(n.outputs) / 4.0, len(n_init) / 4.0,
              sum(1 for v in n.inputs if v == "") / 2.0]
        floats = [t for t in n_init if t.dtype in F.FLOAT_TYPES]
        big = [t for t in floats if t.numel > 16]
        f += [_lg(sum(t.numel for t in n_init), 24), (sum(1 for t in big if t.has_data) / len(big)) if big else 0.0,
              1.0 if big else 0.0]
        st = [t.stats for t in floats if t.stats and t.stats.get("finite")]
        if st:
            f += [1.0, float(np.clip(np.mean([x["mean"] for x in st]), -3, 3)),
                  float(np.clip(math.log10(1e-6 + np.mean([x["std"] for x in st])) / 3, -3, 3)),
                  float(np.clip(math.log10(1e-6 + np.mean([x["scale"] for x in st])) / 3, -3, 3)),
                  float(np.clip(np.mean([x["kurt"] for x in st]) / 10, -3, 3)),
                  float(np.mean([x["zero"] for x in st])), float(np.mean([x["uniq"] for x in st])),
                  float(np.mean([x["pos"] for x in st]))]
        else:
            f += [0.0] * 8
        # small constants: structured (shape-like ints, round floats) or not
        small = [t.values for t in n_init if t.values is not None]
        for av in n.attrs.values():
            if isinstance(av, tuple) and av and av[0] == "tensor" and av[3] is not None:
                small.append(av[3])
        ints_ok, ints_all, round_ok, round_all = 0, 0, 0, 0
        for v in small:
            arr = np.asarray(v).ravel()
            if arr.dtype.kind in "iu":
                ints_all += arr.size
                ints_ok += int(((arr >= -1) & (arr <= 65536)).sum())
            elif arr.dtype.kind == "f" and arr.size:
                x = arr.astype(np.float64) * 1000.0
                with np.errstate(all="ignore"):
                    round_ok += int((np.abs(x - np.round(x)) < 1e-3).sum())
                round_all += arr.size
        f += [len(small) / 4.0, (ints_ok / ints_all) if ints_all else 1.0, (round_ok / round_all) if round_all else 1.0]
        f += [len(n.attrs) / 8.0]
        ks = n.attrs.get("kernel_shape")
        strides = n.attrs.get("strides")
        dil = n.attrs.get("dilations")
        pads = n.attrs.get("pads")
        grp = n.attrs.get("group")
        f += [max(ks) / 8.0 if isinstance(ks, tuple) and ks else 0.0,
              max(strides) / 4.0 if isinstance(strides, tuple) and strides else 0.0,
              1.0 if isinstance(grp, int) and grp > 1 else 0.0,
              1.0 if isinstance(dil, tuple) and any(d > 1 for d in dil) else 0.0,
              1.0 if isinstance(pads, tuple) and len(pads) % 2 == 0 and pads[: len(pads) // 2] != pads[len(pads) // 2:] else 0.0]
        unused = sum(1 for o in n.outputs if o and o not in sg.consumers and o not in graph_out)
        f += [1.0 if any(v in graph_in for v in n.inputs) else 0.0,
              1.0 if any(o in graph_out for o in n.outputs) else 0.0, unused / 2.0]
        rows.append(f)
        inb = []
        for slot, v in enumerate(n.inputs):
            p = sg.producer.get(v)
            if p is not None:
                inb.append(_k("bi", sg.nodes[p[0]].op, n.op, slot))
        outb = []
        for v in n.outputs:
            for c, slot in sg.consumers.get(v, ()):
                outb.append(_k("bi", n.op, sg.nodes[c].op, slot))
        keys.append((
            [_k("attr", n.op, a, F._fmt_attr(v)) for a, v in n.attrs.items()],
            _k("aset", n.op, ",".join(sorted(n.attrs))), _k("op", n.op), inb, outb,
            [_k("dim", n.op, dim_token(d)) for d in (shp or ())],
            [_k("wshape", n.op, slot, sg.inits[v].dims) for slot, v in enumerate(n.inputs)
             if v in sg.inits and sg.inits[v].dtype in F.FLOAT_TYPES and sg.inits[v].numel > 16],
        ))
    arr = np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, N_STATIC), dtype=np.float32)
    sg._gnn_static = (arr, keys)
    return sg._gnn_static


N_STATIC = len(F.CATEGORIES) + 7 + 7 + 5 + 4 + 3 + 8 + 3 + 1 + 5 + 3
N_TABLE = 5 + 6 + 2


def node_features_full(sg, tv):
    """Dense per-node features (n x D) of the full featurization: the static
    part and how often the zoo's real subgraphs show each of the node's
    facts (log counts, 0 = never)."""
    static, keys = _static_node(sg)
    rows = []
    get = tv.get
    for attrs, aset, op, inb, outb, dims, wsh in keys:
        ac = [math.log1p(get(k, 0)) / 10.0 for k in attrs]
        f = [min(ac) if ac else 1.0, (sum(ac) / len(ac)) if ac else 1.0, 1.0 if any(c == 0 for c in ac) else 0.0,
             math.log1p(get(aset, 0)) / 10.0, math.log1p(get(op, 0)) / 10.0]
        for lst in (inb, outb):
            c = [math.log1p(get(k, 0)) / 10.0 for k in lst]
            f += [min(c) if c else 1.0, (sum(c) / len(c)) if c else 1.0, 1.0 if any(x == 0 for x in c) else 0.0]
        dc = [math.log1p(get(k, 0)) / 10.0 for k in dims]
        wc = [math.log1p(get(k, 0)) / 10.0 for k in wsh]
        f += [min(dc) if dc else 1.0, min(wc) if wc else 1.0]
        rows.append(f)
    tab = np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, N_TABLE), dtype=np.float32)
    return np.concatenate([static, tab], axis=1)


def graph_features_full(sg):
    cached = getattr(sg, "_gnn_graph", None)
    if cached is not None:
        return cached
    st = F.graph_stats(sg)
    used = set()
    for n in sg.nodes:
        used.update(n.inputs)
    produced = {o for n in sg.nodes for o in n.outputs if o}
    interm = produced - {v[0] for v in sg.outputs}
    vi = sum(1 for v in interm if v in sg.value_info) / len(interm) if interm else 1.0
    opset = max((v for d, v in sg.meta.get("opsets", ()) if d in ("", "ai.onnx")), default=0)
    out = np.asarray([
        st["nodes"] / 32.0, st["edges"] / 64.0, st["inputs"] / 4.0, st["outputs"] / 4.0,
        st["initializers"] / 16.0, _lg(sg.size, 32), vi,
        sum(1 for t in sg.inits if t not in used) / 4.0,
        sum(1 for v in sg.inputs if v[0] not in used) / 2.0,
        opset / 20.0, sg.meta.get("ir_version", 0) / 10.0, st["components"] / 4.0,
        st["depth"] / 16.0, st["avg_degree"] / 4.0, st["clustering"], st["diameter"] / 16.0,
    ], dtype=np.float32)
    sg._gnn_graph = out
    return out


def n_dense_node():
    return N_STATIC + N_TABLE


def n_graph():
    return 16


class Graph:
    """One featurized graph."""
    __slots__ = ("ops", "dense", "src", "dst", "gfeat", "n")

    def __init__(self, ops, dense, src, dst, gfeat):
        self.ops, self.dense, self.src, self.dst, self.gfeat = ops, dense, src, dst, gfeat
        self.n = len(ops)


def featurize(sg, variant, tv=None):
    vocab = _vocab_index()
    ops = [vocab.get(n.op, 0) for n in sg.nodes]
    src, dst = [], []
    for i, s in enumerate(sg.succ):
        for j in s:
            src.append(i)
            dst.append(j)
    if variant == "gnn-paper":
        dense = np.zeros((len(ops), 0), dtype=np.float32)
        gfeat = np.zeros(0, dtype=np.float32)
    else:
        dense = node_features_full(sg, tv or {})
        gfeat = graph_features_full(sg)
    if not ops:   # a file without nodes: one empty node
        ops = [0]
        dense = np.zeros((1, dense.shape[1]), dtype=np.float32)
    return Graph(np.asarray(ops, dtype=np.int64), dense, np.asarray(src, dtype=np.int64),
                 np.asarray(dst, dtype=np.int64), gfeat)


_VOCAB = None


def _vocab_index():
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = {op: i + 1 for i, op in enumerate(op_vocab())}   # 0 = unknown op
    return _VOCAB


# ----------------------------------------------------------------------------
# the model

def _mean_adj(src, dst, n):
    """Row-normalized sparse adjacency: (A x)[i] = mean of x over edges
    src->dst with dst = i."""
    if len(src) == 0:
        return torch.sparse_coo_tensor(torch.zeros((2, 0), dtype=torch.long), torch.zeros(0), (n, n)).coalesce()
    deg = torch.bincount(dst, minlength=n).float()
    val = 1.0 / deg[dst]
    return torch.sparse_coo_tensor(torch.stack([dst, src]), val, (n, n)).coalesce()


class Batch:
    def __init__(self, graphs, directed, norm=None):
        offs = 0
        ops, dense, src, dst, seg, gf = [], [], [], [], [], []
        for b, g in enumerate(graphs):
            ops.append(torch.from_numpy(g.ops))
            dense.append(torch.from_numpy(g.dense))
            src.append(torch.from_numpy(g.src) + offs)
            dst.append(torch.from_numpy(g.dst) + offs)
            seg.append(torch.full((g.n,), b, dtype=torch.long))
            gf.append(torch.from_numpy(g.gfeat))
            offs += g.n
        n = offs
        self.ops = torch.cat(ops)
        self.dense = torch.cat(dense)
        self.gfeat = torch.stack(gf)
        if norm is not None:
            (dm, ds), (gm, gs) = norm
            if self.dense.shape[1]:
                self.dense = (self.dense - dm) / ds
            if self.gfeat.shape[1]:
                self.gfeat = (self.gfeat - gm) / gs
        s = torch.cat(src)
        d = torch.cat(dst)
        if directed:
            self.adj = [_mean_adj(s, d, n), _mean_adj(d, s, n)]      # in-, out-neighbours
        else:
            self.adj = [_mean_adj(torch.cat([s, d]), torch.cat([d, s]), n)]
        seg = torch.cat(seg)
        cnt = torch.bincount(seg, minlength=len(graphs)).float()
        self.pool = torch.sparse_coo_tensor(torch.stack([seg, torch.arange(n)]), 1.0 / cnt[seg],
                                            (len(graphs), n)).coalesce()


def rows_dot(x, w):
    """x @ w.T (x: n x d, w: m x d) through oneDNN (see Linear)."""
    n, d = x.shape
    if n == 0 or w.shape[0] == 0:
        return x.new_zeros((n, w.shape[0]))
    pad = (-n) % 16
    if pad:
        x = torch.cat([x, x.new_zeros((pad, d))])
    m = (n + pad) // 16
    xx = x.view(16, m, d).permute(0, 2, 1).unsqueeze(-1)
    y = nn.functional.conv2d(xx, w.unsqueeze(-1).unsqueeze(-1))
    return y.squeeze(-1).permute(0, 2, 1).reshape(16 * m, w.shape[0])[:n]


class Linear(nn.Linear):
    """nn.Linear computed as a 1x1 convolution over 16 rows at a time: that
    goes through oneDNN, where torch's own matrix product may fall back on
    a slow reference BLAS (Debian's python3-torch).  Same maths."""

    def forward(self, x):
        n, d = x.shape
        if n == 0:
            return x.new_zeros((0, self.out_features))
        pad = (-n) % 16
        if pad:
            x = torch.cat([x, x.new_zeros((pad, d))])
        m = (n + pad) // 16
        xx = x.view(16, m, d).permute(0, 2, 1).unsqueeze(-1)
        y = nn.functional.conv2d(xx, self.weight.unsqueeze(-1).unsqueeze(-1), self.bias)
        return y.squeeze(-1).permute(0, 2, 1).reshape(16 * m, self.out_features)[:n]


class SAGE(nn.Module):
    """GraphSAGE, mean aggregator: h' = ReLU(W_self h + sum_dir W_dir mean_dir(h)).
    Layer 1 takes [one-hot op | dense features]; the one-hot part is an
    embedding lookup (the same linear map, computed cheaply)."""

    def __init__(self, n_ops, d_dense, d_graph, directed, hidden=HIDDEN, layers=LAYERS):
        super().__init__()
        nd = 2 if directed else 1
        self.directed = directed
        self.emb = nn.ModuleList([nn.Embedding(n_ops, hidden) for _ in range(1 + nd)])
        self.lin0 = nn.ModuleList([Linear(d_dense, hidden, bias=(j == 0)) for j in range(1 + nd)]) if d_dense else None
        self.bias0 = nn.Parameter(torch.zeros(hidden))
        self.layers = nn.ModuleList()
        for _ in range(layers - 1):
            self.layers.append(nn.ModuleList([Linear(hidden, hidden, bias=(j == 0)) for j in range(1 + nd)]))
        self.head = nn.Sequential(nn.Linear(hidden + d_graph, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, b):
        z = []
        for j in range(len(self.emb)):
            t = self.emb[j](b.ops)
            if self.lin0 is not None:
                t = t + self.lin0[j](b.dense)
            z.append(t)
        h = z[0] + self.bias0
        for j, a in enumerate(b.adj):
            h = h + torch.sparse.mm(a, z[1 + j])
        h = torch.relu(h)
        for lay in self.layers:
            out = lay[0](h)
            for j, a in enumerate(b.adj):
                out = out + torch.sparse.mm(a, lay[1 + j](h))
            h = torch.relu(out)
        g = torch.sparse.mm(b.pool, h)
        if b.gfeat.shape[1]:
            g = torch.cat([g, b.gfeat], dim=1)
        return self.head(g).squeeze(1)


class Classifier:
    """A trained classifier with everything needed to use it: variant,
    zoo tables (full variant), feature normalisation, weights."""

    def __init__(self, variant, model, norm, tables, meta=None):
        self.variant = variant
        self.model = model
        self.norm = norm
        self.tables = tables or {}
        self.meta = meta or {}

    @property
    def directed(self):
        return self.variant == "gnn-full"

    def featurize(self, sg):
        return featurize(sg, self.variant, self.tables)

    @torch.no_grad()
    def predict(self, graphs, batch=256):
        """graphs: [Graph]; returns sentinel probabilities (numpy)."""
        self.model.eval()
        out = []
        for i in range(0, len(graphs), batch):
            b = Batch(graphs[i:i + batch], self.directed, self.norm)
            out.append(torch.sigmoid(self.model(b).double()).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def payload(self):
        state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in self.model.state_dict().items()}
        (dm, ds), (gm, gs) = self.norm
        return {"variant": self.variant, "state": state, "dims": [int(dm.numel()), int(gm.numel())],
                "norm": [dm, ds, gm, gs], "tables": self.tables, "meta": self.meta}

    @classmethod
    def from_payload(cls, d):
        dd, dg = d["dims"]
        variant = d["variant"]
        m = SAGE(len(op_vocab()) + 1, dd, dg, directed=(variant == "gnn-full"))
        m.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in d["state"].items()})
        m.eval()
        dm, ds, gm, gs = d["norm"]
        return cls(variant, m, ((dm, ds), (gm, gs)), d["tables"], d.get("meta"))


FORMAT = "proteus-audit-classifier/1"


def save_classifiers(path, classifiers):
    """One file holding every variant (weights in float16)."""
    import os
    tmp = path + ".tmp"
    torch.save({"format": FORMAT, "variants": {v: c.payload() for v, c in classifiers.items()}}, tmp)
    os.replace(tmp, path)


def load_classifiers(path):
    d = torch.load(path, map_location="cpu")
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"{path}: not a proteus audit classifier")
    return {v: Classifier.from_payload(p) for v, p in d["variants"].items()}
