"""Two buckets of one model (issue 11, item 4; threat-model class 12).

The attack (`proteus audit A --key KA --second B`, audit/intersect.py) names
the real files of A as those that recur in B: same structure, same or nearly
the same weights.  Unrelated re-obfuscation (what every --seed did before,
and still what another secret does) leaves almost nothing of the promise.
The defence keys partition, names and sentinel structures by the secret and
the architecture and moves sentinel weights with the real ones
(src/bucket/track.h): another --seed gives a byte-identical bucket, and a
fine-tuned copy a bucket where every file changes alike."""
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import ROOT, proteus

K = 4
FLOOR = 0.9  # of log10 promise (issue 11: min(10^20, 90% of the promise))
OTHER_PASSPHRASE = "another owner passphrase for the test"


def _realworld(name):
    p = os.path.join(ROOT, "build", "realworld", name)
    return p if os.path.exists(p) else None


# squeezenet (rehydrated) was used while building the defence; the others
# were not looked at before the thresholds were set: a held-out corpus model
# and a real-world model with trained weights.
MODELS = [("squeezenet1_1", os.path.join(ROOT, "corpus", "models", "squeezenet1_1-op13.onnx"), True),
          ("mnasnet0_5", os.path.join(ROOT, "corpus", "holdout", "mnasnet0_5-op17.onnx"), True),
          ("ppocr-cls", _realworld("ppocr-mobile-v2-cls.onnx"), False)]


def _fine_tune(src, dst, rel, seed=1234):
    """Every float weight of >= 2 elements (initializers and Constant
    values) times (1 + rel * N(0, 1)): a fine-tuned copy with the same
    architecture."""
    m = onnx.load(src)
    rng = np.random.default_rng(seed)
    consts = [a.t for n in m.graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    for t in [*m.graph.initializer, *consts]:
        if t.data_type != onnx.TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        if a.size < 2:
            continue
        b = (a * (1.0 + rel * rng.standard_normal(a.shape))).astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(b, t.name))
    onnx.save(m, dst)


def _obfuscate(model, out, seed, passphrase=None):
    env = dict(os.environ, PROTEUS_PASSPHRASE=passphrase) if passphrase else None
    bucket, key = os.path.join(out, "bucket"), os.path.join(out, "key")
    os.makedirs(out)
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", K, "--seed", seed, "--no-probe", "--allow-weak",
            env=env)
    return bucket, key


def _attack(a, b, key_b=None):
    extra = ("--second-key", key_b) if key_b else ()
    rep = json.loads(proteus("audit", a[0], "--key", a[1], "--second", b[0], *extra, "--json").stdout)
    assert rep["attack"] == "intersection"
    return rep["sides"]


@pytest.fixture(scope="module", params=MODELS, ids=[m[0] for m in MODELS])
def model(request, tmp_path_factory):
    name, src, rehydrate = request.param
    if not src:
        pytest.skip("the real-world corpus is not fetched (corpus/realworld/fetch.py)")
    d = tmp_path_factory.mktemp(f"reob-{name}")
    path = str(d / "m.onnx")
    if rehydrate:
        proteus("rehydrate", src, path, "--seed", 3)
    else:
        path = src
    tuned = str(d / "tuned.onnx")
    _fine_tune(path, tuned, 5e-3)
    return str(d), path, tuned


def test_attack_names_the_real_files_of_unrelated_buckets(model):
    """Two buckets of one model that share nothing the owner draws (another
    secret; before the defence, another --seed): the real weights recur, the
    sentinels do not, and the intersection leaves under 10% of the promise,
    for the same model and for a fine-tuned copy."""
    d, path, tuned = model
    a = _obfuscate(path, os.path.join(d, "u-a"), 1)
    b = _obfuscate(path, os.path.join(d, "u-b"), 2, passphrase=OTHER_PASSPHRASE)
    c = _obfuscate(tuned, os.path.join(d, "u-c"), 2, passphrase=OTHER_PASSPHRASE)
    for other in (b, c):
        side = _attack(a, other)[0]
        assert side["log10_promise"] >= 2
        assert side["log10_candidates"] <= 0.1 * side["log10_promise"], side
        assert side["real"]["mean_weight_recurrence"] > side["sentinel"]["mean_weight_recurrence"] + 1


def test_another_seed_gives_the_same_bucket(model):
    """Same model, same secret, another --seed: byte for byte the same
    bucket, so intersecting the two leaves the whole promise."""
    d, path, _ = model
    a = _obfuscate(path, os.path.join(d, "s-a"), 1)
    b = _obfuscate(path, os.path.join(d, "s-b"), 99)
    names = sorted(os.listdir(a[0]))
    assert names == sorted(os.listdir(b[0]))
    for f in names:
        with open(os.path.join(a[0], f), "rb") as x, open(os.path.join(b[0], f), "rb") as y:
            assert x.read() == y.read(), f
    for side in _attack(a, b, b[1]):
        assert side["log10_candidates"] >= FLOOR * side["log10_promise"], side


def test_fine_tuned_version_cannot_be_intersected(model):
    """A fine-tuned copy (every weight moved by 0.5% relative) under the same
    secret: the same file names and structures, every sentinel tensor moves
    with the real ones (none stays byte-identical), and the intersection
    keeps at least 90% of the promise from either side."""
    d, path, tuned = model
    a = _obfuscate(path, os.path.join(d, "f-a"), 1)
    b = _obfuscate(tuned, os.path.join(d, "f-b"), 7)
    assert sorted(os.listdir(a[0])) == sorted(os.listdir(b[0]))
    for side in _attack(a, b, b[1]):
        assert side["log10_candidates"] >= FLOOR * side["log10_promise"], side
        assert side["sentinel"]["identical_tensors"] == 0, side
        assert side["real"]["identical_tensors"] == 0, side


def test_fine_tuned_obfuscation_is_deterministic(model):
    d, _, tuned = model
    a = _obfuscate(tuned, os.path.join(d, "d-a"), 5)
    b = _obfuscate(tuned, os.path.join(d, "d-b"), 5)
    for f in sorted(os.listdir(a[0])):
        with open(os.path.join(a[0], f), "rb") as x, open(os.path.join(b[0], f), "rb") as y:
            assert x.read() == y.read(), f
