"""Functional fingerprints of subgraph files.

The owner fingerprints each real subgraph before sending it and checks the
returned, optimized file against the fingerprint: a file that was swapped,
had a weight changed, or computes something else is caught and named.

A fingerprint runs the file on seeded random inputs and keeps, per output,
its L2 norm and 8 random projections on dense random sign vectors (seeded).
A change anywhere in an output moves the projections; optimizer round-off
(relative 1e-6) does not move them past the tolerance.

  python -m proteus_py.probe compute SEED FILE...   -> JSON list on stdout
  python -m proteus_py.probe check < request.json   -> JSON list on stdout
request: {"tol": T, "items": [{"file", "seed", "expect"}]}
"""
import json
import sys

import numpy as np

N_PROJ = 8


def _digest(arrays, seed):
    out = []
    for k, a in enumerate(arrays):
        y = np.asarray(a, dtype=np.float64).ravel()
        y = np.where(np.isfinite(y), y, 0.0)
        # one random byte per element gives 8 sign vectors, one per bit
        bits = np.random.default_rng([seed, k]).integers(0, 256, y.size, dtype=np.uint8)
        total = y.sum()
        proj = [float(2.0 * y[(bits >> b) & 1 == 1].sum() - total) for b in range(N_PROJ)]
        out.append({"n": int(y.size), "norm": float(np.linalg.norm(y)), "proj": proj})
    return out


def _run(path, seed):
    from proteus_py.inputs import make_inputs
    from proteus_py.ort import session
    s = session(path, "disabled", threads=1)
    names = [o.name for o in s.get_outputs()]
    return s.run(names, make_inputs(path, seed=seed))


def compute(seed, files):
    res = []
    for i, f in enumerate(files):
        try:
            res.append({"probe": {"seed": seed + i, "outputs": _digest(_run(f, seed + i), seed + i)}})
        except Exception as e:
            res.append({"error": (str(e).splitlines() or [type(e).__name__])[0][:300]})
    return res


def check(req):
    tol = float(req.get("tol", 1e-4))
    res = []
    for item in req["items"]:
        exp = item["expect"]
        try:
            got = _digest(_run(item["file"], exp["seed"]), exp["seed"])
        except Exception as e:
            res.append({"ok": False, "detail": "does not run: " + (str(e).splitlines() or [""])[0][:300]})
            continue
        if len(got) != len(exp["outputs"]):
            res.append({"ok": False, "detail": f"{len(got)} outputs, {len(exp['outputs'])} expected"})
            continue
        bad = None
        for k, (g, e) in enumerate(zip(got, exp["outputs"])):
            scale = max(e["norm"], 1e-30)
            err = max([abs(g["norm"] - e["norm"])] + [abs(a - b) for a, b in zip(g["proj"], e["proj"])]) / scale
            if g["n"] != e["n"] or err > tol:
                bad = f"output {k} differs from what was sent (relative error {err:.3g}, tolerance {tol:g})"
                break
        res.append({"ok": bad is None, "detail": bad or ""})
    return res


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "compute":
        print(json.dumps(compute(int(sys.argv[2]), sys.argv[3:])))
        return 0
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        print(json.dumps(check(json.load(sys.stdin))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
