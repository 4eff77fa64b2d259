"""Cross-group attacks (threat-model class 11): the real subgraphs of
one bucket come from one model, so they share a style, and they chain.

  style  per file, style tokens: activation and normalisation ops, conv
         kernel sizes, strides, groups (depthwise or not), channel counts
         of weights, value dtypes and the op set.  A file is consistent
         when its tokens are common in the *other* groups; the other
         groups' files are weighted by how consistent they are themselves
         (a few rounds, starting uniform), so that each group's likely
         real file dominates the style profile.  Score = -consistency.
  chain  groups whose outputs' dtype and shape are exactly an input of
         another group are neighbours in the model.  At each such seam the
         real files meet with a producer->consumer op pair real models
         show (a Conv output into BatchNormalization, a LayerNorm into a
         MatMul), and with a matching style; a file is scored by how well
         its best partner in each neighbouring group fits it (zoo
         frequency of the seam op pair + style similarity), partners
         weighted as in `style`.  Score = -fit."""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from . import gnn

ACTIVATIONS = {"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid", "HardSwish",
               "Tanh", "Softplus", "Softsign", "Mish", "Erf", "Clip", "ThresholdedRelu", "Swish", "QuickGelu"}
NORMS = {"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
         "LpNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization"}
ROUNDS = 3
BETA = 4.0     # sharpness of the within-group weights (softmax over consistency)
TOP = 5        # partners per neighbouring group in `chain`
RARE = 3       # a file's consistency = mean log-frequency of its RARE rarest tokens


def style_tokens(g):
    """Set of style tokens of one file."""
    t = set()
    for n in g.nodes:
        t.add(f"op:{n.op}")
        if n.op in ACTIVATIONS:
            t.add(f"act:{n.op}")
        if n.op in NORMS:
            t.add(f"norm:{n.op}")
        if n.op in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            ks = n.attrs.get("kernel_shape")
            if isinstance(ks, tuple):
                t.add(f"k:{n.op}:{'x'.join(map(str, ks))}")
            st = n.attrs.get("strides")
            if isinstance(st, tuple):
                t.add(f"s:{n.op}:{'x'.join(map(str, st))}")
            if n.op == "Conv":
                t.add(f"grp:{'1' if n.attrs.get('group', 1) == 1 else 'n'}")
        for v in n.inputs[1:2]:
            w = g.inits.get(v)
            if w is not None and len(w.dims) >= 2 and n.op in ("Conv", "MatMul", "Gemm", "ConvTranspose"):
                t.add(f"ch:{int(w.dims[0])}")
                t.add(f"ch:{int(w.dims[1])}")
        for o in n.outputs[:1]:
            vt = g.value_type(o)
            if vt:
                t.add(f"dt:{vt[0]}")
    for _, d, _ in g.inputs + g.outputs:
        t.add(f"dt:{d}")
    return t


def _tokens(graphs):
    out = []
    for g in graphs:
        tk = getattr(g, "_style_tokens", None)
        if tk is None:
            tk = g._style_tokens = frozenset(style_tokens(g))
        out.append(tk)
    return out


def _softmax_weights(scores, idx):
    s = np.asarray([scores[i] for i in idx], dtype=np.float64)
    e = np.exp(BETA * (s - s.max()))
    return e / e.sum()


def consistency(graphs):
    """(consistency of each file: mean over its tokens of log P(token) in
    the other groups' weighted files; the final weights; group of each
    file; the groups' file indices).  Groups = interface clusters."""
    from .attacks import clusters
    toks = _tokens(graphs)
    groups = list(clusters(graphs).values())
    gid = np.zeros(len(graphs), dtype=np.int64)
    for c, idx in enumerate(groups):
        gid[idx] = c
    w = np.zeros(len(graphs))
    for idx in groups:
        w[idx] = 1.0 / len(idx)
    cons = np.zeros(len(graphs))
    ng = len(groups)
    if ng < 2:   # one interface: no other group to compare with
        return cons, w, gid, groups
    for _ in range(ROUNDS):
        # per group, the weighted probability that its chosen file shows a token
        per_group = []
        total = Counter()
        for idx in groups:
            c = Counter()
            for i in idx:
                for t in toks[i]:
                    c[t] += w[i]
            per_group.append(c)
            total.update(c)
        for c, idx in enumerate(groups):
            own = per_group[c]
            for i in idx:
                if not toks[i]:
                    cons[i] = math.log(1e-3)
                    continue
                lp = sorted(math.log(1e-3 + (total[t] - own.get(t, 0.0)) / (ng - 1)) for t in toks[i])
                # the rarest tokens decide: one activation or kernel no other group shows is the tell
                cons[i] = float(np.mean(lp[:RARE]))
        for idx in groups:
            w[idx] = _softmax_weights(cons, idx)
    return cons, w, gid, groups


def attack_style(graphs, ctx):
    if not graphs:
        return {}
    cons = consistency(graphs)[0]
    return {g.file: -float(c) for g, c in zip(graphs, cons)}


def _seam_ops(g, names, want_outputs):
    """Ops producing (want_outputs) or consuming the graph values names."""
    ops = set()
    for nm in names:
        if want_outputs:
            p = g.producer.get(nm)
            if p is not None:
                ops.add(g.nodes[p[0]].op)
        else:
            for c, slot in g.consumers.get(nm, []):
                ops.add((g.nodes[c].op, slot))
    return ops


def boundary_features(graphs):
    """The ops at a file's cuts: what produces each output, what consumes
    each input (by position).  Real cuts fall between real layers."""
    out = []
    for g in graphs:
        f = {}
        for k, (nm, _, _) in enumerate(g.outputs):
            f[f"out{k}"] = "|".join(sorted(_seam_ops(g, [nm], True))) or "-"
        for k, (nm, _, _) in enumerate(g.inputs):
            f[f"in{k}"] = "|".join(sorted(f"{o}:{s}" for o, s in _seam_ops(g, [nm], False))) or "-"
        out.append(f)
    return out


def attack_chain(graphs, ctx):
    """See the module doc.  The zoo tables give how often real models show
    each producer->consumer pair; a naive Bayes over the ops at the file's
    own cuts (zoo reals vs the attacker's sentinels) is added: a seam a
    real model never cuts at fits nothing."""
    from .attacks import NaiveBayes, clusters
    if not graphs:
        return {}
    zr, zs = ctx.zoo_features("chain-boundary", boundary_features)
    nb = NaiveBayes().fit(zr, zs)
    bscore = [nb.score(f) for f in boundary_features(graphs)]
    tables = ctx.tables()
    _, w, _, _ = consistency(graphs)
    toks = _tokens(graphs)
    cl = clusters(graphs)
    ifaces = list(cl)
    # interface type -> groups producing / consuming it
    prod, cons = defaultdict(set), defaultdict(set)
    for c, iface in enumerate(ifaces):
        for t in iface[1]:
            prod[t].add(c)
        for t in iface[0]:
            cons[t].add(c)
    gi_of = {iface: c for c, iface in enumerate(ifaces)}
    # per file: ops at each output type (producers) and input type (consumers)
    out_ops, in_ops = [], []
    for g in graphs:
        oo, ii = defaultdict(set), defaultdict(set)
        for nm, d, s in g.outputs:
            oo[(d, s)] |= _seam_ops(g, [nm], True)
        for nm, d, s in g.inputs:
            ii[(d, s)] |= _seam_ops(g, [nm], False)
        out_ops.append(oo)
        in_ops.append(ii)
    total_bi = sum(v for k, v in tables.items() if k.startswith("bi" + gnn.SEP)) or 1

    def pair_fit(ops_out, ops_in):
        best = 0.0
        for p in ops_out:
            for q, slot in ops_in:
                best = max(best, math.log10(1.0 + 1e4 * tables.get(gnn._k("bi", p, q, slot), 0) / total_bi))
        return best

    def jacc(a, b):
        return len(a & b) / len(a | b) if (a or b) else 0.0

    # each group's most consistent files stand for it (the weights are
    # sharp; the rest add nothing but time)
    top = {}
    for c, iface in enumerate(ifaces):
        idx = cl[iface]
        order = sorted(idx, key=lambda j: -w[j])[:TOP]
        top[c] = [(j, w[j] * len(idx)) for j in order]

    scores = {}
    for i, g in enumerate(graphs):
        my = gi_of[g.interface]
        fits = []
        # downstream: groups consuming one of my output types; upstream: producing one of my inputs
        for t, ops in out_ops[i].items():
            for c in cons.get(t, ()):
                if c == my:
                    continue
                fits.append(max(wj * (pair_fit(ops, in_ops[j].get(t, ())) + jacc(toks[i], toks[j]))
                                for j, wj in top[c]))
        for t, ops in in_ops[i].items():
            for c in prod.get(t, ()):
                if c == my:
                    continue
                fits.append(max(wj * (pair_fit(out_ops[j].get(t, ()), ops) + jacc(toks[i], toks[j]))
                                for j, wj in top[c]))
        scores[g.file] = bscore[i] - (float(np.mean(fits)) if fits else 0.0)
    return scores
