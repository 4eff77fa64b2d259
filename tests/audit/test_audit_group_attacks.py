"""The group, cross-group and optimizer-side attacks (typicality.py,
style.py, optimizer.py) and the oracle two-sample test (oracle.py).

Each attack must hurt the random-opcode control on a real model (an attack
that cannot is too weak to say anything about a better generator): by the
floor of issue 11 it leaves less than min(20, 90% of log10 of the promise).  Each runs
on a bucket of the learned generator.  The oracle separates random
sentinels and is a coin toss when the key is scrambled."""
import json
import math
import os
import random

import pytest

from conftest import MODELS, PROTEUS, audit_cli, run
from proteus_py.audit import attacks as A
from proteus_py.audit import features as F
from proteus_py.audit import optimizer, oracle, score as S, zoo as Z

NEW = ("medoid-centre", "medoid-far", "style", "chain", "optimizer")
PASS, FLOOR = 0.9, 20.0   # issue 11's floor: min(10^20, 90% of log10 promise) candidates


def _fn(name):
    return dict((n, f) for n, _, f in A.ATTACKS)[name]


@pytest.fixture(scope="module")
def learned_bucket(tmp_path_factory, secret):
    """mobilenet_v2 (op17) with 4 learned sentinels per real subgraph."""
    d = tmp_path_factory.mktemp("learned")
    b, kp = d / "bucket", d / "key"
    run(PROTEUS, "obfuscate", os.path.join(MODELS, "mobilenet_v2-op17.onnx"), "-o", b, "--key", kp, "-k", 4,
        "--seed", 5, "--no-probe", "--allow-weak", "--weightless", "--key-secret", secret, "--sentinels", "learned")
    view = json.loads(run(PROTEUS, "key", "show", kp, "--json", "--key-secret", secret).stdout)
    return str(b), view


def _evaluate_new(graphs, view, family):
    ctx = A.Context(Z.load_zoo(exclude=[family]))
    return {n: S.evaluate(_fn(n)(graphs, ctx), view) for n in NEW}


@pytest.mark.parametrize("model", ["resnet50-op17", "distilbert-op17"])
def test_new_attacks_break_the_random_control(make_bucket, model):
    """On random sentinels every new attack (medoid: its stronger variant)
    leaves less than the floor, min(20, 90% of log10 of the promise).  resnet50 (CNN) and distilbert
    (transformer: most groups share one interface)."""
    b, _, view = make_bucket(os.path.join(MODELS, model + ".onnx"), 8, seed=17)
    graphs = F.read_bucket(b)
    res = _evaluate_new(graphs, view, Z.family(model))
    promise = S.log10_promise(view["n"], 8)
    got = {n: r["log10_candidates"] for n, r in res.items()}
    medoid = min(got.pop("medoid-centre"), got.pop("medoid-far"))
    for name, v in [("medoid", medoid), *got.items()]:
        assert v < min(FLOOR, PASS * promise), (model, name, v, promise, got)


def test_new_attacks_run_on_a_learned_bucket(learned_bucket):
    b, view = learned_bucket
    graphs = F.read_bucket(b)
    assert {g.file for g in graphs} == set(view["files"])
    ctx = A.Context(Z.load_zoo(exclude=["mobilenet_v2"]))
    for name in NEW:
        sc = _fn(name)(graphs, ctx)
        assert set(sc) == set(view["files"]), name
        assert all(isinstance(v, float) and math.isfinite(v) for v in sc.values()), name
        r = S.evaluate(sc, view)
        assert 0.0 <= r["log10_candidates"] <= S.log10_promise(view["n"], 4) + 1e-9, name
    o = oracle.oracle_auc(graphs, view)
    assert o is not None and 0.0 <= o["auc"] <= 1.0


def test_optimizer_probe_sees_fusions(make_bucket):
    """ONNX Runtime fuses real Conv+BatchNorm+Relu blocks: on resnet18's
    real subgraphs it removes nodes and introduces fused ops."""
    assert optimizer.available(), f"{optimizer.ORT_PYTHON} (the .venv with onnxruntime) is missing"
    b, _, view = make_bucket(os.path.join(MODELS, "resnet18-op17.onnx"), 0)
    res = optimizer.probe_paths([os.path.join(b, f) for f in view["real"]])
    assert len(res) == view["n"]
    assert not [r for r in res.values() if r.get("error")]
    assert any(r["nodes_after"] < r["nodes_before"] for r in res.values())
    assert any(r["fused"] for r in res.values())


def test_oracle_separates_random_sentinels_and_not_a_scrambled_key(make_bucket):
    b, _, view = make_bucket(os.path.join(MODELS, "resnet50-op17.onnx"), 8, seed=17)
    graphs = F.read_bucket(b)
    o = oracle.oracle_auc(graphs, view)
    assert o["auc"] > 0.9, o
    # the same files, labels drawn at random within each group: nothing to learn
    rng = random.Random(3)
    aucs = []
    for _ in range(3):
        groups = []
        for g in view["groups"]:
            files = [g["real"], *g["sentinels"]]
            rng.shuffle(files)
            groups.append({"real": files[0], "sentinels": files[1:]})
        aucs.append(oracle.oracle_auc(graphs, {"k": view["k"], "groups": groups})["auc"])
    assert 0.25 < sum(aucs) / len(aucs) < 0.75, aucs


def test_the_cli_reports_the_oracle(make_bucket):
    b, _, view = make_bucket(os.path.join(MODELS, "squeezenet1_1-op17.onnx"), 2)
    rep = audit_cli(b, view, "--zoo-exclude", "squeezenet1_1")
    assert [a["name"] for a in rep["attacks"]] == A.ATTACK_NAMES
    assert 0.0 <= rep["oracle"]["auc"] <= 1.0
    assert set(rep["oracle"]) >= {"naive_bayes", "logistic", "folds"}


def test_k0_has_no_oracle(make_bucket):
    b, _, view = make_bucket(os.path.join(MODELS, "resnet18-op13.onnx"), 0)
    assert oracle.oracle_auc(F.read_bucket(b), view) is None
