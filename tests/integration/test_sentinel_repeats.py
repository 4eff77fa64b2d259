"""Sentinels shaped like real subgraphs beyond their interface (issue 11):
structure recurs among them as among the reals, and each is in one piece.

A model repeats its blocks (every encoder layer, the blocks of a stage), so
some of its real subgraphs have the same structure.  If their sentinels were
drawn fresh, the reals would be the files that recur across groups of one
interface (the repetition attack's max_same feature named them).  The
learned generator draws the sentinels of groups whose reals share a skeleton
(src/ir/skeleton.h) from one stream: they recur too, one structure per
sentinel index, while their weight values are drawn apart, as the reals'
are.  The random control keeps fresh sentinels."""
import collections
import hashlib
import os

import numpy as np
import onnx
import pytest

from conftest import ROOT, key_view, proteus
from proteus_py.audit import features as F

MODELS = os.path.join(ROOT, "corpus", "models")
HOLDOUT = os.path.join(ROOT, "corpus", "holdout")


def obfuscate(src, base, k, gen, *extra):
    os.makedirs(base, exist_ok=True)
    bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key")
    proteus("obfuscate", src, "-o", bucket, "--key", key, "-k", k, "--sentinels", gen, "--no-probe", "--allow-weak",
            *extra)
    return bucket, key_view(key)


def skeleton(sg):
    """A structure hash that, unlike the audit's WL hash, keeps the order of
    a node's inputs (Concat([a, b]) is not Concat([b, a])): the audit's
    labels (op, attributes, weight and output shapes), refined 3 times by
    the producers slot by slot and the consumers as a set."""
    lab = [F.node_label(sg, i, with_shapes=True) for i in range(len(sg.nodes))]
    prod = {o: i for i, nd in enumerate(sg.nodes) for o in nd.outputs if o}
    gin = {v[0]: f"in{k}" for k, v in enumerate(sg.inputs)}
    for _ in range(3):
        lab = [hashlib.blake2b("|".join([lab[i], *(lab[prod[v]] if v in prod else gin.get(v, "c")
                                                 for v in sg.nodes[i].inputs), "/", *sorted(lab[j] for j in sg.succ[i])])
                               .encode(), digest_size=8).hexdigest() for i in range(len(sg.nodes))]
    return hashlib.blake2b(("|".join(sorted(lab)) + repr(sg.interface)).encode(), digest_size=12).hexdigest()


def structures(bucket, view):
    """Per group: the real's structure and its sentinels'."""
    graphs = {g.file: g for g in F.read_bucket(bucket)}
    return [(skeleton(graphs[grp["real"]]), sorted(skeleton(graphs[s]) for s in grp["sentinels"]))
            for grp in view["groups"]]


def twin_pairs(groups):
    by_real = collections.defaultdict(list)
    for i, (r, _) in enumerate(groups):
        by_real[r].append(i)
    return [(a, b) for idx in by_real.values() for a in idx for b in idx if a < b]


# distilbert: repeated encoder layers; swin_t (held out of the shipped
# generator): repeated windowed-attention blocks.
MODELS_CHECKED = [os.path.join(MODELS, "distilbert-op17.onnx"), os.path.join(HOLDOUT, "swin_t-op17.onnx")]


@pytest.mark.parametrize("src", MODELS_CHECKED, ids=[os.path.basename(p)[:-5] for p in MODELS_CHECKED])
def test_sentinels_recur_with_their_reals(src, scratch):
    bucket, view = obfuscate(src, str(scratch / "learned"), 3, "learned", "--weightless")
    groups = structures(bucket, view)
    pairs = twin_pairs(groups)
    assert pairs, "the model's reals should repeat at the default cut"
    for a, b in pairs:
        assert groups[a][1] == groups[b][1], (a, b)
    # where the reals differ, even only in dims or constants behind one
    # interface, no sentinel structure is shared: twins among the
    # sentinels where the reals are not twins would name the reals
    for a in range(len(groups)):
        for b in range(a + 1, len(groups)):
            if groups[a][0] != groups[b][0]:
                assert not set(groups[a][1]) & set(groups[b][1]), (a, b)
    # the random control: fresh sentinels in every group
    bucket, view = obfuscate(src, str(scratch / "random"), 3, "random", "--weightless")
    groups = structures(bucket, view)
    assert all(groups[a][1] != groups[b][1] for a, b in twin_pairs(groups))


def test_recurring_sentinels_carry_their_own_weights(scratch):
    """Twin sentinels share a structure, not their weights: no float tensor
    of one equals (or nearly equals) the same tensor of its twin."""
    src = os.path.join(MODELS, "distilbert-op17.onnx")
    model = str(scratch / "model.onnx")
    proteus("rehydrate", src, model, "--seed", "3")
    bucket, view = obfuscate(model, str(scratch / "b"), 2, "learned")
    graphs = {g.file: g for g in F.read_bucket(bucket)}
    groups = [(skeleton(graphs[g["real"]]), g["sentinels"]) for g in view["groups"]]
    by_real = collections.defaultdict(list)
    for r, sents in groups:
        by_real[r].append(sents)
    compared = 0
    for members in by_real.values():
        for a, b in zip(members, members[1:]):
            for sa, sb in zip(a, b):
                ta = {tuple(t.dims): onnx.numpy_helper.to_array(t) for t in onnx.load(os.path.join(bucket, sa)).graph.initializer
                      if t.data_type == onnx.TensorProto.FLOAT and np.prod(t.dims) > 16}
                tb = [onnx.numpy_helper.to_array(t) for t in onnx.load(os.path.join(bucket, sb)).graph.initializer
                      if t.data_type == onnx.TensorProto.FLOAT and np.prod(t.dims) > 16]
                for y in tb:
                    x = ta.get(tuple(y.shape))
                    if x is None:
                        continue
                    compared += 1
                    rel = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12)
                    assert rel > 0.5, rel
    assert compared > 0


# Models every sentinel of which the learned generator draws itself (strict:
# no random stand-in), with groups of several inputs or outputs.
ONE_PIECE = [os.path.join(MODELS, "squeezenet1_1-op13.onnx"), os.path.join(HOLDOUT, "resnet34-op17.onnx")]


@pytest.mark.parametrize("src", ONE_PIECE, ids=[os.path.basename(p)[:-5] for p in ONE_PIECE])
def test_learned_sentinels_are_one_piece(src, scratch):
    """A partition part is connected, so every real subgraph is; a sentinel
    in two pieces would be a sentinel by that alone."""
    base = str(scratch)
    bucket, key = os.path.join(base, "bucket"), os.path.join(base, "key")
    proteus("obfuscate", src, "-o", bucket, "--key", key, "-k", 4, "--sentinels", "learned", "--no-probe",
            "--allow-weak", "--weightless", env=dict(os.environ, PROTEUS_LEARNED_STRICT="1"))
    view = key_view(key)
    graphs = {g.file: g for g in F.read_bucket(bucket)}
    multi = 0
    for grp in view["groups"]:
        assert F.components(F._undirected(graphs[grp["real"]])) == 1
        r = graphs[grp["real"]]
        multi += len(r.inputs) + len(r.outputs) > 2
        for s in grp["sentinels"]:
            assert F.components(F._undirected(graphs[s])) == 1, s
    assert multi, "no group with several inputs or outputs: the test would not test"
