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


def _dims(vi, symbolic=1, known=None):
    """vi's dims: fixed ones as they are, symbolic ones from known (symbol ->
    length) or `symbolic`."""
    out = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:  # -1: a dynamic dim (paddle2onnx)
            out.append(d.dim_value)
        elif known and d.HasField("dim_param") and d.dim_param in known:
            out.append(known[d.dim_param])
        else:
            out.append(symbolic)
    return out


def graph_inputs(model):
    """The model's inputs that are not initializers (ValueInfoProtos)."""
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def symbolic_inputs(model):
    """Names of the inputs with a dim that is not a fixed number."""
    return [vi.name for vi in graph_inputs(model)
            if not vi.type.tensor_type.HasField("shape")
            or any(not d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)]


def parse_input_shape(text):
    """"NAME=D0,D1,..." (the polygraphy/onnxsim convention; "NAME=" for a
    scalar) -> (name, [dims]); ValueError naming the problem."""
    name, eq, dims = text.rpartition("=")
    if not eq or not name:
        raise ValueError(f"--input-shape '{text}': want NAME=D0,D1,... (e.g. input_ids=1,128)")
    try:
        shape = [int(d) for d in dims.split(",")] if dims.strip() else []
    except ValueError:
        raise ValueError(f"--input-shape '{text}': the dims must be whole numbers separated by commas") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"--input-shape '{text}': dims must not be negative")
    return name, shape


def check_shapes(model, shapes):
    """Checks {name: [dims]} against the model's inputs (the name exists, the
    rank and every fixed dim agree); ValueError naming the input."""
    ins = {vi.name: vi for vi in graph_inputs(model)}
    for name, shape in shapes.items():
        vi = ins.get(name)
        if vi is None:
            raise ValueError(f"--input-shape: the model has no input '{name}' (its inputs: {', '.join(ins) or 'none'})")
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = tt.shape.dim
        if len(dims) != len(shape):
            raise ValueError(f"--input-shape: input '{name}' has rank {len(dims)}, not {len(shape)} "
                             f"(its shape: {shape_text(vi)})")
        for i, (d, v) in enumerate(zip(dims, shape)):
            if d.HasField("dim_value") and d.dim_value >= 0 and d.dim_value != v:  # -1: dynamic (paddle2onnx)
                raise ValueError(f"--input-shape: dim {i} of input '{name}' is fixed at {d.dim_value}, not {v} "
                                 f"(its shape: {shape_text(vi)})")


def shape_text(vi):
    """vi's shape as "[N, 3, 224, 224]" (symbols by name, '?' for unknown)."""
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return "unknown rank"
    return "[" + ", ".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                           for d in tt.shape.dim) + "]"


def make_inputs(model, seed=0, symbolic=1, shapes=None):
    """Returns {name: ndarray} for the model's non-initializer inputs.
    model: ModelProto or path.  Symbolic dims are set to `symbolic`.
    shapes ({name: [dims]}, e.g. from --input-shape) gives inputs their
    shapes; a symbol it fixes (dim_param "batch" = 4) takes that length in
    every other input too."""
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    shapes = shapes or {}
    rng = np.random.default_rng(seed)
    bounds = _index_bounds(model)
    known = {}
    for vi in graph_inputs(model):
        if vi.name in shapes:
            for d, v in zip(vi.type.tensor_type.shape.dim, shapes[vi.name]):
                if d.HasField("dim_param") and d.dim_param:
                    known.setdefault(d.dim_param, v)
    feeds = {}
    for vi in graph_inputs(model):
        et = vi.type.tensor_type.elem_type
        dt = helper.tensor_dtype_to_np_dtype(et)
        shape = list(shapes[vi.name]) if vi.name in shapes else _dims(vi, symbolic, known)
        if et in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            feeds[vi.name] = rng.standard_normal(shape).astype(dt)
        elif et == TensorProto.BOOL:
            feeds[vi.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            hi = bounds.get(vi.name) or 2
            feeds[vi.name] = rng.integers(0, hi, shape).astype(dt)
    return feeds
