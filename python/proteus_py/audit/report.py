"""Regenerates docs/confidentiality.md (scripts/confidentiality):

  1. the attacker's zoo: every corpus model obfuscated with TRAIN_K
     sentinels at his seed (cached), per sentinel generator (the audited
     one, learned by default, and the random baseline); a learned
     generator is itself trained without the audited families;
  2. the owner's buckets: every corpus model (op13, op17, dyn) at k=20
     with another seed and another key secret (cached), plus real-world
     models;
  3. leave-one-family-out: for each family, both classifiers are trained on
     the zoo without it and every attack runs with the zoo without it, on
     that family's buckets; the oracle two-sample test on each bucket;
  4. the control: real subgraphs of a model against real subgraphs of other
     models with the same interface, scored by the same fold's classifier;
  5. the held-out models with the shipped classifier and the whole zoo;
  6. the markdown."""
from __future__ import annotations

import argparse
import math
import os
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
SKIP = set()   # attacks left out of this run (--skip-attacks)
EPOCHS = [T.EPOCHS]   # fold classifiers' training epochs (--epochs)


def _log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def fmt_cand(log10c):
    if log10c < 3:
        return f"{10 ** log10c:.2f}"
    m = 10 ** (log10c - math.floor(log10c))
    return f"{m:.2f}e{int(math.floor(log10c))}"


def audit_bucket(b, ctx, log, optimizer_max=None):
    """Every attack on one owner's bucket, the learned classifiers' ROC-AUC
    on it and the oracle two-sample test (both use its key).  The optimizer
    attack (ONNX Runtime on every file) is skipped on buckets of more than
    optimizer_max files."""
    from . import oracle
    res = {}
    for name, cls, fn in A.ATTACKS:
        if name.startswith("gnn") and name not in ctx.classifiers:
            continue
        if name in SKIP:
            continue
        if name == "optimizer" and optimizer_max is not None and len(b.graphs) > optimizer_max:
            continue
        sc = fn(b.graphs, ctx)
        res[name] = S.evaluate(sc, b.key)
        if name.startswith("gnn"):
            res[name]["auc"] = S.roc_auc([sc[g.file] for g in b.sentinels()], [sc[g.file] for g in b.reals()])
    extra = {"oracle": oracle.oracle_auc(b.graphs, b.key)}
    log(f"{b.name}: " + " ".join(f"{n}={r['log10_candidates']:.1f}" for n, r in res.items())
        + (f" oracle AUC {extra['oracle']['auc']:.3f}" if extra["oracle"] else ""))
    return res, extra


def run_generator(gen, models, rw, args, log, times):
    """One sentinel generator on the corpus models (leave-one-family-out for
    the zoo and the classifiers, and, for a learned generator, for the
    generator too: it is trained without the audited families, in
    args.gen_folds chunks) and on the real-world models (zoo and classifier
    of every corpus family).  Returns a dict of results."""
    fams = sorted({Z.family(m) for m in models})
    nchunks = 1 if gen == "random" or args.only else max(1, args.gen_folds)
    chunks = [c for c in (fams[i::nchunks] for i in range(nchunks)) if c]
    out = {"gen": gen, "ev": [], "results": {}, "extra": {}, "fold_clfs": {}, "generators": [], "zoo": None,
           "realworld": []}
    rw_fams = [Z.family(r) for r in rw]
    cache = {}
    label = f"{gen}: "
    for ci, chunk in enumerate(chunks):
        t = time.time()
        gen_out = chunk + list(args.gen_also_without)
        genp = None if gen == "random" else Z.generator_without(gen_out + rw_fams, log=log)
        if genp:
            out["generators"].append((chunk, genp))
        # the learned zoo holds the families this generator saw (its model files are shared across chunks)
        zoo_all = Z.load_zoo(log=log, sentinels=gen, generator=genp,
                             without=gen_out + list(args.zoo_skip) if genp else ())
        if out["zoo"] is None:
            out["zoo"] = zoo_all
        tag = Z.gen_tag(gen, genp)
        ev = Z.build_buckets([m for m in models if Z.family(m) in chunk], EVAL_K, EVAL_SEED,
                             f"eval-k{EVAL_K}-s{EVAL_SEED}{tag}", jobs=2, log=log, secret=Z.secret_file("owner"),
                             sentinels=gen, generator=genp)
        out["ev"] += ev
        times[label + "zoo, generator and owner's buckets"] = times.get(label + "zoo, generator and owner's buckets", 0) + time.time() - t
        folds = [(fam, [b for b in ev if b.family == fam]) for fam in chunk]
        if ci == 0 and rw:
            t = time.time()
            rwb = Z.build_buckets(rw, EVAL_K, EVAL_SEED, f"realworld-k{EVAL_K}-s{EVAL_SEED}{tag}", jobs=1, log=log,
                                  secret=Z.secret_file("owner"), sentinels=gen, generator=genp)
            out["realworld"] = [b.name for b in rwb]
            folds.append((None, rwb))
            times[label + "zoo, generator and owner's buckets"] += time.time() - t
        for fam, buckets in folds:
            zoo = zoo_all.without([fam] if fam else [])
            t = time.time()
            clfs = fold_classifiers(zoo, fam or "_all", log, tag)
            times[label + "training (leave-one-family-out)"] = times.get(label + "training (leave-one-family-out)", 0) + time.time() - t
            if fam:
                out["fold_clfs"][fam] = clfs
            ctx = A.Context(zoo, clfs, log=log, cache=cache,
                            weights_zoo=lambda fam=fam: Z.load_weights_zoo(exclude=[fam] if fam else [], log=log,
                                                                           sentinels=gen, generator=genp))
            t = time.time()
            for b in buckets:
                out["results"][b.name], out["extra"][b.name] = audit_bucket(b, ctx, log, args.optimizer_max_files)
            times[label + "attacks"] = times.get(label + "attacks", 0) + time.time() - t
    from . import optimizer
    out["ort_agreement"] = optimizer.agreement([b for b in out["ev"] if len(b.graphs) <= args.optimizer_max_files], log)
    return out


def run(args):
    log = _log
    times = {}
    cold = not os.path.isdir(os.path.join(Z.CACHE, Z.stamp(), "parsed"))
    t0 = time.time()
    models = Z.corpus_models()
    if args.only:
        models = [m for m in models if Z.family(m) in args.only]
    if args.op17_only:
        models = [m for m in models if m.endswith("-op17.onnx") and "-dyn" not in m]
    rw = [os.path.join(Z.ROOT, "build", "realworld", r + ".onnx") for r in args.realworld]
    missing = [r for r in rw if not os.path.exists(r)]
    if missing:
        log(f"real-world models missing (corpus/realworld/fetch.py brings them): {', '.join(missing)}")
    rw = [r for r in rw if os.path.exists(r)]
    runs = {args.sentinels: run_generator(args.sentinels, models, rw, args, log, times)}
    if args.sentinels != "random" and not args.no_baseline:
        if args.baseline_optimizer_max_files is not None:
            args.optimizer_max_files = args.baseline_optimizer_max_files
        if args.baseline_epochs:
            EPOCHS[0] = args.baseline_epochs
        runs["random"] = run_generator("random", models, rw, args, log, times)
    main = runs[args.sentinels]

    # the control: real vs real of other models with the same interface
    t = time.time()
    control = control_auc(main["ev"], main["zoo"], main["fold_clfs"], log)
    times["control"] = time.time() - t

    if args.train_shipped:
        t = time.time()
        train_shipped(args.sentinels, log)
        times["shipped classifier retrained"] = time.time() - t
    holdout = {}
    if not args.no_holdout:
        t = time.time()
        holdout = run_holdout(log, args)
        times["held-out models (shipped classifier)"] = time.time() - t
    big = None
    if not args.no_resnet50:
        t = time.time()
        big = resnet50_timing(log, args.sentinels)
        times["ResNet-50 rehydrated, k=20: build + audit"] = time.time() - t
    times["total"] = time.time() - t0
    times["_cold"] = cold
    return runs, control, holdout, times, big


def train_shipped(gen, log):
    """The shipped classifier, trained on every corpus family against both
    the random baseline's sentinels and those of `gen` with its shipped
    model (data/generator/default.pxg)."""
    from . import gnn
    zoo = Z.load_zoo(log=log)
    if gen != "random":
        other = Z.load_zoo(log=log, sentinels=gen)
        zoo = Z.Zoo(zoo.buckets + other.buckets)
    clfs = T.train_all(zoo, log=log)
    gnn.save_classifiers(T.SHIPPED, clfs)


def resnet50_timing(log, gen):
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
                        "-k", str(EVAL_K), "--sentinels", gen, "--seed", str(EVAL_SEED), "--no-probe", "--allow-weak",
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


def fold_classifiers(zoo, fam, log, tag=""):
    """Both classifiers trained without family fam, on a zoo of the
    generator tagged tag; cached on disk, keyed by the zoo (binary stamp,
    generator) and the training code."""
    from . import gnn
    d = os.path.join(Z.cache_dir(), "folds", _source_hash())
    os.makedirs(d, exist_ok=True)
    # keyed by the families trained on: folds whose zoos are equal (a learned zoo
    # already lacks its chunk's families) share one training
    import hashlib
    fams = hashlib.sha256(",".join(zoo.families()).encode()).hexdigest()[:10]
    p = os.path.join(d, f"{fam}{tag}" if fam == "_all" else f"z{fams}{tag}")
    p += (f"-e{EPOCHS[0]}" if EPOCHS[0] != T.EPOCHS else "") + ".pt"
    if os.path.exists(p):
        log(f"fold {fam}: cached classifiers")
        return gnn.load_classifiers(p)
    clfs = T.train_all(zoo, epochs=EPOCHS[0], log=log)
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


def run_holdout(log, args):
    """corpus/holdout with the shipped classifier, the whole zoo and the
    shipped generator (what `proteus audit` reports for a new model)."""
    from . import gnn
    gen = args.sentinels
    clfs = gnn.load_classifiers(T.SHIPPED)
    zoo = Z.load_zoo(log=log, sentinels=gen)
    ctx = A.Context(zoo, clfs, log=log, weights_zoo=lambda: Z.load_weights_zoo(log=log, sentinels=gen))
    models = [m for m in Z.holdout_models() if os.path.basename(m)[:-5] not in args.skip_holdout]
    hb = Z.build_buckets(models, EVAL_K, EVAL_SEED, f"holdout-k{EVAL_K}-s{EVAL_SEED}{Z.gen_tag(gen)}", log=log,
                         secret=Z.secret_file("owner"), sentinels=gen)
    return {b.name: audit_bucket(b, ctx, log, args.optimizer_max_files) for b in hb}


def main(argv=None):
    from . import report_md
    ap = argparse.ArgumentParser(prog="scripts/confidentiality")
    ap.add_argument("--out", default=os.path.join(Z.ROOT, "docs", "confidentiality.md"))
    ap.add_argument("--sentinels", help="the generator audited (default: what `proteus obfuscate` uses); "
                                        "the random generator always runs too, as the baseline")
    ap.add_argument("--no-baseline", action="store_true", help="skip the random baseline")
    ap.add_argument("--only", nargs="+", help="families to evaluate (default: all)")
    ap.add_argument("--op17-only", action="store_true", help="only the -op17 file of each family")
    ap.add_argument("--realworld", nargs="*", default=list(Z.GENERATOR_HOLDOUT[:2]),
                    help="real-world models (build/realworld/NAME.onnx) audited with the whole zoo "
                         "(default: the two held out of the shipped generator)")
    ap.add_argument("--gen-folds", type=int, default=3,
                    help="without --only, the audited families are split in this many chunks; each chunk's "
                         "learned generator and zoo are made without it")
    ap.add_argument("--gen-also-without", nargs="*", default=[], metavar="FAMILY",
                    help="families the learned generator (and its zoo) also leave out, beyond the audited ones")
    ap.add_argument("--zoo-skip", nargs="*", default=[], metavar="FAMILY",
                    help="families left out of the learned generator's zoo (not of the generator), for time")
    ap.add_argument("--train-shipped", action="store_true",
                    help="retrain the shipped classifier (every family; random and learned sentinels)")
    ap.add_argument("--optimizer-max-files", type=int, default=400,
                    help="run the optimizer attack (ONNX Runtime on every file) on buckets up to this many files")
    ap.add_argument("--baseline-optimizer-max-files", type=int, help="the same for the random baseline")
    ap.add_argument("--skip-attacks", nargs="*", default=[], metavar="NAME", help="attacks left out of this run")
    ap.add_argument("--baseline-epochs", type=int, help="training epochs of the random baseline's fold classifiers "
                                                         f"(default {T.EPOCHS}, as for the audited generator)")
    ap.add_argument("--no-holdout", action="store_true")
    ap.add_argument("--skip-holdout", nargs="*", default=["swin_t-op17"],
                    help="held-out models to skip (default: swin_t-op17, 294 subgraphs)")
    ap.add_argument("--extra-notes", help="markdown appended at the end")
    ap.add_argument("--no-resnet50", action="store_true", help="skip the rehydrated ResNet-50 timing")
    args = ap.parse_args(argv)
    if not args.sentinels:
        args.sentinels = Z.default_sentinels()
    SKIP.update(args.skip_attacks)
    runs, control, holdout, times, big = run(args)
    md = report_md.markdown(runs, control, holdout, times, args, big)
    if os.path.exists(args.out):
        with open(args.out) as f:
            md = report_md.keep_hand_written(md, f.read())
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(md)
    os.replace(tmp, args.out)
    _log(f"wrote {args.out} ({times['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
