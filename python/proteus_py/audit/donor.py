"""Donor matching (threat-model class 5, weights): within one bucket, no
training.  proteus draws every sentinel tensor from a real tensor of the same
model and role (its donor, src/bucket/track.c), so that sentinel weights move
with the real ones across versions.  Whatever a sentinel tensor keeps of its
donor links the two; this attack looks for the direction of the link.

Each float tensor of a file (by role, as weight_realism roles them) is
described by the shape of its value distribution: 31 quantiles of its
standardized values (of log |x| for tensors that are all positive) and its
kurtosis.  Among the tensors of one role across the bucket:

  * density: a tensor drawn by a common recipe sits in a crowd (its nearest
    neighbours are close), trained tensors of different layers are spread
    out.  Score: minus the log of the mean distance to its K nearest
    neighbours in other files.
  * centre: children of one donor surround it, so the donor is nearer to
    its neighbours than they are to theirs.  Score: log of its mean
    neighbour distance over its neighbours' own.
  * rows: the same link row by row.  Every row of a matrix gets a
    fingerprint that survives a permutation or crop of its columns (its
    scale against the matrix's, the quantiles of its standardized values,
    and for kernels the share of its energy at each tap); a matrix whose
    rows find near-identical rows in a larger matrix of another file (among
    the 3 nearest by row-scale profile) is a child.  Score: minus the
    median distance of its rows to their nearest rows there.
  * kernels: a kernel tensor copied (permuted, cropped, noised) from
    another keeps its kernels: each of its kernels' nearest kernel (cosine)
    in the donor lies, for most kernels of one output channel, in one
    output channel of the donor.  Score: the share of an output channel's
    kernels that vote for its most voted channel, best over the 8 kernel
    tensors at least as large (nearest in channel count) in other files;
    a file scores its best tensor.
  * parent: a weight matrix drawn row by row from a donor keeps the donor's
    profile of row scales (a subsample of it), and a donor is at least as
    large as what it gives to.  Each matrix is described by the quantile
    function of its log row norms (centred: the scale is free); a matrix
    whose profile has a near twin with at least as many rows in another
    file is a child.  Score: minus the distance to the nearest such twin.

A file's score is the mean over its tensors (higher: more sentinel-like); the
attack reports the stronger scoring (the audit counts candidates for each and
keeps the smaller count, as the intersection attack does)."""
from __future__ import annotations

import math
import os

import numpy as np

from . import weight_realism as W

LEVELS = np.linspace(0.02, 0.98, 31)
ROW_LEVELS = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
MAX_ROWS = 256
CANDIDATES = 3
KERNEL_CANDIDATES = 8
VOTE_ROWS, VOTE_COLS, DONOR_KERNELS = 32, 64, 8192
KNN = 5
MIN_ELEMS = 64


def row_profile(a, ax):
    """Quantiles of the centred log row norms (rows along the output axis
    ax) of a matrix with at least 8 rows; None otherwise."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim < 2 or not 0 <= ax < a.ndim or a.shape[ax] < 8:
        return None
    w = np.moveaxis(a, ax, 0).reshape(a.shape[ax], -1)
    r = np.sqrt((w * w).mean(axis=1))
    if not (r > 0).all():
        return None
    lr = np.log(r)
    return np.quantile(lr - lr.mean(), LEVELS)


def row_fingerprints(a, ax):
    """[rows, features] of a matrix (at most MAX_ROWS rows, evenly
    chosen): log row scale against the matrix's, quantiles of the row's
    standardized values, tap energy shares of a kernel."""
    a = np.asarray(a, dtype=np.float64)
    w = np.moveaxis(a, ax, 0).reshape(a.shape[ax], -1)
    if w.shape[0] > MAX_ROWS:
        w = w[np.linspace(0, w.shape[0] - 1, MAX_ROWS).astype(int)]
    rms = np.sqrt((w * w).mean(axis=1))
    tot = np.sqrt((w * w).mean())
    if not (rms > 0).all() or w.shape[1] < 4:
        return None
    z = (w - w.mean(axis=1, keepdims=True)) / w.std(axis=1, keepdims=True).clip(1e-30)
    f = [np.log(rms / tot)[:, None], np.quantile(z, ROW_LEVELS, axis=1).T]
    taps = int(np.prod(a.shape[2:])) if a.ndim >= 3 and ax == 0 else 1
    if taps >= 4 and w.shape[1] % taps == 0:
        e = (w.reshape(w.shape[0], -1, taps) ** 2).sum(axis=1)
        f.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(f, axis=1)


def kernels(a, ax):
    """(kernels to match: [rows, cols, taps], donor kernels: [n, taps] with
    their output channel) of a kernel tensor (>= 4 taps), unit-normed and
    evenly subsampled; None for anything else."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim < 3 or ax != 0 or a.shape[1] < 2:
        return None
    taps = int(np.prod(a.shape[2:]))
    if taps < 4:
        return None
    k = a.reshape(a.shape[0], a.shape[1], taps)
    k = k / np.linalg.norm(k, axis=2, keepdims=True).clip(1e-30)
    r = np.linspace(0, k.shape[0] - 1, min(VOTE_ROWS, k.shape[0])).astype(int)
    c = np.linspace(0, k.shape[1] - 1, min(VOTE_COLS, k.shape[1])).astype(int)
    mine = k[r][:, c]
    flat = k.reshape(-1, taps)
    owner = np.repeat(np.arange(k.shape[0]), k.shape[1])
    if flat.shape[0] > DONOR_KERNELS:
        keep = np.linspace(0, flat.shape[0] - 1, DONOR_KERNELS).astype(int)
        flat, owner = flat[keep], owner[keep]
    return mine, flat, owner, k.shape[0]


def _vote(mine, donor):
    """Mean over mine's rows of the share of its kernels whose nearest donor
    kernel lies in the row most of them point to."""
    flat, owner, rows = donor[1], donor[2], donor[3]
    r, c, taps = mine.shape
    best = owner[(mine.reshape(-1, taps) @ flat.T).argmax(axis=1)].reshape(r, c)
    return float(np.mean([np.bincount(best[i], minlength=rows).max() / c for i in range(r)]))


def signature(a):
    """(31 standardized quantiles, kurtosis) of a tensor; None when it is
    constant or too small to have a distribution."""
    x = np.asarray(a, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < MIN_ELEMS:
        return None
    if (x > 0).all():
        x = np.log(x)
    sd = x.std()
    if not sd > 0:
        return None
    z = (x - x.mean()) / sd
    return np.quantile(z, LEVELS), W._kurt(z)


def tensor_signatures(roled):
    """[(role, quantiles, kurtosis, row profile or None, rows, row
    fingerprints or None, kernels or None)] of [(role, out axis, array)]
    (weight_realism.roled_tensors)."""
    out = []
    for role, ax, a in roled:
        s = signature(a)
        if s is not None:
            prof = row_profile(a, ax) if role in W.MATRIX_ROLES else None
            fp = row_fingerprints(a, ax) if prof is not None else None
            kn = kernels(a, ax) if prof is not None else None
            out.append((role, s[0], s[1], prof, a.shape[ax] if prof is not None else 0, fp, kn))
    return out


def file_signatures(path):
    """tensor_signatures of one file; [] when it cannot be read."""
    import onnx
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001 - an unreadable file is the validity attack's business
        return []
    return tensor_signatures(W.roled_tensors(m))


def _knn(q, owner, i):
    """Indices and distances of the KNN nearest tensors to i owned by other files."""
    d = np.sqrt(((q - q[i]) ** 2).mean(axis=1))
    d[owner == owner[i]] = np.inf
    n = int(np.isfinite(d).sum())
    if n == 0:
        return np.empty(0, int), np.empty(0)
    idx = np.argsort(d, kind="stable")[:min(KNN, n)]
    return idx, d[idx]


SCORINGS = ("density", "centre", "parent", "rows", "kernels")


def _row_distance(fa, fb):
    """Median over fa's rows of the distance to the nearest row of fb."""
    d = ((fa[:, None, :] - fb[None, :, :]) ** 2).mean(axis=2)
    return float(np.median(np.sqrt(d.min(axis=1))))


def _parents(files, sigs, role, out, out_rows, out_kernels):
    """The parent, rows and kernels scorings of one role's matrices into
    out, out_rows and out_kernels {file: [scores]}."""
    mats = [(fi, t[3], t[4], t[5], t[6]) for fi, f in enumerate(files) for t in sigs[f]
            if t[0] == role and t[3] is not None]
    if len(mats) < 2:
        return
    owner = np.array([m[0] for m in mats])
    prof = np.stack([m[1] for m in mats])
    rows = np.array([m[2] for m in mats])
    for i in range(len(mats)):
        d = np.abs(prof - prof[i]).mean(axis=1)
        d[(owner == owner[i]) | (rows < rows[i])] = np.inf
        best = d.min()
        if not np.isfinite(best):
            continue
        out[files[owner[i]]].append(-best)
        fi = mats[i][3]
        cand = [j for j in np.argsort(d, kind="stable")[:CANDIDATES] if np.isfinite(d[j])]
        rd = [_row_distance(fi, mats[j][3]) for j in cand
              if fi is not None and mats[j][3] is not None and mats[j][3].shape[1] == fi.shape[1]]
        if rd:
            out_rows[files[owner[i]]].append(-min(rd))
        kn = mats[i][4]
        if kn is not None:
            # every larger kernel tensor of another file, the nearest in rows first
            near = np.argsort(np.where(np.isfinite(d), np.abs(rows - rows[i]), np.inf), kind="stable")
            kc = [j for j in near[:KERNEL_CANDIDATES] if np.isfinite(d[j])
                  and mats[j][4] is not None and mats[j][4][1].shape[1] == kn[0].shape[2]]
            if kc:
                out_kernels[files[owner[i]]].append(max(_vote(kn[0], mats[j][4]) for j in kc))


def score_files(sigs):
    """sigs: {file: file_signatures(...)} -> {scoring: {file: score}}."""
    files = sorted(sigs)
    per = {s: {f: [] for f in files} for s in SCORINGS}
    roles = sorted({t[0] for f in files for t in sigs[f]})
    for role in roles:
        _parents(files, sigs, role, per["parent"], per["rows"], per["kernels"])
        rows = [(fi, t[1]) for fi, f in enumerate(files) for t in sigs[f] if t[0] == role]
        if len(rows) < 3:
            continue
        owner = np.array([fi for fi, _ in rows])
        q = np.stack([qq for _, qq in rows])
        nn = [_knn(q, owner, i) for i in range(len(rows))]
        mean_d = np.array([max(float(d.mean()), 1e-9) if d.size else np.nan for _, d in nn])
        for i, (idx, d) in enumerate(nn):
            if not d.size:
                continue
            f = files[owner[i]]
            per["density"][f].append(-math.log(mean_d[i]))
            around = np.nanmean(mean_d[idx]) if idx.size else np.nan
            if np.isfinite(around) and around > 0:
                per["centre"][f].append(math.log(mean_d[i] / around))
    # a file's score: the mean over its tensors, but one linked kernel
    # tensor is enough to name a file
    agg = {s: (np.max if s == "kernels" else np.mean) for s in per}
    return {s: {f: float(agg[s](v)) if v else 0.0 for f, v in d.items()} for s, d in per.items()}


def attack_scorings(graphs, ctx=None):
    """{scoring: {file: score}} for the files of one bucket; every file 0
    when the bucket carries no weight data."""
    paths = {g.file: g.meta.get("path") for g in graphs}
    if not all(paths.values()):
        return {s: {g.file: 0.0 for g in graphs} for s in SCORINGS}
    sigs = {f: file_signatures(p) for f, p in paths.items() if os.path.exists(p)}
    sigs.update({g.file: [] for g in graphs if g.file not in sigs})
    return score_files(sigs)


def _scoring(name):
    def run(graphs, ctx):
        cache = getattr(ctx, "_cache", None)
        key = ("donor", tuple(sorted(g.file for g in graphs)))
        res = cache.get(key) if cache is not None else None
        if res is None:
            res = attack_scorings(graphs, ctx)
            if cache is not None:
                cache[key] = res
        return res[name]
    run.__name__ = f"attack_donor_{name}"
    return run


attack_density, attack_centre, attack_parent, attack_rows, attack_kernels = (_scoring(s) for s in SCORINGS)
