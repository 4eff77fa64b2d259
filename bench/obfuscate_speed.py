#!/usr/bin/env python3
"""What `proteus obfuscate` costs on ResNet-50 and BERT-base (issue 11's
speed and size figures): wall and CPU seconds, peak RSS and bucket size at
k = 0, 5 and 20, and how the sentinel files' sizes compare with the real
file they hide (from the key: the owner's view).

    .venv/bin/python bench/obfuscate_speed.py [--models resnet50-op17 bert-op17]
        [--ks 0 5 20] [--sentinels learned] [--threads N] [--out FILE.jsonl]

Each model is rehydrated (seeded random weights; the corpus files are
weightless) into a scratch folder beside nothing else, obfuscated once per
(generator, k) with the defaults otherwise (fingerprint probe on, fusion
from ort:all), timed by /usr/bin/time (CPU includes the Python children;
peak RSS is the largest single process).  The machine's load average is
printed with each run: the figures are only as quiet as the machine.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rehydrated(proteus, name, work):
    """Corpus model `name` with seeded random weights (the corpus files are
    weightless), written into work; a path ending in .onnx is used as it is."""
    if name.endswith(".onnx"):
        return name
    model = os.path.join(work, "m.onnx")
    subprocess.run([proteus, "rehydrate", os.path.join(ROOT, "corpus", "models", name + ".onnx"), model, "--seed", "1"],
                   check=True, capture_output=True)
    return model


def size_of(path):
    """A bucket file with its external data, when it has some."""
    n = os.path.getsize(path)
    if os.path.exists(path + ".data"):
        n += os.path.getsize(path + ".data")
    return n


def bench_io(out_path):
    """The environment for proteus (a passphrase for its keys) and the JSON
    lines file, if any."""
    env = dict(os.environ)
    env.setdefault("PROTEUS_PASSPHRASE", "proteus bench passphrase")
    return env, open(out_path, "a") if out_path else None


def emit(out, r, row):
    """Prints a table row; appends r to the JSON lines file, if any."""
    print(row, flush=True)
    if out:
        out.write(json.dumps(r) + "\n")
        out.flush()


def run_one(proteus, model, work, k, gen, threads, env):
    bucket, key, tfile = (os.path.join(work, x) for x in ("b", "key", "time"))
    shutil.rmtree(bucket, ignore_errors=True)
    for f in (key, tfile):
        if os.path.exists(f):
            os.remove(f)
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tfile, proteus, "obfuscate", model, "-o", bucket,
           "--key", key, "-k", str(k), "--sentinels", gen, "--allow-weak"]
    e = dict(env)
    if threads:
        e["PROTEUS_THREADS"] = str(threads)
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, env=e, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"obfuscate failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    wall, user, sys_, rss = open(tfile).read().split()[-4:]
    show = subprocess.run([proteus, "key", "show", key, "--json"], env=e, capture_output=True, text=True, check=True)
    groups = json.loads(show.stdout)["groups"]
    real = sum(size_of(os.path.join(bucket, g["real"])) for g in groups)
    files = [f for f in os.listdir(bucket) if f.endswith(".onnx")]
    total = sum(size_of(os.path.join(bucket, f)) for f in files)
    # per group: the mean sentinel size over the real file's size
    ratios = [statistics.mean(size_of(os.path.join(bucket, s)) for s in g["sentinels"])
              / max(1, size_of(os.path.join(bucket, g["real"]))) for g in groups if g["sentinels"]]
    shutil.rmtree(bucket)
    return {"k": k, "sentinels": gen, "files": len(files), "wall_s": float(wall),
            "cpu_s": float(user) + float(sys_), "user_s": float(user), "sys_s": float(sys_),
            "peak_rss_mib": int(rss) / 1024, "bucket_mib": total / 2**20, "real_mib": real / 2**20,
            "bucket_over_real": total / real, "sentinel_over_real_median": statistics.median(ratios) if ratios else None,
            "sentinel_over_real_min": min(ratios) if ratios else None,
            "sentinel_over_real_max": max(ratios) if ratios else None, "load1": load,
            "threads": threads or os.cpu_count()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["resnet50-op17", "bert-op17"])
    ap.add_argument("--ks", nargs="+", type=int, default=[0, 5, 20])
    ap.add_argument("--sentinels", nargs="+", default=["learned"])
    ap.add_argument("--threads", type=int, default=0, help="PROTEUS_THREADS (0: proteus's default)")
    ap.add_argument("--proteus", default=os.path.join(ROOT, "build", "proteus"))
    ap.add_argument("--out", help="also append JSON lines here")
    a = ap.parse_args()
    env, out = bench_io(a.out)
    print("| model | generator | k | files | wall s | CPU s | peak RSS MiB | bucket MiB | bucket / reals "
          "| sentinel / its real (median, min-max over groups) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.models:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as work:
            model = rehydrated(a.proteus, name, work)
            for gen in a.sentinels:
                for k in a.ks:
                    r = run_one(a.proteus, model, work, k, gen, a.threads, env)
                    r["model"] = name
                    spread = ("-" if r["sentinel_over_real_median"] is None else
                              f"{r['sentinel_over_real_median']:.2f} ({r['sentinel_over_real_min']:.2f}-"
                              f"{r['sentinel_over_real_max']:.2f})")
                    emit(out, r, f"| {name} | {gen} | {k} | {r['files']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                         f"{r['peak_rss_mib']:.0f} | {r['bucket_mib']:.0f} | {r['bucket_over_real']:.2f} | {spread} | "
                         f"{r['load1']:.1f} |")


if __name__ == "__main__":
    main()
