#!/usr/bin/env python3
"""Whether a weighted bucket's file sizes tell which file of each group is
real (issue 11: "bucket files sized like their real subgraphs"), from the
key (the owner's view; the attacker needs only the sizes).

    .venv/bin/python bench/size_leak.py MODEL... [-k 20] [--sentinels learned]
        [--proteus BUILD/proteus ...] [--out FILE.jsonl]

MODEL is a corpus name (corpus/models/NAME.onnx, rehydrated with seeded
random weights, as bench/obfuscate_speed.py does) or a path to a model
with weights (build/realworld).  Each --proteus binary obfuscates each
model once (before/after).  Per bucket:

- rank: the real file's size rank among its group's k+1 files, scaled to
  0..1 (uniform: mean 0.5; its quartile counts should be alike); smallest
  and largest: the share of groups whose real file is the smallest (the
  largest), against 1/(k+1) by chance;
- AUC bytes: ROC-AUC of log(bytes) minus the group's median log(bytes),
  reals against sentinels (0.5: no separation; far from 0.5 either way is
  a leak);
- AUC centre: the same for -|log(bytes) - median| (above 0.5: reals sit
  at their group's centre, the medoid attack); medoid: the share of groups
  whose file nearest the median log size is the real one (1/(k+1) by chance);
- AUC pooled: real against sentinel bytes over the whole bucket (0.5:
  sentinels sized like the model's reals); outside: the share of sentinel
  files smaller than the smallest real file or larger than the largest;
- ratio: per group the mean sentinel bytes over the real's (median and
  range), beside the span of the model's own real file sizes (largest over
  smallest); CPU s: the obfuscation's, children included.
"""
import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from obfuscate_speed import ROOT, bench_io, emit, rehydrated, size_of  # noqa: E402


def auc(pos, neg):
    """Mann-Whitney ROC-AUC of pos over neg (ties count half)."""
    if not pos or not neg:
        return float("nan")
    allv = sorted((v, i < len(pos)) for i, v in enumerate(pos + neg))
    i = 0
    total_pos_rank = 0.0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        r = (i + j + 1) / 2  # mean 1-based rank of the tie run
        total_pos_rank += r * sum(1 for t in allv[i:j] if t[1])
        i = j
    return (total_pos_rank - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def group_sizes(bucket, view):
    """[(real bytes, [sentinel bytes])] per group with sentinels."""
    return [(size_of(os.path.join(bucket, g["real"])), [size_of(os.path.join(bucket, s)) for s in g["sentinels"]])
            for g in view["groups"] if g["sentinels"]]


def leak(groups):
    """The measures above from [(real bytes, [sentinel bytes])]."""
    ranks, small, large, medoid = [], 0, 0, 0
    d_real, d_sent, c_real, c_sent, ratios = [], [], [], [], []
    for real, sents in groups:
        logs = [math.log(max(1, x)) for x in [real] + sents]
        med = statistics.median(logs)
        below = sum(1 for s in logs[1:] if s < logs[0]) + 0.5 * sum(1 for s in logs[1:] if s == logs[0])
        ranks.append(below / len(sents))
        small += all(s > logs[0] for s in logs[1:])
        large += all(s < logs[0] for s in logs[1:])
        dist = [abs(x - med) for x in logs]
        medoid += dist[0] < min(dist[1:])
        d_real.append(logs[0] - med)
        d_sent += [x - med for x in logs[1:]]
        c_real.append(-dist[0])
        c_sent += [-x for x in dist[1:]]
        ratios.append(statistics.mean(sents) / max(1, real))
    n = len(groups)
    k = len(groups[0][1]) if groups else 0
    quart = [sum(1 for r in ranks if q / 4 <= r < (q + 1) / 4 or (q == 3 and r == 1)) for q in range(4)]
    reals = [r for r, _ in groups]
    sents = [x for _, ss in groups for x in ss]
    return {"groups": n, "k": k, "rank_mean": statistics.mean(ranks), "rank_quartiles": quart,
            "smallest": small / n, "largest": large / n, "chance": 1 / (k + 1), "medoid": medoid / n,
            "auc_bytes": auc(d_real, d_sent), "auc_centre": auc(c_real, c_sent),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "reals_span": max(reals) / max(1, min(reals)), "auc_pooled": auc(reals, sents),
            "outside": sum(1 for x in sents if x < min(reals) or x > max(reals)) / len(sents)}


def obfuscate(proteus, model, work, k, gen, env):
    bucket, key = os.path.join(work, "b"), os.path.join(work, "key")
    subprocess.run(["rm", "-rf", bucket, key], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([proteus, "obfuscate", model, "-o", bucket, "--key", key, "-k", str(k), "--sentinels", gen,
                        "--allow-weak"], env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"obfuscate failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    show = subprocess.run([proteus, "key", "show", key, "--json"], env=env, capture_output=True, text=True, check=True)
    out = leak(group_sizes(bucket, json.loads(show.stdout)))
    subprocess.run(["rm", "-rf", bucket, key], check=True)
    out["cpu_s"] = cpu
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--sentinels", default="learned")
    ap.add_argument("--proteus", nargs="+", default=[os.path.join(ROOT, "build", "proteus")])
    ap.add_argument("--out", help="also append JSON lines here")
    a = ap.parse_args()
    env, out = bench_io(a.out)
    print("| model | build | groups | rank mean | rank quartiles | smallest | largest | medoid | chance "
          "| AUC bytes | AUC centre | AUC pooled | outside | sentinel / real, median (range) | reals' span | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.models:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as work:
            model = rehydrated(a.proteus[0], name, work)
            for binary in a.proteus:
                r = obfuscate(binary, model, work, a.k, a.sentinels, env)
                r.update(model=os.path.basename(name), build=binary, sentinels=a.sentinels)
                emit(out, r, f"| {r['model']} | {os.path.basename(binary)} | {r['groups']} | {r['rank_mean']:.2f} | "
                     f"{'/'.join(map(str, r['rank_quartiles']))} | {r['smallest']:.2f} | {r['largest']:.2f} | "
                     f"{r['medoid']:.2f} | {r['chance']:.2f} | {r['auc_bytes']:.2f} | {r['auc_centre']:.2f} | "
                     f"{r['auc_pooled']:.2f} | {r['outside']:.2f} | "
                     f"{r['ratio_median']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
                     f"{r['reals_span']:.0f} | {r['cpu_s']:.0f} |")


if __name__ == "__main__":
    main()
