"""Does ONNX Runtime's optimizer treat sentinels like reals?  (issue 11)

  python -m proteus_py.audit.ort_agreement MODEL... [-k K] [--sentinels GEN]
         [--generator FILE] [--ops N] [--json]

Obfuscates each model (weightless, --seed 1, the audit's fixed key secret,
cached like the audit's buckets), opens the key, runs every file through
`ort:all` (ort_probe.py; missing weights filled) and reports, per model and
pooled, for the real and the sentinel files: the fraction the optimizer
changes (node count differs), the mean node ratio after/before, a two-
sample Kolmogorov-Smirnov test between the two sides' ratios, and (--ops)
the op types whose count per file the optimizer moves most differently
between the sides: where sentinels and reals part.

The must-show holds when the changed fractions agree within 10 points and
the KS test does not separate the ratios (p >= 0.05)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import optimizer as O
from . import zoo as Z

CHANGED_POINTS = 0.10
KS_ALPHA = 0.05


def bucket(model, k, sentinels="learned", generator=None):
    """(bucket dir, key view) of model obfuscated weightless with --seed 1."""
    name = os.path.basename(model)[:-5]
    tag = f"ortagree-k{k}-{Z.gen_tag(sentinels, generator)}"
    od = os.path.join(Z.cache_dir(), "buckets", tag, name)
    os.makedirs(os.path.dirname(od), exist_ok=True)
    extra = ("--generator", generator) if generator else ()
    return Z.obfuscate(model, od, k, 1, sentinels, extra=extra)


def measure(models, k=4, sentinels="learned", generator=None, log=None):
    """{"models": {name: agreement}, "pooled": agreement, "ops": {op: [real
    before, real after, sentinel before, sentinel after] per file}}."""
    ratios = {0: [], 1: []}
    errors = {0: 0, 1: 0}
    ops = {0: {}, 1: {}}
    files = {0: 0, 1: 0}
    per = {}
    for m in models:
        bdir, view = bucket(m, k, sentinels, generator)
        real = set(view["real"])
        paths = [os.path.join(bdir, f) for f in view["files"]]
        res = O.probe_paths(paths, log)
        side = {0: [], 1: []}
        err = {0: 0, 1: 0}
        for p in paths:
            lab = 0 if os.path.basename(p) in real else 1
            r = res.get(p, {})
            if r.get("error") or not r.get("nodes_before"):
                err[lab] += 1
                continue
            side[lab].append(r["nodes_after"] / r["nodes_before"])
            files[lab] += 1
            for when, key in ((0, "ops_before"), (1, "ops_after")):
                for op, n in r.get(key, {}).items():
                    ops[lab].setdefault(op, [0, 0])[when] += n
        per[os.path.basename(m)[:-5]] = O.summarize(side[0], side[1], err[0], err[1])
        for lab in (0, 1):
            ratios[lab] += side[lab]
            errors[lab] += err[lab]
    table = {}
    for op in sorted(set(ops[0]) | set(ops[1])):
        r, s = ops[0].get(op, [0, 0]), ops[1].get(op, [0, 0])
        table[op] = [r[0] / max(files[0], 1), r[1] / max(files[0], 1), s[0] / max(files[1], 1), s[1] / max(files[1], 1)]
    return {"models": per, "pooled": O.summarize(ratios[0], ratios[1], errors[0], errors[1]), "ops": table}


def holds(a):
    """Whether one agreement meets issue 11's must-show."""
    return (a is not None and not a["real_errors"] and not a["sentinel_errors"]
            and abs(a["real_changed"] - a["sentinel_changed"]) <= CHANGED_POINTS and a["ks_p"] >= KS_ALPHA)


def _line(name, a):
    if a is None:
        return f"{name:28s} no files"
    return (f"{name:28s} {a['real_files']:4d} {a['sentinel_files']:5d} {100 * a['real_changed']:6.1f}% "
            f"{100 * a['sentinel_changed']:6.1f}% {a['real_ratio']:7.3f} {a['sentinel_ratio']:7.3f} "
            f"{a['ks_d']:6.3f} {a['ks_p']:8.2g} {a['real_errors']}/{a['sentinel_errors']}"
            f"{'' if holds(a) else '  FAILS'}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m proteus_py.audit.ort_agreement", description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("-k", type=int, default=4)
    ap.add_argument("--sentinels", default="learned")
    ap.add_argument("--generator")
    ap.add_argument("--ops", type=int, default=0, help="list the N op types that part the sides most")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not O.available():
        print(f"ort_agreement: no ONNX Runtime Python ({O.ORT_PYTHON})", file=sys.stderr)
        return 2
    out = measure(args.models, args.k, args.sentinels, args.generator, Z.log_stderr)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{'model':28s} {'reals':>4s} {'sent.':>5s} {'changed':>7s} {'':>7s} {'ratio':>7s} {'':>7s} "
          f"{'KS D':>6s} {'KS p':>8s} refused   (real, sentinel)")
    for name, a in out["models"].items():
        print(_line(name, a))
    print(_line("pooled", out["pooled"]))
    if args.ops:
        rows = sorted(out["ops"].items(), key=lambda t: -abs((t[1][1] - t[1][0]) - (t[1][3] - t[1][2])))
        print("\nper file, before -> after `ort:all`:  reals | sentinels")
        for op, (rb, ra, sb, sa) in rows[:args.ops]:
            print(f"  {op:26s} {rb:6.2f} -> {ra:6.2f} | {sb:6.2f} -> {sa:6.2f}")
    return 0 if holds(out["pooled"]) else 1


if __name__ == "__main__":
    sys.exit(main())
