"""Regenerates docs/confidentiality.md (scripts/confidentiality):

  1. the attacker's zoo: every corpus model obfuscated with TRAIN_K
     sentinels at his seed (cached);
  2. the owner's buckets: every corpus model (op13, op17, dyn) at k=20
     with another seed and another key secret (cached);
  3. leave-one-family-out: for each family, both classifiers are trained on
     the zoo without it and every attack runs with the zoo without it, on
     that family's buckets;
  4. the control: real subgraphs of a model against real subgraphs of other
     models with the same interface, scored by the same fold's classifier;
  5. the held-out models with the shipped classifier and the whole zoo;
  6. the markdown."""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from collections import defaultdict

import numpy as np

from . import attacks as A
from . import score as S
from . import train as T
from . import zoo as Z

EVAL_K = 20
EVAL_SEED = 7


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt_cand(log10c):
    if log10c < 3:
        return f"{10 ** log10c:.2f}"
    m = 10 ** (log10c - math.floor(log10c))
    return f"{m:.2f}e{int(math.floor(log10c))}"


def eval_buckets(models, log, jobs=2):
    return Z.build_buckets(models, EVAL_K, EVAL_SEED, f"eval-k{EVAL_K}-s{EVAL_SEED}", jobs=jobs, log=log,
                           secret=Z.secret_file("owner"))


def run(args):
    log = _log
    times = {}
    cold = not os.path.isdir(os.path.join(Z.CACHE, Z.stamp(), "parsed"))
    t0 = time.time()
    zoo_all = Z.load_zoo(log=log)
    times["zoo"] = time.time() - t0

    t = time.time()
    models = Z.corpus_models()
    if args.only:
        models = [m for m in models if Z.family(m) in args.only]
    ev = eval_buckets(models, log)
    times["eval buckets"] = time.time() - t

    cache = {}
    results = {}      # model -> {attack: evaluate()}
    fold_clfs = {}
    fams = sorted({b.family for b in ev})
    t_train = 0.0
    t_attack = 0.0
    for fam in fams:
        zoo = zoo_all.without([fam])
        t = time.time()
        clfs = fold_classifiers(zoo, fam, log)
        t_train += time.time() - t
        fold_clfs[fam] = clfs
        ctx = A.Context(zoo, clfs, log=log, cache=cache,
                        weights_zoo=lambda fam=fam: Z.load_weights_zoo(exclude=[fam], log=log))
        for b in [b for b in ev if b.family == fam]:
            t = time.time()
            res = {}
            for name, cls, fn in A.ATTACKS:
                sc = fn(b.graphs, ctx)
                res[name] = S.evaluate(sc, b.key)
                res[name]["scores"] = sc
            results[b.name] = res
            t_attack += time.time() - t
            log(f"{b.name}: " + " ".join(f"{n}={r['log10_candidates']:.1f}" for n, r in res.items()))
    times["training (leave-one-family-out)"] = t_train
    times["attacks on the k=20 buckets"] = t_attack

    # the control: real vs real of other models with the same interface
    t = time.time()
    control = control_auc(ev, zoo_all, fold_clfs, log)
    times["control"] = time.time() - t

    holdout = {}
    if not args.no_holdout:
        t = time.time()
        holdout = run_holdout(log, cache, args)
        times["held-out models (shipped classifier)"] = time.time() - t
    big = None
    if not args.no_resnet50:
        t = time.time()
        big = resnet50_timing(log)
        times["ResNet-50 rehydrated, k=20: build + audit"] = time.time() - t
    times["total"] = time.time() - t0
    times["_cold"] = cold
    return ev, results, control, holdout, times, big


def resnet50_timing(log):
    """`proteus audit` on a rehydrated ResNet-50 bucket at k=20 (the files
    carry weights), timed; the bucket is deleted afterwards."""
    import json
    import shutil
    import subprocess
    d = os.path.join(Z.cache_dir(), "resnet50-timing")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model = os.path.join(d, "resnet50-op17.onnx")
    sec = Z.secret_file("owner")
    try:
        subprocess.run([Z.PROTEUS, "rehydrate", os.path.join(Z.ROOT, "corpus", "models", "resnet50-op17.onnx"), model,
                        "--seed", "1"], check=True, capture_output=True)
        t = time.time()
        subprocess.run([Z.PROTEUS, "obfuscate", model, "-o", os.path.join(d, "b"), "--key", os.path.join(d, "key"),
                        "-k", str(EVAL_K), "--sentinels", Z.SENTINELS, "--seed", str(EVAL_SEED), "--no-probe", "--allow-weak",
                        "--key-secret", sec], check=True, capture_output=True)
        t_obf = time.time() - t
        files = [os.path.join(d, "b", f) for f in os.listdir(os.path.join(d, "b")) if f.endswith(".onnx")]
        size = sum(os.path.getsize(f) for f in files)
        # cold page cache is not ours to force; the files were just written
        t = time.time()
        r = subprocess.run([Z.PROTEUS, "audit", os.path.join(d, "b"), "--key", os.path.join(d, "key"), "--key-secret", sec,
                            "--zoo-exclude", "resnet50", "--json"], capture_output=True, text=True)
        t_audit = time.time() - t
        if r.returncode != 0:
            log(f"resnet50 timing: audit failed: {r.stderr.strip()[-500:]}")
            return None
        rep = json.loads(r.stdout)
        out = {"files": len(files), "bytes": size, "obfuscate_s": t_obf, "audit_s": t_audit,
               "n": rep["n"], "k": rep["k"], "attacks": {a["name"]: (a["log10_candidates"], a["seconds"]) for a in rep["attacks"]},
               "promise": rep["log10_promise"]}
        log(f"resnet50 timing: {len(files)} files, {size / 1e9:.2f} GB, audit {t_audit:.0f} s")
        return out
    except subprocess.CalledProcessError as e:
        log(f"resnet50 timing: {e} {e.stderr[-500:] if e.stderr else ''}")
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _source_hash():
    import hashlib
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for f in ("features.py", "gnn.py", "train.py", "zoo.py"):
        with open(os.path.join(here, f), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def fold_classifiers(zoo, fam, log):
    """Both classifiers trained without family fam; cached on disk, keyed by
    the zoo (binary stamp) and the training code."""
    from . import gnn
    d = os.path.join(Z.cache_dir(), "folds", _source_hash())
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, f"{fam}.pt")
    if os.path.exists(p):
        log(f"fold {fam}: cached classifiers")
        return gnn.load_classifiers(p)
    clfs = T.train_all(zoo, log=log)
    gnn.save_classifiers(p, clfs)
    return gnn.load_classifiers(p)   # as used elsewhere: float16 weights


def control_auc(ev, zoo_all, fold_clfs, log):
    """For each corpus model M: the real subgraphs of M (label 0) against the
    real subgraphs of other corpus models (and, apart, of held-out models)
    whose interface equals one of M's (label 1, as if they were M's
    sentinels), all scored by the classifier of M's fold.  ROC-AUC near 0.5
    means the classifier finds sentinels, not 'another model'."""
    pool = defaultdict(list)    # interface -> [(model, family, graph)] real subgraphs
    for b in ev:
        for g in b.reals():
            pool[g.interface].append((b.name, b.family, g))
    for b in zoo_all.buckets:   # other partitions (the attacker's seed) add matches
        for g in b.reals():
            pool[g.interface].append((b.name + "@zoo", b.family, g))
    hold = defaultdict(list)
    try:
        hb = Z.build_buckets(Z.holdout_models(), 0, EVAL_SEED, f"holdout-k0-s{EVAL_SEED}", log=log,
                             secret=Z.secret_file("owner"))
        for b in hb:
            for g in b.reals():
                hold[g.interface].append((b.name, b.family, g))
    except RuntimeError as e:
        log(f"control: held-out models unavailable ({e})")
    out = {}
    for b in ev:
        clfs = fold_clfs.get(b.family)
        if not clfs:
            continue
        own = b.reals()
        subs, hsubs, matched = [], [], 0
        seen = set()
        for g in own:
            cand = [x for x in pool.get(g.interface, []) if x[1] != b.family]
            hc = hold.get(g.interface, [])
            if cand or hc:
                matched += 1
            for x in cand:
                k = id(x[2])
                if k not in seen:
                    seen.add(k)
                    subs.append(x)
            for x in hc:
                k = id(x[2])
                if k not in seen:
                    seen.add(k)
                    hsubs.append(x)
        row = {"n": len(own), "matched": matched, "substitutes": len(subs), "holdout_substitutes": len(hsubs)}
        for v, clf in clfs.items():
            own_s = T.score_bucket(clf, own)
            s_sub = T.score_bucket(clf, [x[2] for x in subs]) if subs else {}
            s_hold = T.score_bucket(clf, [x[2] for x in hsubs]) if hsubs else {}
            # only M's reals whose interface has a substitute take part
            ifaces = {x[2].interface for x in subs}
            hif = {x[2].interface for x in hsubs}
            neg = [own_s[g.file] for g in own if g.interface in ifaces]
            row[v] = {"auc": S.roc_auc(list(s_sub.values()), neg) if subs else None,
                      "auc_holdout": S.roc_auc(list(s_hold.values()), [own_s[g.file] for g in own if g.interface in hif]) if hsubs else None,
                      "real_mean": float(np.mean(list(own_s.values()))) if own_s else None,
                      "sub_mean": float(np.mean(list(s_sub.values()))) if s_sub else None}
            # pairs for a pooled AUC
            row[v]["pairs"] = (list(s_sub.values()), neg, list(s_hold.values()),
                               [own_s[g.file] for g in own if g.interface in hif])
        out[b.name] = row
        log(f"control {b.name}: matched {matched}/{len(own)}, {len(subs)} substitutes, "
            + ", ".join(f"{v} AUC {row[v]['auc'] if row[v]['auc'] is None else round(row[v]['auc'], 3)}" for v in clfs))
    return out


def run_holdout(log, cache, args):
    from . import gnn
    clfs = gnn.load_classifiers(T.SHIPPED)
    zoo = Z.load_zoo(log=log)
    ctx = A.Context(zoo, clfs, log=log, cache=cache, weights_zoo=lambda: Z.load_weights_zoo(log=log))
    models = [m for m in Z.holdout_models() if os.path.basename(m)[:-5] not in args.skip_holdout]
    hb = Z.build_buckets(models, EVAL_K, EVAL_SEED, f"holdout-k{EVAL_K}-s{EVAL_SEED}", log=log,
                         secret=Z.secret_file("owner"))
    out = {}
    for b in hb:
        res = {}
        for name, cls, fn in A.ATTACKS:
            res[name] = S.evaluate(fn(b.graphs, ctx), b.key)
        out[b.name] = res
        log(f"holdout {b.name}: " + " ".join(f"{n}={r['log10_candidates']:.1f}" for n, r in res.items()))
    return out


def _model_order(names):
    def key(n):
        fam = Z.family(n)
        return (fam, 0 if n.endswith("op17") and "-dyn" not in n else (1 if n.endswith("op13") else 2))
    return sorted(names, key=key)


def markdown(ev, results, control, holdout, times, args, big=None):
    L = []
    w = L.append
    nb = {b.name: b for b in ev}
    names = _model_order(list(results))
    w("# Confidentiality audit")
    w("")
    w("How far each attack of the threat model ([threat-model.md](threat-model.md), classes 1-8) shrinks the")
    w(f"search space of a bucket, for every corpus model at k = {EVAL_K}, with the sentinel generator "
      f"`--sentinels {Z.SENTINELS}` (the paper's *random opcodes* baseline). Generated by `scripts/confidentiality` "
      f"on {datetime.date.today().isoformat()}; do not edit by hand.")
    w("")
    w("## How it is measured")
    w("")
    w(f"- **Owner's buckets**: `proteus obfuscate MODEL -k {EVAL_K} --sentinels {Z.SENTINELS} --seed {EVAL_SEED} --no-probe`"
      " (default subgraph size), for every file of `corpus/models` (op17, op13, dyn).")
    w(f"- **Attacker's zoo** (the public models, here the corpus): each corpus model obfuscated by the attacker himself "
      f"with his own seed ({Z.TRAIN_SEED}) and key, `-k {Z.TRAIN_K}`, so he knows which of his files are real. "
      "Attacks learn reference distributions from it; the audited model's whole family is left out "
      "(`--zoo-exclude`), as if the model were private.")
    w(f"- **Learned classifier**: leave-one-family-out (a family = the file name minus `-opNN`/`-dyn`; op13, op17 and dyn "
      f"variants are always in the same fold): trained on the real subgraphs of the other {len(Z.families()) - 1} families "
      f"against {T.TRAIN_SENTINELS} of their sentinels per real subgraph, class-weighted, tested on the held-out family's "
      "buckets. GraphSAGE, mean aggregation, 3 layers of 128, mean pooling. `gnn-paper`: one-hot op types, "
      "undirected (the paper). `gnn-full`: also directed in/out neighbourhoods, output dtype/rank/shape, attributes, "
      "initializer shapes and statistics, small constants, how often the zoo's real subgraphs show each op, attribute "
      "value, attribute set, producer->consumer pair and output dim (zoo tables cross-fitted by family), and graph-level facts.")
    w("- **Score**: every attack scores each file (higher = more sentinel-like). The threshold is the largest score of any "
      "real file (no real subgraph is ever rejected); a sentinel is eliminated when strictly above it. "
      "specificity_i = eliminated fraction of group i's sentinels; candidates = prod_i (1 + (1 - spec_i) k). "
      f"The bucket promises (k+1)^n, i.e. log10 = n log10({EVAL_K + 1}).")
    w("")
    for variant in ("gnn-paper", "gnn-full"):
        w(f"## Figure 6: learned classifier `{variant}`, random-opcode sentinels")
        w("")
        w("| model | n | k | specificity | min(γ) | candidates | promise |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        below = 0
        for m in names:
            r = results[m][variant]
            n = r["n"]
            below += r["log10_candidates"] < 3
            w(f"| {m} | {n} | {EVAL_K} | {r['specificity']:.3f} | {r['threshold']:.3g} | {fmt_cand(r['log10_candidates'])} | "
              f"{fmt_cand(S.log10_promise(n, EVAL_K))} |")
        w("")
        w(f"{below} of {len(names)} buckets are left with fewer than 10^3 candidates.")
        w("")
    w("## Every attack: log10 candidates left")
    w("")
    w(f"log10 of the candidates each attack leaves (k = {EVAL_K}); `promise` = n log10(k+1), what the bucket claims. "
      "0.00 means the attack names every real subgraph.")
    w("")
    an = A.ATTACK_NAMES
    w("| model | n | promise | " + " | ".join(an) + " |")
    w("|---|---:|---:|" + "---:|" * len(an))
    for m in names:
        r = results[m]
        n = r[an[0]]["n"]
        w(f"| {m} | {n} | {S.log10_promise(n, EVAL_K):.1f} | " + " | ".join(f"{r[a]['log10_candidates']:.2f}" for a in an) + " |")
    w("")
    cnt = {a: sum(1 for m in names if results[m][a]["log10_candidates"] < 3) for a in an}
    w("Buckets left with fewer than 10^3 candidates, per attack: " + ", ".join(f"{a} {cnt[a]}/{len(names)}" for a in an) + ".")
    teeth = sum(1 for m in names if min(results[m]["gnn-paper"]["log10_candidates"], results[m]["gnn-full"]["log10_candidates"]) < 3
                and sum(1 for a in an if not a.startswith("gnn") and results[m][a]["log10_candidates"] < 3) >= 2)
    w(f"Buckets where the learned classifier and at least two other attacks each leave fewer than 10^3: {teeth}/{len(names)}.")
    w("")
    w("Mean specificity per attack (over groups, then models): " +
      ", ".join(f"{a} {np.mean([results[m][a]['specificity'] for m in names]):.3f}" for a in an) + ".")
    w("")
    w("## Control: real subgraphs against real subgraphs of other models")
    w("")
    w("For each corpus model, its real subgraphs (label real) against real subgraphs of *other* corpus models with the "
      "same interface (dtype and shape of every input and output; from the other models' k=20 buckets and from the "
      "zoo's partitions), as if they were its sentinels, scored by the classifier of the model's own fold. "
      "A ROC-AUC near 0.5 means the classifier does not flag 'a subgraph of another model' as a sentinel; it finds "
      "sentinels. The other corpus models were in that fold's training set (as real), so an AUC below 0.5 is expected "
      "where their subgraphs recur; `held-out` uses real subgraphs of `corpus/holdout` models instead, which no "
      "classifier ever saw. Models without any same-interface subgraph elsewhere are left out.")
    w("")
    w("| model | n | matched | substitutes | gnn-paper AUC | gnn-full AUC | held-out subst. | gnn-paper AUC (held-out) | gnn-full AUC (held-out) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    pooled = {v: ([], [], [], []) for v in ("gnn-paper", "gnn-full")}
    aucs = {v: [] for v in pooled}
    haucs = {v: [] for v in pooled}

    def f3(x):
        return "-" if x is None else f"{x:.3f}"
    for m in names:
        c = control.get(m)
        if not c or (c["substitutes"] == 0 and c["holdout_substitutes"] == 0):
            continue
        w(f"| {m} | {c['n']} | {c['matched']} | {c['substitutes']} | {f3(c['gnn-paper']['auc'])} | {f3(c['gnn-full']['auc'])} | "
          f"{c['holdout_substitutes']} | {f3(c['gnn-paper']['auc_holdout'])} | {f3(c['gnn-full']['auc_holdout'])} |")
        for v in pooled:
            if c[v]["auc"] is not None:
                aucs[v].append(c[v]["auc"])
            if c[v]["auc_holdout"] is not None:
                haucs[v].append(c[v]["auc_holdout"])
    w("")
    w("Per-model AUCs rest on few pairs where few interfaces match (vision models: 1 to 5 substitutes), so the summary "
      "weights each model by its number of (substitute, real) pairs: the fraction of all such within-model pairs in "
      "which the substitute scores higher.")
    w("")
    for v in pooled:
        num = den = hnum = hden = 0.0
        for m in names:
            c = control.get(m)
            if not c:
                continue
            sub, neg, hsub, hneg = c[v]["pairs"]
            if c[v]["auc"] is not None:
                num += c[v]["auc"] * len(sub) * len(neg)
                den += len(sub) * len(neg)
            if c[v]["auc_holdout"] is not None:
                hnum += c[v]["auc_holdout"] * len(hsub) * len(hneg)
                hden += len(hsub) * len(hneg)
        if den:
            w(f"- `{v}`: pair-weighted AUC **{num / den:.3f}** over {int(den)} pairs"
              + (f"; held-out substitutes {hnum / hden:.3f} over {int(hden)} pairs" if hden else "")
              + f" (unweighted mean of per-model AUCs {np.mean(aucs[v]):.3f}, {len(aucs[v])} models).")
    w("")
    if holdout:
        w("## Held-out models (`corpus/holdout`), shipped classifier, whole zoo")
        w("")
        w("What `proteus audit` reports for models outside the corpus: the shipped classifier "
          "(`python/proteus_py/audit/models/classifier.pt`, trained on every corpus family) and the whole zoo.")
        w("")
        w("| model | n | promise | " + " | ".join(an) + " |")
        w("|---|---:|---:|" + "---:|" * len(an))
        for m in sorted(holdout):
            r = holdout[m]
            n = r[an[0]]["n"]
            w(f"| {m} | {n} | {S.log10_promise(n, EVAL_K):.1f} | " + " | ".join(f"{r[a]['log10_candidates']:.2f}" for a in an) + " |")
        w("")
    w("## The attacks")
    w("")
    for line in ATTACK_DOC:
        w(line)
    w("")
    w("## Commands and runtimes")
    w("")
    w("```sh")
    w("scripts/confidentiality                 # this file (builds build/proteus if needed)")
    w("PYTHONPATH=python /usr/bin/python3 -m proteus_py.audit --train      # retrain the shipped classifier")
    w("build/proteus audit BUCKET --key KEY [--json] [--out DIR] [--zoo-exclude FAMILY]")
    w("/usr/bin/python3 -m pytest tests/audit")
    w("```")
    w("")
    w(f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), run under `nice -n 19`, torch on one thread. "
      "Caches in `build/audit-cache/` (keyed by a hash of `build/proteus`); a warm cache skips obfuscation and parsing.")
    w("")
    w("This run started with " + ("an empty cache (`build/audit-cache/` removed): every bucket was obfuscated and "
      "parsed and every fold classifier trained." if times.get("_cold") else
      "a warm cache (zoo and evaluation buckets already parsed; fold classifiers retrained only if the training "
      "code changed)."))
    w("")
    w("| phase | seconds |")
    w("|---|---:|")
    for k, v in times.items():
        if not k.startswith("_"):
            w(f"| {k} | {v:.0f} |")
    w("")
    if big:
        w(f"**`proteus audit` on a rehydrated ResNet-50 bucket** (`proteus rehydrate`, then `-k {big['k']}`): "
          f"{big['files']} files, {big['bytes'] / 1e9:.2f} GB, n = {big['n']}; the audit took **{big['audit_s']:.0f} s** "
          f"(shipped classifier, `--zoo-exclude resnet50`, warm zoo cache; files read with load_external_data=False, "
          f"weight statistics from a strided sample of at most {4096} values per tensor). Per attack, log10 candidates "
          f"(of {big['promise']:.1f}) and seconds: " +
          ", ".join(f"{n} {v[0]:.2f} ({v[1]:.0f} s)" for n, v in big["attacks"].items()) + ".")
        w("")
    if args.extra_notes and os.path.exists(args.extra_notes):
        with open(args.extra_notes) as f:
            w(f.read().rstrip())
        w("")
    return "\n".join(L) + "\n"


ATTACK_DOC = [
    "One concrete attack per class of the threat model; each reads only the bucket files, the attacker's zoo and the "
    "proteus source. Code: `python/proteus_py/audit/attacks.py`.",
    "",
    "| attack | class | what it does |",
    "|---|---:|---|",
    "| graph-stats | 2 | naive-Bayes density ratio p(sentinel)/p(real) of 36 graph statistics (nodes, edges, average degree, "
    "clustering coefficient, diameter, depth, width, in/out-degree histograms, inputs, outputs, initializers, components, "
    "sources, sinks, fraction of nodes per op category), histograms learned from the zoo's real subgraphs and the attacker's sentinels |",
    "| stitching | 3 | links of a file's interface to the rest of the bucket: interface groups that can feed one of its inputs "
    "(an output of equal dtype and shape) or take one of its outputs, and files sharing a non-anonymous tensor name; fewer links = more sentinel-like |",
    "| validity | 4 | 3 per hard violation (onnx.checker, strict shape inference with data propagation, declared vs inferred types, "
    "negative dims, order/undefined inputs, duplicate outputs) + fraction of nodes showing an op, attribute set, attribute "
    "value or producer->consumer pair no zoo real shows + half the fraction with never-seen output dims + the zoo surprisal of "
    "unused inputs/initializers and dead outputs |",
    "| weights | 5 | naive Bayes over initializer and constant facts: presence of data, parameter counts, float/int mix, "
    "round or random-looking small float constants, shape-like integer constants, Reshape targets and axes consistent "
    "with their input, BatchNorm variances; when the bucket has weights, their statistics (kurtosis, skew, fan-in-scaled "
    "std, zeros, distinct values, effective rank) against a zoo the attacker rehydrates himself |",
    "| metadata | 6 | naive Bayes over names (canonical or not), producer/IR/opset/graph name/doc strings, name and node order, "
    "value_info coverage, file size (absolute, per node, rank within the interface group), file time and name, manifest position |",
    "| repetition | 7 | naive Bayes over Weisfeiler-Lehman similarity to files of other interface groups (real blocks "
    "repeat), exact duplicates, and similarity/centrality within the own group |",
    "| zoo-match | 8 | nearest-neighbour WL similarity to the zoo's sentinels minus that to its real subgraphs, with and "
    "without shapes, plus verbatim matches |",
    "| gnn-paper | 1 | GraphSAGE on one-hot op types (the paper's classifier) |",
    "| gnn-full | 1 | GraphSAGE on everything in the file (see above) |",
    "",
    "Class 9 (optimizer-side signals) is not attacked here: it needs ONNX Runtime, which the system Python that runs the "
    "audit does not have.",
]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/confidentiality")
    ap.add_argument("--out", default=os.path.join(Z.ROOT, "docs", "confidentiality.md"))
    ap.add_argument("--only", nargs="+", help="families to evaluate (default: all)")
    ap.add_argument("--no-holdout", action="store_true")
    ap.add_argument("--skip-holdout", nargs="*", default=["swin_t-op17"],
                    help="held-out models to skip (default: swin_t-op17, 294 subgraphs)")
    ap.add_argument("--extra-notes", help="markdown appended at the end")
    ap.add_argument("--no-resnet50", action="store_true", help="skip the rehydrated ResNet-50 timing")
    args = ap.parse_args(argv)
    ev, results, control, holdout, times, big = run(args)
    md = markdown(ev, results, control, holdout, times, args, big)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(md)
    os.replace(tmp, args.out)
    _log(f"wrote {args.out} ({times['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
