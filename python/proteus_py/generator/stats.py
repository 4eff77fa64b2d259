"""How learned sentinels sit among their real subgraphs (issue 11, points 2, 3).

  python -m proteus_py.generator.stats MODEL... [-k K] [--seed N] [--sentinels GEN] [--json]

Obfuscates each model (weightless, no fingerprints: only structure counts)
with the proteus in $PROTEUS, opens the key, and reports per model:
  - the fraction of sentinels the random generator made instead
    (random_stand_ins / sentinels);
  - per graph statistic (size, depth, mean degree, max degree, clustering)
    the real subgraph's rank among its k+1 group members, as a fraction
    in [0, 1] (ties share the middle rank).  Over many groups the ranks
    should be uniform: mean 0.5, and the real one at either extreme as
    often as 2/(k+1); a rank piled in the middle means the real file is
    the group's centre, at an end that it is the odd one out.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import onnx

STATS = ("size", "depth", "mean_degree", "max_degree", "clustering")


def graph_stats(path):
    """The statistics of a subgraph file over its node graph (an edge from
    the node that produces a value to each node that reads it)."""
    g = onnx.load(path, load_external_data=False).graph
    producer = {}
    for i, n in enumerate(g.node):
        for o in n.output:
            producer[o] = i
    succ = [set() for _ in g.node]
    und = [set() for _ in g.node]
    for i, n in enumerate(g.node):
        for x in n.input:
            p = producer.get(x)
            if p is not None and p != i:
                succ[p].add(i)
                und[p].add(i)
                und[i].add(p)
    n = len(g.node)
    depth = [1] * n
    indeg = [0] * n
    for i in range(n):
        for j in succ[i]:
            indeg[j] += 1
    order = [i for i in range(n) if not indeg[i]]
    for i in order:  # Kahn: grows while it is walked
        for j in succ[i]:
            depth[j] = max(depth[j], depth[i] + 1)
            indeg[j] -= 1
            if not indeg[j]:
                order.append(j)
    cl = []
    for i in range(n):
        nb = list(und[i])
        if len(nb) < 2:
            cl.append(0.0)
            continue
        links = sum(1 for a in range(len(nb)) for b in range(a + 1, len(nb)) if nb[b] in und[nb[a]])
        cl.append(2.0 * links / (len(nb) * (len(nb) - 1)))
    edges = sum(len(s) for s in succ)
    return {"size": n, "depth": max(depth) if n else 0, "mean_degree": edges / n if n else 0.0,
            "max_degree": max((len(s) for s in und), default=0), "clustering": sum(cl) / n if n else 0.0}


def rank(real, others):
    """The real value's rank among all k+1 values as a fraction in [0, 1]."""
    below = sum(1 for v in others if v < real)
    ties = sum(1 for v in others if v == real)
    k = len(others)
    return (below + ties / 2.0) / k if k else 0.5


def run_model(proteus, model, k, seed, gen, env):
    with tempfile.TemporaryDirectory(prefix="pxstats-") as d:
        bucket, key = os.path.join(d, "b"), os.path.join(d, "k")
        r = subprocess.run([proteus, "obfuscate", model, "-o", bucket, "--key", key, "-k", str(k), "--seed", str(seed),
                            "--sentinels", gen, "--weightless", "--no-probe", "--allow-weak", "--allow-unverified",
                            "--json"], capture_output=True, text=True, env=env)
        if r.returncode:
            return {"model": model, "error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
        summary = json.loads(r.stdout)
        view = json.loads(subprocess.run([proteus, "key", "show", key, "--json"], capture_output=True, text=True,
                                         env=env, check=True).stdout)
        ranks = {s: [] for s in STATS}
        for grp in view["groups"]:
            real = graph_stats(os.path.join(bucket, grp["real"]))
            sents = [graph_stats(os.path.join(bucket, s)) for s in grp["sentinels"]]
            for s in STATS:
                ranks[s].append(rank(real[s], [x[s] for x in sents]))
        n_sent = len(view["groups"]) * k
        return {"model": os.path.basename(model), "groups": len(view["groups"]),
                "stand_ins": summary.get("random_stand_ins", 0), "sentinels": n_sent,
                "stand_in_fraction": summary.get("random_stand_ins", 0) / n_sent if n_sent else 0.0,
                "seconds": summary.get("seconds"), "ranks": ranks}


def summarize(ranks, k):
    """mean rank and how often the real one is at an end (uniform: 0.5 and about 2/(k+1))."""
    if not ranks:
        return None
    ends = sum(1 for r in ranks if r <= 0.0 or r >= 1.0) / len(ranks)
    return {"mean": sum(ranks) / len(ranks), "ends": ends, "n": len(ranks)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m proteus_py.generator.stats", description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sentinels", default="learned")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    proteus = os.environ.get("PROTEUS") or os.path.join(root, "build", "proteus")
    env = dict(os.environ)
    env.setdefault("PROTEUS_PASSPHRASE", "proteus stats passphrase")
    results = [run_model(proteus, m, args.k, args.seed, args.sentinels, env) for m in args.models]
    pooled = {s: [r for x in results if "ranks" in x for r in x["ranks"][s]] for s in STATS}
    if args.json:
        print(json.dumps({"models": results, "pooled": {s: summarize(v, args.k) for s, v in pooled.items()}}))
        return 0
    print("uniform ranks: mean 0.50, at an end %.2f" % (2.0 / (args.k + 1)))
    for x in results:
        if "error" in x:
            print("%-28s error: %s" % (os.path.basename(x["model"]), x["error"]))
            continue
        line = "%-28s stand-ins %3d/%-4d (%.2f) %5.1fs" % (x["model"][:28], x["stand_ins"], x["sentinels"],
                                                        x["stand_in_fraction"], x["seconds"] or 0)
        for s in STATS:
            m = summarize(x["ranks"][s], args.k)
            line += "  %s %.2f/%.2f" % (s[:5], m["mean"], m["ends"])
        print(line)
    line = "%-28s" % "pooled (mean/at an end)"
    for s in STATS:
        m = summarize(pooled[s], args.k)
        if m:
            line += "  %s %.2f/%.2f" % (s[:5], m["mean"], m["ends"])
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
