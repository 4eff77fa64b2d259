"""Fingerprints of models with symbolic input dims: tried at several
lengths by themselves, and at the owner's --input-shape when none fits."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from conftest import proteus


def _model(path, fixed_hw):
    """x[1,3,H,W] -> Conv 3x3 (no pad) -> Relu -> ... -> Reshape to a fixed
    size that only H = W = fixed_hw satisfies."""
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((3, 3, 3, 3)).astype(np.float32) * 0.2, f"w{i}") for i in range(4)]
    nodes, prev = [], "x"
    for i in range(4):
        nodes += [helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1] if i else [0, 0, 0, 0]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        prev = f"r{i}"
    side = fixed_hw - 2
    inits.append(nh.from_array(np.array([1, 3 * side * side], np.int64), "shape"))
    nodes.append(helper.make_node("Reshape", [prev, "shape"], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, "H", "W"])],
                          [helper.make_tensor_value_info("y", T.FLOAT, [1, 3 * side * side])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def test_owner_shapes_when_no_default_fits(tmp_path):
    # H = W = 42: the Reshape at the end needs 40 x 40 after the first conv;
    # none of the lengths tried by default (1, 32, 8) fits
    model = _model(tmp_path / "m.onnx", 42)
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak", "-n", 3,
                "--json", check=False)
    # 1, 32 and 8 do not give 34: refused, and the message names the flag
    assert r.returncode == 1 and "--input-shape" in r.stderr
    proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak", "-n", 3,
            "--input-shape", "x=1,3,42,42")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx")


def test_a_fitting_default_length_needs_no_flag(tmp_path):
    # H = W = 34: each real file is fingerprinted on its own, and 32 (the
    # second length tried) fits the Reshape's file after the first conv
    model = _model(tmp_path / "m.onnx", 34)
    import json
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak", "-n", 3,
                "--json")
    assert json.loads(r.stdout)["unverified"] == 0


@pytest.mark.parametrize("spec,msg", [("nope=1,2", "no input 'nope'"), ("x=1,3,4", "rank 4, not 3"),
                                      ("x=2,3,4,4", "dim 0 of 'x' is fixed at 1"), ("x", "want NAME=D0,D1")])
def test_bad_input_shape(tmp_path, spec, msg):
    model = _model(tmp_path / "m.onnx", 34)
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 2, "--allow-weak",
                "--input-shape", spec, check=False)
    assert r.returncode == 1 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "k").exists()
