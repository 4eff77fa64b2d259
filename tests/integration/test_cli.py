"""What a user sees: help, one clear error line, exit codes."""
import json
import os

import onnx

from conftest import CORPUS, proteus


def _one_error_line(r, *needles):
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got: {r.stderr!r}"
    assert lines[0].startswith("proteus: ")
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    assert r.stdout == ""


def test_help():
    r = proteus("--help")
    assert "inspect" in r.stdout and "rehydrate" in r.stdout
    r = proteus("inspect", "--help")
    assert "--json" in r.stdout
    r = proteus(check=False)
    assert r.returncode == 2


def test_inspect_missing_file(tmp_path):
    p = tmp_path / "nope.onnx"
    _one_error_line(proteus("inspect", p, check=False), str(p), "No such file")


def test_inspect_not_onnx(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, this is not a model\n" * 10)
    _one_error_line(proteus("inspect", p, check=False), str(p), "not an ONNX model")


def test_inspect_empty(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    _one_error_line(proteus("inspect", p, check=False), str(p), "not an ONNX model")


def test_inspect_truncated(tmp_path):
    src = next(p for p in CORPUS if "resnet18-op13" in p)
    data = open(src, "rb").read()
    for frac in (0.1, 0.5, 0.9, 0.999):
        p = tmp_path / f"cut{frac}.onnx"
        p.write_bytes(data[: int(len(data) * frac)])
        _one_error_line(proteus("inspect", p, check=False), str(p), "not an ONNX model")


def test_inspect_directory(tmp_path):
    _one_error_line(proteus("inspect", tmp_path, check=False), str(tmp_path))


def test_unknown_command_and_option():
    r = proteus("frobnicate", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = proteus("inspect", "--bogus", CORPUS[0], check=False)
    assert r.returncode == 2 and "--bogus" in r.stderr


def test_roundtrip_failure_writes_nothing(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07\x12")
    out = tmp_path / "out.onnx"
    r = proteus("roundtrip", bad, out, check=False)
    assert r.returncode != 0
    assert os.listdir(tmp_path) == ["bad.onnx"]


def test_inspect_json_matches_onnx_everywhere():
    for path in CORPUS:
        r = proteus("inspect", path, "--json")
        j = json.loads(r.stdout)
        m = onnx.load(path, load_external_data=False)
        hist = {}
        for n in m.graph.node:
            key = f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
            hist[key] = hist.get(key, 0) + 1
        assert j["nodes"] == len(m.graph.node)
        assert j["ops"] == hist, path
        inits = {t.name for t in m.graph.initializer}
        assert [i["name"] for i in j["inputs"]] == [i.name for i in m.graph.input if i.name not in inits]
        assert [o["name"] for o in j["outputs"]] == [o.name for o in m.graph.output]
        for ji, mi in zip(j["inputs"], [i for i in m.graph.input if i.name not in inits]):
            dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in mi.type.tensor_type.shape.dim]
            assert ji["shape"] == dims
        params = sum(int(__import__("numpy").prod(t.dims)) for t in m.graph.initializer)
        assert j["params"] == params
        assert j["flops"] > 0


# --- hardening: what a hostile or broken model gets (issue 5) -----------------

import pytest
from onnx import TensorProto, helper

INT64_MAX = 2**63 - 1


def _tiny(nodes=None, inputs=None, inits=None, outputs=None, value_info=None):
    """x[2] -> Relu -> y by default; pieces replaceable."""
    if nodes is None:
        nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    if inputs is None:
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])]
    if outputs is None:
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits or [], value_info=value_info or [])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _write(path, model):
    path.write_bytes(model.SerializeToString())  # as is: no checker, no external-data handling
    return path


def _refused(tmp_path, model_path, *needles):
    """Every command that loads the model fails with one line naming the file
    and the problem, exit status 1, and writes nothing."""
    before = sorted(os.listdir(tmp_path))
    for args in (("inspect", model_path), ("shapes", model_path),
                 ("roundtrip", model_path, tmp_path / "out.onnx"),
                 ("rehydrate", model_path, tmp_path / "out2.onnx")):
        r = proteus(*args, check=False)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        _one_error_line(r, str(model_path), *needles)
    assert sorted(os.listdir(tmp_path)) == before


def _weightless(name, dtype, dims):
    t = TensorProto()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    return t


def _external_init(location):
    t = _weightless("w", TensorProto.FLOAT, [4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _model_with_external(location):
    return _tiny(nodes=[helper.make_node("Add", ["x", "w"], ["y"], name="add")],
                 inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                 outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
                 inits=[_external_init(location)])


def test_external_data_inside_dir_loads(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    m = _write(tmp_path / "m.onnx", _model_with_external("w.bin"))
    r = proteus("inspect", m, "--json")
    assert json.loads(r.stdout)["params"] == 4


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked_dir"])
def test_refuses_external_data_outside_dir(tmp_path, how):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 16)
    d = tmp_path / "model"
    d.mkdir()
    if how == "absolute":
        loc, msg = str(outside / "w.bin"), "external data location '%s' is not a relative path" % (outside / "w.bin")
    elif how == "dotdot":
        loc, msg = "../outside/w.bin", "external data location '../outside/w.bin' leaves the model's directory"
    elif how == "symlink":
        os.symlink(outside / "w.bin", d / "w.bin")
        loc, msg = "w.bin", "external data location 'w.bin' resolves outside the model's directory"
    else:
        os.symlink(outside, d / "sub")
        loc, msg = "sub/w.bin", "external data location 'sub/w.bin' resolves outside the model's directory"
    m = _write(d / "m.onnx", _model_with_external(loc))
    _refused(d, m, "tensor 'w'", msg)


@pytest.mark.parametrize("case", ["input", "initializer", "produced_twice", "writes_input", "writes_initializer"])
def test_refuses_duplicate_value_names(tmp_path, case):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    if case == "input":
        m, msg = _tiny(inputs=[x, x]), "duplicate graph input 'x'"
    elif case == "initializer":
        m, msg = _tiny(inits=[w, w]), "duplicate initializer 'w'"
    elif case == "produced_twice":
        m = _tiny(nodes=[helper.make_node("Relu", ["x"], ["y"], name="a"),
                         helper.make_node("Neg", ["x"], ["y"], name="b")])
        msg = "value 'y' is produced twice (nodes 'a' and 'b')"
    elif case == "writes_input":
        m = _tiny(nodes=[helper.make_node("Relu", ["y"], ["x"], name="back"),
                         helper.make_node("Relu", ["x"], ["y"], name="relu")])
        msg = "node 'back' (Relu) writes 'x', which is a graph input"
    else:
        m = _tiny(nodes=[helper.make_node("Relu", ["x"], ["w"], name="clobber"),
                         helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[w])
        msg = "node 'clobber' (Relu) writes 'w', which is a graph initializer"
    _refused(tmp_path, _write(tmp_path / "m.onnx", m), msg)


def test_refuses_cycle(tmp_path):
    m = _tiny(nodes=[helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                     helper.make_node("Relu", ["a"], ["b"], name="n2"),
                     helper.make_node("Relu", ["b"], ["y"], name="n3")])
    _refused(tmp_path, _write(tmp_path / "m.onnx", m), "the graph has a cycle through node 'n1' (Add)")


def test_refuses_dangling_input(tmp_path):
    m = _tiny(nodes=[helper.make_node("Add", ["x", "ghost"], ["y"], name="add")])
    _refused(tmp_path, _write(tmp_path / "m.onnx", m),
             "node 'add' (Add) reads 'ghost', which nothing produces (dangling input)")


def test_refuses_undeclared_graph_output(tmp_path):
    m = _tiny(outputs=[helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    _refused(tmp_path, _write(tmp_path / "m.onnx", m), "graph output 'z' is not produced by any node")


@pytest.mark.parametrize("where", ["input", "value_info", "initializer", "constant"])
def test_refuses_unknown_dtype(tmp_path, where):
    if where == "input":
        m = _tiny(inputs=[helper.make_tensor_value_info("x", 99, [2])])
        msg = "value 'x' has unknown element type 99"
    elif where == "value_info":
        m = _tiny(value_info=[helper.make_tensor_value_info("y", 77, [2])])
        msg = "value 'y' has unknown element type 77"
    elif where == "initializer":
        w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
        w.data_type = 99
        m = _tiny(nodes=[helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[w])
        msg = "tensor 'w' has unknown element type 99"
    else:
        c = helper.make_tensor("c", TensorProto.FLOAT, [2], [1.0, 2.0])
        c.data_type = 1000
        m = _tiny(nodes=[helper.make_node("Constant", [], ["k"], name="const", value=c),
                         helper.make_node("Add", ["x", "k"], ["y"], name="add")])
        msg = "tensor 'c' has unknown element type 1000"
    _refused(tmp_path, _write(tmp_path / "m.onnx", m), msg)


def test_refuses_overflowing_dims(tmp_path):
    m = _tiny(inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [INT64_MAX, 2])])
    _refused(tmp_path, _write(tmp_path / "m.onnx", m),
             "value 'x' has dims 9223372036854775807x2, whose element count overflows int64")
    w = _weightless("w", TensorProto.FLOAT, [INT64_MAX])
    m = _tiny(nodes=[helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[w])
    _refused(tmp_path, _write(tmp_path / "m2.onnx", m),
             "tensor 'w' (9223372036854775807 of float32) has more than 9223372036854775807 bytes, "
             "more than the limit of 17179869184 (--max-tensor-bytes)")


def test_int64_max_dim_is_fine(tmp_path):
    """A single dim of INT64_MAX is legal; shape inference carries it."""
    m = _tiny(inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [INT64_MAX])],
              outputs=[helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    p = _write(tmp_path / "m.onnx", m)
    vals = {v["name"]: v["shape"] for v in json.loads(proteus("shapes", p).stdout)["values"]}
    assert vals["y"] == [INT64_MAX]


RESNET = next(p for p in CORPUS if p.endswith("resnet18-op13.onnx"))

LIMIT_CASES = [
    (("--max-nodes", "64"), "graph has 65 nodes, more than the limit of 64 (--max-nodes)"),
    (("--max-tensor-bytes", "2047999"),
     "tensor 'fc.weight' (1000x512 of float32) has 2048000 bytes, more than the limit of 2047999 (--max-tensor-bytes)"),
    (("--max-tensor-bytes", "1M"),
     "tensor 'fc.weight' (1000x512 of float32) has 2048000 bytes, more than the limit of 1048576 (--max-tensor-bytes)"),
    (("--max-total-bytes", "10M"), "more than the limit of 10485760 (--max-total-bytes)"),
]


@pytest.mark.parametrize("opt,msg", LIMIT_CASES, ids=["nodes", "tensor", "tensor-suffix", "total"])
def test_load_limits_refuse(tmp_path, opt, msg):
    cmds = [("inspect", *opt, RESNET), ("shapes", RESNET, *opt), ("partition", *opt, RESNET),
            ("roundtrip", RESNET, tmp_path / "o.onnx", *opt), ("rehydrate", *opt, RESNET, tmp_path / "o.onnx"),
            ("obfuscate", RESNET, "-o", tmp_path / "b", "--key", tmp_path / "k.json", "--no-probe", "--weightless", *opt)]
    for args in cmds:
        r = proteus(*args, check=False)
        assert r.returncode == 1, (args, r.stderr)
        _one_error_line(r, RESNET, msg)
    assert os.listdir(tmp_path) == []


def test_load_limits_at_the_boundary_accept(tmp_path):
    # 65 nodes, largest tensor 512x512x3x3 float32, 46723488 bytes in all
    r = proteus("inspect", RESNET, "--max-nodes", "65", "--max-tensor-bytes", "9437184", "--max-total-bytes",
                "46723488", "--json")
    assert json.loads(r.stdout)["nodes"] == 65
    r = proteus("inspect", RESNET, "--max-total-bytes", "46723487", check=False)
    _one_error_line(r, "tensors hold at least 46723488 bytes in all", "more than the limit of 46723487")
    proteus("roundtrip", "--max-nodes", "65", RESNET, tmp_path / "o.onnx")
    assert (tmp_path / "o.onnx").exists()


def test_load_limits_apply_to_returned_files(tmp_path):
    """reassemble loads files from an untrusted optimizer: held to the limits."""
    b, k = tmp_path / "b", tmp_path / "k.json"
    proteus("obfuscate", RESNET, "-o", b, "--key", k, "--no-probe", "--subgraph-size", "20", "-k", 0, "--allow-weak", "--weightless")
    r = proteus("reassemble", b, "--key", k, "-o", tmp_path / "m.onnx", "--no-probe", "--max-nodes", "1", check=False)
    assert r.returncode == 1
    _one_error_line(r, str(b), "nodes, more than the limit of 1 (--max-nodes)")
    assert not (tmp_path / "m.onnx").exists()
    proteus("reassemble", b, "--key", k, "-o", tmp_path / "m.onnx", "--no-probe", "--max-nodes", "1000")


@pytest.mark.parametrize("bad", ["", "0", "-1", "x", "12Q", "10000001", "99999999999T"])
def test_load_limit_usage_errors(bad):
    opt = "--max-nodes" if bad in ("10000001",) else "--max-tensor-bytes"
    args = ["inspect", RESNET, opt] + ([bad] if bad else [])
    r = proteus(*args, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"proteus: inspect: {opt} needs a number") and r.stdout == ""


def test_load_limits_in_help():
    assert "--max-nodes" in proteus("--help").stdout
    for cmd in ("inspect", "shapes", "partition", "rehydrate", "roundtrip", "obfuscate", "reassemble"):
        out = proteus(cmd, "--help").stdout
        assert "--max-nodes" in out and "--max-tensor-bytes" in out, cmd
