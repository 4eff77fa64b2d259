#!/usr/bin/env python3
"""Which per-file features still tell a model's real files from its
sentinels (issue 11's oracle two-sample test, broken down).

    /usr/bin/python3 bench/oracle_features.py --out DIR [--proteus BIN] [-k 6]
        [--sentinels learned] [--top 6] MODEL...

Each MODEL (an .onnx path) is obfuscated once (weightless buckets, --seed 7,
the attacker's secret of the audit cache; reused from DIR when there) and
read as the audit reads it.  Per model: the oracle AUC (proteus audit's
`oracle.py`: cross-validated over groups, naive Bayes and logistic
regression on every per-file feature, the larger) and the features with
the largest single-feature ROC-AUC, reals against sentinels (0.5: no
signal; below 0.5: reals score lower); then those features pooled over all
models, and the mean oracle AUC.  Keep some models out of any tuning."""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from proteus_py.audit import features as F  # noqa: E402
from proteus_py.audit import oracle as O  # noqa: E402
from proteus_py.audit import score as S  # noqa: E402
from proteus_py.audit import zoo  # noqa: E402


def top(pooled, n):
    aucs = []
    for k, (pos, neg) in pooled.items():
        try:
            p = [float(x) for x in pos if x is not None]
            q = [float(x) for x in neg if x is not None]
        except (TypeError, ValueError):
            continue
        a = S.roc_auc(p, q) if len(p) >= 5 and len(q) >= 5 else None
        if a is not None:
            aucs.append((abs(a - 0.5), a, k))
    return "  ".join(f"{k}={a:.2f}" for _, a, k in sorted(aucs, reverse=True)[:n])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--out", required=True, help="folder for the buckets (reused)")
    ap.add_argument("--proteus", default=os.path.join(ROOT, "build", "proteus"))
    ap.add_argument("-k", type=int, default=6)
    ap.add_argument("--sentinels", default="learned")
    ap.add_argument("--top", type=int, default=6)
    a = ap.parse_args()
    zoo.PROTEUS = a.proteus
    pooled, aucs = {}, []
    for m in a.models:
        name = os.path.basename(m)[:-5]
        bucket, view = zoo.obfuscate(m, os.path.join(a.out, name), a.k, 7, sentinels=a.sentinels)
        graphs = F.read_bucket(bucket)
        rows = O.bucket_features(graphs)
        byf = {g.file: i for i, g in enumerate(graphs)}
        res = O.oracle_auc(graphs, view)
        aucs.append(res["auc"])
        local = {}
        for r, sents in S.key_groups(view):
            for f in [r, *sents]:
                for k, v in rows[byf[f]].items():
                    for d in (pooled, local):
                        d.setdefault(k, ([], []))[0 if f == r else 1].append(v)
        print(f"{name}: oracle {res['auc']:.3f}\n    {top(local, a.top)}", flush=True)
    print(f"pooled: {top(pooled, 2 * a.top)}\nmean oracle {sum(aucs) / len(aucs):.3f} over {len(aucs)}")


if __name__ == "__main__":
    main()
