"""Speed retention: the stitched model against the whole model optimized.

For each model, ONNX Runtime on the CPU times, in one process:
  whole       the model, optimized at LEVEL by ONNX Runtime when the session
              is created (what the owner would get without proteus);
  null        the same optimized whole model in a second session: null/whole
              is the benchmark's own error (it should be 1.000; its spread is
              what two identical models differ by in this run);
  VARIANT     the model through proteus: obfuscate -k 0 --allow-weak
              --allow-unverified --seed SEED plus the variant's own options
              (e.g. --fusion-from table / ort:all), optimize --with ort:LEVEL,
              reassemble (seam clean-up); run with optimizations disabled
              (it was optimized already).
Method (every number is a ratio against `whole` measured in the same pass):
  - all sessions are created first, with THREADS intra-op threads (default 1:
    a second thread on a shared 2-core machine adds more noise than speed;
    with more, the pool's threads do not spin between runs, so one
    session's idle threads do not slow the next) and 1 inter-op thread;
    each is run WARMUP times before any timing;
  - a pass times ITERS rounds; in each round every configuration runs once,
    back to back, in an order reversed every other pass, so slow drifts of
    the machine fall on all configurations alike;
  - per pass: the median time of each configuration, and the ratio
    median(variant) / median(whole) within that pass;
  - per model: the median of the per-pass ratios, and their spread (min-max
    over passes); ms columns are medians of the per-pass medians;
  - summary per group (tuning / held-out) and variant: the geometric mean of
    the per-model ratios and the worst one;
  - besides time, what does not depend on the machine's noise: node and
    layout-conversion (ReorderInput/ReorderOutput) counts of the whole model
    as ONNX Runtime optimizes it and of each stitched model.
Only run() is timed (inputs are made once, outputs are not checked inside the
timing); every stitched model's outputs are compared with the whole model's
once, before timing (max |difference| relative to the output's range).

Model names: a corpus name (corpus/models/NAME.onnx or corpus/holdout/
NAME.onnx; weightless files are filled with `proteus rehydrate --seed 1`),
rw:NAME (build/realworld/NAME.onnx, made by corpus/realworld/fetch.py),
timm:NAME (build/timm/NAME.onnx, made by bench/timm_export.py), or a path;
NAME@INPUT=D0,D1,...[+INPUT=...] fixes inputs with symbolic dims to those
lengths in the model file itself before anything else (whole and stitched
models then run the same shapes).

usage: bench/retention.py --tuning NAME... --held-out NAME... \\
         [--variant NAME=OBFUSCATE_ARGS]... [--level all] [--passes 7] [--iters 20] \\
         [--warmup 5] [--threads 1] [--seed 1] [--proteus BIN] [--out FILE.jsonl]
       bench/retention.py --table FILE.jsonl
"""
import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import numpy as np  # noqa: E402
import onnx  # noqa: E402

from proteus_py.inputs import make_inputs  # noqa: E402
from proteus_py.ort import session as ort_session  # noqa: E402

# keys are sealed; the benchmark's throwaway keys use a fixed passphrase
os.environ.setdefault("PROTEUS_PASSPHRASE", "proteus bench passphrase")
DEFAULT_VARIANTS = ["table=--fusion-from table", "learned=--fusion-from ort:all"]


def session(path, level, threads, optimized_path=None):
    return ort_session(path, level, threads, optimized_path=optimized_path, spin=False)


def sh(proteus, *args):
    r = subprocess.run([proteus, *map(str, args)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"proteus {args[0]} failed: {r.stderr.strip()}")
    return r.stdout + r.stderr


def resolve(name):
    """(path, display name, needs rehydration)."""
    if name.startswith("rw:"):
        return os.path.join(ROOT, "build", "realworld", name[3:] + ".onnx"), name, False
    if name.startswith("timm:"):
        return os.path.join(ROOT, "build", "timm", name[5:] + ".onnx"), name, False
    if os.path.sep in name or name.endswith(".onnx"):
        return name, os.path.basename(name)[:-5], None
    for d in ("models", "holdout"):
        p = os.path.join(ROOT, "corpus", d, name + ".onnx")
        if os.path.exists(p):
            return p, name, True
    raise SystemExit(f"retention: no model '{name}' in corpus/models or corpus/holdout")


def weightless(path):
    m = onnx.load(path, load_external_data=False)
    for t in m.graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        has = (t.raw_data or t.float_data or t.int32_data or t.int64_data or t.double_data or
               t.uint64_data or t.string_data or t.data_location == onnx.TensorProto.EXTERNAL)
        if n > 0 and not has:
            return True
    return False


def fix_shapes(src, dst, spec):
    """src with the inputs named in spec ("x=1,3,48,192+y=...") given those
    dims, written to dst."""
    m = onnx.load(src)
    want = {}
    for item in spec.split("+"):
        k, _, dims = item.partition("=")
        want[k] = [int(d) for d in dims.split(",")]
    for vi in m.graph.input:
        if vi.name in want:
            shape = vi.type.tensor_type.shape
            del shape.dim[:]
            for d in want.pop(vi.name):
                shape.dim.add().dim_value = d
    if want:
        raise SystemExit(f"retention: no input {sorted(want)} in {src}")
    onnx.save(m, dst)


def prepare(a, name, work):
    """The model to time (weights filled where the file has none), and the
    stitched model of every variant with what the pipeline reported."""
    name, _, shapes = name.partition("@")
    path, disp, rehydrate = resolve(name)
    model = os.path.join(work, "model.onnx")
    if rehydrate or (rehydrate is None and weightless(path)):
        sh(a.proteus, "rehydrate", path, model, "--seed", 1)
    elif shapes:
        model = path
    else:
        model = path
    if shapes:
        fixed = os.path.join(work, "model-fixed.onnx")
        fix_shapes(model, fixed, shapes)
        model = fixed
    info, stitched = {}, {}
    for vname, vargs in a.variants:
        b, k, o, r = (os.path.join(work, f"{vname}-{x}") for x in ("bucket", "key", "opt", "re.onnx"))
        t0 = time.time()
        out = sh(a.proteus, "obfuscate", model, "-o", b, "--key", k, "--seed", a.seed, "-k", 0, "--allow-weak",
                 "--allow-unverified", *vargs)
        sh(a.proteus, "optimize", b, "-o", o, "--with", f"ort:{a.level}", "-j", 2)
        sh(a.proteus, "reassemble", o, "--key", k, "-o", r, "--allow-unverified")
        summary = next((l for l in out.splitlines() if "subgraphs" in l), out.strip().splitlines()[-1])
        info[vname] = {"pipeline_s": round(time.time() - t0, 1), "obfuscate": summary.strip()}
        stitched[vname] = r
    return disp, model, stitched, info


def max_rel_diff(ref, got):
    worst = 0.0
    for x, y in zip(ref, got):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rng = float(np.max(np.abs(x))) if x.size else 0.0
        d = float(np.max(np.abs(x - y))) if x.size else 0.0
        worst = max(worst, d / rng if rng > 0 else d)
    return worst


def node_counts(path):
    """(nodes, layout conversions) of a model file."""
    g = onnx.load(path, load_external_data=False).graph
    return len(g.node), sum(n.op_type in ("ReorderInput", "ReorderOutput") for n in g.node)


def time_model(a, model, stitched, work):
    feeds = make_inputs(model, seed=0)
    opt = os.path.join(work, "whole-opt.onnx")
    session(model, a.level, 1, optimized_path=opt)
    counts = {"whole": node_counts(opt), **{v: node_counts(p) for v, p in stitched.items()}}
    sessions = {"whole": session(model, a.level, a.threads), "null": session(model, a.level, a.threads)}
    for v, path in stitched.items():
        sessions[v] = session(path, "disabled", a.threads)
    outs = {k: [o.name for o in s.get_outputs()] for k, s in sessions.items()}
    ref = sessions["whole"].run(outs["whole"], feeds)
    check = {v: max_rel_diff(ref, sessions[v].run(outs[v], feeds)) for v in stitched}
    for k, s in sessions.items():
        for _ in range(a.warmup):
            s.run(outs[k], feeds)
    names = list(sessions)
    per_pass = {k: [] for k in names}
    for p in range(a.passes):
        order = names if p % 2 == 0 else names[::-1]
        ts = {k: [] for k in names}
        if a.blocks:  # the earlier design: each configuration's runs in one block
            for k in order:
                for _ in range(a.iters):
                    t = time.perf_counter()
                    sessions[k].run(outs[k], feeds)
                    ts[k].append(time.perf_counter() - t)
        else:
            for _ in range(a.iters):
                for k in order:
                    t = time.perf_counter()
                    sessions[k].run(outs[k], feeds)
                    ts[k].append(time.perf_counter() - t)
        for k in names:
            per_pass[k].append(statistics.median(ts[k]) * 1e3)
    return per_pass, check, counts


def bench_model(a, name, group):
    with tempfile.TemporaryDirectory(prefix="proteus-retention-") as work:
        disp, model, stitched, info = prepare(a, name, work)
        per_pass, check, counts = time_model(a, model, stitched, work)
    row = {"model": disp, "group": group, "level": a.level, "threads": a.threads, "blocks": a.blocks, "passes": a.passes,
           "iters": a.iters, "ms": {k: round(statistics.median(v), 3) for k, v in per_pass.items()},
           "info": info, "nodes": {k: v[0] for k, v in counts.items()},
           "reorders": {k: v[1] for k, v in counts.items()}, "max_rel_diff": {k: float(f"{v:.3g}") for k, v in check.items()}}
    for v in ["null", *stitched]:
        ratios = [x / w for x, w in zip(per_pass[v], per_pass["whole"])]
        row[f"ratio_{v}"] = round(statistics.median(ratios), 4)
        row[f"spread_{v}"] = [round(min(ratios), 4), round(max(ratios), 4)]
        row[f"passes_{v}"] = [round(r, 4) for r in ratios]
    return row


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def print_table(rows):
    variants = [k[6:] for k in rows[0] if k.startswith("ratio_") and k != "ratio_null"] if rows else []
    head = ("| group | model | whole ms | null/whole (spread) | " +
            " | ".join(f"{v} ms | {v}/whole (spread)" for v in variants) +
            " | nodes (reorders): whole / " + " / ".join(variants) + " |")
    print(head)
    print("|" + "---|" * (5 + 2 * len(variants)))
    for r in rows:
        s = r["spread_null"]
        cells = [r["group"], r["model"], f"{r['ms']['whole']:.2f}", f"{r['ratio_null']:.3f} ({s[0]:.3f}-{s[1]:.3f})"]
        for v in variants:
            s = r[f"spread_{v}"]
            cells += [f"{r['ms'][v]:.2f}", f"{r[f'ratio_{v}']:.3f} ({s[0]:.3f}-{s[1]:.3f})"]
        if "nodes" in r:
            cells.append(" / ".join(f"{r['nodes'][k]} ({r['reorders'][k]})" for k in ["whole", *variants]))
        print("| " + " | ".join(cells) + " |")
    print()
    print("| group | models | null: geomean | " + " | ".join(f"{v}: geomean | {v}: worst" for v in variants) + " |")
    print("|" + "---|" * (3 + 2 * len(variants)))
    for g in dict.fromkeys(r["group"] for r in rows):
        rs = [r for r in rows if r["group"] == g]
        cells = [g, str(len(rs)), f"{gmean([r['ratio_null'] for r in rs]):.3f}"]
        for v in variants:
            xs = [r[f"ratio_{v}"] for r in rs]
            worst = max(rs, key=lambda r: r[f"ratio_{v}"])
            cells += [f"**{gmean(xs):.3f}**", f"{max(xs):.3f} ({worst['model']})"]
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help="only print the tables of a --out file")
    ap.add_argument("--tuning", nargs="*", default=[], help="models used to design the fusion handling")
    ap.add_argument("--held-out", nargs="*", default=[], help="models that were not")
    ap.add_argument("--variant", action="append", help="NAME=OBFUSCATE_ARGS (default: table and learned)")
    ap.add_argument("--level", default="all", choices=("basic", "extended", "all"))
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--proteus", default=os.path.join(ROOT, "build", "proteus"))
    ap.add_argument("--out", help="append one JSON line per model here")
    ap.add_argument("--blocks", action="store_true",
                    help="time each configuration's ITERS runs in one block (the earlier, biased design; for comparison)")
    a = ap.parse_args()
    if a.table:
        print_table([json.loads(l) for l in open(a.table) if l.strip()])
        return
    a.variants = []
    for spec in a.variant or DEFAULT_VARIANTS:
        name, _, args = spec.partition("=")
        if not name or name == "whole":
            raise SystemExit(f"retention: bad --variant '{spec}'")
        a.variants.append((name, shlex.split(args)))
    todo = [(m, "held-out") for m in a.held_out] + [(m, "tuning") for m in a.tuning]
    if not todo:
        raise SystemExit("retention: give --tuning and/or --held-out models")
    print("# " + " ".join(shlex.quote(x) for x in sys.argv), flush=True)
    rows = []
    for m, group in todo:
        try:
            row = bench_model(a, m, group)
        except Exception as e:  # one model failing does not lose the others
            print(f"retention: {m}: {e}", file=sys.stderr, flush=True)
            continue
        rows.append(row)
        print(json.dumps(row), flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    if rows:
        print_table(rows)


if __name__ == "__main__":
    main()
