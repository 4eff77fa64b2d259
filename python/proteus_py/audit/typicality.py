"""Group typicality (threat-model class 10): each interface
group of k+1 files has a medoid under a distance; the real subgraph is
often the centre (sentinels are variations around what the generator
learned from real models) or, against a generator that clusters its own
draws, the outlier.

Distances: WL-subtree cosine (with and without shapes), graph-statistic
distance (each statistic scaled by its spread within the group) and the
cosine of op-type histograms.  Per file and distance, the rank of its mean
distance to the rest of the group (0 = the medoid, 1 = the farthest);
the file's rank is the mean over distances.

  medoid-centre  score = rank: the centre is kept, the edge eliminated
  medoid-far     score = -rank: the edge is kept, the centre eliminated

The attacker cannot know which of the two works on a bucket without the
key; the report shows both and the stronger (an upper bound)."""
from __future__ import annotations

from collections import Counter

import numpy as np


def _op_hist(graphs, vocab):
    m = np.zeros((len(graphs), len(vocab)), dtype=np.float32)
    for i, g in enumerate(graphs):
        for op, c in Counter(n.op for n in g.nodes).items():
            m[i, vocab[op]] = c
    nrm = np.linalg.norm(m, axis=1, keepdims=True)
    nrm[nrm == 0] = 1.0
    return m / nrm


def _stat_matrix(graphs):
    from .attacks import graph_stats_features
    rows = graph_stats_features(graphs)
    keys = sorted({k for r in rows for k in r})
    return np.asarray([[float(r.get(k, 0.0)) for k in keys] for r in rows], dtype=np.float64)


def distance_matrices(graphs, idx):
    """{distance name: (len(idx), len(idx)) matrix} for the files idx of
    one group."""
    from .attacks import sims, wl_vectors
    sub = [graphs[i] for i in idx]
    out = {}
    for ws, tag in ((True, "wl-shapes"), (False, "wl-ops")):
        v = wl_vectors(sub, ws)
        out[tag] = 1.0 - sims(v, v)
    st = _stat_matrix(sub)
    sd = st.std(axis=0)
    sd[sd < 1e-9] = 1.0
    z = st / sd
    sq = (z * z).sum(axis=1)
    out["graph-stats"] = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0))
    vocab = {op: j for j, op in enumerate(sorted({n.op for g in sub for n in g.nodes}))}
    h = _op_hist(sub, vocab)
    out["op-histogram"] = 1.0 - h @ h.T
    return out


def centrality_ranks(graphs):
    """{file: mean over distances of the rank of its mean distance to the
    rest of its group, 0 = medoid .. 1 = farthest}; files alone in their
    group get 0.5 (no information)."""
    from .attacks import clusters
    ranks = {g.file: 0.5 for g in graphs}
    for _, idx in clusters(graphs).items():
        if len(idx) < 2:
            continue
        acc = np.zeros(len(idx))
        dms = distance_matrices(graphs, idx)
        for dm in dms.values():
            mean_d = dm.sum(axis=1) / (len(idx) - 1)
            # ties share the lower rank: identical files are equally central
            acc += np.searchsorted(np.sort(mean_d), mean_d, side="left") / (len(idx) - 1)
        for j, i in enumerate(idx):
            ranks[graphs[i].file] = float(acc[j] / len(dms))
    return ranks


_LAST = [None, None]   # (graphs list, ranks): both variants of one bucket share the work


def _ranks_cached(graphs):
    if _LAST[0] is not graphs:
        _LAST[:] = [graphs, centrality_ranks(graphs)]
    return _LAST[1]


def attack_medoid_centre(graphs, ctx):
    return dict(_ranks_cached(graphs))


def attack_medoid_far(graphs, ctx):
    return {f: -r for f, r in _ranks_cached(graphs).items()}

