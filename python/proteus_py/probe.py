"""Functional fingerprints of subgraph files.

The owner fingerprints each real subgraph before sending it and checks the
returned, optimized file against the fingerprint: a file that was swapped,
had a weight changed, or computes something else is caught and named.

Inputs.  A fingerprint runs the file on inputs the optimizer cannot predict
(they come from a seed derived from the owner's secret and travel only
inside the sealed key) and that look like what really flows across its
cuts.  obfuscate passes the model, the owner's `--input-shape` / `--input`
and, per real file, the model's names of the file's inputs (the file's
inputs i0, i1, ... in that order) and outputs.  The whole model runs once in
ONNX Runtime (proteus_py.capture, on inputs drawn from the secret probe
seed), and each file gets, per input (its "feeds" in the fingerprint):
  - float: fresh standard-normal values from the secret seed, of the shape
    the model really had there (so symbolic dims the model ties together
    agree);
  - integer or bool (shape tensors, indices, masks): the values the model
    really had, stored in the fingerprint (zlib + base64) when they have at
    most CAP_INT elements (CAP_QUANT for 8- and 16-bit integers: quantized
    activations), else uniform random integers in the range the model's
    values spanned;
  - when the file does not run on that (or its outputs get other shapes
    than in the model): float inputs of at most CAP_FLOAT elements take the
    model's values too (a Resize scale, a computed constant).
When the whole model cannot run, or a file's inputs are not values of the
model file (inside an inlined local function), that file falls back to
seeded random inputs from its own declared types: symbolic dims get the
lengths the owner gave (`--input-shape`, passed per file as "shapes") or
are tried at SYMBOLIC lengths in turn (1 first; 32 suits image sides
divisible by 32, 8 short sequences); what worked is recorded and reused.

Outputs.  Per output the fingerprint keeps:
  - its dtype, shape, and max |value| over the finite elements (the scale);
  - where its non-finite elements are (NaN, +Inf, -Inf): counts and a hash
    of the per-element class, which must match exactly;
  - a sample of the values at secret positions (every element when the
    output has at most FULL elements, else SAMPLE of them), stored as
    base64 of float32 (float64 for 64-bit dtypes, the output's own type
    for integers up to 32 bits);
  - N_PROJ projections of the whole output (non-finite elements as 0) on
    secret random sign vectors.

The bound.  Honest optimization moves outputs, by how much depends on the
file, so the tolerance is measured, not fixed: obfuscate also optimizes each
real file with ONNX Runtime itself at basic, extended and all (exactly as
`optimize --with ort:LEVEL` does), runs each result the way the check will,
on the same inputs, and records per output how far it moved:
  dev_el   = the largest |element difference| over all elements and levels,
  dev_proj = the largest of the projection differences, and of Z_PROJ times
             the root-sum-square of the element differences (what another
             rounding pattern of the same size would give a random
             projection).
For a float file the check accepts an output whose non-finite pattern is
identical, every sampled element within  rtol*scale + M_EL*dev_el  and every
projection within  PROJ_FACTOR*sqrt(n)*rtol*scale + M_PROJ*dev_proj  of what
was sent.  rtol is the dtype's floor, at least as strict as `proteus verify`
(1e-4; float16 1e-2; bfloat16 2e-2; `reassemble --probe-tol` overrides it).
ONNX Runtime's float rewrites move elements by rounding, ~1e-7 of the range
(up to ~1e-3 where an output is a small difference of larger terms), so a
float file may differ by the floor plus twice what ONNX Runtime's own
optimization makes; a weight scaled by 1.001 (~1e-3 of every output) still
moves a secret projection 10 to 25 times past that bound (resnet18's files).
Quantized files (QuantizeLinear, DequantizeLinear, integer ops) and integer
outputs are different: ONNX Runtime computes QDQ groups with integer kernels
whose results differ from the float-simulated ones by one or more quanta (on
CPUs without VNNI, u8s8 products saturate: tens of quanta), as much as a
changed weight would, so no multiple of that deviation would catch a weight
nudged by a few quanta.  Integer kernels are deterministic on the machine
that checks, though, so these outputs are held, within the dtype floor
(below one quantum of an 8-bit output), to the sent result or to one of ONNX Runtime's own
results at basic, extended, all, recorded as alternates ("alt": a sparse
delta of the sample, the projections, the non-finite pattern if other).  A
float output whose honest deviation exceeds DEV_CAP of its range is treated
the same way.  So on the machine that obfuscated, ONNX Runtime's own output
always passes; an optimizer whose quantized kernels round otherwise (another
ONNX Runtime version) is refused unless `--probe-tol` allows it.

  python -m proteus_py.probe compute-seeded SEED FILE [SEED FILE]... -> JSON list on stdout
  python -m proteus_py.probe compute-request < request.json         -> JSON list on stdout
      request: {"model": PATH, "model_shapes": {input: [dims]}, "model_inputs": {input: "FILE.npy"},
                "model_seed": N,
                "items": [{"file", "seed", "shapes": {input: [dims]} or absent,
                           "names": [the model's names of the file's inputs],
                           "outputs": [the model's names of its outputs]}]}
      (model, names, outputs optional: without them, the fallback inputs)
  python -m proteus_py.probe check < request.json                    -> JSON list on stdout
request: {"tol": T (optional, overrides rtol), "items": [{"file", "expect"}]}
Fingerprints of version 2 (no feeds, no measured deviation) are checked as
they always were.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import zlib

import numpy as np

VERSION = 3
N_PROJ = 8
SAMPLE = 512
FULL = 1024
RTOL = {"float16": 1e-2, "bfloat16": 2e-2}
DEFAULT_RTOL = 1e-4
# Projections are held to PROJ_FACTOR * sqrt(n) * rtol * scale (plus the
# measured deviation): one element moved by 0.01 in a 1000-class output whose
# range is under ~30 already moves every projection past it.
PROJ_FACTOR = 0.125
# Inputs: integer/bool ones with at most CAP_INT elements travel in the
# fingerprint (CAP_QUANT for 8- and 16-bit ones: quantized activations, as
# good drawn at random in their range); float ones with at most CAP_FLOAT
# only when random ones fail.
CAP_INT = 4096
CAP_QUANT = 256
CAP_FLOAT = 1024
# The measured bound: M_EL x the largest honest element deviation, M_PROJ x
# the largest honest projection deviation (or Z_PROJ x its root-sum-square).
M_EL = 2.0
M_PROJ = 2.0
Z_PROJ = 4.0
# A float output that honest optimization moves by more than this fraction of
# its range is held to ONNX Runtime's own results instead (as quantized ones).
DEV_CAP = 1e-2
LEVELS = ("basic", "extended", "all")


def _classes(a):
    """Per element: 0 finite, 1 NaN, 2 +Inf, 3 -Inf (uint8)."""
    c = np.zeros(a.size, dtype=np.uint8)
    if a.dtype.kind in "fc" or a.dtype.name == "bfloat16":
        y = np.asarray(a, dtype=np.float64).ravel()
        c[np.isnan(y)] = 1
        c[np.isposinf(y)] = 2
        c[np.isneginf(y)] = 3
    return c


def _positions(seed, k, n):
    if n <= FULL:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, k, 1])
    return np.sort(rng.choice(n, SAMPLE, replace=False)).astype(np.int64)


def _signs(seed, k, n):
    # one random byte per element gives 8 sign vectors, one per bit
    return np.random.default_rng([seed, k]).integers(0, 256, n, dtype=np.uint8)


# row b: +1 for the byte values whose bit b is set, -1 for the others
_SIGN_OF_BYTE = (((np.arange(256)[None, :] >> np.arange(N_PROJ)[:, None]) & 1) * 2 - 1).astype(np.float64)


def _proj(y, bits):
    """The N_PROJ projections of y on the sign vectors bits encodes (one
    pass: y summed per byte value, then signed)."""
    per_byte = np.bincount(bits, weights=y, minlength=256) if y.size else np.zeros(256)
    return [float(v) for v in _SIGN_OF_BYTE @ per_byte]


def _prepare(a):
    """(classes, float64 values with non-finite elements as 0)."""
    a = np.asarray(a)
    cls = _classes(a)
    if a.dtype == np.bool_ or a.dtype.kind in "iuf" or a.dtype.name == "bfloat16":
        y = np.asarray(a, dtype=np.float64).ravel()
    else:
        raise ValueError(f"output of type {a.dtype} cannot be fingerprinted")
    y = np.where(cls == 0, y, 0.0)
    return cls, y


def _wide(a):
    return np.asarray(a).dtype.itemsize >= 8


# Samples of integer outputs up to 32 bits are stored in their own type
# (quantized activations: a byte each), others as float32 (float64 for
# 64-bit dtypes).
_SAMPLE_KINDS = {"int8": "i1", "uint8": "u1", "bool": "u1", "int16": "i2", "uint16": "u2", "int32": "i4",
                 "uint32": "u4"}


def _enc_sample(v, wide, dtype=None):
    kind = _SAMPLE_KINDS.get(dtype) or ("f8" if wide else "f4")
    return kind + ":" + base64.b64encode(np.asarray(v).astype("<" + kind).tobytes()).decode()


def _nonfinite(cls):
    return [int((cls == 1).sum()), int((cls == 2).sum()), int((cls == 3).sum())]


def _where(cls):
    return hashlib.sha256(cls.tobytes()).hexdigest()[:32] if cls.any() else None


def _digest(arrays, seed):
    out = []
    for k, a in enumerate(arrays):
        a = np.asarray(a)
        cls, y = _prepare(a)
        pos = _positions(seed, k, y.size)
        d = {
            "dtype": a.dtype.name,
            "shape": [int(s) for s in a.shape],
            "n": int(y.size),
            "scale": float(np.abs(y).max()) if y.size else 0.0,
            "nonfinite": _nonfinite(cls),
            "sample": _enc_sample(y[pos], _wide(a), a.dtype.name),
            "proj": _proj(y, _signs(seed, k, y.size)),
        }
        w = _where(cls)
        if w:
            d["where"] = w
        out.append(d)
    return out


def _session(path):
    from proteus_py.ort import session
    return session(path, "disabled", threads=1)


SYMBOLIC = (1, 32, 8)


def _run(path, seed, s=None, shapes=None, symbolic=1):
    """The fallback: seeded random inputs from the file's declared types."""
    from proteus_py.inputs import make_inputs
    s = s or _session(path)
    names = [o.name for o in s.get_outputs()]
    feeds = make_inputs(path, seed=seed, symbolic=symbolic, shapes=shapes)
    return s.run(names, feeds), feeds


def _err_line(e):
    line = (str(e).splitlines() or [type(e).__name__])[0]
    # ONNX Runtime names the (temporary) path it loaded: the file is named by the caller
    line = re.sub(r"Load model from \S+ failed:", "", line).strip()
    return line[:300]


TRIES = 8


def _tries(seed, n=TRIES):
    """The seeds a file is tried on: random inputs can be invalid for it (a
    shape input drawn as [0, 1]); each further seed derives from the secret
    one, so none is predictable."""
    yield seed
    for t in range(1, n):
        yield int(np.random.default_rng([seed, t, 2]).integers(0, 1 << 53))


# ---------------------------------------------------------------- feeds

def _enc_data(a):
    """An array's bytes (little-endian), zlib'd when that is shorter."""
    a = np.ascontiguousarray(a)
    raw = (a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a).tobytes()
    z = zlib.compress(raw, 9)
    return ("z:" + base64.b64encode(z).decode()) if len(z) < len(raw) else ("r:" + base64.b64encode(raw).decode())


def _dec_data(s, dtype, shape):
    kind, _, b = s.partition(":")
    raw = base64.b64decode(b)
    if kind == "z":
        raw = zlib.decompress(raw)
    elif kind != "r":
        raise ValueError("bad feed encoding")
    dt = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    return np.frombuffer(raw, dtype=dt).astype(np.dtype(dtype)).reshape(shape)


_FLOATS = ("float16", "float32", "float64")


def _feed_value(spec, seed, k):
    """The input array a feed spec describes (the same at obfuscate and at
    the check)."""
    dt, shape = spec["dtype"], [int(d) for d in spec["shape"]]
    if "data" in spec:
        return _dec_data(spec["data"], dt, shape)
    rng = np.random.default_rng([seed, 5, k])
    if spec.get("rand") == "normal":
        return rng.standard_normal(shape).astype(dt)
    if "lo" in spec:
        lo, hi = int(spec["lo"]), int(spec["hi"])
        return rng.integers(lo, hi, shape, endpoint=True, dtype=np.int64 if hi < 1 << 63 else np.uint64).astype(dt)
    raise ValueError("bad feed spec")


def _feed_spec(a, small_floats):
    """How an input gets its values, from the model's value a there; None
    when it cannot be fed."""
    a = np.asarray(a)
    d = {"dtype": a.dtype.name, "shape": [int(s) for s in a.shape]}
    if a.dtype.name in _FLOATS:
        if small_floats and a.size <= CAP_FLOAT:
            d["data"] = _enc_data(a)
        else:
            d["rand"] = "normal"
        return d
    if a.dtype == np.bool_ or a.dtype.kind in "iu":
        if a.size <= (CAP_QUANT if a.dtype.kind in "iu" and a.dtype.itemsize <= 2 else CAP_INT):
            d["data"] = _enc_data(a)
        else:
            d["lo"], d["hi"] = str(int(a.min())), str(int(a.max()))
        return d
    return None  # strings, bfloat16, ...: the fallback


def _feeds(sess, specs, seed):
    names = [i.name for i in sess.get_inputs()]
    if len(names) != len(specs):
        raise ValueError(f"{len(names)} inputs, {len(specs)} expected")
    return {n: _feed_value(s, seed, k) for k, (n, s) in enumerate(zip(names, specs))}


# ---------------------------------------------------------------- honest deviation

_QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger")


def _quantized(path):
    """Whether the file computes with quantization ops (anywhere, bodies too)."""
    import onnx
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:  # noqa: BLE001
        return False

    def walk(g):
        for n in g.node:
            t = n.op_type
            if t in _QUANT_OPS or t.startswith("QLinear") or t.startswith("QGemm") or "Integer" in t \
                    or "Quant" in t:
                return True
            for a in n.attribute:
                if a.HasField("g") and walk(a.g):
                    return True
                if any(walk(b) for b in a.graphs):
                    return True
        return False
    return walk(m.graph)


def _honest_runs(path, feeds, tmp):
    """The file optimized by ONNX Runtime at each level (as `optimize --with
    ort:LEVEL` writes it), run as the check runs files: [outputs] per level
    that worked."""
    from proteus_py import driver
    outs = []
    for lv in LEVELS:
        dst = os.path.join(tmp, lv + ".onnx")
        try:
            driver.make("ort:" + lv, lambda msg: None)(path, dst)
            s = _session(dst)
            outs.append(s.run([o.name for o in s.get_outputs()], feeds))
        except Exception:  # noqa: BLE001 - a level that fails is no honest result
            pass
        finally:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
    return outs


def _tols(e, rtol):
    """(element tolerance, projection tolerance) for an output fingerprint."""
    scale = float(e["scale"])
    dev = e.get("dev") or [0.0, 0.0]
    root = np.sqrt(max(int(e["n"]), 1))
    return (rtol * scale + M_EL * float(dev[0]),
            PROJ_FACTOR * root * rtol * scale + M_PROJ * float(dev[1]))


def _add_honest(digest, ref, runs, seed, quantized):
    """Adds to each output's fingerprint what honest optimization does to
    it: "dev" (float outputs) and "alt" (ONNX Runtime's own results that
    the tolerance would not admit)."""
    for k, (d, a) in enumerate(zip(digest, ref)):
        a = np.asarray(a)
        cls, y = _prepare(a)
        bits = _signs(seed, k, y.size)
        pos = _positions(seed, k, y.size)
        scale = d["scale"]
        exact = quantized or a.dtype.name not in _FLOATS + ("bfloat16",)
        dev_el = dev_proj = 0.0
        cands = []
        for out in runs:
            b = np.asarray(out[k])
            if b.dtype != a.dtype or b.shape != a.shape:
                continue  # ONNX Runtime changed the interface: no honest result
            cb, yb = _prepare(b)
            same = np.array_equal(cb, cls)
            diff = np.abs(yb - y)
            dmax = float(diff.max()) if diff.size else 0.0
            pb = _proj(yb, bits)
            dproj = max(abs(p - q) for p, q in zip(pb, d["proj"])) if pb else 0.0
            if same and dmax == 0.0:
                continue
            if not exact and same and dmax <= DEV_CAP * scale:
                dev_el = max(dev_el, dmax)
                dev_proj = max(dev_proj, dproj, Z_PROJ * float(np.sqrt(np.square(diff).sum())))
            else:
                cands.append((cb, yb, pb, same, dmax, dproj))
        if dev_el > 0 or dev_proj > 0:
            d["dev"] = [dev_el, dev_proj]
        rtol = RTOL.get(d["dtype"], DEFAULT_RTOL)
        tol_el, tol_proj = _tols(d, rtol)
        alts, kept = [], []
        for cb, yb, pb, same, dmax, dproj in cands:
            if same and dmax <= tol_el and dproj <= tol_proj:
                continue  # admitted anyway
            if any(np.array_equal(cb, c) and np.array_equal(yb, v) for c, v in kept):
                continue
            kept.append((cb, yb))
            delta = yb[pos] - y[pos]
            if not _wide(a):
                delta = yb[pos].astype(np.float32).astype(np.float64) - y[pos].astype(np.float32).astype(np.float64)
            idx = np.nonzero(delta)[0].astype("<u2" if pos.size <= 65535 else "<u4")
            alt = {"idx": base64.b64encode(idx.tobytes()).decode(),
                   "delta": _enc_sample(delta[idx.astype(np.int64)], _wide(a)),
                   "proj": pb}
            if not same:
                alt["nonfinite"] = _nonfinite(cb)
                w = _where(cb)
                if w:
                    alt["where"] = w
            alts.append(alt)
        if alts:
            d["alt"] = alts


# ---------------------------------------------------------------- compute

class _Model:
    """The whole model's values at the cuts (proteus_py.capture), run once
    on the owner's inputs; .values is {name: ndarray} or None (.why)."""

    def __init__(self, req, names):
        self.values, self.why = None, None
        path = req.get("model")
        if not path or not names:
            self.why = "no model"
            return
        from proteus_py.capture import capture, CaptureError
        shapes = req.get("model_shapes") or {}
        files = req.get("model_inputs") or {}
        seed = int(req.get("model_seed", 0))
        err = None
        for sym in (1, 32, 8, 64):
            try:
                vals, _ = capture(path, sorted(set(names)), shapes, files, seed, sym)
                self.values = {n: v for n, v in vals.items() if isinstance(v, np.ndarray)}
                return
            except CaptureError as e:
                err = err or e
            except Exception as e:  # noqa: BLE001 - the fallback, with a reason
                err = err or e
                break
            if not self._symbolic(path, shapes, files):
                break  # other lengths change nothing
        self.why = _err_line(err) if err else "cannot run"

    @staticmethod
    def _symbolic(path, shapes, files):
        """Whether the model has inputs with dims neither shapes nor files fix."""
        try:
            import onnx
            from proteus_py.inputs import symbolic_inputs
            m = onnx.load(path, load_external_data=False)
            return bool(set(symbolic_inputs(m)) - set(shapes) - set(files))
        except Exception:  # noqa: BLE001
            return False


def _variants(model, names, outs):
    """Feed specs to try for a file, best first: random floats, then the
    model's own small float values."""
    if model.values is None or not names or any(n not in model.values for n in names):
        return []
    out = []
    for small in (False, True):
        specs = [_feed_spec(model.values[n], small) for n in names]
        if any(s is None for s in specs):
            return []
        if specs not in out:
            out.append(specs)
    return out


def _shapes_agree(arrays, model, outs):
    if not outs or model.values is None:
        return True
    for a, n in zip(arrays, outs):
        v = model.values.get(n)
        if v is not None and list(np.shape(v)) != list(np.shape(a)):
            return False
    return True


def _compute_one(item, model, tmp):
    seed, f = int(item["seed"]), item["file"]
    shapes = item.get("shapes")
    try:
        sess = _session(f)
    except Exception as e:
        return {"error": _err_line(e)}
    names, outs = item.get("names") or [], item.get("outputs") or []
    onames = [o.name for o in sess.get_outputs()]
    found, err = None, None
    # 1. what flows across the cuts in the model
    for specs in _variants(model, names, outs):
        for s in _tries(seed, 2):
            try:
                feeds = _feeds(sess, specs, s)
                arrays = sess.run(onames, feeds)
            except Exception as e:  # noqa: BLE001
                err = err or e
                continue
            cand = ({"v": VERSION, "seed": s, "feeds": specs}, arrays, feeds)
            if _shapes_agree(arrays, model, outs):
                found = cand
                break
            found = found or cand
        if found and _shapes_agree(found[1], model, outs):
            break
    # 2. the fallback: the file's declared types
    if found is None:
        for sym in SYMBOLIC:
            for s in _tries(seed):
                try:
                    arrays, feeds = _run(f, s, sess, shapes, sym)
                except Exception as e:  # noqa: BLE001
                    err = err or e
                    continue
                probe = {"v": VERSION, "seed": s}
                if shapes:
                    probe["shapes"] = shapes
                if sym != 1:
                    probe["symbolic"] = sym
                found = (probe, arrays, feeds)
                break
            if found:
                break
    if found is None:
        why = _err_line(err) if err else "does not run"
        if model.why and model.why != "no model":
            why += f" (on random inputs of its declared types: the whole model could not run: {model.why})"
        elif model.values is not None and names and any(n not in model.values for n in names):
            why += " (on random inputs of its declared types: its inputs are not values of the model file)"
        return {"error": why[:600]}
    probe, arrays, feeds = found
    s = probe["seed"]
    try:
        probe["outputs"] = _digest(arrays, s)
    except Exception as e:  # noqa: BLE001
        return {"error": _err_line(e)}
    _add_honest(probe["outputs"], arrays, _honest_runs(f, feeds, tmp), s, _quantized(f))
    return {"probe": probe}


def compute(pairs, req=None):
    """pairs: (seed, file) or (seed, file, shapes) or request items (dicts)."""
    items = [p if isinstance(p, dict) else {"seed": p[0], "file": p[1], "shapes": p[2] if len(p) > 2 else None}
             for p in pairs]
    names = [n for it in items for n in (it.get("names") or []) + (it.get("outputs") or [])]
    model = _Model(req or {}, names)
    tmp = tempfile.mkdtemp(prefix=".proteus-probe-")
    try:
        return [_compute_one(it, model, tmp) for it in items]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- check

def _decode_sample(s):
    kind, _, b = s.partition(":")
    if kind not in ("f4", "f8") + tuple(_SAMPLE_KINDS.values()):
        raise ValueError("bad sample encoding")
    dt = "<" + kind
    return np.frombuffer(base64.b64decode(b), dtype=dt).astype(np.float64)


def _alt_sample(want, alt):
    idx = np.frombuffer(base64.b64decode(alt["idx"]), dtype="<u2" if want.size <= 65535 else "<u4").astype(np.int64)
    delta = _decode_sample(alt["delta"])
    if idx.size != delta.size or (idx.size and idx.max() >= want.size):
        raise ValueError("malformed fingerprint")
    w = want.copy()
    w[idx] += delta
    return w


def _compare_ref(k, got, cls, gp, e, ref, tol_el, tol_proj, what):
    """(how far over, why) when the output (sampled values got, classes cls,
    projections gp) is beyond tolerance of one reference result, else None.
    how far over: the largest of worst/tolerance (inf for other NaN/Inf)."""
    nf = _nonfinite(cls)
    want_nf = ref.get("nonfinite", e["nonfinite"])
    want_where = ref.get("where") if "nonfinite" in ref else e.get("where")
    if nf != want_nf or _where(cls) != want_where:
        return float("inf"), (f"output {k} has NaN/+Inf/-Inf at other positions than {what} "
                              f"({nf[0]}/{nf[1]}/{nf[2]} elements, {want_nf[0]}/{want_nf[1]}/{want_nf[2]} expected)")
    scale = float(e["scale"])
    over, why = 0.0, None
    if got.size:
        worst = float(np.abs(got - ref["sample"]).max())
        if not worst <= tol_el:
            rel = worst / scale if scale > 0 else float("inf")
            t = tol_el / scale if scale > 0 else tol_el
            over = worst / tol_el if tol_el > 0 else float("inf")
            why = (f"output {k} differs from {what} (an element is off by {worst:.3g}, "
                   f"{rel:.3g} of the output's range; tolerance {t:.3g})")
    worst = max(abs(g - w) for g, w in zip(gp, ref["proj"]))
    if not worst <= tol_proj:
        o = worst / tol_proj if tol_proj > 0 else float("inf")
        if why is None or o > over:
            over = o
            why = (f"output {k} differs from {what} (a secret random projection of it is off by "
                   f"{worst:.3g}, more than the {tol_proj:.3g} allowed)")
    return (over, why) if why else None


def _compare(k, a, e, seed, tol):
    """None when output k (array a) matches its fingerprint e (the sent
    result or one of ONNX Runtime's own results), else why not (against
    the nearest of them)."""
    a = np.asarray(a)
    if a.dtype.name != e["dtype"] or [int(s) for s in a.shape] != e["shape"]:
        return f"output {k} is {a.dtype.name} {list(a.shape)}, but {e['dtype']} {e['shape']} was sent"
    cls, y = _prepare(a)
    rtol = tol if tol else RTOL.get(e["dtype"], DEFAULT_RTOL)
    tol_el, tol_proj = _tols(e, rtol)
    pos = _positions(seed, k, y.size)
    want = _decode_sample(e["sample"])
    if want.size != pos.size or len(e["proj"]) != N_PROJ:
        return f"output {k}: malformed fingerprint"
    got = y[pos]
    if got.size and e["sample"].startswith("f4:"):
        got = got.astype(np.float32).astype(np.float64)
    gp = _proj(y, _signs(seed, k, y.size))
    best = _compare_ref(k, got, cls, gp, e, {"sample": want, "proj": e["proj"]}, tol_el, tol_proj,
                        "what was sent")
    if best is None:
        return None
    for alt in e.get("alt") or []:
        ref = {"sample": _alt_sample(want, alt), "proj": alt["proj"]}
        if "nonfinite" in alt:
            ref["nonfinite"] = alt["nonfinite"]
            if alt.get("where"):
                ref["where"] = alt["where"]
        r = _compare_ref(k, got, cls, gp, e, ref, tol_el, tol_proj,
                         "what was sent and from ONNX Runtime's own optimization of it")
        if r is None:
            return None
        if r[0] < best[0]:
            best = r
    return best[1]


def _legacy_digest(arrays, seed):
    out = []
    for k, a in enumerate(arrays):
        y = np.asarray(a, dtype=np.float64).ravel()
        bad = int((~np.isfinite(y)).sum())
        y = np.where(np.isfinite(y), y, 0.0)
        bits = _signs(seed, k, y.size)
        out.append({"n": int(y.size), "norm": float(np.linalg.norm(y)), "proj": _proj(y, bits), "bad": bad})
    return out


def _check_legacy(exp, arrays, tol):
    """Fingerprints written before v2 (public seed, norm-relative)."""
    got = _legacy_digest(arrays, exp["seed"])
    for k, (g, e) in enumerate(zip(got, exp["outputs"])):
        if g["bad"]:
            return f"output {k} has {g['bad']} NaN or Inf elements"
        scale = max(e["norm"], 1e-30)
        err = max([abs(g["norm"] - e["norm"])] + [abs(a - b) for a, b in zip(g["proj"], e["proj"])]) / scale
        if g["n"] != e["n"] or err > (tol or DEFAULT_RTOL):
            return f"output {k} differs from what was sent (relative error {err:.3g})"
    return None


def _check_run(path, exp, seed):
    """The returned file's outputs on the fingerprint's inputs."""
    if exp.get("feeds") is not None:
        s = _session(path)
        feeds = _feeds(s, exp["feeds"], seed)
        return s.run([o.name for o in s.get_outputs()], feeds)
    arrays, _ = _run(path, seed, shapes=exp.get("shapes"), symbolic=int(exp.get("symbolic", 1)))
    return arrays


def check(req):
    tol = float(req["tol"]) if req.get("tol") else None
    res = []
    for item in req["items"]:
        exp = item["expect"]
        try:
            seed = int(exp["seed"])
            arrays = _check_run(item["file"], exp, seed)
        except Exception as e:
            res.append({"ok": False, "detail": "does not run: " + _err_line(e)})
            continue
        if len(arrays) != len(exp["outputs"]):
            res.append({"ok": False, "detail": f"{len(arrays)} outputs, {len(exp['outputs'])} expected"})
            continue
        try:
            if exp.get("v") in (2, 3):
                bad = None
                for k, (a, e) in enumerate(zip(arrays, exp["outputs"])):
                    bad = _compare(k, a, e, seed, tol)
                    if bad:
                        break
            elif exp.get("v") is None:
                bad = _check_legacy(exp, arrays, tol)
            else:
                bad = f"fingerprint version {exp.get('v')} is newer than this proteus"
        except Exception as e:
            bad = "cannot be compared: " + _err_line(e)
        res.append({"ok": bad is None, "detail": bad or ""})
    return res


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "compute-seeded" and len(sys.argv) % 2 == 0:
        a = sys.argv[2:]
        print(json.dumps(compute([(int(a[i]), a[i + 1]) for i in range(0, len(a), 2)])))
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "compute":
        base = int(sys.argv[2])
        print(json.dumps(compute([(base + i, f) for i, f in enumerate(sys.argv[3:])])))
        return 0
    if len(sys.argv) == 2 and sys.argv[1] == "compute-request":
        req = json.load(sys.stdin)
        print(json.dumps(compute(req["items"], req)))
        return 0
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        print(json.dumps(check(json.load(sys.stdin))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
