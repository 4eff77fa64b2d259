"""proteus verify: do two models compute the same thing?

Runs REFERENCE and CANDIDATE in ONNX Runtime with graph optimizations
disabled on the same seeded random inputs (token ids and masks in valid
ranges), prints the largest absolute and relative error per output, and
exits 1 when any output is beyond tolerance or a model cannot be run (one
line "proteus: verify: FILE: problem"; 2 on a usage error).  Relative error
is measured against the output's range: an output passes when
max |cand - ref| <= atol + rtol * max |ref|, so round-off on elements near
zero is not mistaken for a difference (optimizers reassociate sums; an
element near zero can change by 100% of itself and 1e-7 of the output).

The default rtol follows each output's dtype: 10 machine epsilons of it,
but at least 1e-4 (float32 and float64: 1e-4; float16, eps 2^-10: 9.8e-3;
bfloat16, eps 2^-7: 7.8e-2; other dtypes: 1e-4).  --rtol sets one for all."""
import argparse
import json
import os
import sys
import time

# 10 machine epsilons, at least 1e-4
_EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23, "float64": 2.0 ** -52}
DEFAULT_RTOL_FLOOR = 1e-4


def default_rtol(dtype):
    """The default rtol for an output of this (numpy) dtype."""
    eps = _EPS.get(str(dtype))
    return max(DEFAULT_RTOL_FLOOR, 10 * eps) if eps is not None else DEFAULT_RTOL_FLOOR


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


def _session(path):
    from proteus_py.ort import session
    try:
        return session(path)
    except Exception as e:  # noqa: BLE001
        raise VerifyError(f"{path}: ONNX Runtime cannot load it: {_first_line(e)}") from None


def _run(path, sess, names, feeds, model, shapes):
    try:
        return sess.run(names, feeds)
    except Exception as e:  # noqa: BLE001
        from proteus_py.inputs import graph_inputs, symbolic_inputs
        msg = _first_line(e)
        tried = "; ".join(f"{n} {list(v.shape)}" for n, v in feeds.items())
        guess = [n for n in symbolic_inputs(model) if n not in shapes]
        if guess:
            named = [n for n in guess if n in str(e)] or guess
            vis = {vi.name: vi for vi in graph_inputs(model)}
            from proteus_py.inputs import shape_text
            ex = named[0]
            rank = len(vis[ex].type.tensor_type.shape.dim)
            dims = ",".join(f"D{i}" for i in range(rank))
            raise VerifyError(
                f"{path}: ONNX Runtime rejected the input shapes tried ({tried}; symbolic dims set to 1): {msg}; "
                f"give input '{ex}' {shape_text(vis[ex])} its real shape with --input-shape {ex}={dims}") from None
        raise VerifyError(f"{path}: ONNX Runtime failed to run it on inputs {tried}: {msg}") from None


def compare(ref_path, cand_path, rtol=None, atol=0.0, seed=0, runs=1, shapes=None):
    """{output name: {max_abs, max_rel, bitwise, ok, dtype, rtol}}; rtol None:
    each output's default_rtol.  Raises VerifyError ("FILE: problem")."""
    import numpy as np
    from proteus_py.inputs import check_shapes, make_inputs

    shapes = shapes or {}
    ref_model = _load(ref_path)
    _load(cand_path)
    try:
        check_shapes(ref_model, shapes)
    except ValueError as e:
        raise VerifyError(f"{ref_path}: {e}") from None
    rs, cs = _session(ref_path), _session(cand_path)
    rin = [i.name for i in rs.get_inputs()]
    cin = [i.name for i in cs.get_inputs()]
    if rin != cin:
        raise VerifyError(f"{cand_path}: its inputs {cin} differ from the reference's {rin}")
    rnames = [o.name for o in rs.get_outputs()]
    cnames = [o.name for o in cs.get_outputs()]
    if rnames != cnames:
        raise VerifyError(f"{cand_path}: its outputs {cnames} differ from the reference's {rnames}")
    results = {n: {"max_abs": 0.0, "max_rel": 0.0, "bitwise": True, "ok": True} for n in rnames}
    for r in range(runs):
        feeds = make_inputs(ref_model, seed=seed + r, shapes=shapes)
        a = _run(ref_path, rs, rnames, feeds, ref_model, shapes)
        b = _run(cand_path, cs, cnames, feeds, ref_model, shapes)
        for n, x, y in zip(rnames, a, b):
            res = results[n]
            res["dtype"] = str(x.dtype)
            tol = default_rtol(x.dtype) if rtol is None else rtol
            res["rtol"] = tol
            if x.shape != y.shape or x.dtype != y.dtype:
                res.update(ok=False, bitwise=False, note=f"shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
                continue
            if x.tobytes() != y.tobytes():
                res["bitwise"] = False
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
                res["max_rel"] = max(res["max_rel"], worst / scale if scale > 0 else (0.0 if worst == 0 else np.inf))
                if not worst <= atol + tol * scale:
                    res["ok"] = False
    return results


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def _args(argv):
    ap = _Parser(prog="proteus verify", description=__doc__.split("\n\n")[0], add_help=False)
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--rtol", type=float, default=None)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--input-shape", action="append", default=[], metavar="NAME=D0,D1,...")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.rtol is not None and not a.rtol >= 0:
        raise _Usage(f"--rtol must be a non-negative number, not {a.rtol}")
    if not a.atol >= 0:
        raise _Usage(f"--atol must be a non-negative number, not {a.atol}")
    if a.runs < 1:
        raise _Usage(f"--runs must be at least 1, not {a.runs}")
    from proteus_py.inputs import parse_input_shape
    shapes = {}
    for text in a.input_shape:
        try:
            name, shape = parse_input_shape(text)
        except ValueError as e:
            raise _Usage(str(e)) from None
        if name in shapes:
            raise _Usage(f"--input-shape: input '{name}' is given twice")
        shapes[name] = shape
    a.shapes = shapes
    return a


def _main(argv):
    try:
        a = _args(argv)
    except _Usage as e:
        print(f"proteus: verify: {e} (see 'proteus verify --help')", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        res = compare(a.reference, a.candidate, a.rtol, a.atol, a.seed, a.runs, a.shapes)
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
    ok = all(r["ok"] for r in res.values())
    if a.json:
        print(json.dumps({"ok": ok, "reference": a.reference, "candidate": a.candidate,
                          "seconds": round(time.monotonic() - t0, 3), "outputs": res}))
    else:
        for n, r in res.items():
            tag = "bitwise identical" if r["bitwise"] else ("ok" if r["ok"] else "BEYOND TOLERANCE")
            print(f"{n}: max abs error {r['max_abs']:.3g}, max rel error {r['max_rel']:.3g} "
                  f"(rtol {r.get('rtol', a.rtol or DEFAULT_RTOL_FLOOR):.2g})  {tag}")
        if ok:
            print("verify: passed")
        else:
            bad = [n for n, r in res.items() if not r["ok"]]
            print(f"verify: FAILED ({len(bad)} of {len(res)} outputs beyond tolerance; atol {a.atol})")
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
