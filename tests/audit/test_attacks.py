"""Every attack on real corpus buckets; k=0 scores nothing; the attacks have
teeth against the random-opcode generator; invalid files and leaked names
are caught."""
import json
import math
import os
import shutil
import subprocess

import onnx
import pytest
from onnx import TensorProto, helper

from conftest import HOLDOUT, MODELS, PROTEUS, ROOT, audit_cli, run
from proteus_py.audit import attacks as A
from proteus_py.audit import features as F
from proteus_py.audit import gnn, score as S, train, zoo as Z


@pytest.fixture(scope="session")
def shipped():
    assert os.path.exists(train.SHIPPED), "the shipped classifier is missing"
    assert os.path.getsize(train.SHIPPED) < 2 * 1024 * 1024
    return gnn.load_classifiers(train.SHIPPED)


def test_every_attack_gives_every_file_a_finite_score(make_bucket, shipped):
    b, _, view = make_bucket(os.path.join(MODELS, "squeezenet1_1-op17.onnx"), 2)
    graphs = F.read_bucket(b)
    assert {g.file for g in graphs} == set(view["files"])
    ctx = A.Context(Z.load_zoo(exclude=["squeezenet1_1"]), shipped)
    out = A.run_all(graphs, ctx)
    assert list(out) == A.ATTACK_NAMES
    for name, sc in out.items():
        assert set(sc) == set(view["files"]), name
        assert all(isinstance(v, float) and math.isfinite(v) for v in sc.values()), name
        r = S.evaluate(sc, view)
        assert 0.0 <= r["log10_candidates"] <= S.log10_promise(view["n"], 2) + 1e-9


def test_k0_every_attack_reports_zero(make_bucket):
    b, _, view = make_bucket(os.path.join(MODELS, "resnet18-op13.onnx"), 0)
    rep = audit_cli(b, view, "--zoo-exclude", "resnet18")
    assert rep["k"] == 0 and rep["n"] == view["n"] == len(view["real"])
    assert rep["log10_promise"] == 0
    assert [a["name"] for a in rep["attacks"]] == A.ATTACK_NAMES
    for a in rep["attacks"]:
        assert a["log10_candidates"] == 0, a
        assert {"name", "log10_candidates", "specificity", "threshold"} <= set(a)


def test_the_c_command_passes_the_key_view(make_bucket, secret, tmp_path):
    b, kp, view = make_bucket(os.path.join(MODELS, "squeezenet1_1-op17.onnx"), 2)
    r = run(PROTEUS, "audit", b, "--key", kp, "--key-secret", secret, "--json", "--out", tmp_path / "plots",
            "--sentinels", "random")
    rep = json.loads(r.stdout)
    assert rep["n"] == view["n"] and rep["k"] == 2 and rep["zoo_sentinels"] == "random"
    assert rep["log10_promise"] == pytest.approx(view["n"] * math.log10(3))
    assert os.path.exists(tmp_path / "plots" / "stat-avg_degree.png")
    assert os.path.exists(tmp_path / "plots" / "stat-clustering.png")
    text = run(PROTEUS, "audit", b, "--key", kp, "--key-secret", secret, "--sentinels", "random").stdout
    assert "gnn-full" in text and "log10" in text and "random sentinels" in text


def test_the_zoo_follows_obfuscates_default_generator():
    """Without --sentinels the attacker's zoo is made with the generator
    obfuscate uses by default (the key does not say which one made a
    bucket): learned."""
    assert Z.default_sentinels() == "learned"


def _teeth(rep):
    by = {a["name"]: a["log10_candidates"] for a in rep["attacks"]}
    learned = min(by["gnn-paper"], by["gnn-full"]) < 3
    others = [n for n, v in by.items() if not n.startswith("gnn") and v < 3]
    return learned, others, by


@pytest.fixture(scope="session")
def fold_resnet18(tmp_path_factory):
    """Both classifiers trained without the resnet18 family."""
    p = str(tmp_path_factory.mktemp("fold") / "classifier.pt")
    clfs = train.train_all(Z.load_zoo(exclude=["resnet18"]))
    gnn.save_classifiers(p, clfs)
    return p


def test_teeth_on_a_corpus_model_left_out_of_zoo_and_training(make_bucket, fold_resnet18):
    """The random-opcode baseline must fall: at k=20 the learned classifier
    and at least two other attacks leave fewer than 10^3 candidates."""
    b, _, view = make_bucket(os.path.join(MODELS, "resnet18-op17.onnx"), 20, seed=11)
    rep = audit_cli(b, view, "--zoo-exclude", "resnet18", "--classifier", fold_resnet18)
    learned, others, by = _teeth(rep)
    assert learned, by
    assert len(others) >= 2, by


def test_teeth_on_a_held_out_model_with_the_shipped_classifier(make_bucket):
    b, _, view = make_bucket(os.path.join(HOLDOUT, "resnet34-op17.onnx"), 20, seed=12)
    rep = audit_cli(b, view)
    learned, others, by = _teeth(rep)
    assert learned, by
    assert len(others) >= 2, by


# ----------------------------------------------------------------------------
# synthetic buckets: each attack catches what it is meant to catch

def _model(nodes, inputs, outputs, inits=(), names=None):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, producer_name="proteus", opset_imports=[helper.make_operatorsetid("", 17)])
    m.ir_version = 8
    return m


def _vi(name, shape=(1, 8)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _write(d, name, m):
    onnx.save(m, os.path.join(d, name))


def _bucket(tmp_path, models):
    d = tmp_path / "b"
    d.mkdir()
    for name, m in models.items():
        _write(str(d), name, m)
    (d / "manifest.json").write_text(json.dumps({"format": "proteus-bucket/1", "files": sorted(models)}))
    return str(d)


def test_validity_flags_an_invalid_file(tmp_path):
    ok = _model([helper.make_node("Relu", ["i0"], ["t0"]), helper.make_node("Sigmoid", ["t0"], ["o0"])],
                [_vi("i0")], [_vi("o0")])
    bad = _model([helper.make_node("Relu", ["i0"], ["t0"]), helper.make_node("Add", ["t0", "t9"], ["o0"])],
                 [_vi("i0")], [_vi("o0")])                                 # t9 is never defined
    neg = _model([helper.make_node("Relu", ["i0"], ["o0"])], [_vi("i0")], [_vi("o0", (1, -3))])
    b = _bucket(tmp_path, {"aaaaaaaaaaaaaaaa.onnx": ok, "bbbbbbbbbbbbbbbb.onnx": bad, "cccccccccccccccc.onnx": neg})
    graphs = F.read_bucket(b)
    by = {g.file: g for g in graphs}
    assert by["bbbbbbbbbbbbbbbb.onnx"].meta["checks"]["undefined_input"] == 1
    assert by["cccccccccccccccc.onnx"].meta["checks"]["negative_dim"] >= 1
    assert not any(by["aaaaaaaaaaaaaaaa.onnx"].meta["checks"].values())
    sc = A.attack_validity(graphs, A.Context(Z.load_zoo()))
    key = {"k": 2, "groups": [{"real": "aaaaaaaaaaaaaaaa.onnx", "sentinels": ["bbbbbbbbbbbbbbbb.onnx", "cccccccccccccccc.onnx"]}]}
    r = S.evaluate(sc, key)
    assert r["specificity"] == 1.0 and r["log10_candidates"] == 0.0


def test_stitching_follows_leaked_tensor_names(tmp_path):
    # two real files chained by a tensor name an exporter would write; their
    # sentinels have the same interfaces but anonymous names
    r1 = _model([helper.make_node("Relu", ["i0"], ["layer1.out"])], [_vi("i0")], [_vi("layer1.out")])
    r2 = _model([helper.make_node("Relu", ["layer1.out"], ["o0"])], [_vi("layer1.out")], [_vi("o0")])
    s1 = _model([helper.make_node("Sigmoid", ["i0"], ["o0"])], [_vi("i0")], [_vi("o0")])
    s2 = _model([helper.make_node("Tanh", ["i0"], ["o0"])], [_vi("i0")], [_vi("o0")])
    b = _bucket(tmp_path, {"1000000000000000.onnx": r1, "2000000000000000.onnx": r2,
                           "3000000000000000.onnx": s1, "4000000000000000.onnx": s2})
    graphs = F.read_bucket(b)
    sc = A.attack_stitching(graphs, A.Context(None))
    key = {"k": 1, "groups": [{"real": "1000000000000000.onnx", "sentinels": ["3000000000000000.onnx"]},
                              {"real": "2000000000000000.onnx", "sentinels": ["4000000000000000.onnx"]}]}
    assert S.evaluate(sc, key)["log10_candidates"] == 0.0


def test_repetition_and_zoo_match_see_verbatim_copies(make_bucket):
    """A bucket whose 'sentinels' are verbatim copies of its real files
    (renamed) is not separated by anything: every attack must leave the
    full promise, which shows that the attacks do not key on file names,
    order or chance."""
    b, _, view = make_bucket(os.path.join(MODELS, "squeezenet1_1-op13.onnx"), 0)
    graphs = F.read_bucket(b)
    copies = []
    groups = []
    for i, g in enumerate(graphs):
        import copy
        c = copy.deepcopy(g)
        c.file = f"{i:016x}.onnx"
        copies.append(c)
        groups.append({"real": g.file, "sentinels": [c.file]})
    key = {"k": 1, "groups": groups}
    ctx = A.Context(Z.load_zoo(exclude=["squeezenet1_1"]))
    for name in ("graph-stats", "validity", "repetition", "zoo-match", "weights"):
        fn = dict((n, f) for n, _, f in A.ATTACKS)[name]
        sc = fn(graphs + copies, ctx)
        assert S.evaluate(sc, key)["log10_candidates"] == pytest.approx(S.log10_promise(len(graphs), 1)), name
