"""The oracle two-sample test: how separable are this bucket's real files
from its own sentinels, given every feature the attacks compute?  It uses
the key (the labels of this very bucket), so no attacker has it; it is an
upper bound on what any attack built from these features could reach,
reported as a cross-validated ROC-AUC (0.5 = indistinguishable), never as
a candidate count.

Features: graph statistics, weight and constant facts, metadata,
repetition, group centrality, style consistency.  Cross-validation over
groups (FOLDS folds, a group's real file and its sentinels always in the
same fold), so no file is scored by a model that saw it.  Two learners:
the attacks' naive Bayes and an L2 logistic regression on standardised
features; the AUC reported is the larger."""
from __future__ import annotations

import numpy as np

from . import score as S

FOLDS = 5
LR_STEPS = 300
LR_L2 = 1e-2


def bucket_features(graphs):
    """[dict] per file: every attack's per-file features."""
    from . import attacks as A
    from . import style, typicality
    rows = [dict() for _ in graphs]
    for fn in (A.graph_stats_features, A.weights_features, A.metadata_features, A.repetition_features):
        for r, f in zip(rows, fn(graphs)):
            r.update(f)
    ranks = typicality._ranks_cached(graphs)
    cons = style.consistency(graphs)[0] if graphs else []
    for r, g, c in zip(rows, graphs, cons):
        r["centrality_rank"] = ranks[g.file]
        r["style_consistency"] = float(c)
    return rows


def _encode(train_rows, rows):
    """Numeric matrix: numeric features (missing -> the training mean, plus a
    missing flag) and one-hot categorical values seen in training."""
    from .attacks import NaiveBayes
    keys = sorted({k for r in train_rows for k in r})
    cols = []
    for k in keys:
        vals = [r.get(k) for r in train_rows if r.get(k) is not None]
        if not vals:
            continue
        if all(NaiveBayes._numeric(v) for v in vals):
            mean = float(np.mean(np.asarray(vals, dtype=np.float64)))
            cols.append(("num", k, mean))
        else:
            for v in sorted(set(map(str, vals)))[:32]:
                cols.append(("cat", k, v))

    def enc(rs):
        m = np.zeros((len(rs), len(cols) + sum(1 for c in cols if c[0] == "num")))
        j2 = len(cols)
        for j, (kind, k, v) in enumerate(cols):
            for i, r in enumerate(rs):
                x = r.get(k)
                if kind == "num":
                    ok = x is not None and NaiveBayes._numeric(x) and np.isfinite(float(x))
                    m[i, j] = float(x) if ok else v
                    m[i, j2] = 0.0 if ok else 1.0
                else:
                    m[i, j] = 1.0 if x is not None and str(x) == v else 0.0
            if kind == "num":
                j2 += 1
        return m
    return enc(train_rows), enc(rows)


def _logreg(xtr, ytr, xte):
    mu = xtr.mean(axis=0)
    sd = xtr.std(axis=0)
    sd[sd < 1e-9] = 1.0
    a = np.clip((xtr - mu) / sd, -10, 10)
    b = np.clip((xte - mu) / sd, -10, 10)
    w = np.zeros(a.shape[1])
    bias = 0.0
    npos, nneg = ytr.sum(), len(ytr) - ytr.sum()
    cw = np.where(ytr > 0.5, len(ytr) / (2 * max(npos, 1)), len(ytr) / (2 * max(nneg, 1)))
    for _ in range(LR_STEPS):
        p = 1.0 / (1.0 + np.exp(-(a @ w + bias)))
        gr = (p - ytr) * cw
        w -= 0.5 * (a.T @ gr / len(ytr) + LR_L2 * w)
        bias -= 0.5 * gr.mean()
    return b @ w + bias


def oracle_auc(graphs, key):
    """{"auc": max, "naive_bayes": AUC, "logistic": AUC, "folds": F} or None
    when the bucket has fewer than 2 groups or no sentinels."""
    from .attacks import NaiveBayes
    groups = S.key_groups(key)
    if len(groups) < 2 or not any(s for _, s in groups):
        return None
    byf = {g.file: i for i, g in enumerate(graphs)}
    rows = bucket_features(graphs)
    folds = min(FOLDS, len(groups))
    fold_of, label = {}, {}
    for gi, (r, sents) in enumerate(groups):
        for f in [r, *sents]:
            fold_of[f] = gi % folds
            label[f] = 0 if f == r else 1
    nb_s, lr_s = {}, {}
    for k in range(folds):
        tr = [f for f in label if fold_of[f] != k]
        te = [f for f in label if fold_of[f] == k]
        rtr = [rows[byf[f]] for f in tr]
        ytr = np.asarray([label[f] for f in tr], dtype=np.float64)
        nb = NaiveBayes().fit([r for r, y in zip(rtr, ytr) if y == 0], [r for r, y in zip(rtr, ytr) if y == 1])
        for f in te:
            nb_s[f] = nb.score(rows[byf[f]])
        xtr, xte = _encode(rtr, [rows[byf[f]] for f in te])
        for f, s in zip(te, _logreg(xtr, ytr, xte)):
            lr_s[f] = float(s)

    def auc(sc):
        return S.roc_auc([sc[f] for f in label if label[f] == 1], [sc[f] for f in label if label[f] == 0])
    a_nb, a_lr = auc(nb_s), auc(lr_s)
    return {"auc": max(a_nb, a_lr), "naive_bayes": a_nb, "logistic": a_lr, "folds": folds}
