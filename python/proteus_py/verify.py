"""proteus verify: do two models compute the same thing?

Runs REFERENCE and CANDIDATE in ONNX Runtime with graph optimizations
disabled on the same seeded random inputs (token ids and masks in valid
ranges), prints the largest absolute and relative error per output, and
exits 1 when any output is beyond tolerance (2 on a usage or load error).
Relative error is measured against the output's range: an output passes
when max |cand - ref| <= atol + rtol * max |ref|, so round-off on elements
near zero is not mistaken for a difference (optimizers reassociate sums;
an element near zero can change by 100% of itself and 1e-7 of the output)."""
import argparse
import json
import sys

import numpy as np


def compare(ref_path, cand_path, rtol=1e-4, atol=0.0, seed=0, runs=1):
    from proteus_py.inputs import make_inputs
    from proteus_py.ort import session

    rs, cs = session(ref_path), session(cand_path)
    rin = [(i.name, i.type, i.shape) for i in rs.get_inputs()]
    cin = [(i.name, i.type, i.shape) for i in cs.get_inputs()]
    if [x[0] for x in rin] != [x[0] for x in cin]:
        raise ValueError(f"inputs differ: {[x[0] for x in rin]} vs {[x[0] for x in cin]}")
    rnames = [o.name for o in rs.get_outputs()]
    cnames = [o.name for o in cs.get_outputs()]
    if rnames != cnames:
        raise ValueError(f"outputs differ: {rnames} vs {cnames}")
    import onnx
    ref_model = onnx.load(ref_path, load_external_data=False)
    results = {n: {"max_abs": 0.0, "max_rel": 0.0, "bitwise": True, "ok": True} for n in rnames}
    for r in range(runs):
        feeds = make_inputs(ref_model, seed=seed + r)
        a = rs.run(rnames, feeds)
        b = cs.run(cnames, feeds)
        for n, x, y in zip(rnames, a, b):
            res = results[n]
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
                if not worst <= atol + rtol * scale:
                    res["ok"] = False
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(prog="proteus verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        res = compare(a.reference, a.candidate, a.rtol, a.atol, a.seed, a.runs)
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"proteus: verify: {msg}", file=sys.stderr)
        return 2
    ok = all(r["ok"] for r in res.values())
    if a.json:
        print(json.dumps({"ok": ok, "outputs": res}))
    else:
        for n, r in res.items():
            tag = "bitwise identical" if r["bitwise"] else ("ok" if r["ok"] else "BEYOND TOLERANCE")
            print(f"{n}: max abs error {r['max_abs']:.3g}, max rel error {r['max_rel']:.3g}  {tag}")
        print("verify: " + ("passed" if ok else f"FAILED (rtol {a.rtol}, atol {a.atol})"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
