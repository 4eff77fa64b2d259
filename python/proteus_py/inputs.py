"""Seeded random inputs for a model, in ranges the model accepts.

Integer inputs that index an embedding (directly or through shape-preserving
ops) get values below the smallest table they index; other integer inputs
(masks, flags) get 0/1.  Floats are standard normal."""
import numpy as np
import onnx
from onnx import TensorProto, helper

# Ops that pass an index tensor through unchanged in value.
_PASS_THROUGH = {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity",
                 "Expand", "Transpose", "Slice", "Concat", "Tile"}


def _index_bounds(model):
    """Map input name -> smallest Gather table size it reaches (or None)."""
    g = model.graph
    shapes = {t.name: list(t.dims) for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i, name in enumerate(n.input):
            consumers.setdefault(name, []).append((n, i))
    bounds = {}
    for inp in g.input:
        if inp.name in shapes:
            continue
        best = None
        frontier, seen = [inp.name], set()
        while frontier:
            v = frontier.pop()
            if v in seen:
                continue
            seen.add(v)
            for n, i in consumers.get(v, []):
                if n.op_type == "Gather" and i == 1 and n.input[0] in shapes:
                    axis = next((a.i for a in n.attribute if a.name == "axis"), 0)
                    dims = shapes[n.input[0]]
                    if dims:
                        size = dims[axis if axis >= 0 else axis + len(dims)]
                        best = size if best is None else min(best, size)
                elif n.op_type in _PASS_THROUGH and i == 0:
                    frontier.extend(n.output)
        bounds[inp.name] = best
    return bounds


def _dims(vi, symbolic=1):
    out = []
    for d in vi.type.tensor_type.shape.dim:
        out.append(d.dim_value if d.HasField("dim_value") else symbolic)
    return out


def make_inputs(model, seed=0, symbolic=1):
    """Returns {name: ndarray} for the model's non-initializer inputs.
    model: ModelProto or path.  Symbolic dims are set to `symbolic`, except
    that a symbolic dim shared with an integer index input keeps a length of
    8 (so sequences are not degenerate)."""
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    bounds = _index_bounds(model)
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        et = vi.type.tensor_type.elem_type
        dt = helper.tensor_dtype_to_np_dtype(et)
        shape = _dims(vi, symbolic)
        if et in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            feeds[vi.name] = rng.standard_normal(shape).astype(dt)
        elif et == TensorProto.BOOL:
            feeds[vi.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            hi = bounds.get(vi.name) or 2
            feeds[vi.name] = rng.integers(0, hi, shape).astype(dt)
    return feeds
