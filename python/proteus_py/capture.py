"""Values inside a model, as ONNX Runtime computes them.

Runs the whole model once (graph optimizations disabled, so every value of
the file exists) on the owner's sample inputs and returns the intermediate
values asked for.  This is the ground truth for what flows across a cut:
its dtype and shape where static inference stops (contrib ops, nested
If outputs, custom domains), and the actual values of shape tensors and
the lengths of symbolic dims that the model ties together.

Sample inputs: --input-shape gives inputs their shapes, --input NAME=FILE.npy
their values; the rest are seeded random (proteus_py.inputs.make_inputs).

  python -m proteus_py.capture types < request.json -> JSON on stdout
      request: {"model": PATH, "values": [NAME...], "shapes": {input: [dims]},
                "inputs": {input: "FILE.npy"}, "seed": N}
      reply:   {"values": {NAME: {"dtype": "float32", "shape": [dims],
                                  "vary": [bool per dim]}},
                "missing": [NAME...]}  or {"error": "one line"}
  "vary" marks dims that changed when the model's symbolic input dims were
  given other lengths (a second run; absent when the inputs have no symbolic
  dim; when the second run failed, only the first run's
  dims are known: all true, treat them as unknown).
"""
import json
import os
import sys

import numpy as np

# Sizes of a protobuf a ModelProto can be serialized to in memory.
_IN_MEMORY_LIMIT = 1 << 30


class CaptureError(Exception):
    """One line saying why the model could not be run."""


def _first_line(e, limit=300):
    from proteus_py.verify import _first_line as fl
    return fl(e, limit)


def load_input_files(files):
    """{name: path of .npy} -> {name: ndarray}; CaptureError naming the file."""
    out = {}
    for name, path in (files or {}).items():
        try:
            out[name] = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            raise CaptureError(f"--input {name}={path}: cannot read it as a .npy array ({_first_line(e)})") from None
    return out


def sample_inputs(model, seed=0, shapes=None, files=None, symbolic=1):
    """The model's inputs: files' arrays where given, else seeded random ones
    of the given shapes (symbolic dims at `symbolic`)."""
    from proteus_py.inputs import make_inputs
    given = load_input_files(files)
    shapes = dict(shapes or {})
    for name, a in given.items():
        shapes.setdefault(name, list(a.shape))
    feeds = make_inputs(model, seed=seed, symbolic=symbolic, shapes=shapes)
    for name, a in given.items():
        if name not in feeds:
            raise CaptureError(f"--input {name}: the model has no input '{name}' (its inputs: {', '.join(feeds) or 'none'})")
        if feeds[name].dtype != a.dtype:
            a = a.astype(feeds[name].dtype)
        feeds[name] = a
    return feeds


def _with_outputs(model, names):
    """A copy of model whose graph outputs are its own plus `names` (types
    left for ONNX Runtime to infer); returns (copy, names it has)."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    produced = {o for n in m.graph.node for o in n.output} | {i.name for i in m.graph.input}
    found = []
    for n in names:
        if n in produced and n not in have:
            vi = onnx.ValueInfoProto()
            vi.name = n
            m.graph.output.append(vi)
            have.add(n)
        if n in produced:
            found.append(n)
    return m, found


def _session(model):
    from proteus_py.ort import session
    import tempfile
    if model.ByteSize() < _IN_MEMORY_LIMIT:
        return session(model.SerializeToString(), "disabled", threads=1)
    import onnx
    d = tempfile.mkdtemp(prefix=".proteus-capture-")
    try:
        p = os.path.join(d, "m.onnx")
        onnx.save(model, p, save_as_external_data=True, location="m.data")
        return session(p, "disabled", threads=1)
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def capture(model_path, names, shapes=None, files=None, seed=0, symbolic=1, model=None):
    """Runs the model once; returns ({name: ndarray} for the names the model
    has, [names it does not have]).  CaptureError when it cannot run."""
    import onnx
    if model is None:
        try:
            model = onnx.load(model_path)
        except Exception as e:  # noqa: BLE001
            raise CaptureError(f"{model_path}: not a readable ONNX model ({_first_line(e)})") from None
    m, found = _with_outputs(model, names)
    missing = [n for n in names if n not in set(found)]
    feeds = sample_inputs(model, seed=seed, shapes=shapes, files=files, symbolic=symbolic)
    try:
        sess = _session(m)
    except Exception as e:  # noqa: BLE001
        raise CaptureError(f"ONNX Runtime cannot load it: {_first_line(e)}") from None
    want = [n for n in found if n not in feeds]
    try:
        arrays = sess.run(want, feeds) if want else []
    except Exception as e:  # noqa: BLE001
        tried = "; ".join(f"{n} {list(v.shape)}" for n, v in feeds.items())
        raise CaptureError(f"ONNX Runtime failed to run it on inputs {tried}: {_first_line(e)}") from None
    out = {n: feeds[n] for n in found if n in feeds}
    out.update(zip(want, arrays))
    return out, missing


def _symbolic_inputs(model, shapes, files):
    from proteus_py.inputs import symbolic_inputs
    fixed = set(shapes or {}) | set(files or {})
    return [n for n in symbolic_inputs(model) if n not in fixed]


SYMBOLIC = (1, 32, 8, 64)


def types(req):
    """The `types` request (see the module's doc)."""
    import onnx
    path = req["model"]
    try:
        model = onnx.load(path)
    except Exception as e:  # noqa: BLE001
        return {"error": f"{path}: not a readable ONNX model ({_first_line(e)})"}
    names = list(req.get("values", []))
    shapes, files, seed = req.get("shapes") or {}, req.get("inputs") or {}, int(req.get("seed", 0))
    # symbolic dims are tried at these lengths in turn (1 is cheapest; a
    # signal model needs more than one sample, a detector a side divisible by 32)
    first, err, used = None, None, None
    for sym in SYMBOLIC:
        try:
            first, missing = capture(path, names, shapes, files, seed, sym, model=model)
            used = sym
            break
        except CaptureError as e:
            err = err or e
        if not _symbolic_inputs(model, shapes, files):
            break
    if first is None:
        return {"error": str(err)}
    second = None
    if _symbolic_inputs(model, shapes, files):
        # symbolic dims at another length: dims that follow them change
        second = {}
        for sym in SYMBOLIC:
            if sym == used:
                continue
            try:
                second, _ = capture(path, names, shapes, files, seed, sym, model=model)
                break
            except CaptureError:
                continue
    out = {}
    for n, a in first.items():
        rec = {"dtype": np.asarray(a).dtype.name, "shape": [int(d) for d in np.shape(a)]}
        if second is not None:
            b = second.get(n)
            if b is None or np.ndim(b) != np.ndim(a):
                rec["vary"] = [True] * np.ndim(a)
            else:
                rec["vary"] = [int(x) != int(y) for x, y in zip(np.shape(a), np.shape(b))]
        out[n] = rec
    return {"values": out, "missing": missing}


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "types":
        print(json.dumps(types(json.load(sys.stdin))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
