"""proteus verify: do two models compute the same thing?

Runs REFERENCE and CANDIDATE in ONNX Runtime on the same inputs, prints the
largest absolute and relative error per output, and exits 1 when any output
is beyond tolerance or a model cannot be run (one line "proteus: verify:
FILE: problem"; 2 on a usage error).  Relative error is measured against
the output's range: an output passes when
max |cand - ref| <= atol + rtol * max |ref|, so round-off on elements near
zero is not mistaken for a difference (optimizers reassociate sums; an
element near zero can change by 100% of itself and 1e-7 of the output).

Inputs: seeded random (token ids and masks in valid ranges, floats standard
normal, symbolic dims 1); --input-shape NAME=D0,D1,... gives an input its
shape, --input NAME=FILE.npy its values (a numpy.save array of the input's
dtype; for inputs random values do not suit: a sample rate, a length, a
flag).  When ONNX Runtime cannot run a model on them, the error line names
the inputs that were drawn at random and the flag that gives them.  Random
inputs can leave an output degenerate (a text detector's probability map
on a standard-normal image peaks at 4e-4, where float32 round-off is a
visible part of the range): give such a model a real input with --input.

Reference level: the candidate always runs with graph optimizations
disabled (it is the optimized model); the reference at --reference-opt
(disabled, the default; basic, extended, all).  ONNX Runtime's own
optimization of a whole model changes float results by reordering and
fusing (NCHWc convolutions, fused activations, Cast pairs removed in
float16 models); on some models by more than the tolerance, and then no
optimizer-side pipeline can pass against the unoptimized reference.  When
verify fails, it measures that error (the reference at 'all' against the
reference at 'disabled', and the candidate against the reference at 'all')
and says so; --reference-opt all compares with the whole model optimized
by the same reference optimizer.

The default rtol: 10 machine epsilons of the precision the output is
computed in, at least 1e-4.  That precision is the lower of the output's
dtype and the lowest float precision the model computes in (the lowest
among its initializers, constants, Cast targets and declared value types,
bodies included): a model converted to float16 with float32 inputs and
outputs (keep_io_types) rounds every intermediate to float16, so two
correct executions of it (one fusing, one casting back and forth) differ by
float16 round-off, about 2^-11 of the range per operation; holding them to
float32's 1e-4 fails every optimizer.  float32 and float64: 1e-4; float16,
eps 2^-10: 9.8e-3; bfloat16, eps 2^-7: 7.8e-2; non-float outputs: 1e-4.
--rtol sets one for all outputs."""
import argparse
import json
import os
import re
import sys
import time

# 10 machine epsilons, at least 1e-4
_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
DEFAULT_RTOL_FLOOR = 1e-4
LEVELS = ("disabled", "basic", "extended", "all")
# ONNX TensorProto float types -> the dtype names above
_FLOAT_TYPES = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def default_rtol(dtype, compute=None):
    """The default rtol for an output of this (numpy) dtype, of a model that
    computes in `compute` (a dtype name, see compute_dtype; None: the
    output's own).  Non-float outputs: the floor."""
    eps = _EPS.get(str(dtype))
    if eps is None:
        return DEFAULT_RTOL_FLOOR
    if compute in _EPS:
        eps = max(eps, _EPS[compute])
    return max(DEFAULT_RTOL_FLOOR, 10 * eps)


def compute_dtype(model):
    """The lowest float precision the model computes in: of the float types
    of its initializers, Constant values, Cast/CastLike targets, inputs,
    outputs and value_info, in the main graph and every body, the one with
    the largest machine epsilon ("float16", ...); None when it has none."""
    seen = set()

    def tensor(t):
        seen.add(t.data_type)

    def vi(v):
        if v.type.HasField("tensor_type"):
            seen.add(v.type.tensor_type.elem_type)

    def graph(g):
        for t in g.initializer:
            tensor(t)
        for t in g.sparse_initializer:
            tensor(t.values)
        for v in list(g.input) + list(g.output) + list(g.value_info):
            vi(v)
        for n in g.node:
            for a in n.attribute:
                if a.name == "to" and n.op_type == "Cast":
                    seen.add(a.i)
                if a.HasField("t"):
                    tensor(a.t)
                if a.HasField("g"):
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)

    graph(model.graph)
    names = [_FLOAT_TYPES[t] for t in seen if t in _FLOAT_TYPES]
    return max(names, key=lambda n: _EPS[n]) if names else None


class VerifyError(Exception):
    """A problem with one file: str() is "FILE: problem"."""


def _first_line(e, limit=300):
    """An exception as one short line (ONNX Runtime's prefixes and source
    locations removed)."""
    import re
    text = " ".join(str(e).split()) if str(e).strip() else type(e).__name__
    # "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : message"
    if text.startswith("[ONNXRuntimeError]"):
        parts = text.split(" : ", 3)
        text = parts[-1] if len(parts) == 4 else text
    text = re.sub(r"Non-zero status code returned while running (\w+) node\. Name:'([^']*)' Status Message: ",
                  lambda m: f"{m.group(1)} node{' ' + repr(m.group(2)) if m.group(2) else ''}: ", text)
    # "/onnxruntime_src/...h:84 Fn(args) condition was false. " -> ""
    text = re.sub(r"/onnxruntime_src/\S+:\d+ [^(]*\([^)]*\) (.*? was false\. )?", "", text)
    return text[:limit] + ("..." if len(text) > limit else "")


def _load(path):
    import onnx
    if not os.path.exists(path):
        raise VerifyError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise VerifyError(f"{path}: not a regular file")
    try:
        return onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001
        raise VerifyError(f"{path}: not a readable ONNX model ({_first_line(e)})") from None


def _session(path, level="disabled"):
    from proteus_py.ort import session
    try:
        return session(path, level)
    except Exception as e:  # noqa: BLE001
        at = f" with optimizations at '{level}'" if level != "disabled" else ""
        raise VerifyError(f"{path}: ONNX Runtime cannot load it{at}: {_first_line(e)}") from None


def _mentions(text, name):
    """Does ONNX Runtime's message name this input (as a whole word)?"""
    return re.search(r"(?<![\w/.:])" + re.escape(name) + r"(?![\w/.:])", text) is not None


def _run(path, sess, names, feeds, model, shapes, given=()):
    try:
        return sess.run(names, feeds)
    except Exception as e:  # noqa: BLE001
        from proteus_py.inputs import describe_draw, graph_inputs, shape_text, symbolic_inputs
        msg = _first_line(e)
        tried = "; ".join(f"{n} {list(v.shape)}" for n, v in feeds.items())
        drawn = [n for n in feeds if n not in given]
        if not drawn:
            raise VerifyError(f"{path}: ONNX Runtime failed to run it on the inputs given ({tried}): {msg}") from None
        guess = [n for n in symbolic_inputs(model) if n not in shapes and n not in given]
        # the inputs whose values most likely matter: those the message
        # names, else the integer and bool ones (a rate, a length, a flag)
        sus = ([n for n in drawn if _mentions(str(e), n)] or [n for n in drawn if feeds[n].dtype.kind in "biu"])
        if guess:
            named = [n for n in guess if n in str(e)] or guess
            vis = {vi.name: vi for vi in graph_inputs(model)}
            ex = named[0]
            rank = len(vis[ex].type.tensor_type.shape.dim)
            dims = ",".join(f"D{i}" for i in range(rank))
            vals = [n for n in sus if n != ex and n not in guess]
            if vals:
                draws = ", ".join(describe_draw(model, n, feeds[n]) for n in vals)
                more = f", and real values to inputs drawn at random ({draws}) with --input NAME=FILE.npy"
            else:
                more = f" (or its values with --input {ex}=FILE.npy)"
            raise VerifyError(
                f"{path}: ONNX Runtime rejected the input shapes tried ({tried}; symbolic dims set to 1): {msg}; "
                f"give input '{ex}' {shape_text(vis[ex])} its real shape with --input-shape {ex}={dims}{more}"
            ) from None
        sus = sus or drawn
        rest = [n for n in drawn if n not in sus]
        desc = ", ".join(describe_draw(model, n, feeds[n]) for n in sus)
        if rest:
            desc += f" (also random: {', '.join(rest)})"
        raise VerifyError(
            f"{path}: ONNX Runtime failed to run it on inputs {tried}: {msg}; drawn at random: {desc}; "
            f"give real values with --input NAME=FILE.npy (e.g. --input {sus[0]}=FILE.npy, a numpy.save "
            f"array) or real shapes with --input-shape NAME=D0,D1,...") from None


def _diff(x, y, tol, atol, res):
    """Folds one comparison of reference output x and candidate output y
    into res ({max_abs, max_rel, bitwise, ok})."""
    import numpy as np
    if x.shape != y.shape or x.dtype != y.dtype:
        res.update(ok=False, bitwise=False, max_abs=float("inf"), max_rel=float("inf"),
                   note=f"shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
        return
    if x.tobytes() != y.tobytes():
        res["bitwise"] = False
    if x.dtype.kind not in "biufc":  # strings: equal or not
        if x.tobytes() != y.tobytes() and not np.array_equal(x, y):
            res.update(ok=False, max_abs=float("inf"), max_rel=float("inf"))
        return
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    # equal non-finite values (NaN and NaN, inf and inf) agree
    agree = (np.isnan(xf) & np.isnan(yf)) | (np.isinf(xf) & (xf == yf))
    with np.errstate(invalid="ignore"):
        diff = np.where(agree, 0.0, np.abs(xf - yf))
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size:
        fin = np.abs(xf[np.isfinite(xf)])
        scale = float(fin.max()) if fin.size else 0.0
        worst = float(diff.max())
        res["max_abs"] = max(res["max_abs"], worst)
        res["max_rel"] = max(res["max_rel"], worst / scale if scale > 0 else (0.0 if worst == 0 else float("inf")))
        if not worst <= atol + tol * scale:
            res["ok"] = False


def _fresh(names):
    return {n: {"max_abs": 0.0, "max_rel": 0.0, "bitwise": True, "ok": True} for n in names}


def _tol(x, rtol, compute):
    return default_rtol(x.dtype, compute) if rtol is None else rtol


def _short(res):
    """{name: diff} without the bitwise flag (for the measured errors)."""
    return {n: {k: v for k, v in r.items() if k != "bitwise"} for n, r in res.items()}


def _worst(res):
    """(output, max_rel) of the largest max_rel."""
    n = max(res, key=lambda k: res[k]["max_rel"])
    return n, res[n]["max_rel"]


def reference_opt_error(ref_path, cand_path, model, names, feeds_of, runs, given, shapes, rtol, atol, compute,
                        have=None, level="all"):
    """ONNX Runtime's own error at `level`: the reference at `level` against
    the reference at 'disabled', and the candidate (unoptimized) against the
    reference at `level` (what --reference-opt LEVEL would find), on the
    same inputs.  have: {level: session} already made.  Returns
    {"level", "max_rel", "ok", "outputs": {...}, "candidate": {"ok",
    "max_rel", "outputs"}} or {"level", "error": one line}."""
    have = dict(have or {})
    try:
        ref0 = have.get("disabled") or _session(ref_path, "disabled")
        ref1 = have.get(level) or _session(ref_path, level)
        cand = have.get("candidate") or _session(cand_path, "disabled")
        own, vs = _fresh(names), _fresh(names)
        for r in range(runs):
            feeds = feeds_of(r)
            a = _run(ref_path, ref0, names, feeds, model, shapes, given)
            b = _run(ref_path, ref1, names, feeds, model, shapes, given)
            c = _run(cand_path, cand, names, feeds, model, shapes, given)
            for n, x, y, z in zip(names, a, b, c):
                _diff(x, y, _tol(x, rtol, compute), atol, own[n])
                _diff(y, z, _tol(x, rtol, compute), atol, vs[n])
    except VerifyError as e:
        return {"level": level, "error": str(e)}
    except Exception as e:  # noqa: BLE001
        return {"level": level, "error": f"{type(e).__name__}: {_first_line(e)}"}
    out = {"level": level, "max_rel": _worst(own)[1], "worst_output": _worst(own)[0],
           "ok": all(r["ok"] for r in own.values()), "outputs": _short(own),
           "candidate": {"ok": all(r["ok"] for r in vs.values()), "max_rel": _worst(vs)[1],
                         "outputs": _short(vs)}}
    return out


def compare(ref_path, cand_path, rtol=None, atol=0.0, seed=0, runs=1, shapes=None, files=None,
            reference_opt="disabled", explain=True):
    """Compares the two models; returns a report: {"outputs": {name:
    {max_abs, max_rel, bitwise, ok, dtype, rtol}}, "ok", "compute_dtype",
    "reference_opt", "inputs": {name: {dtype, shape, from}}, and, when an
    output is beyond tolerance and explain, "reference_opt_error" (see
    reference_opt_error)}.  rtol None: each output's default_rtol.  files:
    {input: path of a .npy}.  Raises VerifyError ("FILE: problem")."""
    from proteus_py.inputs import check_shapes, given_inputs, sample_inputs

    shapes = shapes or {}
    ref_model = _load(ref_path)
    _load(cand_path)
    try:
        check_shapes(ref_model, shapes)
        given = given_inputs(ref_model, files or {})
        sample_inputs(ref_model, seed=seed, shapes=shapes, given=given)  # the shapes and arrays agree
    except ValueError as e:
        msg = str(e)
        raise VerifyError(msg if msg.startswith("--input ") else f"{ref_path}: {msg}") from None
    compute = compute_dtype(ref_model)
    rs, cs = _session(ref_path, reference_opt), _session(cand_path, "disabled")
    rin = [i.name for i in rs.get_inputs()]
    cin = [i.name for i in cs.get_inputs()]
    if rin != cin:
        raise VerifyError(f"{cand_path}: its inputs {cin} differ from the reference's {rin}")
    rnames = [o.name for o in rs.get_outputs()]
    cnames = [o.name for o in cs.get_outputs()]
    if rnames != cnames:
        raise VerifyError(f"{cand_path}: its outputs {cnames} differ from the reference's {rnames}")

    def feeds_of(r):
        return sample_inputs(ref_model, seed=seed + r, shapes=shapes, given=given)

    results = _fresh(rnames)
    inputs = {}
    for r in range(runs):
        feeds = feeds_of(r)
        if r == 0:
            inputs = {n: {"dtype": str(v.dtype), "shape": [int(d) for d in v.shape],
                          "from": "file" if n in given else "random"} for n, v in feeds.items()}
        a = _run(ref_path, rs, rnames, feeds, ref_model, shapes, given)
        b = _run(cand_path, cs, cnames, feeds, ref_model, shapes, given)
        for n, x, y in zip(rnames, a, b):
            res = results[n]
            res["dtype"] = str(x.dtype)
            res["rtol"] = _tol(x, rtol, compute)
            _diff(x, y, res["rtol"], atol, res)
    ok = all(r["ok"] for r in results.values())
    report = {"ok": ok, "reference_opt": reference_opt, "compute_dtype": compute, "inputs": inputs,
              "outputs": results}
    if not ok and explain:
        report["reference_opt_error"] = reference_opt_error(
            ref_path, cand_path, ref_model, rnames, feeds_of, runs, given, shapes, rtol, atol, compute,
            have={reference_opt: rs, "candidate": cs})
    return report


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def _args(argv):
    ap = _Parser(prog="proteus verify", description=__doc__.split("\n\n")[0], add_help=False,
                 allow_abbrev=False)  # --input is not --input-shape
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--rtol", type=float, default=None)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    ap.add_argument("--reference-opt", default="disabled", metavar="LEVEL")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.rtol is not None and not a.rtol >= 0:
        raise _Usage(f"--rtol must be a non-negative number, not {a.rtol}")
    if not a.atol >= 0:
        raise _Usage(f"--atol must be a non-negative number, not {a.atol}")
    if a.runs < 1:
        raise _Usage(f"--runs must be at least 1, not {a.runs}")
    if a.reference_opt not in LEVELS:
        raise _Usage(f"--reference-opt '{a.reference_opt}': want one of {', '.join(LEVELS)}")
    from proteus_py.inputs import parse_input_file, parse_input_shape
    shapes = _by_name(a.input_shape, parse_input_shape, "--input-shape")
    files = _by_name(a.input, parse_input_file, "--input")
    a.shapes, a.files = shapes, files
    return a


def _by_name(texts, parse, flag):
    """{name: value} from repeated NAME=... options; _Usage on a bad one or
    a name given twice."""
    out = {}
    for text in texts:
        try:
            name, value = parse(text)
        except ValueError as e:
            raise _Usage(str(e)) from None
        if name in out:
            raise _Usage(f"{flag}: input '{name}' is given twice")
        out[name] = value
    return out


def _explain(e, current):
    """The failure's explanation lines (text output) from reference_opt_error;
    current: the --reference-opt verify ran with."""
    if not e:
        return []
    lvl = e["level"]
    if "error" in e:
        return [f"verify: ONNX Runtime's own '{lvl}' optimization of the reference could not be measured: "
                f"{e['error']}"]
    own = (f"ONNX Runtime's own '{lvl}' optimization of the reference is off by max rel {e['max_rel']:.3g} "
           f"({e['worst_output']}) from the reference unoptimized, on the same inputs")
    cand = e["candidate"]
    vs = (f"against the reference at '{lvl}' the candidate is "
          + (f"within tolerance (max rel {cand['max_rel']:.3g})" if cand["ok"]
             else f"beyond tolerance too (max rel {cand['max_rel']:.3g})"))
    if current == lvl:  # already compared with the reference at that level
        return [f"verify: for comparison, {own} (" + ("within" if e["ok"] else "beyond") + " tolerance)"]
    if e["ok"]:
        return [f"verify: {own}: within tolerance, so the candidate's error is not that optimizer's "
                f"round-off alone; {vs}"]
    line = (f"verify: {own}: beyond tolerance too, so no optimizer-side pipeline can pass against the "
            f"unoptimized reference; {vs}; compare with the reference optimized the same way: "
            f"--reference-opt {lvl}")
    return [line]


def _main(argv):
    try:
        a = _args(argv)
    except _Usage as e:
        print(f"proteus: verify: {e} (see 'proteus verify --help')", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        rep = compare(a.reference, a.candidate, a.rtol, a.atol, a.seed, a.runs, a.shapes, a.files,
                      a.reference_opt)
    except VerifyError as e:
        msg = str(e)
    except MemoryError:
        msg = f"{a.reference}: out of memory"
    except Exception as e:  # noqa: BLE001 - unknown errors are one line too
        msg = f"{a.reference}: {type(e).__name__}: {_first_line(e)}"
    else:
        msg = None
    if msg is not None:
        print(f"proteus: verify: {msg}", file=sys.stderr)
        if a.json:
            print(json.dumps({"ok": False, "error": msg}))
        return 1
    res, ok = rep["outputs"], rep["ok"]
    if a.json:
        out = {"ok": ok, "reference": a.reference, "candidate": a.candidate,
               "seconds": round(time.monotonic() - t0, 3)}
        out.update(rep)
        print(json.dumps(out))
    else:
        comp = rep["compute_dtype"]
        for n, r in res.items():
            tag = "bitwise identical" if r["bitwise"] else ("ok" if r["ok"] else "BEYOND TOLERANCE")
            why = ""
            if a.rtol is None and comp and r.get("dtype") in _EPS and _EPS[comp] > _EPS[r["dtype"]]:
                why = f", the model computes in {comp}"
            print(f"{n}: max abs error {r['max_abs']:.3g}, max rel error {r['max_rel']:.3g} "
                  f"(rtol {r.get('rtol', a.rtol or DEFAULT_RTOL_FLOOR):.2g}{why})  {tag}")
        at = (f" (reference optimized by ONNX Runtime at '{a.reference_opt}', candidate not)"
              if a.reference_opt != "disabled" else "")
        if ok:
            print(f"verify: passed{at}")
        else:
            bad = [n for n, r in res.items() if not r["ok"]]
            print(f"verify: FAILED ({len(bad)} of {len(res)} outputs beyond tolerance; atol {a.atol}){at}")
            for line in _explain(rep.get("reference_opt_error"), a.reference_opt):
                print(line)
    sys.stdout.flush()
    return 0 if ok else 1


def main(argv=None):
    import signal
    import warnings
    warnings.simplefilter("ignore")
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("proteus: verify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away: say nothing more on stdout
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 1
    except BaseException as e:  # noqa: BLE001 - never a traceback
        if isinstance(e, SystemExit):
            raise
        print(f"proteus: verify: {type(e).__name__}: {_first_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
