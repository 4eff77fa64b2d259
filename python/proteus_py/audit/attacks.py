"""One concrete attack per threat-model class.  Each takes the parsed
bucket (and the attacker's context: the public zoo, obfuscated by himself,
and the trained classifiers) and gives every file a score, higher meaning
more sentinel-like.  No attack sees the key.

  graph-stats  class 2  naive-Bayes density ratio of the graph statistics
                        (size, degrees, clustering, diameter, depth, op
                        category fractions ...), real vs sentinel, learned
                        from the zoo
  stitching    class 3  how well a file's interface chains with the rest of
                        the bucket (dtype/shape matches, shared tensor names)
  validity     class 4  checker / shape-inference failures, dangling or dead
                        values, and the fraction of nodes showing an op,
                        attribute set or value, or producer->consumer pair
                        no real subgraph of the zoo shows
  weights      class 5  naive Bayes over initializer and constant facts
                        (presence of data, statistics of the values, shape-
                        like integer constants, round float constants,
                        Reshape/axes consistency)
  metadata     class 6  naive Bayes over names, producer/opset/IR, doc
                        strings, orders, value_info, file size/time/name
  repetition   class 7  naive Bayes over how much a file repeats other
                        files of the bucket (other interface groups: real
                        blocks repeat; own group: mutation centres)
  zoo-match    class 8  nearest-neighbour similarity to the zoo's real
                        subgraphs against that to its sentinels
  gnn-paper    class 1  GraphSAGE on one-hot op types (the paper)
  gnn-full     class 1  GraphSAGE on everything in the file
  weight-realism class 5 trained-vs-synthetic classifier over each tensor's
                        spectrum, tails, channel spread, BatchNorm statistics,
                        trained on the real-world corpus (weight_realism.py)
  donor-density/-centre/-parent/-rows/-kernels class 5  within the bucket, no training:
                        how a file's tensors sit among the bucket's other
                        tensors of their role, as drawn from a donor would
                        (donor.py)
  medoid-centre/-far class 10  rank of a file's distance to the centre of
                        its group (typicality.py)
  style        class 11 consistency with the other groups' style (style.py)
  chain        class 11 fit at the seams with neighbouring groups (style.py)
  optimizer    class 9  what ONNX Runtime's ort:all does to it (optimizer.py)
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict

import numpy as np

from . import features as F
from . import gnn

# ----------------------------------------------------------------------------
# helpers


def clusters(graphs):
    """Files grouped by interface (what an attacker sees of the groups)."""
    cl = defaultdict(list)
    for i, g in enumerate(graphs):
        cl[g.interface].append(i)
    return cl


class NaiveBayes:
    """Per-feature histogram density ratio log p_sentinel(x)/p_real(x),
    summed over features (missing values skipped).  Numeric features get
    quantile bins of the pooled training values; others are categorical.
    Laplace smoothing; each feature's term is clipped to +-clip."""

    def __init__(self, bins=10, alpha=1.0, clip=4.0):
        self.bins, self.alpha, self.clip = bins, alpha, clip
        self.model = {}

    @staticmethod
    def _numeric(v):
        return isinstance(v, (int, float, bool, np.integer, np.floating)) and not isinstance(v, str)

    def fit(self, real, sent):
        keys = set()
        for r in real + sent:
            keys.update(r)
        for k in sorted(keys):
            vr = [r[k] for r in real if r.get(k) is not None]
            vs = [r[k] for r in sent if r.get(k) is not None]
            if not vr or not vs:
                continue
            if all(self._numeric(v) for v in vr + vs):
                a = np.asarray(vr + vs, dtype=np.float64)
                qs = np.quantile(a, np.linspace(0, 1, self.bins + 1)[1:-1])
                edges = np.unique(qs)
                nb = len(edges) + 1
                cr = np.bincount(np.searchsorted(edges, np.asarray(vr, dtype=np.float64), side="right"), minlength=nb)
                cs = np.bincount(np.searchsorted(edges, np.asarray(vs, dtype=np.float64), side="right"), minlength=nb)
                lr = np.log((cs + self.alpha) / (len(vs) + self.alpha * nb)) - np.log((cr + self.alpha) / (len(vr) + self.alpha * nb))
                self.model[k] = ("num", edges, np.clip(lr, -self.clip, self.clip))
            else:
                cr = Counter(map(str, vr))
                cs = Counter(map(str, vs))
                nb = len(set(cr) | set(cs)) + 1
                tab = {}
                for v in set(cr) | set(cs):
                    lr = math.log((cs.get(v, 0) + self.alpha) / (len(vs) + self.alpha * nb)) - \
                        math.log((cr.get(v, 0) + self.alpha) / (len(vr) + self.alpha * nb))
                    tab[v] = max(-self.clip, min(self.clip, lr))
                self.model[k] = ("cat", tab, 0.0)
        return self

    def score(self, x):
        s = 0.0
        for k, v in x.items():
            m = self.model.get(k)
            if m is None or v is None:
                continue
            if m[0] == "num":
                if not self._numeric(v):
                    continue
                s += float(m[2][int(np.searchsorted(m[1], float(v), side="right"))])
            else:
                s += m[1].get(str(v), m[2])
        return s

    def contributions(self, x):
        out = {}
        for k, v in x.items():
            m = self.model.get(k)
            if m is None or v is None:
                continue
            if m[0] == "num":
                out[k] = float(m[2][int(np.searchsorted(m[1], float(v), side="right"))])
            else:
                out[k] = m[1].get(str(v), m[2])
        return out


def _median(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(np.median(xs)) if xs else None


def _hash_vec(counter, dim=2048):
    v = np.zeros(dim, dtype=np.float32)
    for k, c in counter.items():
        h = int(hashlib.blake2b(k.encode(), digest_size=4).hexdigest(), 16)
        v[h % dim] += c
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def wl_vectors(graphs, with_shapes):
    attr = "_wl_vec_s" if with_shapes else "_wl_vec_o"
    out = []
    for g in graphs:
        v = getattr(g, attr, None)
        if v is None:
            v = _hash_vec(F.wl_features(g, iters=2, with_shapes=with_shapes))
            setattr(g, attr, v)
        out.append(v)
    return np.stack(out) if out else np.zeros((0, 2048), dtype=np.float32)


def sims(a, b):
    """a @ b.T for float32 row matrices (fast, see gnn.rows_dot)."""
    import torch
    with torch.no_grad():
        return gnn.rows_dot(torch.from_numpy(np.ascontiguousarray(a)), torch.from_numpy(np.ascontiguousarray(b))).numpy()


def wl_hash_cached(g):
    h = getattr(g, "_wl_hash", None)
    if h is None:
        h = g._wl_hash = F.wl_hash(g)
    return h


# ----------------------------------------------------------------------------
# the attacker's context


class Context:
    """The zoo (possibly with families left out) and the classifiers, plus
    caches of zoo-side features per attack."""

    def __init__(self, zoo, classifiers=None, log=None, weights_zoo=None, cache=None):
        self.zoo = zoo
        self.classifiers = classifiers or {}
        self.log = log
        self._weights_zoo = weights_zoo
        self._cache = {} if cache is None else cache   # may be shared between contexts
        self._tables = None

    def weights_zoo(self):
        if callable(self._weights_zoo):
            self._weights_zoo = self._weights_zoo()
        return self._weights_zoo

    def zoo_features(self, name, fn, zoo=None):
        """[(features, label)] of every labelled zoo file, computed per
        bucket (bucket context) with fn(graphs) -> [dict]; cached by bucket."""
        zoo = zoo or self.zoo
        real, sent = [], []
        for b in zoo.buckets:
            key = (name, b.name, id(b))
            feats = self._cache.get(key)
            if feats is None:
                feats = self._cache[key] = fn(b.graphs)
            for g, f in zip(b.graphs, feats):
                lab = b.label.get(g.file)
                if lab == 0:
                    real.append(f)
                elif lab == 1:
                    sent.append(f)
        return real, sent

    def tables(self):
        """Counts of facts over the zoo's real subgraphs (all zoo families)."""
        if self._tables is None:
            key = ("tables", tuple(b.name for b in self.zoo.buckets))
            t = self._cache.get(key)
            if t is None:
                t = Counter()
                for _, g in self.zoo.reals():
                    t.update(gnn.table_keys(g))
                self._cache[key] = t
            self._tables = t
        return self._tables


def _nb_attack(name, fn, graphs, ctx, zoo=None):
    real, sent = ctx.zoo_features(name, fn, zoo)
    nb = NaiveBayes().fit(real, sent)
    feats = fn(graphs)
    return {g.file: nb.score(f) for g, f in zip(graphs, feats)}, nb, feats


# ----------------------------------------------------------------------------
# class 2: graph statistics

def graph_stats_features(graphs):
    out = []
    for g in graphs:
        st = getattr(g, "_gstats", None)
        if st is None:
            st = g._gstats = F.graph_stats(g)
        out.append(dict(st))
    return out


def attack_graph_stats(graphs, ctx):
    scores, _, _ = _nb_attack("graph-stats", graph_stats_features, graphs, ctx)
    return scores


# ----------------------------------------------------------------------------
# class 3: interface stitching

def attack_stitching(graphs, ctx):
    """A file that no other file can feed, and that feeds none, is not
    part of the chain from the model's input to its output.  Every file
    counts the interface groups that can feed one of its inputs (an output
    of equal dtype and shape) or take one of its outputs, and the files that
    share a non-anonymous tensor name with it (the trivial form).  Score =
    -(links), so the least connected files go first."""
    cl = clusters(graphs)
    outs_by_type = defaultdict(set)
    ins_by_type = defaultdict(set)
    names = defaultdict(set)
    for iface, idx in cl.items():
        ins, outs = iface
        for t in outs:
            outs_by_type[t].add(iface)
        for t in ins:
            ins_by_type[t].add(iface)
    for i, g in enumerate(graphs):
        for nm in g.meta.get("input_names", []) + g.meta.get("output_names", []) + g.meta.get("init_names", []):
            if not F.CANONICAL_NAME.match(nm):
                names[nm].add(i)
    scores = {}
    for i, g in enumerate(graphs):
        ins, outs = g.interface
        feed = set()
        for t in ins:
            feed |= outs_by_type.get(t, set())
        take = set()
        for t in outs:
            take |= ins_by_type.get(t, set())
        feed.discard(g.interface)
        take.discard(g.interface)
        shared = set()
        for nm in g.meta.get("input_names", []) + g.meta.get("output_names", []) + g.meta.get("init_names", []):
            if nm in names:
                shared |= names[nm]
        shared.discard(i)
        scores[g.file] = -(len(feed) + len(take) + 100.0 * len(shared))
    return scores


# ----------------------------------------------------------------------------
# class 4: validity

def validity_facts(g, tables):
    """(checks that fired, fraction of nodes with a fact no zoo real shows,
    fraction of nodes whose output dims no zoo real shows for that op)."""
    ch = g.meta.get("checks", {})
    fired = [c for c in F.CHECKS if ch.get(c)]
    if g.parse_error:
        fired.append("parse_error")
    bad = 0
    baddim = 0
    n = len(g.nodes)
    for i, nd in enumerate(g.nodes):
        odd = tables.get(gnn._k("op", nd.op), 0) == 0
        odd = odd or tables.get(gnn._k("aset", nd.op, ",".join(sorted(nd.attrs))), 0) == 0
        if not odd:
            for a, v in nd.attrs.items():
                if tables.get(gnn._k("attr", nd.op, a, F._fmt_attr(v)), 0) == 0:
                    odd = True
                    break
        if not odd:
            for slot, v in enumerate(nd.inputs):
                p = g.producer.get(v)
                if p is not None and tables.get(gnn._k("bi", g.nodes[p[0]].op, nd.op, slot), 0) == 0:
                    odd = True
                    break
        bad += odd
        vt = g.value_type(nd.outputs[0]) if nd.outputs and nd.outputs[0] else None
        if vt and vt[1]:
            if any(tables.get(gnn._k("dim", nd.op, gnn.dim_token(d)), 0) == 0 for d in vt[1]):
                baddim += 1
    return fired, (bad / n if n else 0.0), (baddim / n if n else 0.0)


HARD = ("checker", "infer", "infer_mismatch", "negative_dim", "cycle", "undefined_input", "duplicate_output",
        "parse_error")
SOFT = ("unused_input", "unused_init", "dead_output")


def attack_validity(graphs, ctx):
    """Score = 3 per hard violation (invalid ONNX: the checker or strict
    shape inference refuses it, declared types disagree with inferred ones,
    negative dims, out-of-order or undefined inputs, duplicate outputs)
    + the fraction of implausible nodes (an op, attribute set, attribute
    value or producer->consumer pair no zoo real shows)
    + half the fraction of nodes whose output dims no zoo real shows for
    that op (zero dims included)
    + for each legal-but-odd fact (unused input or initializer, dead node
    output) its surprisal under the zoo's reals, -log10 of the smoothed
    fraction of zoo reals showing it, divided by 3 (so at most about 1).
    Nothing is learned from sentinels: only what real exporters do."""
    tables = ctx.tables()
    key = ("validity-rates", tuple(b.name for b in ctx.zoo.buckets))
    w = ctx._cache.get(key)
    if w is None:
        reals = [g for _, g in ctx.zoo.reals()]
        w = {}
        for c in SOFT:
            fired = sum(1 for g in reals if g.meta.get("checks", {}).get(c))
            w[c] = -math.log10((fired + 1.0) / (len(reals) + 2.0)) / 3.0
        ctx._cache[key] = w
    scores = {}
    for g in graphs:
        fired, odd, dims = validity_facts(g, tables)
        scores[g.file] = sum(3.0 for c in fired if c in HARD) + sum(w[c] for c in fired if c in SOFT) + odd + 0.5 * dims
    return scores


# ----------------------------------------------------------------------------
# class 5: weights and constants

def _weight_file_features(g):
    f = {}
    floats = [t for t in g.inits.values() if t.dtype in F.FLOAT_TYPES]
    big = [t for t in floats if t.numel > 16]
    n = max(len(g.nodes), 1)
    f["inits_per_node"] = len(g.inits) / n
    f["float_frac"] = (len(floats) / len(g.inits)) if g.inits else None
    f["big_with_data"] = (sum(1 for t in big if t.has_data) / len(big)) if big else None
    f["params_log"] = math.log10(1 + sum(t.numel for t in g.inits.values()))
    f["params_per_node_log"] = math.log10(1 + sum(t.numel for t in g.inits.values()) / n)
    st = [t.stats for t in big if t.stats and t.stats.get("finite")]
    if st:
        f["w_kurt"] = _median([s["kurt"] for s in st])
        f["w_skew"] = _median([s["skew"] for s in st])
        f["w_scale_log"] = _median([math.log10(1e-12 + s["scale"]) for s in st])
        f["w_std_log"] = _median([math.log10(1e-12 + s["std"]) for s in st])
        f["w_mean_rel"] = _median([s["mean"] / (s["std"] + 1e-12) for s in st])
        f["w_zero"] = _median([s["zero"] for s in st])
        f["w_uniq"] = _median([s["uniq"] for s in st])
        f["w_erank"] = _median([s.get("erank") for s in st])
        f["w_maxz"] = _median([s["maxabs"] / (s["std"] + 1e-12) for s in st])
    # small float constants (initializers and Constant nodes)
    smallf, smalli = [], []
    for t in g.inits.values():
        if t.values is not None:
            (smallf if t.values.dtype.kind == "f" else smalli).append(np.asarray(t.values).ravel())
    for nd in g.nodes:
        for v in nd.attrs.values():
            if isinstance(v, tuple) and v and v[0] == "tensor" and v[3] is not None:
                arr = np.asarray(v[3]).ravel()
                (smallf if arr.dtype.kind == "f" else smalli).append(arr)
    if smallf:
        allf = np.concatenate(smallf).astype(np.float64)
        allf = allf[np.isfinite(allf)]
        if allf.size:
            x = allf * 1000.0
            f["c_round"] = float((np.abs(x - np.round(x)) < 1e-3).mean())
            f["c_uniq"] = float(np.unique(allf).size / allf.size)
            f["c_absmax_log"] = math.log10(1e-12 + float(np.abs(allf).max()))
    if smalli:
        alli = np.concatenate([a.astype(np.int64) for a in smalli if a.dtype.kind in "iub"] or [np.zeros(0, np.int64)])
        if alli.size:
            f["i_shape_like"] = float(((alli >= -1) & (alli <= 65536)).mean())
            f["i_neg"] = float((alli < -1).mean())
            f["i_uniq"] = float(np.unique(alli).size / alli.size)
    # structured constants: Reshape targets and axes that fit their input
    reshape_ok, reshape_n, axes_ok, axes_n = 0, 0, 0, 0
    for nd in g.nodes:
        if nd.op == "Reshape" and len(nd.inputs) > 1:
            t = g.inits.get(nd.inputs[1])
            tgt = t.values if t is not None else None
            vt = g.value_type(nd.inputs[0])
            if tgt is not None and vt and vt[1] and all(isinstance(d, int) for d in vt[1]):
                reshape_n += 1
                numel = int(np.prod(vt[1])) if vt[1] else 1
                tg = [int(x) for x in np.asarray(tgt).ravel()]
                dims = [vt[1][i] if (d == 0 and i < len(vt[1])) else d for i, d in enumerate(tg)]
                known = 1
                for d in dims:
                    if d != -1:
                        known *= d
                ok = (dims.count(-1) <= 1 and known > 0 and numel % known == 0) if -1 in dims else known == numel
                reshape_ok += ok
        ax = None
        if "axes" in nd.attrs and isinstance(nd.attrs["axes"], tuple):
            ax = nd.attrs["axes"]
        elif nd.op in ("Unsqueeze", "Squeeze", "ReduceSum") and len(nd.inputs) > 1 and nd.inputs[1] in g.inits:
            v = g.inits[nd.inputs[1]].values
            ax = tuple(int(x) for x in np.asarray(v).ravel()) if v is not None else None
        if ax is not None:
            vt = g.value_type(nd.inputs[0]) if nd.inputs else None
            if vt and vt[1] is not None:
                r = len(vt[1]) + (len(ax) if nd.op == "Unsqueeze" else 0)
                axes_n += 1
                axes_ok += all(-r <= a < r for a in ax)
    f["reshape_ok"] = (reshape_ok / reshape_n) if reshape_n else None
    f["axes_ok"] = (axes_ok / axes_n) if axes_n else None
    # BatchNorm running variances must be positive
    bn = [g.inits.get(nd.inputs[4]) for nd in g.nodes if nd.op == "BatchNormalization" and len(nd.inputs) > 4]
    bn = [t for t in bn if t is not None and (t.stats or t.values is not None)]
    if bn:
        f["bn_var_pos"] = float(np.mean([(t.stats["pos"] if t.stats else float((np.asarray(t.values) > 0).mean())) for t in bn]))
    return f


WEIGHT_DATA_KEYS = ("w_kurt", "w_skew", "w_scale_log", "w_std_log", "w_mean_rel", "w_zero", "w_uniq", "w_erank", "w_maxz")


def weights_features(graphs):
    return [_weight_file_features(g) for g in graphs]


def attack_weights(graphs, ctx):
    """Naive Bayes over the weight and constant facts, learned from the zoo
    (real vs the attacker's own sentinels).  The corpus zoo is weightless, so
    when the bucket's float tensors carry data their statistics are learned
    from a small zoo the attacker rehydrates himself (proteus rehydrate, then
    obfuscate)."""
    feats = weights_features(graphs)
    real, sent = ctx.zoo_features("weights", weights_features)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in WEIGHT_DATA_KEYS} for r in rows]  # noqa: E731
    nb = NaiveBayes().fit(strip(real), strip(sent))
    scores = {g.file: nb.score({k: v for k, v in f.items() if k not in WEIGHT_DATA_KEYS}) for g, f in zip(graphs, feats)}
    if any(any(k in f for k in WEIGHT_DATA_KEYS) for f in feats):
        try:
            wz = ctx.weights_zoo()
        except (RuntimeError, OSError) as e:   # no rehydrated zoo: the data statistics go unused
            if ctx.log:
                ctx.log(f"audit: weights: no rehydrated zoo ({e}); weight statistics not used")
            wz = None
        if wz is not None and wz.buckets:
            wr, ws = ctx.zoo_features("weights", weights_features, zoo=wz)
            keep = lambda rows: [{k: v for k, v in r.items() if k in WEIGHT_DATA_KEYS} for r in rows]  # noqa: E731
            nbw = NaiveBayes().fit(keep(wr), keep(ws))
            for g, f in zip(graphs, feats):
                scores[g.file] += nbw.score({k: v for k, v in f.items() if k in WEIGHT_DATA_KEYS})
    return scores


# ----------------------------------------------------------------------------
# class 6: metadata and layout

_NUM = re.compile(r"^[a-z]([0-9]+)$")


def _increasing(names):
    nums = []
    for n in names:
        m = _NUM.match(n)
        if not m:
            return None
        nums.append(int(m.group(1)))
    return 1.0 if nums == sorted(nums) else 0.0


def _topo_canonical(g):
    """1 if the node order is the smallest-index-first topological order."""
    import heapq
    n = len(g.nodes)
    indeg = [len(p) for p in g.pred]
    h = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(h)
    order = []
    while h:
        u = heapq.heappop(h)
        order.append(u)
        for v in g.succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(h, v)
    return 1.0 if order == list(range(n)) else 0.0


def metadata_features(graphs):
    out = []
    sizes = np.asarray([g.size for g in graphs], dtype=np.float64)
    mt = np.asarray([g.mtime for g in graphs], dtype=np.float64)
    cl = clusters(graphs)
    pos = {g.file: i for i, g in enumerate(graphs)}
    for iface, idx in cl.items():
        csz = sizes[idx]
        cmt = mt[idx]
        for j, i in enumerate(idx):
            g = graphs[i]
            m = g.meta
            names = m.get("input_names", []) + m.get("output_names", []) + m.get("init_names", []) + \
                [o for nd in g.nodes for o in nd.outputs if o]
            f = {
                "names_canonical": (sum(1 for x in names if F.CANONICAL_NAME.match(x)) / len(names)) if names else None,
                "node_names_empty": (sum(1 for x in m.get("node_names", []) if not x) / len(g.nodes)) if g.nodes else None,
                "node_names_canonical": (sum(1 for x in m.get("node_names", []) if F.CANONICAL_NAME.match(x)) / len(g.nodes)) if g.nodes else None,
                "signature": "|".join(str(x) for x in (
                    m.get("producer_name"), m.get("producer_version"), m.get("ir_version"), m.get("opsets"),
                    m.get("graph_name"), m.get("domain"), m.get("model_version"), bool(m.get("doc")),
                    bool(m.get("graph_doc")), m.get("node_docs", 0) > 0, m.get("metadata_props", 0) > 0,
                    m.get("functions", 0) > 0, m.get("sparse_inits", 0) > 0, m.get("init_inputs", 0) > 0)),
                "in_order": _increasing(m.get("input_names", [])),
                "out_order": _increasing(m.get("output_names", [])),
                "init_order": _increasing(m.get("init_names", [])),
                "t_order": _increasing([o for nd in g.nodes for o in nd.outputs[:1] if o and o.startswith("t")]),
                "vi_order": _increasing(m.get("value_info_names", [])),
                "topo_canonical": _topo_canonical(g),
                "size_log": math.log10(1 + g.size),
                "size_per_node": math.log10(1 + g.size / max(len(g.nodes), 1)),
                "name_hex": 1.0 if F.HEX_FILE.match(g.file) else 0.0,
                "name_value": (int(g.file[:8], 16) / 2 ** 32) if F.HEX_FILE.match(g.file) else None,
                "manifest_pos": pos[g.file] / max(len(graphs) - 1, 1),
                "size_rank_in_group": (float((csz < csz[j]).sum()) / max(len(idx) - 1, 1)) if len(idx) > 1 else None,
                "mtime_rank_in_group": (float((cmt < cmt[j]).sum()) / max(len(idx) - 1, 1)) if len(idx) > 1 else None,
                "mtime_rel": float((mt < mt[i]).mean()),
                "mtime_epoch": 1.0 if g.mtime < 86400 * 366 else 0.0,
            }
            produced = {o for nd in g.nodes for o in nd.outputs if o}
            interm = produced - set(m.get("output_names", []))
            f["value_info_cover"] = (sum(1 for v in interm if v in g.value_info) / len(interm)) if interm else None
            f["value_info_extra"] = sum(1 for v in g.value_info if v not in interm)
            out.append((i, f))
    out.sort(key=lambda t: t[0])
    return [f for _, f in out]


def attack_metadata(graphs, ctx):
    scores, _, _ = _nb_attack("metadata", metadata_features, graphs, ctx)
    return scores


# ----------------------------------------------------------------------------
# class 7: repetition

def repetition_features(graphs):
    if not graphs:
        return []
    cl = clusters(graphs)
    cid = np.zeros(len(graphs), dtype=np.int64)
    for c, (_, idx) in enumerate(cl.items()):
        cid[idx] = c
    out = []
    sim = {}
    for ws in (True, False):
        v = wl_vectors(graphs, ws)
        sim[ws] = sims(v, v)
    hashes = [wl_hash_cached(g) for g in graphs]
    by_hash = defaultdict(set)
    for i, h in enumerate(hashes):
        by_hash[h].add(int(cid[i]))
    # centrality of each file within its own interface group (medoid rank)
    central = {ws: np.full(len(graphs), np.nan) for ws in sim}
    for c in range(int(cid.max()) + 1):
        idx = np.flatnonzero(cid == c)
        if len(idx) < 2:
            continue
        for ws in sim:
            cent = sim[ws][np.ix_(idx, idx)].sum(axis=1)
            below = np.searchsorted(np.sort(cent), cent, side="left")   # members strictly less central
            central[ws][idx] = below / (len(idx) - 1)
    for i, g in enumerate(graphs):
        f = {}
        other = cid != cid[i]
        same = (cid == cid[i])
        same[i] = False
        for ws, tag in ((True, "s"), (False, "o")):
            s = sim[ws][i]
            f[f"max_other_{tag}"] = float(s[other].max()) if other.any() else None
            f[f"top3_other_{tag}"] = float(np.sort(s[other])[-3:].mean()) if other.sum() >= 3 else None
            f[f"mean_same_{tag}"] = float(s[same].mean()) if same.any() else None
            f[f"max_same_{tag}"] = float(s[same].max()) if same.any() else None
            f[f"central_{tag}"] = None if np.isnan(central[ws][i]) else float(central[ws][i])
        f["dup_groups"] = len(by_hash[hashes[i]] - {int(cid[i])})
        out.append(f)
    return out


def attack_repetition(graphs, ctx):
    scores, _, _ = _nb_attack("repetition", repetition_features, graphs, ctx)
    return scores


# ----------------------------------------------------------------------------
# class 8: public-zoo matching

class _ZooIndex:
    def __init__(self, zoo):
        reals = [g for _, g in zoo.reals()]
        sents = [g for _, g in zoo.sentinels()]
        self.r = {ws: wl_vectors(reals, ws) for ws in (True, False)}
        self.s = {ws: wl_vectors(sents, ws) for ws in (True, False)}
        self.rh = {wl_hash_cached(g) for g in reals}
        self.sh = {wl_hash_cached(g) for g in sents}


def attack_zoo_match(graphs, ctx):
    """Nearest-neighbour matching against the zoo: (best similarity to a
    zoo sentinel) - (best similarity to a zoo real subgraph), over WL
    subtree features with and without shapes, plus verbatim matches."""
    key = ("zoo-index", tuple(b.name for b in ctx.zoo.buckets))
    idx = ctx._cache.get(key)
    if idx is None:
        idx = ctx._cache[key] = _ZooIndex(ctx.zoo)
    scores = {}
    if not graphs:
        return scores
    parts = np.zeros(len(graphs))
    for ws in (True, False):
        v = wl_vectors(graphs, ws)
        best_r = np.zeros(len(graphs))
        best_s = np.zeros(len(graphs))
        for i in range(0, len(graphs), 512):
            blk = v[i:i + 512]
            if len(idx.r[ws]):
                best_r[i:i + 512] = sims(blk, idx.r[ws]).max(axis=1)
            if len(idx.s[ws]):
                best_s[i:i + 512] = sims(blk, idx.s[ws]).max(axis=1)
        parts += best_s - best_r
    for i, g in enumerate(graphs):
        h = wl_hash_cached(g)
        scores[g.file] = float(parts[i]) + (1.0 if h in idx.sh else 0.0) - (1.0 if h in idx.rh else 0.0)
    return scores


# ----------------------------------------------------------------------------
# class 1: the learned classifier

def _weight_realism():
    from . import weight_realism   # its own module (numpy and onnx only)
    return weight_realism


def _gnn(variant):
    def run(graphs, ctx):
        clf = ctx.classifiers.get(variant)
        if clf is None:
            raise RuntimeError(f"no {variant} classifier")
        feats = [clf.featurize(g) for g in graphs]
        probs = clf.predict(feats)
        return {g.file: float(p) for g, p in zip(graphs, probs)}
    run.__name__ = f"attack_{variant}"
    return run


ATTACKS = [
    ("graph-stats", 2, attack_graph_stats),
    ("stitching", 3, attack_stitching),
    ("validity", 4, attack_validity),
    ("weights", 5, attack_weights),
    ("metadata", 6, attack_metadata),
    ("repetition", 7, attack_repetition),
    ("zoo-match", 8, attack_zoo_match),
    ("gnn-paper", 1, _gnn("gnn-paper")),
    ("gnn-full", 1, _gnn("gnn-full")),
    ("weight-realism", 5, lambda graphs, ctx: _weight_realism().attack(graphs, ctx)),
]

# attacks kept in their own modules (they import helpers from here lazily)
from . import donor as _donor, optimizer as _optimizer, style as _style, typicality as _typicality  # noqa: E402

ATTACKS += [
    ("donor-density", 5, _donor.attack_density),
    ("donor-centre", 5, _donor.attack_centre),
    ("donor-parent", 5, _donor.attack_parent),
    ("donor-rows", 5, _donor.attack_rows),
    ("donor-kernels", 5, _donor.attack_kernels),
    ("medoid-centre", 10, _typicality.attack_medoid_centre),
    ("medoid-far", 10, _typicality.attack_medoid_far),
    ("style", 11, _style.attack_style),
    ("chain", 11, _style.attack_chain),
    ("optimizer", 9, _optimizer.attack_optimizer),
]
ATTACK_NAMES = [a[0] for a in ATTACKS]


def run_all(graphs, ctx, only=None):
    """{attack name: {file: score}}."""
    out = {}
    for name, _, fn in ATTACKS:
        if only and name not in only:
            continue
        if name.startswith("gnn") and name not in ctx.classifiers:
            continue
        out[name] = fn(graphs, ctx)
    return out
