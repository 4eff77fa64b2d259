"""Threat-model class 12, the strong form: intersecting two buckets of one model.

The attacker holds bucket A and bucket B, both made from one model by one
owner: obfuscated again (another --seed, another run), or a fine-tuned
version of it (same architecture, other weights).  Real subgraphs recur
between the two (the same structure, the same weights byte for byte, or
nearly the same after fine-tuning); sentinels drawn fresh do not.  For every
file of A this module measures how strongly it recurs in B:

  structure   its structure hash (features.wl_hash, shapes included) is one
              of B's files';
  interface   its input/output dtypes and shapes are one of B's files';
  nodes       the fraction of its node labels (op, attributes, weight and
              output shapes) and their one-step neighbourhoods
              (features.wl_features, 1 round) found anywhere in B: a real
              file cut elsewhere in B still recurs node by node;
  weights     for each float tensor of >= 2 elements, the relative distance
              ||a - b|| / ||a|| to the nearest tensor of the same shape in B
              (0 when byte-identical; fine-tuning leaves about its relative
              step, an unrelated tensor about 1.4), summarized as the mean of
              -log10(distance) over the file's tensors (9 for identical); a
              file without any gets the bucket's median when its structure
              recurs (no evidence either way), else 0.

recurrence = 2 structure + interface + 2 nodes + weights.  Two scorings
(higher = more sentinel-like: a file that does not recur): -recurrence, and
the shortfall from the best file of the same interface group; score.evaluate
counts the candidates each leaves at the threshold that keeps every real
file of A, and the report gives the stronger.  With B's key too, the same is done from B's side.

  proteus audit BUCKET --key KEY --second BUCKET2 [--second-key KEY2] [--json]
  python -m proteus_py.audit.intersect A B --key-a VIEW.json [--key-b VIEW.json] [--json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np

from . import features as F
from . import score as S
from .linkage import _load_view

FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64, 16: None}  # bfloat16: read as raw bits
FP = 64              # elements sampled per tensor for the candidate search
SHORTLIST = 4        # nearest candidates by sample, then measured exactly
IDENTICAL = 9.0      # -log10 distance given to a byte-identical tensor


def _float_tensors(path):
    """[(shape, flat float64 array, sha of the bytes)] of a file's float
    tensors of >= 2 elements, initializers and Constant values (external
    data read when present)."""
    import onnx
    from onnx import numpy_helper
    try:
        m = onnx.load(path)
    except Exception:  # noqa: BLE001 - a bad file recurs nowhere
        return []
    out = []
    # initializers, and Constant values (some exporters keep every weight there)
    consts = [at.t for n in m.graph.node if n.op_type == "Constant" and n.domain in ("", "ai.onnx")
              for at in n.attribute if at.name == "value" and at.type == onnx.AttributeProto.TENSOR]
    for t in [*m.graph.initializer, *consts]:
        if t.data_type not in FLOAT_TYPES:
            continue
        try:
            a = numpy_helper.to_array(t)
        except Exception:  # noqa: BLE001
            continue
        if a.size < 2:
            continue
        raw = np.ascontiguousarray(a).tobytes()
        a = a.astype(np.float64).ravel()
        if not np.all(np.isfinite(a)) or not np.any(a):
            continue
        out.append((tuple(int(d) for d in t.dims), a, hashlib.sha256(raw).hexdigest()))
    return out


def _sample_idx(n):
    return np.unique(np.linspace(0, n - 1, num=min(FP, n)).astype(np.int64))


class Bucket:
    """What the attack reads of one bucket: per file its structure hash,
    interface and float tensors."""

    def __init__(self, bucket):
        self.bucket = bucket
        self.files = F.bucket_files(bucket)
        self.structure, self.interface, self.tensors, self.nodes = {}, {}, {}, {}
        for f in self.files:
            p = os.path.join(bucket, f)
            sg = F.read(p, stat=False)
            ok = not sg.parse_error
            self.structure[f] = F.wl_hash(sg, with_shapes=True) if ok else None
            self.interface[f] = repr(sg.interface) if ok else None
            self.nodes[f] = set(F.wl_features(sg, iters=1)) if ok else set()
            self.tensors[f] = _float_tensors(p) if ok else []
        self.all_nodes = set().union(*self.nodes.values()) if self.nodes else set()
        self.by_sha = {h for f in self.files for _, _, h in self.tensors[f]}
        self.by_shape = {}
        for f in self.files:
            for shape, a, _ in self.tensors[f]:
                self.by_shape.setdefault(shape, []).append(a)
        # sampled rows per shape, for the shortlist
        self.samples = {}
        for shape, arrs in self.by_shape.items():
            idx = _sample_idx(arrs[0].size)
            self.samples[shape] = (idx, np.stack([x[idx] for x in arrs]))

    def nearest(self, shape, a):
        """Relative distance from a to the nearest same-shape tensor here
        (None when there is none)."""
        if shape not in self.samples:
            return None
        idx, mat = self.samples[shape]
        fa = a[idx]
        na = np.linalg.norm(fa) or 1.0
        d = np.linalg.norm(mat - fa, axis=1) / na
        best = None
        norm = np.linalg.norm(a)
        for j in np.argsort(d)[:SHORTLIST]:
            r = float(np.linalg.norm(self.by_shape[shape][j] - a) / norm)
            best = r if best is None else min(best, r)
        return best


def recurrence(a, b):
    """{file of A: (recurrence, details)} against bucket B."""
    structs = {h for h in b.structure.values() if h}
    ifaces = {h for h in b.interface.values() if h}
    out = {}
    for f in a.files:
        st = 1.0 if a.structure[f] in structs else 0.0
        it = 1.0 if a.interface[f] in ifaces else 0.0
        nd = len(a.nodes[f] & b.all_nodes) / len(a.nodes[f]) if a.nodes[f] else 0.0
        logs, identical = [], 0
        for shape, arr, sha in a.tensors[f]:
            if sha in b.by_sha:
                logs.append(IDENTICAL)
                identical += 1
                continue
            d = b.nearest(shape, arr)
            logs.append(0.0 if d is None else min(IDENTICAL, -math.log10(max(d, 1e-12))))
        out[f] = [st, it, nd, float(np.mean(logs)) if logs else None, len(logs), identical]
    # a file without float tensors says nothing about weights: when its
    # structure recurs it gets the bucket's typical weight recurrence
    typical = np.median([r[3] for r in out.values() if r[3] is not None] or [0.0])
    for f, (st, it, nd, w, nt, ident) in out.items():
        w = (typical if st else 0.0) if w is None else w
        out[f] = (2 * st + it + 2 * nd + w, {"structure": st, "interface": it, "nodes": nd, "weights": w,
                                             "tensors": nt, "identical_tensors": ident})
    return out


def scorings(a, rec):
    """The two ways the attacker scores A's files (higher = sentinel-like):
    absolute: -recurrence; per_group: how far a file's recurrence falls
    short of the best file of its interface group (the files that share an
    interface are one group, which the bucket shows), so that groups where
    nothing carries weights are judged among themselves."""
    best = {}
    for f, (r, _) in rec.items():
        best[a.interface[f]] = max(best.get(a.interface[f], r), r)
    return {"absolute": {f: -r for f, (r, _) in rec.items()},
            "per_group": {f: best[a.interface[f]] - r for f, (r, _) in rec.items()}}


def _side(a, b, key):
    rec = recurrence(a, b)
    scores = scorings(a, rec)
    res = {"bucket": os.path.abspath(a.bucket), "other": os.path.abspath(b.bucket), "files": len(a.files)}
    if key:
        real = {g["real"] for g in key["groups"]}
        n, k = len(key["groups"]), int(key.get("k", 0))
        promise = S.log10_promise(n, k)
        res["scorings"] = {name: S.evaluate(sc, key)["log10_candidates"] for name, sc in scores.items()}
        worst = min(res["scorings"], key=res["scorings"].get)
        lc = res["scorings"][worst]
        res.update({"n": n, "k": k, "log10_promise": promise, "log10_candidates": lc, "strongest": worst,
                    "of_promise": lc / promise if promise > 0 else 1.0})
        for kind, sel in (("real", lambda f: f in real), ("sentinel", lambda f: f not in real)):
            det = [d for f, (_, d) in rec.items() if sel(f)]
            if det:
                res[kind] = {"files": len(det),
                             "same_structure": sum(d["structure"] for d in det) / len(det),
                             "nodes_found": float(np.mean([d["nodes"] for d in det])),
                             "mean_weight_recurrence": float(np.mean([d["weights"] for d in det])),
                             "identical_tensors": sum(d["identical_tensors"] for d in det),
                             "tensors": sum(d["tensors"] for d in det)}
    return res, scores


def intersect(bucket_a, bucket_b, key_a=None, key_b=None, log=None):
    """The attack on A (scored with A's key view) and, given B's key, on B.
    Returns a JSON-ready dict."""
    a, b = Bucket(bucket_a), Bucket(bucket_b)
    sides = []
    for x, y, k in ((a, b, key_a), (b, a, key_b)):
        if k is None and sides:
            continue
        r, _ = _side(x, y, k)
        sides.append(r)
        if log and "log10_candidates" in r:
            log(f"audit: intersection of {x.bucket} with {y.bucket}: log10 candidates "
                f"{r['log10_candidates']:.2f} of {r['log10_promise']:.2f}")
    return {"attack": "intersection", "class": 12, "sides": sides}


def table(rep):
    lines = ["two buckets of one model (threat class 12, intersection):"]
    for r in rep["sides"]:
        lines.append(f"{r['bucket']} against {r['other']}:")
        if "log10_candidates" not in r:
            lines.append("  (no key: not scored)")
            continue
        lines.append(f"  n = {r['n']}, k = {r['k']}: log10 candidates {r['log10_candidates']:.2f} of "
                     f"{r['log10_promise']:.2f} promised ({100 * r['of_promise']:.0f}%; "
                     + ", ".join(f"{s} {v:.2f}" for s, v in r["scorings"].items()) + ")")
        for kind in ("real", "sentinel"):
            if kind in r:
                d = r[kind]
                lines.append(f"  {kind:8s} files: {100 * d['same_structure']:5.1f}% same structure in the other, "
                             f"{100 * d['nodes_found']:5.1f}% of nodes found, "
                             f"weights recur at -log10 dist {d['mean_weight_recurrence']:.2f}, "
                             f"{d['identical_tensors']} of {d['tensors']} tensors identical")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m proteus_py.audit.intersect", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--key-a", help="key view of A (to score)")
    ap.add_argument("--key-b", help="key view of B (to score B's side too)")
    ap.add_argument("--json", action="store_true")
    x = ap.parse_args(sys.argv[1:] if argv is None else argv)
    for d in (x.a, x.b):
        if not os.path.isdir(d):
            print(f"proteus audit: {d}: not a bucket directory", file=sys.stderr)
            return 1
    rep = intersect(x.a, x.b, _load_view(x.key_a), _load_view(x.key_b))
    print(json.dumps(rep, indent=1) if x.json else table(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
