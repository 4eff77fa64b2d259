"""The loader follows ONNX Runtime where the spec leaves room: raw_data
wins over the typed fields, a declared dim_value of -1 is an unknown dim, a
declared output shape that contradicts inference is replaced by the
inferred one with one warning.  What is unsafe stays refused (see
test_cli.py and test_errors.py)."""
import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from conftest import key_view, proteus


def _save(tmp_path, name, graph, opset=17):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    p = tmp_path / name
    onnx.save(m, p)
    return p


def _weights(n):
    rng = np.random.default_rng(1)
    return [numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), f"w{i}") for i in range(n)]


def _mlp_nodes(n, first="x"):
    nodes, prev = [], first
    for i in range(n):
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"r{i}"])]
        prev = f"r{i}"
    return nodes, prev


def test_raw_data_wins_over_typed_fields(tmp_path):
    """ONNX Runtime writes tensors with raw_data and an empty typed field."""
    nodes, last = _mlp_nodes(2)
    ws = _weights(2)
    ws[0].float_data.extend([])  # typed field present but empty is the ORT form; add a non-empty one too
    w1 = ws[1]
    w1.float_data.extend(np.zeros(64, dtype=np.float32).tolist())  # both fields: raw_data must win
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, 8])], ws)
    p = _save(tmp_path, "both.onnx", g)
    proteus("roundtrip", p, tmp_path / "rt.onnx")
    rt = onnx.load(tmp_path / "rt.onnx")
    got = numpy_helper.to_array(next(t for t in rt.graph.initializer if t.name == "w1"))
    want = np.frombuffer(w1.raw_data, dtype=np.float32).reshape(8, 8)
    assert np.array_equal(got, want)
    x = np.ones((1, 8), np.float32)
    a = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    b = ort.InferenceSession(str(tmp_path / "rt.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.array_equal(a, b)


def test_minus_one_dim_is_unknown(tmp_path):
    nodes, last = _mlp_nodes(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    x.type.tensor_type.shape.dim[0].dim_value = -1  # as paddle2onnx writes dynamic dims
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, 8])],
                          _weights(3))
    p = _save(tmp_path, "neg.onnx", g)
    info = json.loads(proteus("inspect", p, "--json").stdout)
    assert info["nodes"] == 6
    proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak",
            "--allow-unverified")
    assert key_view(tmp_path / "k")["k"] == 2


def test_declared_output_conflict_is_replaced(tmp_path):
    """Declared rank 2, inferred rank 3 after a Reshape: ONNX Runtime runs it;
    proteus warns once, naming the output, and goes on with the inferred shape."""
    nodes, last = _mlp_nodes(3)
    shape = numpy_helper.from_array(np.array([1, 2, 4], dtype=np.int64), "shape")
    nodes.append(helper.make_node("Reshape", [last, "shape"], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], _weights(3) + [shape])
    p = _save(tmp_path, "conflict.onnx", g)
    ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])  # ONNX Runtime accepts it
    r = proteus("obfuscate", p, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak")
    warns = [ln for ln in r.stderr.splitlines() if "contradicts inference" in ln]
    assert len(warns) == 1 and "'y'" in warns[0], r.stderr
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx")
    out = onnx.load(tmp_path / "r.onnx").graph.output[0]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 2, 4]
