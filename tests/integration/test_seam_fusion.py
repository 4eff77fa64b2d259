"""Seam clean-up re-does at cuts what ONNX Runtime's NCHWc transformer does
inside one graph: residual Adds (and the Relu after them) go into the
convolution as its Sum, x * HardSigmoid(x) into it as HardSwish, channel
Concats of blocked tensors stay blocked.
On real CNNs cut by the default partition, the stitched model then has the
layout conversions of the whole model optimized at once, and computes the
same (verify)."""
import collections
import os

import onnx
import onnxruntime as ort
import pytest

from conftest import ROOT, proteus

MODELS = os.path.join(ROOT, "corpus", "models")


def whole_optimized(model, out):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(out)
    so.intra_op_num_threads = 1
    so.log_severity_level = 4
    ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    return onnx.load(str(out), load_external_data=False)


def ops(m):
    return collections.Counter((n.domain, n.op_type) for n in m.graph.node)


@pytest.mark.parametrize("name", ["resnet18-op17", "squeezenet1_1-op17", "mobilenet_v3_large-op17"])
def test_stitched_cnn_has_whole_model_layout(tmp_path, name):
    m = tmp_path / "m.onnx"
    proteus("rehydrate", os.path.join(MODELS, name + ".onnx"), m, "--seed", 1)
    proteus("obfuscate", m, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 0, "--allow-weak", "--seed", 1,
            "--fusion-from", "table")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx")
    proteus("verify", m, tmp_path / "r.onnx")
    whole = ops(whole_optimized(m, tmp_path / "whole.onnx"))
    stitched = ops(onnx.load(str(tmp_path / "r.onnx"), load_external_data=False))
    reorders = lambda c: sum(v for (d, op), v in c.items() if op.startswith("Reorder"))  # noqa: E731
    # the partition cut these models in several places (n >= 3 by default)
    assert reorders(stitched) == reorders(whole), (stitched, whole)
    for op in ("Add", "Concat", "Relu", "HardSigmoid", "Mul"):
        assert stitched[("", op)] == whole[("", op)], (op, stitched, whole)
