"""The held-out set: torchvision architectures that are NOT in the corpus
(corpus/holdout/, exported by `corpus/export.py --holdout`), to show that
`proteus inspect` and shape inference generalise beyond the models they were
developed on.

For every held-out model:
- `proteus inspect --json` agrees with the file as onnx reads it (node count,
  op histogram, inputs/outputs with dtype and shape, parameter count) and
  counts some multiply-accumulates;
- `proteus shapes` on a copy with value_info stripped agrees with
  onnx.shape_inference (strict_mode=False, data_prop=True) on every value
  onnx infers (the comparison of test_shapes.py, reused as is);
- every dim `proteus shapes` gives as a number equals the one onnxruntime
  produces (zero-filled weights), which also covers the dims where proteus
  computed a number and onnx only invented a symbol (shufflenet, swin).
"""
import collections
import glob
import os

import numpy as np
import onnx
import pytest

from conftest import ROOT, proteus
from test_shapes import check_runtime, compare, onnx_values, proteus_values, runtime_shapes, strip_value_info

HOLDOUT = sorted(glob.glob(os.path.join(ROOT, "corpus", "holdout", "*.onnx")))
IDS = [os.path.basename(p)[:-5] for p in HOLDOUT]


def test_holdout_present():
    assert HOLDOUT, "corpus/holdout has no models: run corpus/export.py --holdout"


def _op_key(n):
    return f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type


def _dims(vi):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _dtype(vi):
    return onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name


@pytest.mark.parametrize("path", HOLDOUT, ids=IDS)
def test_holdout_inspect(path):
    import json
    r = proteus("inspect", path, "--json")
    j = json.loads(r.stdout)
    m = onnx.load(path, load_external_data=False)
    g = m.graph
    assert j["nodes"] == len(g.node)
    assert j["ops"] == dict(collections.Counter(_op_key(n) for n in g.node))
    inits = {t.name for t in g.initializer}
    ins = [i for i in g.input if i.name not in inits]
    got = [(i["name"], i["dtype"], i["shape"]) for i in j["inputs"]]
    assert got == [(i.name, _dtype(i), _dims(i)) for i in ins]
    got = [(o["name"], o["dtype"], o["shape"]) for o in j["outputs"]]
    assert got == [(o.name, _dtype(o), _dims(o)) for o in g.output]
    assert j["params"] == sum(int(np.prod(t.dims)) for t in g.initializer)
    assert j["flops"] > 0


@pytest.mark.parametrize("path", HOLDOUT, ids=IDS)
def test_holdout_shapes_match_onnx(path, tmp_path):
    stripped = strip_value_info(onnx.load(path, load_external_data=False))
    p = os.path.join(str(tmp_path), os.path.basename(path))
    onnx.save(stripped, p)
    theirs = onnx_values(stripped)
    ours = proteus_values(p)
    n, mismatches, more_precise = compare(theirs, ours)
    assert theirs, "onnx inferred nothing"
    assert not mismatches, (f"{os.path.basename(path)}: {len(mismatches)} mismatches of {n} values:\n"
                            + "\n".join(mismatches))
    assert n == len(theirs)
    if more_precise:
        print(f"{os.path.basename(path)}: {len(more_precise)} dims proteus computed where onnx "
              f"invented a symbol: " + "; ".join(more_precise[:5]))


@pytest.mark.parametrize("path", HOLDOUT, ids=IDS)
def test_holdout_shapes_match_runtime(path, tmp_path):
    stripped = strip_value_info(onnx.load(path, load_external_data=False))
    p = os.path.join(str(tmp_path), os.path.basename(path))
    onnx.save(stripped, p)
    ours = proteus_values(p)
    actual = runtime_shapes(stripped)
    assert actual is not None, "onnxruntime could not run the model"
    bad = check_runtime(actual, ours)
    assert not bad, (f"{os.path.basename(path)}: proteus disagrees with onnxruntime on {len(bad)} dims:\n"
                     + "\n".join(bad))
