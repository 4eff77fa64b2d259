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
      reply:   {"values": {NAME: {"dtype": "float32", "elem_type": 1,
                                  "shape": [dims], "vary": [bool per dim]}},
                "missing": [NAME...]}
               or {"error": "one line"} ("unavailable": true when ONNX
               Runtime cannot be imported)
  "elem_type" is ONNX's TensorProto number; "missing" also lists values
  that are no tensors (sequences, maps).
  "vary" marks dims that changed when the model's symbolic input dims (as
  the file declares them: those --input-shape fixes too) were given other
  lengths (L + 64, else 2L, else 3L; all at once, else one dim_param or
  unnamed dim at a time).  It is absent when the file's inputs have no
  symbolic dim.  A symbolic dim the model runs with at no other length
  tried counts as fixed: the dims that follow it are reported as not
  varying.
"""
import json
import os
import sys

import numpy as np



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


def _add_outputs(model, names):
    """Appends `names` to model's graph outputs in place (types left for ONNX
    Runtime to infer); returns (how many were appended, names it has).  In
    place, not on a copy: a copy of a multi-gigabyte model is what ran the
    machine out of memory."""
    import onnx
    have = {o.name for o in model.graph.output}
    produced = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    found, added = [], 0
    for n in names:
        if n in produced and n not in have:
            vi = onnx.ValueInfoProto()
            vi.name = n
            model.graph.output.append(vi)
            have.add(n)
            added += 1
        if n in produced:
            found.append(n)
    return added, found


def _external(model):
    import onnx
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def _session(model, model_path):
    """A session of model (its external data, if any, not loaded: it stays
    where model_path's folder has it).  With external data the graph is
    written to a hidden temporary file beside model_path, so that ONNX
    Runtime finds the data by its relative paths, and removed at once."""
    from proteus_py.ort import session
    if not _external(model):
        return session(model.SerializeToString(), "disabled", threads=1)
    import tempfile
    folder = os.path.dirname(os.path.abspath(model_path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".proteus-capture-", suffix=".onnx", dir=folder)
    except OSError as e:
        raise CaptureError(f"{model_path}: its weights are external data and no temporary file can be "
                           f"written beside it ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        return session(tmp, "disabled", threads=1)
    finally:
        os.unlink(tmp)


def capture(model_path, names, shapes=None, files=None, seed=0, symbolic=1, model=None):
    """Runs the model once; returns ({name: ndarray} for the names the model
    has, [names it does not have]).  CaptureError when it cannot run."""
    import onnx
    if model is None:
        try:
            model = onnx.load(model_path, load_external_data=False)
        except Exception as e:  # noqa: BLE001
            raise CaptureError(f"{model_path}: not a readable ONNX model ({_first_line(e)})") from None
    feeds = sample_inputs(model, seed=seed, shapes=shapes, files=files, symbolic=symbolic)
    added, found = _add_outputs(model, names)
    missing = [n for n in names if n not in set(found)]
    try:
        sess = _session(model, model_path)
    except CaptureError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CaptureError(f"ONNX Runtime cannot load it: {_first_line(e)}") from None
    finally:
        if added:
            del model.graph.output[len(model.graph.output) - added:]
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
# A group's length L becomes these in turn until the model runs: L + 64
# first (a length that strided convolutions and pools do not round back to
# the same size: 1 and 2 both become 1 after a stride-2 layer), then 2L, 3L.
_OTHER_LENGTHS = (lambda n: n + 64, lambda n: 2 * n, lambda n: 3 * n)


def _groups(model):
    """The model's symbolic input dims, grouped as they must change together:
    {key: [(input, axis)...]}; key is the dim_param, or (input, axis) for a
    dim with none (each its own group)."""
    from proteus_py.inputs import graph_inputs
    out = {}
    for vi in graph_inputs(model):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        for ax, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value >= 0:
                continue
            key = d.dim_param if d.HasField("dim_param") and d.dim_param else (vi.name, ax)
            out.setdefault(key, []).append((vi.name, ax))
    return out


def _resized(a, axis, n):
    """a with length n along axis (repeated, or cut)."""
    reps = -(-n // max(a.shape[axis], 1))
    a = np.concatenate([a] * max(reps, 1), axis=axis) if a.shape[axis] else np.zeros(
        a.shape[:axis] + (n,) + a.shape[axis + 1:], a.dtype)
    return np.take(a, range(n), axis=axis)


def _perturbed_run(path, model, names, feeds, groups, keys, other, files, seed):
    """capture() with the dims of the groups `keys` at other(length) (other
    dims as in feeds, the first run's inputs); None when it fails."""
    import tempfile
    shapes = {n: list(a.shape) for n, a in feeds.items()}
    changed = False
    for k in keys:
        for name, ax in groups[k]:
            if name in shapes and ax < len(shapes[name]):
                shapes[name][ax] = other(shapes[name][ax])
                changed = True
    if not changed:
        return None
    with tempfile.TemporaryDirectory(prefix=".proteus-capture-") as d:
        files2 = {}
        for name, p in (files or {}).items():
            a = feeds.get(name)
            if a is None or list(a.shape) == shapes.get(name):
                files2[name] = p
                continue
            for ax, n in enumerate(shapes[name]):
                if a.shape[ax] != n:
                    a = _resized(a, ax, n)
            files2[name] = os.path.join(d, f"{len(files2)}.npy")
            np.save(files2[name], a)
        try:
            out, _ = capture(path, names, {n: v for n, v in shapes.items() if n not in files2}, files2, seed,
                             model=model)
            return out
        except CaptureError:
            return None


def _elem_type(a):
    """ONNX's element type number of an array (STRING for object arrays)."""
    from onnx import helper, TensorProto
    if a.dtype == object or a.dtype.kind in "US":
        return TensorProto.STRING
    return int(helper.np_dtype_to_tensor_dtype(a.dtype))


def types(req):
    """The `types` request (see the module's doc)."""
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return {"error": f"ONNX Runtime cannot be used from {sys.executable} ({_short(e)})", "unavailable": True}
    path = req["model"]
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001
        return {"error": f"{path}: not a readable ONNX model ({_first_line(e)})"}
    names = list(req.get("values", []))
    shapes, files, seed = req.get("shapes") or {}, req.get("inputs") or {}, int(req.get("seed", 0))
    # symbolic dims are tried at these lengths in turn (1 is cheapest; a
    # signal model needs more than one sample, a detector a side divisible by 32)
    first, err, used, missing = None, None, None, []
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
    feeds = sample_inputs(model, seed=seed, shapes=shapes, files=files, symbolic=used)
    groups = _groups(model)
    # Every symbolic dim of the file, the owner's fixed ones included, is
    # given other lengths: all at once, else one group at a time (a model
    # may accept other batch sizes and only one signal length).  A group the
    # model runs with at no other length tried is taken as fixed.
    runs = []
    if groups:
        for f in _OTHER_LENGTHS:
            r = _perturbed_run(path, model, names, feeds, groups, list(groups), f, files, seed)
            if r is not None:
                runs.append(r)
                break
        if not runs and len(groups) > 1:
            for k in groups:
                for f in _OTHER_LENGTHS:
                    r = _perturbed_run(path, model, names, feeds, groups, [k], f, files, seed)
                    if r is not None:
                        runs.append(r)
                        break
    out, nontensor = {}, []
    for n, a in first.items():
        if not isinstance(a, np.ndarray):
            nontensor.append(n)  # a sequence or map: no tensor type to give
            continue
        try:
            et = _elem_type(a)
        except Exception:  # noqa: BLE001 (a dtype ONNX has no number for)
            nontensor.append(n)
            continue
        rec = {"dtype": a.dtype.name, "elem_type": et, "shape": [int(d) for d in a.shape]}
        if groups:
            vary = [False] * a.ndim
            for r in runs:
                b = r.get(n)
                if not isinstance(b, np.ndarray) or b.ndim != a.ndim:
                    vary = [True] * a.ndim
                    break
                vary = [v or int(x) != int(y) for v, x, y in zip(vary, a.shape, b.shape)]
            rec["vary"] = vary
        out[n] = rec
    return {"values": out, "missing": missing + nontensor}


def _short(e):
    return " ".join(str(e).split())[:300] or type(e).__name__


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "types":
        try:
            req = json.load(sys.stdin)
            reply = types(req)
        except Exception as e:  # noqa: BLE001 (one line for the caller, no traceback)
            reply = {"error": f"capture failed: {type(e).__name__}: {_short(e)}"}
        print(json.dumps(reply))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
