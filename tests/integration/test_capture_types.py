"""Values proteus' shape inference cannot type get their types from ONNX
Runtime (obfuscate runs the model once, python -m proteus_py.capture types):
outputs of com.microsoft contrib ops it has no rules for, of an If whose
bodies declare no types (nested), and everything after them.  "If ONNX
Runtime runs a model, proteus must handle it": the bucket files carry the
types ONNX Runtime computes, every file loads in ONNX Runtime and passes
onnx.checker, and the pipeline gives back the model.  When ONNX Runtime
cannot be asked (--no-probe, no Python half) or cannot run the model on the
inputs it draws, obfuscate fails as before, saying why and which flag helps,
and writes nothing."""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

from conftest import key_view, proteus

MS = "com.microsoft"


def _vi(name, dt, shape):
    return helper.make_tensor_value_info(name, dt, shape)


def _untyped(name):
    vi = onnx.ValueInfoProto()
    vi.name = name
    return vi


def _model(nodes, inputs, outputs, inits, path, ms=True):
    ops = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(MS, 1)] if ms else [])
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits), opset_imports=ops)
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def contrib_model(path):
    """x [batch, 3, 3] through contrib ops whose types proteus cannot infer:
    Inverse (float), ExpandDims (rank from an input's value), MurmurHash3
    (int32 -> uint32) and a QOperator QLinearLeakyRelu (uint8), each followed
    by ai.onnx ops, so cuts fall on their outputs and after them."""
    rng = np.random.default_rng(0)
    f = lambda n, a: nh.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [f("eye", np.eye(3) * 3), f("w", rng.standard_normal((3, 3))), f("b", rng.standard_normal(3)),
             nh.from_array(np.array(1, np.int32), "axis"), f("qs", 0.05), nh.from_array(np.array(128, np.uint8), "qz"),
             f("qs2", 0.04), nh.from_array(np.array(120, np.uint8), "qz2"), f("k", 1e-9), f("ten", 10.0)]
    nodes = [
        helper.make_node("Tanh", ["x"], ["t"]),
        helper.make_node("Add", ["t", "eye"], ["a"]),                      # well conditioned
        helper.make_node("Inverse", ["a"], ["inv"], domain=MS),             # float [batch, 3, 3]
        helper.make_node("MatMul", ["inv", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["m2"]),
        helper.make_node("ExpandDims", ["m2", "axis"], ["e"], domain=MS),   # float [batch, 1, 3, 3]
        helper.make_node("Relu", ["e"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "qs", "qz"], ["q"]),
        helper.make_node("QLinearLeakyRelu", ["q", "qs", "qz", "qs2", "qz2"], ["ql"], domain=MS, alpha=0.1),
        helper.make_node("DequantizeLinear", ["ql", "qs2", "qz2"], ["dq"]),  # float [batch, 1, 3, 3]
        helper.make_node("Mul", ["dq", "ten"], ["dq10"]),
        helper.make_node("Cast", ["dq10"], ["ci"], to=T.INT32),
        helper.make_node("MurmurHash3", ["ci"], ["h"], domain=MS, positive=1),  # uint32
        helper.make_node("Cast", ["h"], ["hf"], to=T.FLOAT),
        helper.make_node("Mul", ["hf", "k"], ["hk"]),
        helper.make_node("Add", ["hk", "dq"], ["s"]),
        helper.make_node("Sigmoid", ["s"], ["y"]),
    ]
    return _model(nodes, [_vi("x", T.FLOAT, ["batch", 3, 3])], [_vi("y", T.FLOAT, ["batch", 1, 3, 3])], inits, path)


def nested_if_model(path):
    """An If whose branches declare no output types, the then branch an If
    of its own (silero-vad's decoder), read by ai.onnx ops after it."""
    rng = np.random.default_rng(1)
    f = lambda n, a: nh.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inner_then = helper.make_graph([helper.make_node("Relu", ["h"], ["it"])], "it", [], [_untyped("it")])
    inner_else = helper.make_graph([helper.make_node("Neg", ["h"], ["ie"])], "ie", [], [_untyped("ie")])
    then_g = helper.make_graph(
        [helper.make_node("ReduceMax", ["h"], ["mx"], keepdims=0),
         helper.make_node("Greater", ["mx", "one"], ["c2"]),
         helper.make_node("If", ["c2"], ["ti"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Mul", ["ti", "two"], ["to"])], "then", [], [_untyped("to")])
    else_g = helper.make_graph([helper.make_node("Sigmoid", ["h"], ["eo"])], "else", [], [_untyped("eo")])
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"]), helper.make_node("Tanh", ["h0"], ["h"]),
             helper.make_node("ReduceSum", ["h"], ["s"], keepdims=0),
             helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["o"], then_branch=then_g, else_branch=else_g)]
    prev = "o"
    for i in range(4):
        nodes += [helper.make_node("MatMul", [prev, f"w{i + 1}"], [f"m{i}"]),
                  helper.make_node("Relu" if i < 3 else "Sigmoid", [f"m{i}"], [f"r{i}"])]
        prev = f"r{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    inits = [f(f"w{i}", rng.standard_normal((8, 8)) * 0.5) for i in range(5)] + [f("zero", 0), f("one", 0.5), f("two", 2)]
    return _model(nodes, [_vi("x", T.FLOAT, ["batch", 8])], [_vi("y", T.FLOAT, ["batch", 8])], inits, path, ms=False)


def _obfuscate(model, d, *extra, check=True, **kw):
    return proteus("obfuscate", model, "-o", d / "bucket", "--key", d / "model.key", "-k", "2", "-n", "4",
                   "--allow-weak", "--allow-unverified", "--seed", "3", *extra, check=check, **kw)


def _dims(vi):
    tt = vi.type.tensor_type
    assert tt.HasField("shape"), f"'{vi.name}' has no shape"
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tt.shape.dim]


def _feed(vi, batch):
    tt = vi.type.tensor_type
    shape = [d if isinstance(d, int) else batch for d in _dims(vi)]
    dt = helper.tensor_dtype_to_np_dtype(tt.elem_type)
    rng = np.random.default_rng(5)
    if np.issubdtype(dt, np.floating):
        return (rng.standard_normal(shape) * 0.3).astype(dt)
    return rng.integers(0, 200, shape).astype(dt)


def _check_bucket(d, batch=2):
    """Every file passes onnx.checker and loads in ONNX Runtime; every
    interface value has a dtype and a shape; each real file, run with the
    symbolic dims at `batch`, gives outputs of the dtype and dims it
    declares.  Returns the real files' interface element types."""
    bucket = d / "bucket"
    real = set(key_view(d / "model.key")["real"])
    so = ort.SessionOptions()
    so.log_severity_level = 3
    types = set()
    for f in sorted(os.listdir(bucket)):
        if f == "manifest.json":
            continue
        p = str(bucket / f)
        onnx.checker.check_model(p, full_check=True)
        s = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        m = onnx.load(p)
        inits = {t.name for t in m.graph.initializer}
        ins = [vi for vi in m.graph.input if vi.name not in inits]
        for vi in ins + list(m.graph.output):
            assert vi.type.tensor_type.elem_type != T.UNDEFINED, f"{f}: '{vi.name}' has no dtype"
            assert all(x != "" for x in _dims(vi)), f"{f}: '{vi.name}' has an unknown dim: {_dims(vi)}"
        if f not in real:
            continue
        types |= {vi.type.tensor_type.elem_type for vi in ins + list(m.graph.output)}
        if any(vi.type.tensor_type.elem_type == T.INT64 for vi in ins):
            continue  # a shape tensor: random values would not do
        outs = s.run(None, {vi.name: _feed(vi, batch) for vi in ins})
        for vi, a in zip(m.graph.output, outs):
            assert a.dtype == helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type), (f, vi.name, a.dtype)
            dims = _dims(vi)
            assert len(dims) == a.ndim, (f, vi.name, dims, a.shape)
            for x, n in zip(dims, a.shape):
                assert not isinstance(x, int) or x == n, f"{f}: '{vi.name}' declared {dims}, is {list(a.shape)}"
    return types


def _pipeline(model, d, *verify_args):
    proteus("optimize", d / "bucket", "-o", d / "opt", "--with", "ort:all")
    proteus("reassemble", d / "opt", "--key", d / "model.key", "-o", d / "re.onnx", "--allow-unverified")
    r = proteus("verify", model, d / "re.onnx", "--json", *verify_args, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return d / "re.onnx"


def test_contrib_ops_typed_by_onnx_runtime(tmp_path):
    model = contrib_model(tmp_path / "contrib.onnx")
    r = _obfuscate(model, tmp_path)
    assert "got their type from ONNX Runtime" in r.stderr, (
        "the model no longer exercises the types from ONNX Runtime (did its ops get shape rules? pick others): "
        + r.stderr)
    types = _check_bucket(tmp_path)
    assert T.UINT32 in types or T.UINT8 in types, types  # the cuts fall after MurmurHash3 or QLinearLeakyRelu
    re = _pipeline(model, tmp_path)
    # the reassembled model runs at other batch sizes (the captured dims that
    # follow batch stayed symbolic)
    s_ref, s_re = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in (model, str(re)))
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 3)).astype(np.float32)
        np.testing.assert_allclose(s_re.run(None, {"x": x})[0], s_ref.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_every_cut_of_contrib_model(tmp_path):
    """Several partitions (seeds): whichever values the cuts fall on, the
    files are typed and load."""
    model = contrib_model(tmp_path / "contrib.onnx")
    for seed in (1, 2):
        d = tmp_path / f"s{seed}"
        d.mkdir()
        proteus("obfuscate", model, "-o", d / "bucket", "--key", d / "model.key", "-k", "1", "-n", "6",
                "--allow-weak", "--allow-unverified", "--seed", str(seed))
        _check_bucket(d, batch=3)


def test_nested_if_typed_by_onnx_runtime(tmp_path):
    model = nested_if_model(tmp_path / "nested_if.onnx")
    r = _obfuscate(model, tmp_path)
    assert "from ONNX Runtime" in r.stderr, r.stderr
    _check_bucket(tmp_path)
    re = _pipeline(model, tmp_path)
    s_ref, s_re = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in (model, str(re)))
    for batch in (1, 4):
        for sign in (1, -1):  # both branches of both Ifs
            x = (sign * np.abs(np.random.default_rng(batch).standard_normal((batch, 8)))).astype(np.float32)
            np.testing.assert_allclose(s_re.run(None, {"x": x})[0], s_ref.run(None, {"x": x})[0], rtol=1e-5,
                                       atol=1e-6)


def test_owner_inputs_reach_onnx_runtime(tmp_path):
    """A model that ONNX Runtime cannot run on random inputs (a Reshape
    target read from an input): obfuscate fails at the untyped value, names
    the reason and --input; given --input shape=FILE.npy it passes."""
    f = lambda n, a: nh.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"], ["rs"]),
             helper.make_node("Inverse", ["rs"], ["inv"], domain=MS)]
    prev = "inv"
    for i in range(4):
        nodes += [helper.make_node("Add", [prev, "b"], [f"a{i}"]), helper.make_node("Tanh", [f"a{i}"], [f"t{i}"])]
        prev = f"t{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    model = _model(nodes, [_vi("x", T.FLOAT, [2, 9]), _vi("shape", T.INT64, [3])], [_vi("y", T.FLOAT, [2, 3, 3])],
                   [f("b", np.eye(3))], tmp_path / "reshape.onnx")
    d = tmp_path / "fail"
    d.mkdir()
    r = _obfuscate(model, d, check=False)
    assert r.returncode == 1, r.stderr
    err = [l for l in r.stderr.splitlines() if l.startswith("proteus:") and "warning:" not in l]
    assert len(err) == 1, r.stderr
    assert "reshape.onnx" in err[0] and "type" in err[0] and "ONNX Runtime" in err[0], err[0]
    assert "--input NAME=FILE.npy" in err[0], err[0]
    assert not os.path.exists(d / "bucket") and not os.path.exists(d / "model.key"), os.listdir(d)
    np.save(tmp_path / "shape.npy", np.array([2, 3, 3], np.int64))
    ok = tmp_path / "ok"
    ok.mkdir()
    _obfuscate(model, ok, "--input", f"shape={tmp_path / 'shape.npy'}")
    _check_bucket(ok)


@pytest.mark.parametrize("how", ["no-probe", "no-python", "no-onnxruntime"])
def test_cannot_ask_onnx_runtime(tmp_path, how):
    """ONNX Runtime not asked or not there: the error a cut at an untyped
    value meets says why and what would help, on one line; nothing written."""
    model = nested_if_model(tmp_path / "nested_if.onnx")
    env = dict(os.environ)
    extra = []
    if how == "no-probe":
        extra, want = ["--no-probe"], "drop --no-probe"
    elif how == "no-python":
        env["PROTEUS_PYTHON"], want = str(tmp_path / "no-such-python"), "PROTEUS_PYTHON"
    else:
        # an interpreter that has numpy and onnx but no onnxruntime
        fake = tmp_path / "fakepy"
        (fake / "onnxruntime").mkdir(parents=True)
        (fake / "onnxruntime" / "__init__.py").write_text("raise ImportError('No module named onnxruntime (test)')\n")
        env["PYTHONPATH"] = str(fake) + os.pathsep + env.get("PYTHONPATH", "")
        want = "onnxruntime"
    d = tmp_path / "out"
    d.mkdir()
    r = _obfuscate(model, d, *extra, check=False, env=env)
    assert r.returncode == 1, r.stderr
    err = [l for l in r.stderr.splitlines() if l.startswith("proteus:") and "warning:" not in l]
    assert len(err) == 1, r.stderr
    assert "nested_if.onnx" in err[0] and "its type is unknown" in err[0] and want in err[0], err[0]
    assert "Traceback" not in r.stderr, r.stderr
    assert not os.path.exists(d / "bucket") and not os.path.exists(d / "model.key"), os.listdir(d)


def test_capture_reply_shapes(tmp_path):
    """python -m proteus_py.capture types: dtype, ONNX element type, shape;
    the dims that follow a symbolic input dim vary, the others not."""
    import subprocess
    import sys
    model = contrib_model(tmp_path / "contrib.onnx")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    req = {"model": model, "values": ["inv", "e", "ql", "h", "nope"], "shapes": {"x": [2, 3, 3]}}
    r = subprocess.run([sys.executable, "-m", "proteus_py.capture", "types"], input=json.dumps(req), text=True,
                       capture_output=True, env=dict(os.environ, PYTHONPATH=os.path.join(root, "python")))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    v = out["values"]
    assert v["inv"] == {"dtype": "float32", "elem_type": T.FLOAT, "shape": [2, 3, 3], "vary": [True, False, False]}
    assert v["e"]["shape"] == [2, 1, 3, 3] and v["e"]["vary"] == [True, False, False, False]
    assert v["ql"]["elem_type"] == T.UINT8 and v["h"]["elem_type"] == T.UINT32
    assert out["missing"] == ["nope"]
