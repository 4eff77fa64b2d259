"""The paper's scoring rule (Section 5.3.2, Figure 6).

An attack gives every bucket file a score, higher meaning more
sentinel-like.  The attacker must keep every real subgraph, so the decision
threshold is the largest score of any real file; a sentinel is eliminated
when its score is strictly above it (a tie keeps it).  With specificity_i
the eliminated fraction of group i's k sentinels, the search space left is
prod_i (1 + (1 - spec_i) k); we report its log10."""
from __future__ import annotations

import math


def key_groups(key):
    """[(real file, [sentinel files])] from the owner's key view."""
    groups = key.get("groups")
    if groups is None:
        real = key.get("real", [])
        return [(r, []) for r in real]
    return [(g["real"], list(g.get("sentinels", []))) for g in groups]


def evaluate(scores, key):
    """scores: {file: float}; key: the owner's key view.  A file of the key
    without a score, or with a NaN score, is an attack bug and raises."""
    groups = key_groups(key)
    k = int(key.get("k", 0))
    n = len(groups)
    for r, s in groups:
        for f in [r, *s]:
            if f not in scores:
                raise KeyError(f"attack gave no score for {f}")
            if scores[f] is None or (isinstance(scores[f], float) and math.isnan(scores[f])):
                raise ValueError(f"attack gave a NaN score for {f}")
    if n == 0:
        return {"n": 0, "k": k, "threshold": None, "specificity": 0.0, "specificities": [],
                "log10_candidates": 0.0, "candidates": 1.0}
    thr = max(float(scores[r]) for r, _ in groups)
    specs = []
    log10c = 0.0
    for r, sent in groups:
        if sent:
            elim = sum(1 for f in sent if float(scores[f]) > thr)
            spec = elim / len(sent)
        else:
            spec = 0.0
        specs.append(spec)
        # 1 + (1 - spec_i) k, with k = this group's sentinel count
        log10c += math.log10(1.0 + (1.0 - spec) * len(sent))
    mean_spec = sum(specs) / n if any(len(s) for _, s in groups) else 0.0
    return {
        "n": n, "k": k, "threshold": thr,
        "specificity": mean_spec, "specificities": specs,
        "log10_candidates": log10c,
        "candidates": 10 ** log10c if log10c < 300 else float("inf"),
    }


def log10_promise(n, k):
    return n * math.log10(k + 1)


def roc_auc(pos, neg):
    """P(score of a positive > score of a negative), ties counting 1/2:
    the Mann-Whitney form of the ROC-AUC.  pos = the class expected to score
    higher."""
    if not pos or not neg:
        return None
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    # average ranks with ties
    ranks = [0.0] * len(allv)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for t in range(i, j + 1):
            ranks[t] = r
        i = j + 1
    rp = sum(r for r, (_, lab) in zip(ranks, allv) if lab == 1)
    n1, n0 = len(pos), len(neg)
    return (rp - n1 * (n1 + 1) / 2.0) / (n1 * n0)
