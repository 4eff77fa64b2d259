"""What ONNX Runtime's optimizer does to each bucket file (threat-model
class 9).  Runs under a Python that has onnxruntime (the project's .venv),
not the audit's: optimizer.py starts it as a subprocess.

  python ort_probe.py < paths.json   ->  one JSON object per line

For each file: nodes before, nodes after `ort:all` (ORT_ENABLE_ALL, the
optimized model written out and read back), both as op-type histograms, the op types the optimizer
introduced (fused ops), session-creation and one-run times.  Weights a
file lacks (weightless buckets) are filled with seeded random values of
the declared shape, as an attacker would: the optimizer's fusions depend on
structure, not on the values.  A file ORT refuses gives its error instead."""
import json
import os
import sys
import tempfile
import time
import zlib

import numpy as np
import onnx
from onnx import numpy_helper

NP = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
      10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def _has_data(t):
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return False
    return bool(len(t.raw_data) or len(t.float_data) or len(t.int32_data) or len(t.int64_data)
                or len(t.double_data) or len(t.uint64_data) or len(t.string_data))


def _fill(m):
    for i, t in enumerate(m.graph.initializer):
        if _has_data(t) or t.data_type not in NP:
            continue
        rng = np.random.default_rng(zlib.crc32(t.name.encode()))
        shape = tuple(max(int(d), 0) for d in t.dims)
        if np.issubdtype(NP[t.data_type], np.floating):
            a = (rng.standard_normal(shape) * 0.05).astype(NP[t.data_type])
        else:
            a = np.ones(shape, dtype=NP[t.data_type])
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, t.name))


def _histogram(m):
    """op type -> node count."""
    h = {}
    for n in m.graph.node:
        h[n.op_type] = h.get(n.op_type, 0) + 1
    return h


def _feeds(sess):
    out = {}
    for x in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in x.shape]
        t = x.type
        rng = np.random.default_rng(0)
        if "float16" in t:
            out[x.name] = rng.standard_normal(shape).astype(np.float16)
        elif "double" in t:
            out[x.name] = rng.standard_normal(shape)
        elif "float" in t:
            out[x.name] = rng.standard_normal(shape).astype(np.float32)
        elif "bool" in t:
            out[x.name] = np.zeros(shape, dtype=np.bool_)
        elif "int64" in t:
            out[x.name] = np.zeros(shape, dtype=np.int64)
        elif "int32" in t:
            out[x.name] = np.zeros(shape, dtype=np.int32)
        elif "uint8" in t:
            out[x.name] = np.zeros(shape, dtype=np.uint8)
        elif "int8" in t:
            out[x.name] = np.zeros(shape, dtype=np.int8)
        else:
            return None
    return out


def probe(path, tmpdir):
    import onnxruntime as ort
    r = {"path": path}
    try:
        m = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001
        r["error"] = f"load: {type(e).__name__}"
        return r
    r["nodes_before"] = len(m.graph.node)
    before = {n.op_type for n in m.graph.node}
    r["ops_before"] = _histogram(m)
    _fill(m)
    src = os.path.join(tmpdir, "in.onnx")
    dst = os.path.join(tmpdir, "out.onnx")
    onnx.save(m, src)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = dst
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 4
    try:
        t = time.perf_counter()
        sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        r["create_s"] = time.perf_counter() - t
    except Exception as e:  # noqa: BLE001
        r["error"] = f"session: {str(e)[:120]}"
        return r
    try:
        om = onnx.load(dst, load_external_data=False)
        r["nodes_after"] = len(om.graph.node)
        r["ops_after"] = _histogram(om)
        r["fused"] = sorted({n.op_type for n in om.graph.node} - before)
        r["domains"] = sorted({n.domain for n in om.graph.node if n.domain})
    except Exception as e:  # noqa: BLE001
        r["error"] = f"optimized: {type(e).__name__}"
        return r
    feeds = _feeds(sess)
    if feeds is not None:
        try:
            t = time.perf_counter()
            sess.run(None, feeds)
            r["run_s"] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001
            r["run_error"] = str(e)[:80]
    return r


def main():
    paths = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as d:
        for p in paths:
            print(json.dumps(probe(p, d)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
