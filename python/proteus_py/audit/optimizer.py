"""Optimizer-side signals (threat-model class 9): what ONNX Runtime's
`ort:all` does to each file.  A real subgraph was exported from a model
ORT was tuned for: its Conv+BatchNorm+Relu, MatMul+Add, LayerNorm and
attention patterns fuse, so nodes disappear and fused ops appear; a
sentinel's ops may not line up into those patterns.  Features per file:
node-count change, the fused op types that appear, the domains, session-
creation and run time per node, ORT's refusal; naive Bayes learned from the
zoo (real vs the attacker's sentinels).

The probe runs under a Python with onnxruntime (ort_probe.py, the
project's .venv; PROTEUS_ORT_PYTHON overrides), results cached by file
content.  Without such a Python the attack scores every file 0 (it says
so once on the log)."""
from __future__ import annotations

import json
import math
import os
import subprocess

from . import zoo as Z

ORT_PYTHON = os.environ.get("PROTEUS_ORT_PYTHON", os.path.join(Z.ROOT, ".venv", "bin", "python"))
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_probe.py")
ZOO_GROUPS = 4       # zoo groups probed per zoo bucket (real + ZOO_SENTINELS each): the probe costs ~20 ms a file
ZOO_SENTINELS = 1
_MEM = {}
_WARNED = []


def available():
    return os.path.exists(ORT_PYTHON)


def _digest(path):
    from .linkage import _sha256
    return _sha256(path)


def _cache_file():
    return os.path.join(Z.cache_dir(), "ort-probe.jsonl")


def _load_cache():
    if _MEM.get("_loaded"):
        return
    p = _cache_file()
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                try:
                    d, r = json.loads(line)
                    _MEM[d] = r
                except (ValueError, TypeError):
                    continue   # a line cut short by an interrupted run
    _MEM["_loaded"] = True


def probe_paths(paths, log=None):
    """{path: probe result}; runs the probe for files not cached."""
    _load_cache()
    digests = {p: _digest(p) for p in paths if os.path.exists(p)}
    # results cached before the probe wrote op histograms are probed again
    todo = sorted({p for p, d in digests.items() if d not in _MEM or ("nodes_after" in _MEM[d] and "ops_after" not in _MEM[d])})
    if todo and log:
        log(f"audit: optimizer: ONNX Runtime on {len(todo)} files")
    stuck = 0
    while todo:
        r = subprocess.run([ORT_PYTHON, PROBE], input=json.dumps(todo), capture_output=True, text=True)
        done = []
        with open(_cache_file(), "a") as f:
            for line in r.stdout.splitlines():
                try:
                    res = json.loads(line)
                except ValueError:
                    break
                done.append(res)
                _MEM[digests[res["path"]]] = res
                f.write(json.dumps([digests[res["path"]], res]) + "\n")
        if r.returncode == 0:
            break
        stuck = 0 if done else stuck + 1
        if len(done) >= len(todo) or stuck >= 3:   # not one file's fault
            raise RuntimeError(f"ort_probe: {r.stderr.strip()[-400:]}")
        # the probe died on the next file (ONNX Runtime itself crashed on it): that is its result
        bad = todo[len(done)]
        _MEM[digests[bad]] = {"path": bad, "error": f"crash: exit {r.returncode}"}
        todo = todo[len(done) + 1:]
    return {p: _MEM.get(d, {"error": "missing"}) for p, d in digests.items()}


def _path(g):
    return g.meta.get("path")


def features(results, vocab):
    out = []
    for r in results:
        f = {"error": (r.get("error") or "").split(":")[0] or "none"}
        nb, na = r.get("nodes_before"), r.get("nodes_after")
        if nb and na is not None:
            f["node_ratio"] = na / nb
            f["node_drop"] = nb - na
            fused = r.get("fused", [])
            f["fused_set"] = "|".join(fused)
            f["domains"] = "|".join(r.get("domains", []))
            for op in vocab:
                f[f"fused:{op}"] = 1.0 if op in fused else 0.0
            if r.get("create_s"):
                f["create_per_node_log"] = math.log10(r["create_s"] / nb)
            if r.get("run_s"):
                f["run_per_node_log"] = math.log10(1e-7 + r["run_s"] / nb)
            f["run_error"] = 1.0 if r.get("run_error") else 0.0
        out.append(f)
    return out


def _zoo_sample(zoo):
    """(real graphs, sentinel graphs) of the zoo to probe: the first
    ZOO_GROUPS groups of each bucket, real + ZOO_SENTINELS sentinels."""
    real, sent = [], []
    for b in zoo.buckets:
        byf = {g.file: g for g in b.graphs}
        for grp in b.key["groups"][:ZOO_GROUPS]:
            if grp["real"] in byf:
                real.append(byf[grp["real"]])
            sent += [byf[s] for s in grp["sentinels"][:ZOO_SENTINELS] if s in byf]
    return real, sent


def attack_optimizer(graphs, ctx):
    from .attacks import NaiveBayes
    if not available() or any(_path(g) is None for g in graphs):
        if not _WARNED and ctx.log:
            ctx.log(f"audit: optimizer: no ONNX Runtime Python ({ORT_PYTHON}) or no file paths; scores 0")
            _WARNED.append(1)
        return {g.file: 0.0 for g in graphs}
    zr, zs = _zoo_sample(ctx.zoo)
    zr = [g for g in zr if _path(g) and os.path.exists(_path(g))]
    zs = [g for g in zs if _path(g) and os.path.exists(_path(g))]
    res = probe_paths([_path(g) for g in zr + zs + list(graphs)], ctx.log)
    vocab = sorted({op for g in zr + zs for op in res.get(_path(g), {}).get("fused", [])})
    fr = features([res.get(_path(g), {}) for g in zr], vocab)
    fs = features([res.get(_path(g), {}) for g in zs], vocab)
    nb = NaiveBayes().fit(fr, fs)
    fb = features([res.get(_path(g), {"error": "missing"}) for g in graphs], vocab)
    return {g.file: nb.score(f) for g, f in zip(graphs, fb)}


def ks_2samp(a, b):
    """(two-sample Kolmogorov-Smirnov statistic D, asymptotic p-value)."""
    import numpy as np
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if not len(a) or not len(b):
        return None, None
    allv = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, allv, side="right") / len(a)
                            - np.searchsorted(b, allv, side="right") / len(b))))
    ne = len(a) * len(b) / (len(a) + len(b))
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    p = 2.0 * sum((-1) ** (j - 1) * math.exp(-2.0 * j * j * lam * lam) for j in range(1, 101))
    return d, min(1.0, max(0.0, p))


def agreement(buckets, log=None):
    """Issue 11: the optimizer must treat sentinels like reals.  Over the
    files of the given (labelled) buckets: the fraction that `ort:all`
    changes (node count differs), the mean node ratio after/before, and a
    KS test between the reals' and the sentinels' node ratios."""
    if not available():
        return None
    side = {0: [], 1: []}
    errors = {0: 0, 1: 0}
    for b in buckets:
        paths = {g.file: g.meta.get("path") for g in b.graphs}
        res = probe_paths([p for p in paths.values() if p], log)
        for f, lab in b.label.items():
            r = res.get(paths.get(f))
            if not r or r.get("error") or not r.get("nodes_before"):
                errors[lab] += 1
                continue
            side[lab].append(r["nodes_after"] / r["nodes_before"])
    return summarize(side[0], side[1], errors[0], errors[1])


def summarize(real, sent, real_errors=0, sentinel_errors=0):
    """The agreement figures from the node ratios (after/before) of the real
    and the sentinel files; None when a side has none."""
    if not real or not sent:
        return None
    d, p = ks_2samp(real, sent)
    return {"real_files": len(real), "sentinel_files": len(sent),
            "real_changed": sum(1 for x in real if x != 1.0) / len(real),
            "sentinel_changed": sum(1 for x in sent if x != 1.0) / len(sent),
            "real_ratio": sum(real) / len(real), "sentinel_ratio": sum(sent) / len(sent),
            "real_errors": real_errors, "sentinel_errors": sentinel_errors, "ks_d": d, "ks_p": p}
