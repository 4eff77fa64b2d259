"""Fusion groups learned from ONNX Runtime (proteus_py.fusion_probe) and
`proteus partition --fusion-from`."""
import json
import os
import subprocess
import sys

import onnx
import pytest

from conftest import PROTEUS, ROOT, proteus

MODELS = os.path.join(ROOT, "corpus", "models")
R18 = os.path.join(MODELS, "resnet18-op17.onnx")
MV2 = os.path.join(MODELS, "mobilenet_v2-op17.onnx")
BERT = os.path.join(MODELS, "distilbert-op17.onnx")
PY = os.path.join(ROOT, ".venv", "bin", "python")


def probe(path, level="all"):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([PY, "-m", "proteus_py.fusion_probe", str(path), "--level", level], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    p = tmp_path_factory.mktemp("fp") / "r18.onnx"
    proteus("rehydrate", R18, p, "--seed", 1)
    return p


@pytest.fixture(scope="module")
def mv2(tmp_path_factory):
    p = tmp_path_factory.mktemp("fp") / "mv2.onnx"
    proteus("rehydrate", MV2, p, "--seed", 1)
    return p


def producers(path):
    g = onnx.load(str(path), load_external_data=False).graph
    return {o: n for n in g.node for o in n.output}


def test_probe_classes_and_determinism(r18):
    out = probe(r18)
    assert probe(r18) == out  # same model, level and ONNX Runtime: same bytes
    r = json.loads(out)
    assert r["level"] == "all" and r["ort"]
    prod = producers(r18)
    # every Conv's output lives inside an NCHWc Conv (with its Relu, or a
    # residual Add as "sum"); the residual Adds are fused
    fused_ops = {prod[v].op_type for v in r["fused"]}
    assert fused_ops <= {"Conv", "Add"} and "Conv" in fused_ops and "Add" in fused_ops
    # block outputs stay in the blocked layout; the skips read by fused sums
    assert {prod[v].op_type for v in r["blocked"] + r["residual"]} <= {"Relu", "MaxPool", "GlobalAveragePool", "Conv"}
    assert r["residual"]
    names = set(prod)
    for k in ("fused", "folded", "blocked", "residual", "exposed"):
        assert set(r[k]) <= names and r[k] == sorted(r[k])
    # no value in two classes
    allv = [v for k in ("fused", "folded", "blocked", "residual", "exposed") for v in r[k]]
    assert len(allv) == len(set(allv))


def test_probe_extended_has_no_blocked_layout(r18):
    r = json.loads(probe(r18, "extended"))
    assert r["fused"] and not r["blocked"] and not r["residual"]


def test_probe_fails_with_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    r = json.loads(probe(bad))
    assert list(r) == ["error"] and "\n" not in r["error"] and r["error"]


def part_of(out):
    r = json.loads(out)
    return r, {n["name"]: n["part"] for n in r["nodes"]}


@pytest.mark.parametrize("which", ["r18", "mv2"])
def test_partition_never_cuts_what_ort_fused(which, request):
    path = request.getfixturevalue(which)
    r = json.loads(probe(path))
    g = onnx.load(str(path), load_external_data=False).graph
    prod = {o: n.name for n in g.node for o in n.output}
    for seed in (1, 2, 3):
        res, part = part_of(proteus("partition", path, "--seed", seed, "--fusion-from", "ort:all").stdout)
        assert res["fusion_from"] == "ort:all" and res["parts"] >= 3
        assert res["cut_weight"] >= res["cut_edges"] > 0
        for n in g.node:
            for v in n.input:
                if v in r["fused"] or v in r["folded"]:
                    assert part[prod[v]] == part[n.name], f"seed {seed}: {v} cut"
                if v in prod and part[prod[v]] >= 0 and part[n.name] >= 0:
                    assert part[prod[v]] <= part[n.name]  # convex, topologically numbered
        # deterministic
        again = proteus("partition", path, "--seed", seed, "--fusion-from", "ort:all").stdout
        assert again == proteus("partition", path, "--seed", seed, "--fusion-from", "ort:all").stdout


def test_learned_cuts_cost_less_than_table(mv2):
    """Over a few seeds, the learned partition's cut (weighed by what the
    probe learned) is lighter than the table's on the same weights."""
    r = json.loads(probe(mv2))
    w = {v: 10.0 for v in r["blocked"]}
    w.update({v: 30.0 for v in r["residual"] + r["exposed"]})
    w.update({v: 1000.0 for v in r["fused"] + r["folded"]})
    g = onnx.load(str(mv2), load_external_data=False).graph
    prod = {o: n.name for n in g.node for o in n.output}

    def cost(part):
        seen, c = set(), 0.0
        for n in g.node:
            for v in n.input:
                if v in prod and part[prod[v]] >= 0 and part[n.name] >= 0 and part[prod[v]] != part[n.name]:
                    if (v, part[n.name]) not in seen:
                        seen.add((v, part[n.name]))
                        c += w.get(v, 1.0)
        return c

    table = learned = 0.0
    for seed in (1, 2, 3, 4):
        table += cost(part_of(proteus("partition", mv2, "--seed", seed, "--fusion-from", "table").stdout)[1])
        learned += cost(part_of(proteus("partition", mv2, "--seed", seed, "--fusion-from", "ort:all").stdout)[1])
    assert learned < table


def test_fusion_from_options(r18, tmp_path):
    # the table: as before, fusion_from says so
    r, _ = part_of(proteus("partition", r18, "--seed", 1, "--fusion-from", "table").stdout)
    assert r["fusion_from"] == "table"
    # default on a weightless model: the table, without a word
    out = proteus("partition", R18, "--seed", 1)
    assert json.loads(out.stdout)["fusion_from"] == "table" and out.stderr == ""
    # default on a model ONNX Runtime runs: learned
    assert json.loads(proteus("partition", r18, "--seed", 1).stdout)["fusion_from"] == "ort:all"
    # named explicitly on a weightless model: one line, exit 1
    bad = proteus("partition", R18, "--fusion-from", "ort:all", check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("proteus: ")
    # a bad value: usage, exit 2
    u = proteus("partition", r18, "--fusion-from", "ort:fast", check=False)
    assert u.returncode == 2 and "'ort:fast' is not one of ort:all, ort:extended, ort:basic, table" in u.stderr
    assert len(u.stderr.strip().splitlines()) == 1
    m = proteus("partition", r18, "--fusion-from", check=False)
    assert m.returncode == 2


def test_default_falls_back_with_one_warning(r18, tmp_path):
    # ONNX Runtime missing (PROTEUS_PYTHON points at an interpreter without
    # it): the table, with one warning
    env = dict(os.environ, PROTEUS_PYTHON="/bin/false")
    r = subprocess.run([PROTEUS, "partition", str(r18), "--seed", "1"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fusion_from"] == "table"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proteus: partition: warning: the fusion table is used")
    # ONNX Runtime refusing the model: also one warning
    (tmp_path / "w.onnx").write_bytes(open(R18, "rb").read())
    out = proteus("partition", tmp_path / "w.onnx", "--seed", 1)
    assert json.loads(out.stdout)["fusion_from"] == "table" and out.stderr == ""  # weightless: silently


def test_obfuscate_fusion_from(mv2, tmp_path):
    """obfuscate --fusion-from ort:all cuts by the learned groups and the
    pipeline still reassembles to the same model; a bad value is a usage
    error."""
    b, k = tmp_path / "b", tmp_path / "k"
    proteus("obfuscate", mv2, "-o", b, "--key", k, "-k", 0, "--allow-weak", "--fusion-from", "ort:all")
    proteus("optimize", b, "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", k, "-o", tmp_path / "r.onnx")
    assert json.loads(proteus("verify", mv2, tmp_path / "r.onnx", "--json").stdout)["ok"]
    u = proteus("obfuscate", mv2, "-o", tmp_path / "b2", "--key", tmp_path / "k2", "--fusion-from", "ort:fast",
                check=False)
    assert u.returncode == 2 and "ort:fast" in u.stderr and not (tmp_path / "k2").exists()
