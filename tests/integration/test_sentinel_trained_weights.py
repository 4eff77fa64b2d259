"""Sentinel weights of a trained model look like its own (issue 11,
bucket/track_shape.h): the tails of its kernels, the rate at which a
half-precision model's channels repeat a value, and the step of a
fake-quantized one.  Per file, the median over its kernels; reals against
sentinels, a rank AUC near 0.5 (before: kurtosis 0.97, and only reals
repeated values, on nudenet-320n: the mix of four donor draws made
sentinels the lightest-tailed tensors, and full-precision noise never
repeats)."""
import os

import numpy as np
import onnx
from onnx import numpy_helper

from conftest import key_view, proteus
from test_sentinel_style import realworld  # build/realworld/NAME.onnx, or skip


def obfuscate(src, base, k):
    os.makedirs(base, exist_ok=True)
    bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key")
    proteus("obfuscate", src, "-o", bucket, "--key", key, "-k", k, "--no-probe", "--allow-weak", "--seed", 7)
    return bucket, key_view(key)


def kernels(path):
    """Float32 tensors of rank >= 2, more than 64 entries and channels of
    at least 16, as arrays."""
    m = onnx.load(path)
    out = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == 1 and len(t.dims) >= 2]
    for n in m.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.data_type == 1 and len(n.attribute[0].t.dims) >= 2:
            out.append(numpy_helper.to_array(n.attribute[0].t))
    return [a.astype(np.float64) for a in out if a.size > 64 and a.size // a.shape[0] >= 16]


def kurtosis(a):
    z = (a - a.mean()) / (a.std() + 1e-30)
    return float((z ** 4).mean() - 3)


def repeats(a):
    """Pairs of equal nonzero entries within output channels, per pair."""
    r = a.reshape(a.shape[0], -1)
    rep = pairs = 0
    for row in r[:32]:
        _, c = np.unique(row[row != 0], return_counts=True)
        rep += float((c * (c - 1) / 2).sum())
        pairs += len(row) * (len(row) - 1) / 2
    return rep / pairs


def auc(pos, neg):
    """P(a real scores above a sentinel), ties half."""
    pos, neg = np.asarray(pos), np.asarray(neg)
    gt = (pos[:, None] > neg[None, :]).mean()
    eq = (pos[:, None] == neg[None, :]).mean()
    return float(gt + eq / 2)


def per_file(bucket, view, stat):
    reals, sents = [], []
    for g in view["groups"]:
        for f in [g["real"], *g["sentinels"]]:
            ks = kernels(os.path.join(bucket, f))
            if ks:
                (reals if f == g["real"] else sents).append(float(np.median([stat(a) for a in ks])))
    return reals, sents


def test_trained_kernels_tails_and_repeats(scratch):
    """nudenet-320n: heavy-tailed kernels on a half-precision grid folded
    with BatchNorm scales (values repeat within a channel)."""
    bucket, view = obfuscate(realworld("nudenet-320n"), str(scratch / "b"), 3)
    r, s = per_file(bucket, view, kurtosis)
    assert len(r) >= 10 and len(s) >= 20
    a = auc(r, s)
    assert 0.25 <= a <= 0.75, f"kurtosis tells reals from sentinels: AUC {a:.2f}"
    r, s = per_file(bucket, view, repeats)
    a = auc(r, s)
    assert 0.2 <= a <= 0.8, f"repeated values tell reals from sentinels: AUC {a:.2f}"
    assert np.median(s) > 0, "sentinel channels never repeat a value (full precision)"


def test_fake_quantized_step(scratch):
    """captcha-crnn holds every weight on multiples of 1/160: sentinel
    kernels drawn from its tensors are on their donor's step too."""
    bucket, view = obfuscate(realworld("captcha-crnn"), str(scratch / "b"), 2)
    step = 1.0 / 160
    on, total = 0, 0
    for g in view["groups"]:
        for f in g["sentinels"]:
            for a in kernels(os.path.join(bucket, f)):
                k = a / step
                total += 1
                on += bool(np.all(np.abs(k - np.round(k)) < 1e-3))
    assert total >= 20
    assert on >= 0.75 * total, f"only {on} of {total} sentinel kernels are on the model's step"
