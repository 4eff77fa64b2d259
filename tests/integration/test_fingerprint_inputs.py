"""The fingerprints' inputs follow what flows across each cut
(proteus_py.probe with proteus_py.capture): a shape tensor that crosses a
cut gets the model's values, not random ones, so every real subgraph can be
fingerprinted; without the whole model (or its values) a file falls back to
random inputs from its declared types; fingerprints of version 2 are still
checked."""
import json
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import PROTEUS, key_view, proteus
from proteus_py import probe


def _save(nodes, inputs, outputs, inits, path):
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


def shape_model(path):
    """Conv -> Relu, then its batch size read with Shape/Gather/Concat into
    a Reshape: cut at every edge, the Reshape's file gets an int64 shape
    tensor as an input (random values would make Reshape fail)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
             numpy_helper.from_array((rng.standard_normal((8 * 16 * 16, 10)) * 0.05).astype(np.float32), "fw"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Shape", ["r"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "minus1"], ["shp"], axis=0),
             helper.make_node("Reshape", ["r", "shp"], ["flat"]),
             helper.make_node("MatMul", ["flat", "fw"], ["y0"]),
             helper.make_node("Sigmoid", ["y0"], ["y"])]
    return _save(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits, path)


def test_shape_tensor_across_cut(tmp_path):
    """Every edge cut: every real file is fingerprinted (no
    --allow-unverified), ONNX Runtime's result passes, a changed weight of
    the file after the Reshape does not."""
    model = shape_model(tmp_path / "m.onnx")
    r = proteus("obfuscate", model, "-o", tmp_path / "b", "--key", tmp_path / "k", "-k", 1, "--allow-weak",
                "-n", 8, "--seed", 3, "--input-shape", "x=2,3,16,16", "--json")
    assert json.loads(r.stdout)["unverified"] == 0
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "ort:all")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx")
    v = proteus("verify", model, tmp_path / "r.onnx", "--input-shape", "x=2,3,16,16", check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    victim = None
    for f in key_view(tmp_path / "k")["real"]:
        m = onnx.load(tmp_path / "o" / f)
        big = [t for t in m.graph.initializer if int(np.prod(t.dims)) == 8 * 16 * 16 * 10]
        if big:
            victim, t = f, big[0]
            break
    assert victim
    a = numpy_helper.to_array(t).copy()
    a.flat[5] += 0.5
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, tmp_path / "o" / victim)
    r = subprocess.run([PROTEUS, "reassemble", str(tmp_path / "o"), "--key", str(tmp_path / "k"), "-o",
                        str(tmp_path / "r2.onnx")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and victim in r.stderr and "computes something else" in r.stderr, r.stderr


def _reshape_file(path, then=None):
    """The Reshape's part as obfuscate writes it: inputs i0 (float), i1 (its
    int64 shape); `then` appends one more op."""
    nodes = [helper.make_node("Reshape", ["i0", "i1"], ["o0" if not then else "t"])]
    if then:
        nodes.append(helper.make_node(then, ["t"], ["o0"]))
    return _save(nodes, [helper.make_tensor_value_info("i0", TensorProto.FLOAT, [None, 8, 16, 16]),
                         helper.make_tensor_value_info("i1", TensorProto.INT64, [2])],
                 [helper.make_tensor_value_info("o0", TensorProto.FLOAT, [None, None])], [], path)


def _request(model, names, outputs, files, seed=99):
    return {"model": model, "model_shapes": {"x": [2, 3, 16, 16]}, "model_inputs": {}, "model_seed": 5,
            "items": [{"file": f, "seed": seed, "names": names, "outputs": outputs} for f in files]}


def test_integer_values_from_the_model(tmp_path):
    """In-process: the Reshape file's shape input takes the model's value
    ([2, -1]), its float input fresh random values of the model's shape;
    the check rebuilds the same feeds from the fingerprint alone."""
    model = shape_model(tmp_path / "m.onnx")
    f = _reshape_file(tmp_path / "f.onnx")
    req = _request(model, ["r", "shp"], ["flat"], [f])
    res = probe.compute(req["items"], req)
    fp = res[0]["probe"]
    feeds = fp["feeds"]
    assert feeds[0] == {"dtype": "float32", "shape": [2, 8, 16, 16], "rand": "normal"}
    assert feeds[1]["dtype"] == "int64" and feeds[1]["shape"] == [2]
    assert probe._dec_data(feeds[1]["data"], "int64", [2]).tolist() == [2, -1]
    assert fp["outputs"][0]["shape"] == [2, 8 * 16 * 16]
    assert probe.check({"items": [{"file": f, "expect": fp}]})[0]["ok"]
    other = _reshape_file(tmp_path / "g.onnx", then="Neg")
    bad = probe.check({"items": [{"file": other, "expect": fp}]})[0]
    assert not bad["ok"] and "differs" in bad["detail"]
    # the fingerprint is all the check needs: it survives a JSON round trip
    assert probe.check({"items": [{"file": f, "expect": json.loads(json.dumps(fp))}]})[0]["ok"]


def test_fallback_without_the_model(tmp_path):
    """The whole model cannot run (or the file's inputs are not values of
    it): the file gets random inputs from its declared types, as before."""
    model = shape_model(tmp_path / "m.onnx")
    conv = _save([helper.make_node("Relu", ["i0"], ["o0"])],
                 [helper.make_tensor_value_info("i0", TensorProto.FLOAT, [1, 8, 4, 4])],
                 [helper.make_tensor_value_info("o0", TensorProto.FLOAT, [1, 8, 4, 4])], [], tmp_path / "f.onnx")
    for req in (_request(str(tmp_path / "missing.onnx"), ["r"], ["c"], [conv]),
                _request(model, ["not-in-the-model"], ["c"], [conv])):
        fp = probe.compute(req["items"], req)[0]["probe"]
        assert "feeds" not in fp and fp["v"] == probe.VERSION
        assert probe.check({"items": [{"file": conv, "expect": fp}]})[0]["ok"]


def test_large_integer_input_drawn_in_range(tmp_path):
    """An index input with more than CAP_INT elements is drawn at random in
    the range the model's values spanned (valid indices), not stored."""
    n = probe.CAP_INT + 1000
    table = numpy_helper.from_array(np.arange(40, dtype=np.float32).reshape(10, 4), "t")
    model = _save([helper.make_node("Gather", ["t", "idx"], ["g"], axis=0),
                   helper.make_node("Relu", ["g"], ["y"])],
                  [helper.make_tensor_value_info("idx", TensorProto.INT64, [n])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, 4])], [table], tmp_path / "m.onnx")
    f = _save([helper.make_node("Gather", ["t", "i0"], ["o0"], axis=0)],
              [helper.make_tensor_value_info("i0", TensorProto.INT64, [n])],
              [helper.make_tensor_value_info("o0", TensorProto.FLOAT, [n, 4])], [table], tmp_path / "f.onnx")
    req = {"model": model, "model_seed": 1, "items": [{"file": f, "seed": 7, "names": ["idx"], "outputs": ["g"]}]}
    fp = probe.compute(req["items"], req)[0]["probe"]
    spec = fp["feeds"][0]
    assert "data" not in spec and 0 <= int(spec["lo"]) <= int(spec["hi"]) <= 9
    assert probe.check({"items": [{"file": f, "expect": fp}]})[0]["ok"]


def _tiny(path, bump=0.0):
    w = np.random.default_rng(7).standard_normal((3, 2, 3, 3)).astype(np.float32)
    w[0, 0, 1, 1] += np.float32(bump)
    return _save([helper.make_node("Conv", ["i0", "w"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["o0"]),
                  helper.make_node("Shape", ["c"], ["o1"])],
                 [helper.make_tensor_value_info("i0", TensorProto.FLOAT, [1, 2, 4, 4])],
                 [helper.make_tensor_value_info("o0", TensorProto.FLOAT, [1, 3, 4, 4]),
                  helper.make_tensor_value_info("o1", TensorProto.INT64, [4])],
                 [numpy_helper.from_array(w, "w")], path)


# written by proteus_py.probe at fingerprint version 2 (commit c2c2a72) for _tiny()
V2 = {"v": 2, "seed": 123456789, "outputs": [
    {"dtype": "float32", "shape": [1, 3, 4, 4], "n": 48, "scale": 8.190345764160156, "nonfinite": [0, 0, 0],
     "sample": "f4:AAAAAAAAAAAAAAAAAAAAABglG0AAAAAAAAAAAAAAAAAAAAAAAAAAAACRykAAAAAA7VIEPQAAAACVxytAAAAAAAAAAAAAAAAAAAA"
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAACgbJPQAAAAAAAAAAAAAAAAAAAACn4M8/AAAAAM6m0D+oCwNBARDeQJq8HUAAAAAAAAAA"
               "AAAAAAAAAAAA3NMzQAAAAABJ+pM/8CSLPg7mPkAGt+Y+j+vRPwAAAACo+JxA",
     "proj": [-0.39373501762747765, 9.436722006648779, -22.61133759841323, -13.050601210445166, 17.79580396041274,
              -31.4931364916265, 6.014934238046408, 28.83867186680436]},
    {"dtype": "int64", "shape": [4], "n": 4, "scale": 4.0, "nonfinite": [0, 0, 0],
     "sample": "f8:AAAAAAAA8D8AAAAAAAAIQAAAAAAAABBAAAAAAAAAEEA=",
     "proj": [4.0, -4.0, 12.0, -6.0, 4.0, -10.0, 2.0, -4.0]}]}


def test_v2_fingerprint_still_checked(tmp_path):
    ok = probe.check({"items": [{"file": _tiny(tmp_path / "a.onnx"), "expect": V2}]})[0]
    assert ok["ok"], ok
    bad = probe.check({"items": [{"file": _tiny(tmp_path / "b.onnx", bump=0.05), "expect": V2}]})[0]
    assert not bad["ok"] and "differs from what was sent" in bad["detail"], bad
