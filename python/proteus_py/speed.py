"""Quick speed comparison for the demo: the model unoptimized, the whole
model optimized at LEVEL, and the reassembled model (optimizations
disabled), interleaved.  Prints one JSON object.

usage: python -m proteus_py.speed MODEL REASSEMBLED [--level all] [--passes 5] [--iters 10]"""
import argparse
import json
import statistics
import time

from proteus_py.inputs import make_inputs
from proteus_py.ort import session


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("reassembled")
    ap.add_argument("--level", default="all")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    feeds = make_inputs(a.model, seed=0)
    ss = {"unoptimized": session(a.model, "disabled"), "best": session(a.model, a.level),
          "proteus": session(a.reassembled, "disabled")}
    names = {k: [o.name for o in s.get_outputs()] for k, s in ss.items()}
    for k, s in ss.items():
        for _ in range(2):
            s.run(names[k], feeds)
    t = {k: [] for k in ss}
    for p in range(a.passes):
        for k in (list(ss) if p % 2 == 0 else list(ss)[::-1]):
            xs = []
            for _ in range(a.iters):
                t0 = time.perf_counter()
                ss[k].run(names[k], feeds)
                xs.append(time.perf_counter() - t0)
            t[k].append(statistics.median(xs) * 1e3)
    ms = {k: statistics.median(v) for k, v in t.items()}
    gain_best = ms["unoptimized"] / ms["best"]
    gain_proteus = ms["unoptimized"] / ms["proteus"]
    print(json.dumps({"ms": {k: round(v, 2) for k, v in ms.items()}, "level": a.level,
                      "speedup_best": round(gain_best, 3), "speedup_proteus": round(gain_proteus, 3),
                      "proteus_over_best": round(ms["proteus"] / ms["best"], 3)}))


if __name__ == "__main__":
    main()
