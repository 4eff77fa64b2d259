"""A model's sample inputs: the owner's arrays, else seeded random ones in
ranges the model accepts.

Random draws: integer inputs that index an embedding (directly or through
shape-preserving ops) get values below the smallest table they index; other
integer inputs (masks, flags) get 0/1.  Floats are standard normal.  Inputs
for which random values do not suit (a sample rate, a sequence length, a
flag that must be 1) are given as arrays: --input NAME=FILE.npy (polygraphy's
convention; one .npy file per input, see parse_input_file, given_inputs and
sample_inputs).  Errors are ValueError with one line naming the input and
the file."""
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


# ----------------------------------------------------------- --input NAME=FILE.npy

def parse_input_file(text):
    """"NAME=FILE.npy" -> (name, path); ValueError naming the problem.  The
    first '=' splits (input names rarely hold one; paths may)."""
    name, eq, path = text.partition("=")
    if not eq or not name or not path:
        raise ValueError(f"--input '{text}': want NAME=FILE.npy (e.g. sr=sr.npy, made with numpy.save)")
    return name, path


def _np_dtype(vi):
    et = vi.type.tensor_type.elem_type
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(et))
    except Exception:  # noqa: BLE001 - a type numpy has no dtype for
        return None


def _converts_exactly(a, dt):
    """a (ndarray) as dtype dt when no value changes and the kind is the
    same (int to int, float to float, bool to bool); else None."""
    kinds = {"b": "b", "i": "iu", "u": "iu", "f": "f"}
    if a.dtype.kind not in kinds or dt.kind not in kinds[a.dtype.kind]:
        return None
    if dt.kind in "iu" and a.size:
        info = np.iinfo(dt)
        if int(a.min()) < info.min or int(a.max()) > info.max:
            return None
    with np.errstate(all="ignore"):
        b = a.astype(dt)
        back = b.astype(a.dtype)
    if a.dtype.kind == "f":
        same = np.array_equal(back, a, equal_nan=True)
    else:
        same = np.array_equal(back, a)
    return b if same else None


def given_inputs(model, files):
    """{name: path of a .npy} -> {name: ndarray of the input's dtype}, each
    checked against the model's input: the name exists, the dtype is the
    input's (an array of the same kind whose values survive the conversion
    is converted: np.save(f, 16000) is int64 where an int32 is wanted), the
    rank and every fixed dim agree.  ValueError, one line naming the input
    and the file."""
    if isinstance(model, str):
        model = onnx.load(model, load_external_data=False)
    import os
    ins = {vi.name: vi for vi in graph_inputs(model)}
    out = {}
    for name, path in (files or {}).items():
        tag = f"--input {name}={path}"
        vi = ins.get(name)
        if vi is None:
            raise ValueError(f"{tag}: the model has no input '{name}' (its inputs: {', '.join(ins) or 'none'})")
        if not os.path.exists(path):
            raise ValueError(f"{tag}: no such file")
        if not os.path.isfile(path):
            raise ValueError(f"{tag}: not a regular file")
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
        except OSError as e:
            raise ValueError(f"{tag}: cannot read it ({e.strerror or e})") from None
        if magic[:4] == b"PK\x03\x04":
            raise ValueError(f"{tag}: an .npz archive, not one .npy array (save each input with numpy.save)")
        if magic != b"\x93NUMPY":
            raise ValueError(f"{tag}: not a .npy file (an array written by numpy.save)")
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            why = " ".join(str(e).split())[:200] or type(e).__name__
            raise ValueError(f"{tag}: cannot read it as a .npy array (numpy.save's format; {why})") from None
        dt = _np_dtype(vi)
        want = str(dt) if dt is not None else onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()
        if dt is None:
            raise ValueError(f"{tag}: input '{name}' has type {want}, which a .npy array cannot hold")
        if a.dtype != dt:
            b = _converts_exactly(a, dt)
            if b is None:
                raise ValueError(f"{tag}: the array is {a.dtype}, input '{name}' is {want} "
                                 f"(save it as numpy.asarray(VALUE, numpy.{dt}))")
            a = b
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            dims = tt.shape.dim
            if len(dims) != a.ndim:
                raise ValueError(f"{tag}: the array has shape {list(a.shape)}, input '{name}' has rank "
                                 f"{len(dims)} (its shape: {shape_text(vi)})")
            for i, (d, v) in enumerate(zip(dims, a.shape)):
                if d.HasField("dim_value") and d.dim_value >= 0 and d.dim_value != v:
                    raise ValueError(f"{tag}: the array has shape {list(a.shape)}, but dim {i} of input "
                                     f"'{name}' is fixed at {d.dim_value} (its shape: {shape_text(vi)})")
        out[name] = a
    return out


def sample_inputs(model, seed=0, shapes=None, given=None, symbolic=1):
    """The model's inputs: the arrays in `given` ({name: ndarray}, from
    given_inputs) where given, the rest seeded random (make_inputs) of the
    shapes in `shapes`, symbolic dims at `symbolic`.  A given array fixes the
    symbols of its input's dims for the other inputs too.  ValueError when
    an input is given both a shape and an array that disagree."""
    shapes = dict(shapes or {})
    given = given or {}
    for name, a in given.items():
        if name in shapes and list(shapes[name]) != list(a.shape):
            raise ValueError(f"--input {name}: the array has shape {list(a.shape)}, "
                             f"--input-shape says {list(shapes[name])}")
        shapes[name] = list(a.shape)
    feeds = make_inputs(model, seed=seed, symbolic=symbolic, shapes=shapes)
    for name, a in given.items():
        feeds[name] = a
    return feeds


def describe_draw(model, name, a):
    """How make_inputs drew input `name` (array a): "sr int64 [] in 0..1",
    "x float32 [1, 3, 224, 224] standard normal"."""
    if a.dtype.kind == "f":
        how = "standard normal"
    elif a.dtype.kind == "b":
        how = "random bools"
    else:
        hi = _index_bounds(model).get(name) or 2
        how = f"in 0..{hi - 1}"
    return f"{name} {a.dtype} {list(a.shape)} {how}"
