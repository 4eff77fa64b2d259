"""`proteus audit` (the C command passes the owner's key view on stdin):

  python -m proteus_py.audit BUCKET --key-json - [--json] [--out DIR]
         [--classifier FILE] [--sentinels GEN] [--zoo-exclude NAME ...]
  python -m proteus_py.audit --train [--classifier FILE]
  python -m proteus_py.audit BUCKET --key-json - --link OTHER [--link OTHER2 ...] [--json]

With --link, only the several-buckets attack runs (linkage.py, threat class
12); the key view on stdin is then either the audited key's view or
{"key": VIEW, "link_keys": [VIEW or null, ...]} (one per --link, in order).

The attacks read the bucket files only (plus the attacker's zoo and the
classifier); the key view is read afterwards, to score them."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from . import attacks as A
from . import features as F
from . import score as S
from . import zoo as Z


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="proteus audit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bucket", nargs="?")
    ap.add_argument("--key-json", help="the owner's key view as JSON (a file, or - for stdin)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--out", help="write PNG plots here")
    ap.add_argument("--classifier", help="trained classifier file (default: the shipped one)")
    ap.add_argument("--sentinels", metavar="GEN",
                    help="the generator the bucket's sentinels came from (learned or random): the attacker builds "
                         "his zoo with it (default: obfuscate's default, learned)")
    ap.add_argument("--zoo-exclude", action="append", nargs="+", default=[], metavar="NAME",
                    help="leave model family NAME out of the public zoo")
    ap.add_argument("--train", action="store_true", help="retrain the classifier on the corpus and save it")
    ap.add_argument("--link", action="append", default=[], metavar="OTHER",
                    help="line BUCKET up with OTHER buckets of the same owner (threat class 12) instead")
    ap.add_argument("--second", metavar="BUCKET2",
                    help="intersect BUCKET with a second bucket of the same model instead (intersect.py); "
                         "its key view, if any, comes as the first link key")
    ap.add_argument("--only", action="append", default=[], help=argparse.SUPPRESS)
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    a = ap.parse_args(argv)
    a.zoo_exclude = [x for grp in a.zoo_exclude for x in grp]
    if a.train:
        if a.bucket or a.key_json or a.link:
            ap.error("--train takes no BUCKET, --key-json or --link")
    elif not a.bucket or not a.key_json:
        ap.error("need BUCKET and --key-json")
    return a


def load_keys(arg):
    """(the audited key's view, [each --link bucket's view or None])."""
    if arg == "-":
        text = sys.stdin.read()
    else:
        with open(arg) as f:
            text = f.read()
    try:
        obj = json.loads(text)
        links = []
        if isinstance(obj, dict) and "key" in obj and "link_keys" in obj:
            links = [Z.key_view(v) if v else None for v in obj["link_keys"]]
            obj = obj["key"]
        return Z.key_view(obj), links
    except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as e:
        raise SystemExit(f"proteus audit: key view: not valid JSON ({e})")


def load_key(arg):
    return load_keys(arg)[0]


def audit(bucket, key, classifier=None, zoo_exclude=(), out=None, log=None, only=None, sentinels=None):
    """Runs every attack on the bucket and scores it with the key view.
    The attacker knows the algorithm: his zoo's sentinels come from the
    generator the owner used (sentinels; None: obfuscate's default, which
    the key does not record).  Returns the report (a dict, the --json
    object)."""
    t0 = time.time()
    graphs = F.read_bucket(bucket)
    bad = [g.file for g in graphs if g.parse_error]
    if log:
        log(f"audit: read {len(graphs)} files in {time.time() - t0:.1f} s" + (f" ({len(bad)} unreadable)" if bad else ""))
    files = {g.file for g in graphs}
    missing = [f for f in key.get("files", []) if f not in files]
    missing += [f for grp in key["groups"] for f in [grp["real"], *grp["sentinels"]] if f not in files]
    if missing:
        raise SystemExit(f"proteus audit: {bucket}: the key names {len(set(missing))} file(s) the bucket lacks, "
                         f"e.g. {sorted(set(missing))[0]}")
    from . import gnn, train
    clf_path = classifier or train.SHIPPED
    if not os.path.exists(clf_path):
        raise SystemExit(f"proteus audit: {clf_path}: no classifier (train one with --train)")
    classifiers = gnn.load_classifiers(clf_path)
    gen = sentinels or Z.default_sentinels()
    zoo = Z.load_zoo(exclude=zoo_exclude, log=log, sentinels=gen)
    ctx = A.Context(zoo, classifiers, log=log,
                    weights_zoo=lambda: Z.load_weights_zoo(exclude=zoo_exclude, log=log, sentinels=gen))
    n, k = len(key["groups"]), int(key.get("k", 0))
    report = {"bucket": os.path.abspath(bucket), "n": n, "k": k, "files": len(graphs),
              "log10_promise": S.log10_promise(n, k), "zoo_excluded": sorted(zoo.excluded),
              "zoo_families": zoo.families(), "zoo_sentinels": gen, "classifier": os.path.abspath(clf_path),
              "attacks": []}
    all_scores = {}
    for name, cls, fn in A.ATTACKS:
        if only and name not in only:
            continue
        if name.startswith("gnn") and name not in classifiers:
            continue
        t = time.time()
        sc = fn(graphs, ctx)
        all_scores[name] = sc
        r = S.evaluate(sc, key)
        report["attacks"].append({
            "name": name, "class": cls, "log10_candidates": r["log10_candidates"],
            "specificity": r["specificity"], "threshold": r["threshold"],
            "specificities": r["specificities"], "seconds": round(time.time() - t, 2)})
        if log:
            log(f"audit: {name}: log10 candidates {r['log10_candidates']:.2f} ({time.time() - t:.1f} s)")
    if not only or "oracle" in only:
        from . import oracle   # uses the key: an upper bound, not an attack
        report["oracle"] = oracle.oracle_auc(graphs, key)
    if out:
        from . import plots
        report["plots"] = plots.plot_bucket(graphs, key, out, all_scores)
    report["seconds"] = round(time.time() - t0, 2)
    return report


def _fmt_thr(t):
    if t is None:
        return "-"
    return f"{t:.4g}"


def table(report):
    lines = [f"bucket: {report['bucket']}",
             f"n = {report['n']} real subgraphs, k = {report['k']} sentinels each; "
             f"the bucket promises (k+1)^n = 10^{report['log10_promise']:.2f} candidate models",
             f"zoo: {len(report['zoo_families'])} corpus families, {report.get('zoo_sentinels', Z.SENTINELS)} sentinels"
             + (f" (left out: {', '.join(report['zoo_excluded'])})" if report['zoo_excluded'] else ""), "",
             f"{'attack':12s} {'class':>5s} {'log10 cand.':>11s} {'of promise':>10s} {'mean spec.':>10s} {'threshold':>10s}"]
    for a in report["attacks"]:
        frac = (a["log10_candidates"] / report["log10_promise"]) if report["log10_promise"] > 0 else 1.0
        lines.append(f"{a['name']:12s} {a['class']:5d} {a['log10_candidates']:11.2f} {100 * frac:9.0f}% "
                     f"{a['specificity']:10.3f} {_fmt_thr(a['threshold']):>10s}")
    if report["attacks"]:
        worst = min(report["attacks"], key=lambda a: a["log10_candidates"])
        lines += ["", f"strongest attack: {worst['name']}, leaving 10^{worst['log10_candidates']:.2f} of "
                      f"10^{report['log10_promise']:.2f} candidates"]
    if report.get("oracle"):
        lines.append(f"oracle two-sample test (uses the key; an upper bound): cross-validated ROC-AUC "
                     f"{report['oracle']['auc']:.3f} (0.5 = real and sentinels indistinguishable)")
    return "\n".join(lines)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    log = None if a.quiet else _log
    if a.train:
        from . import train
        t = time.time()
        p = train.train_shipped(a.classifier, log=log)
        print(f"trained classifier saved to {p} ({time.time() - t:.0f} s)")
        return 0
    if not os.path.isdir(a.bucket):
        print(f"proteus audit: {a.bucket}: not a bucket directory", file=sys.stderr)
        return 1
    key, link_keys = load_keys(a.key_json)
    if a.second:
        from . import intersect
        if a.link or not os.path.isdir(a.second):
            print("proteus audit: --second needs a bucket directory and no --link", file=sys.stderr)
            return 2
        rep = intersect.intersect(a.bucket, a.second, key, link_keys[0] if link_keys else None, log=log)
        print(json.dumps(rep, indent=1) if a.json else intersect.table(rep))
        return 0
    if a.link:
        from . import linkage
        for d in a.link:
            if not os.path.isdir(d):
                print(f"proteus audit: {d}: not a bucket directory", file=sys.stderr)
                return 1
        if len(link_keys) > len(a.link):
            print("proteus audit: more link keys than --link buckets", file=sys.stderr)
            return 2
        rep = linkage.link_all(a.bucket, a.link, key, link_keys, log=log)
        print(json.dumps(rep, indent=1) if a.json else linkage.table(rep))
        return 0
    rep = audit(a.bucket, key, classifier=a.classifier, zoo_exclude=a.zoo_exclude, out=a.out, log=log,
                only=a.only or None, sentinels=a.sentinels)
    if a.json:
        def clean(o):
            if isinstance(o, float) and (math.isinf(o) or math.isnan(o)):
                return None
            if isinstance(o, dict):
                return {k: clean(v) for k, v in o.items()}
            if isinstance(o, list):
                return [clean(v) for v in o]
            return o
        print(json.dumps(clean(rep), indent=1))
    else:
        print(table(rep))
    return 0
