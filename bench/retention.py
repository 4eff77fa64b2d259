"""Speedup retention (the paper's Figure 4) on this machine.

For each model: time in ONNX Runtime (CPU, 2 intra-op threads)
  unopt        the model, optimizations disabled
  best-LEVEL   the whole model optimized at LEVEL (extended, all)
  proteus-LEVEL the bucket optimized file by file at LEVEL, reassembled,
               run with optimizations disabled
Configurations are interleaved within each pass; each pass records the
median of ITERS runs per configuration.  Reports the trimmed mean over
passes and proteus/best per pass (mean and spread).

usage: bench/retention.py [--models NAME ...] [--passes P] [--iters I] [--out FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from proteus_py.inputs import make_inputs  # noqa: E402
from proteus_py.ort import session  # noqa: E402

PROTEUS = os.path.join(ROOT, "build", "proteus")
LEVELS = ("extended", "all")


# keys are sealed; the benchmark's throwaway keys use a fixed passphrase
os.environ.setdefault("PROTEUS_PASSPHRASE", "proteus bench passphrase")


def sh(*args):
    r = subprocess.run([PROTEUS, *map(str, args)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"proteus {args[0]} failed: {r.stderr.strip()}")
    return r.stdout


def trimmed(xs):
    xs = sorted(xs)
    k = len(xs) // 5
    xs = xs[k:len(xs) - k] if len(xs) > 2 * k else xs
    return statistics.mean(xs)


def bench_model(path, passes, iters, work):
    name = os.path.basename(path)[:-5]
    model = os.path.join(work, f"{name}.onnx")
    sh("rehydrate", path, model, "--seed", 1)
    feeds = make_inputs(model, seed=0)
    sessions = {"unopt": session(model, "disabled")}
    info = {}
    for lv in LEVELS:
        sessions[f"best-{lv}"] = session(model, lv)
        b, k, o, r = (os.path.join(work, f"{name}-{x}-{lv}") for x in ("bucket", "key", "opt", "re"))
        t0 = time.time()
        out = sh("obfuscate", model, "-o", b, "--key", k, "--seed", 1, "-k", 0, "--allow-weak", "--allow-unverified")
        sh("optimize", b, "-o", o, "--with", f"ort:{lv}", "-j", 2)
        re_out = sh("reassemble", o, "--key", k, "-o", r + ".onnx")
        info[lv] = {"pipeline_s": round(time.time() - t0, 1), "obfuscate": out.strip(), "reassemble": re_out.strip()}
        sessions[f"proteus-{lv}"] = session(r + ".onnx", "disabled")
    names = list(sessions)
    out_names = {k: [o.name for o in s.get_outputs()] for k, s in sessions.items()}
    for k, s in sessions.items():  # warm up
        for _ in range(3):
            s.run(out_names[k], feeds)
    per_pass = {k: [] for k in names}
    for p in range(passes):
        order = names if p % 2 == 0 else names[::-1]
        for k in order:
            ts = []
            for _ in range(iters):
                t = time.perf_counter()
                sessions[k].run(out_names[k], feeds)
                ts.append(time.perf_counter() - t)
            per_pass[k].append(statistics.median(ts) * 1e3)
    row = {"model": name, "ms": {k: round(trimmed(v), 2) for k, v in per_pass.items()}, "info": info}
    for lv in LEVELS:
        ratios = [a / b for a, b in zip(per_pass[f"proteus-{lv}"], per_pass[f"best-{lv}"])]
        row[f"ratio_{lv}"] = round(trimmed(ratios), 3)
        row[f"ratio_{lv}_spread"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", help="only print the table of a --out file")
    ap.add_argument("--models", nargs="*", help="corpus model names (file names without .onnx)")
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--out", help="append JSON lines here")
    a = ap.parse_args()
    if a.table:
        print_table([json.loads(l) for l in open(a.table) if l.strip()])
        return
    cdir = os.path.join(ROOT, "corpus", "models")
    models = a.models or sorted(f[:-5] for f in os.listdir(cdir) if f.endswith("-op17.onnx") and "-dyn" not in f)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for m in models:
            row = bench_model(os.path.join(cdir, m + ".onnx"), a.passes, a.iters, work)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
            for f in os.listdir(work):
                p = os.path.join(work, f)
                if os.path.isdir(p):
                    subprocess.run(["rm", "-rf", p])
                else:
                    os.unlink(p)
    print_table(rows)


def print_table(rows):
    """Markdown table of rows (dicts as written to --out), with the mean."""
    print("| model | unopt ms | best-ext ms | proteus-ext ms | ratio ext (spread) | best-all ms | proteus-all ms | ratio all (spread) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ms = r["ms"]
        print(f"| {r['model']} | {ms['unopt']} | {ms['best-extended']} | {ms['proteus-extended']} | "
              f"{r['ratio_extended']} ({r['ratio_extended_spread'][0]}-{r['ratio_extended_spread'][1]}) | "
              f"{ms['best-all']} | {ms['proteus-all']} | {r['ratio_all']} ({r['ratio_all_spread'][0]}-{r['ratio_all_spread'][1]}) |")
    if rows:
        def gmean(xs):
            return float(np.exp(np.mean(np.log(xs))))
        ext = [r["ratio_extended"] for r in rows]
        al = [r["ratio_all"] for r in rows]
        print(f"| **mean** (geometric) | | | | **{np.mean(ext):.3f}** ({gmean(ext):.3f}) | | | "
              f"**{np.mean(al):.3f}** ({gmean(al):.3f}) |")


if __name__ == "__main__":
    main()
