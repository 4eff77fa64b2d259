"""Control flow (If, Loop, Scan) through the whole pipeline: a node with
bodies stays in one subgraph, the enclosing values its bodies read become
inputs of that subgraph, bodies are anonymized recursively (no original
name survives), shapes flow through, and reassembly keeps bodies intact."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from conftest import key_view, proteus

SECRET_WORDS = [b"secret", b"then_sec", b"else_sec", b"loop_body", b"inner_if", b"scan_body"]


def _vi(name, dt, shape):
    return helper.make_tensor_value_info(name, dt, shape)


def cf_model(path):
    rng = np.random.default_rng(0)
    w = lambda n, s: nh.from_array(rng.standard_normal(s).astype(np.float32), n)  # noqa: E731
    then_g = helper.make_graph([helper.make_node("MatMul", ["secret_h", "secret_w_then"], ["secret_then_out"])],
                               "then_secret", [], [_vi("secret_then_out", T.FLOAT, [1, 8])])
    else_g = helper.make_graph([helper.make_node("Neg", ["secret_h"], ["secret_else_out"])], "else_secret", [],
                               [_vi("secret_else_out", T.FLOAT, [1, 8])])
    # Loop body with a nested If that reads a value two scopes up (secret_h)
    inner_then = helper.make_graph([helper.make_node("Add", ["secret_sum", "secret_h"], ["secret_it"])], "inner_if_t",
                                   [], [_vi("secret_it", T.FLOAT, [1, 8])])
    inner_else = helper.make_graph([helper.make_node("Identity", ["secret_sum"], ["secret_ie"])], "inner_if_e", [],
                                   [_vi("secret_ie", T.FLOAT, [1, 8])])
    body = helper.make_graph(
        [helper.make_node("Add", ["secret_v_in", "secret_h3"], ["secret_sum"]),
         helper.make_node("If", ["secret_cond_in"], ["secret_if_o"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Relu", ["secret_if_o"], ["secret_v_out"]),
         helper.make_node("Identity", ["secret_cond_in"], ["secret_cond_out"]),
         helper.make_node("Identity", ["secret_v_out"], ["secret_scan"])], "loop_body_secret",
        [_vi("secret_iter", T.INT64, []), _vi("secret_cond_in", T.BOOL, []), _vi("secret_v_in", T.FLOAT, [1, 8])],
        [_vi("secret_cond_out", T.BOOL, []), _vi("secret_v_out", T.FLOAT, [1, 8]), _vi("secret_scan", T.FLOAT, [1, 8])])
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["scan_body_s", "scan_body_x"], ["scan_body_s2"]),
         helper.make_node("Identity", ["scan_body_s2"], ["scan_body_y"])], "scan_body_g",
        [_vi("scan_body_s", T.FLOAT, [8]), _vi("scan_body_x", T.FLOAT, [8])],
        [_vi("scan_body_s2", T.FLOAT, [8]), _vi("scan_body_y", T.FLOAT, [8])])
    nodes, prev = [], "x"
    for i in range(6):
        nodes += [helper.make_node("MatMul", [prev, f"secret_w{i}"], [f"secret_m{i}"]),
                  helper.make_node("Relu", [f"secret_m{i}"], [f"secret_r{i}"])]
        prev = f"secret_r{i}"
    nodes += [helper.make_node("Identity", [prev], ["secret_h"]),
              helper.make_node("ReduceSum", ["secret_h"], ["secret_s"], keepdims=0),
              helper.make_node("Greater", ["secret_s", "secret_zero"], ["secret_c"]),
              helper.make_node("If", ["secret_c"], ["secret_y_if"], then_branch=then_g, else_branch=else_g),
              helper.make_node("Relu", ["secret_y_if"], ["secret_h3"]),
              helper.make_node("Loop", ["secret_trip", "secret_true", prev], ["secret_v_final", "scans"], body=body),
              helper.make_node("Add", ["secret_v_final", "secret_h3"], ["secret_y0"]),
              helper.make_node("Reshape", ["secret_y0", "secret_shape"], ["secret_y1"]),
              helper.make_node("Scan", ["secret_init", "secret_y1"], ["secret_state", "scan_ys"], body=scan_body,
                               num_scan_inputs=1),
              helper.make_node("Relu", ["secret_state"], ["y"])]
    inits = [w(f"secret_w{i}", (8, 8)) for i in range(6)] + [
        w("secret_w_then", (8, 8)), nh.from_array(np.array(0, np.float32), "secret_zero"),
        nh.from_array(np.array(3, np.int64), "secret_trip"), nh.from_array(np.array(True), "secret_true"),
        nh.from_array(np.array([1, 8], np.int64), "secret_shape"), nh.from_array(np.zeros(8, np.float32), "secret_init")]
    g = helper.make_graph(nodes, "secret_graph", [_vi("x", T.FLOAT, [1, 8])],
                          [_vi("y", T.FLOAT, [8]), _vi("scans", T.FLOAT, [3, 1, 8]), _vi("scan_ys", T.FLOAT, [1, 8])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return path


@pytest.mark.parametrize("driver", ["copy", "ort:all"])
def test_control_flow_pipeline(tmp_path, driver):
    model = cf_model(tmp_path / "cf.onnx")
    b, k, o, r = tmp_path / "b", tmp_path / "k", tmp_path / "o", tmp_path / "r.onnx"
    proteus("obfuscate", model, "-o", b, "--key", k, "-k", 2, "--allow-weak")
    files = [f for f in os.listdir(b) if f.endswith(".onnx")]
    bodies = 0
    for f in files:
        data = (b / f).read_bytes()
        for word in SECRET_WORDS:
            assert word not in data, (f, word)
        m = onnx.load(b / f)
        onnx.checker.check_model(m, full_check=True)
        bodies += sum(1 for n in m.graph.node if n.op_type in ("If", "Loop", "Scan"))
        ort.InferenceSession(str(b / f), providers=["CPUExecutionProvider"])
    assert bodies >= 3
    # the real files hold each control-flow node once, whole
    real_ops = [n.op_type for f in key_view(k)["real"] for n in onnx.load(b / f).graph.node]
    assert sorted(op for op in real_ops if op in ("If", "Loop", "Scan")) == ["If", "Loop", "Scan"]
    proteus("optimize", b, "-o", o, "--with", driver)
    proteus("reassemble", o, "--key", k, "-o", r)
    onnx.checker.check_model(onnx.load(r), full_check=True)
    x = {"x": np.random.default_rng(3).standard_normal((1, 8)).astype(np.float32)}
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, x)
    got = ort.InferenceSession(str(r), providers=["CPUExecutionProvider"]).run(None, x)
    for a, c in zip(want, got):
        assert np.allclose(a, c, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_body_reading_an_undefined_name_refused(tmp_path):
    then_g = helper.make_graph([helper.make_node("Neg", ["nowhere"], ["t"])], "t", [], [_vi("t", T.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "e", [], [_vi("e", T.FLOAT, [2])])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="the_if", then_branch=then_g, else_branch=else_g)],
                          "g", [_vi("x", T.FLOAT, [2]), _vi("c", T.BOOL, [])], [_vi("y", T.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "bad.onnx")
    r = proteus("inspect", tmp_path / "bad.onnx", check=False)
    assert r.returncode == 1 and "the_if" in r.stderr and "'nowhere'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
