"""The untrusted optimizer returns files crafted to pass reassemble's checks:
each must be refused (exit 1, the file named, nothing written), and an honest
round trip must still pass."""
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import CORPUS, PROTEUS, key_view, proteus

TIMEOUT = int(os.environ.get("PROTEUS_TAMPER_TIMEOUT", "120"))  # a FIFO used to hang reassemble forever


def obfuscate(model, bucket, key, *extra):
    """obfuscate with a small k; --allow-weak (and --allow-unverified with
    --no-probe) where this build has them."""
    usage = proteus("obfuscate", "--help", check=False).stdout
    allow = [f for f in ("--allow-weak", "--allow-unverified") if f in usage]
    if "--no-probe" not in extra:
        allow = [f for f in allow if f != "--allow-unverified"]
    gen = ["--sentinels", "random"] if "--sentinels" in usage else []  # what is tampered with: any generator
    proteus("obfuscate", model, "-o", bucket, "--key", key, "-k", "2", "--seed", "11", *gen, *extra, *allow)


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    """resnet18 (rehydrated), its bucket, key and a `copy` optimization."""
    base = tmp_path_factory.mktemp("tamper")
    src = next(p for p in CORPUS if "resnet18-op17" in p)
    model = base / "m.onnx"
    proteus("rehydrate", src, model, "--seed", 5)
    obfuscate(model, base / "b", base / "k.key")
    proteus("optimize", base / "b", "-o", base / "o", "--with", "copy")
    yield {"base": base, "model": model, "key": base / "k.key", "view": key_view(base / "k.key")}
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def returned(sent, tmp_path):
    """A private copy of the optimizer's output directory."""
    out = tmp_path / "o"
    shutil.copytree(sent["base"] / "o", out)
    return out


def reassemble(sent, out, tmp_path, *extra):
    res = tmp_path / "r.onnx"
    r = subprocess.run([PROTEUS, "reassemble", str(out), "--key", str(sent["key"]), "-o", str(res), *extra],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return r, res


def refused(r, res, name, *words):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert name in lines[0], r.stderr
    for w in words:
        assert w in lines[0], r.stderr
    assert not os.path.exists(res)
    assert not [f for f in os.listdir(os.path.dirname(res)) if f.startswith(".r.onnx")]


def run_file(path, seed=0):
    from proteus_py.inputs import make_inputs
    from proteus_py.ort import session
    s = session(str(path), "disabled", threads=1)
    return s.run([o.name for o in s.get_outputs()], make_inputs(str(path), seed=seed))


def set_opset(path, version):
    m = onnx.load(path)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = version
    onnx.save(m, path)


def test_honest_round_trip_all(sent, tmp_path):
    out = tmp_path / "opt"
    proteus("optimize", sent["base"] / "b", "-o", out, "--with", "ort:all")
    r, res = reassemble(sent, out, tmp_path)
    assert r.returncode == 0, r.stderr
    v = proteus("verify", sent["model"], res, check=False)
    assert v.returncode == 0, v.stdout + v.stderr


def test_opset_downgrade(sent, returned, tmp_path):
    """A file declaring an older opset: every op here means the same at 11,
    so the file computes what was sent; it must still be refused."""
    victim = sent["view"]["real"][0]
    set_opset(returned / victim, 11)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "opset")


def test_opset_upgrade(sent, returned, tmp_path):
    victim = sent["view"]["real"][1]
    set_opset(returned / victim, 18)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "opset")


def test_opset_downgrade_changes_meaning(tmp_path):
    """Softmax over a [1,4,8] tensor, written as Reshape -> Softmax -> Reshape
    at opset 13, is Softmax(axis=1) at opset 11 (which flattens): the crafted
    file computes what was sent at its own opset, and something else at the
    model's.  Refused for its opset."""
    shape = numpy_helper.from_array(np.array([1, 32], dtype=np.int64), "s32")
    back = numpy_helper.from_array(np.array([1, 4, 8], dtype=np.int64), "s148")
    w = numpy_helper.from_array(np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Reshape", ["h", "s32"], ["f"]),
         helper.make_node("Softmax", ["f"], ["p"], axis=-1),
         helper.make_node("Reshape", ["p", "s148"], ["q"]),
         helper.make_node("ReduceSum", ["q"], ["y"], keepdims=1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1])], [shape, back, w])
    model = tmp_path / "sm.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), model)
    obfuscate(model, tmp_path / "b", tmp_path / "k.key", "-n", "1")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "copy")
    view = key_view(tmp_path / "k.key")
    assert len(view["real"]) == 1
    victim = tmp_path / "o" / view["real"][0]
    m = onnx.load(victim)
    gi, go = m.graph.input[0].name, m.graph.output[0].name
    wname = next(i for n in m.graph.node if n.op_type == "MatMul" for i in n.input if i != gi)
    inits = [t for t in m.graph.initializer if t.name == wname]
    crafted = helper.make_graph(
        [helper.make_node("MatMul", [gi, wname], ["h"]),
         helper.make_node("Softmax", ["h"], ["p"], axis=1),
         helper.make_node("ReduceSum", ["p"], [go], keepdims=1)],
        m.graph.name, list(m.graph.input), list(m.graph.output), inits)
    onnx.save(helper.make_model(crafted, opset_imports=[helper.make_opsetid("", 11)], ir_version=m.ir_version),
              victim)
    # at its own opset it computes what was sent
    a, = run_file(tmp_path / "b" / view["real"][0], 3)
    b, = run_file(victim, 3)
    assert np.allclose(a, b, rtol=1e-5)
    res = tmp_path / "r.onnx"
    r = subprocess.run([PROTEUS, "reassemble", str(tmp_path / "o"), "--key", str(tmp_path / "k.key"), "-o", str(res)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    refused(r, res, view["real"][0], "opset")


def test_nan_where_zero(sent, returned, tmp_path):
    """NaN injected exactly where an output is 0 (x / x * x)."""
    victim = next(f for f in sent["view"]["real"] if (run_file(returned / f)[0] == 0).any())
    m = onnx.load(returned / victim)
    out = m.graph.output[0].name
    for n in m.graph.node:
        for i, o in enumerate(n.output):
            if o == out:
                n.output[i] = "pre"
    m.graph.node.extend([helper.make_node("Div", ["pre", "pre"], ["ratio"]),
                         helper.make_node("Mul", ["ratio", "pre"], [out])])
    onnx.save(m, returned / victim)
    assert np.isnan(run_file(returned / victim)[0]).any()
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "NaN")


def test_class_bias_changed(sent, returned, tmp_path):
    """One class's bias in the final Gemm moved by 0.01: verify (1e-4) sees
    it, so must reassemble."""
    victim = sent["view"]["real"][-1]
    m = onnx.load(returned / victim)
    gemm = next(n for n in m.graph.node if n.op_type == "Gemm")
    t = next(t for t in m.graph.initializer if t.name == gemm.input[2])
    a = numpy_helper.to_array(t).copy()
    a[417] += 0.01
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, returned / victim)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "computes something else")


def test_unprobed_part_swapped_with_sentinel(tmp_path):
    """A real file that was not fingerprinted: a sentinel in its place has
    its interface.  Refused unless --allow-unverified (then one warning line
    per such file)."""
    src = next(p for p in CORPUS if "resnet18-op17" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model, "--seed", 5)
    obfuscate(model, tmp_path / "b", tmp_path / "k.key", "--no-probe")
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "copy")
    view = key_view(tmp_path / "k.key")
    real = view["real"][2]
    sentinel = next(g["sentinels"][0] for g in view["groups"] if g["real"] == real)
    shutil.copy(tmp_path / "o" / sentinel, tmp_path / "o" / real)
    res = tmp_path / "r.onnx"
    cmd = [PROTEUS, "reassemble", str(tmp_path / "o"), "--key", str(tmp_path / "k.key"), "-o", str(res)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    refused(r, res, view["real"][0], "--allow-unverified")
    r = subprocess.run(cmd + ["--allow-unverified"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warn) == len(view["real"]) and any(real in ln for ln in warn), r.stderr


def add_initializer(path, name, nbytes):
    m = onnx.load(path)
    t = helper.make_tensor(name, TensorProto.UINT8, [nbytes], b"\x01" * nbytes, raw=True)
    m.graph.initializer.append(t)
    onnx.save(m, path)


def test_junk_initializer_beyond_bound(sent, returned, tmp_path):
    """An unused initializer bigger than 4 x the file sent + 16 MiB."""
    victim = min(sent["view"]["real"], key=lambda f: os.path.getsize(returned / f))
    size = os.path.getsize(sent["base"] / "b" / victim)
    add_initializer(returned / victim, "junk", 4 * size + (17 << 20))
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "bytes")


def test_junk_dropped(sent, returned, tmp_path):
    """Unused initializers and opset domains within bounds are dropped from
    the stitched model."""
    victim = sent["view"]["real"][1]
    add_initializer(returned / victim, "junk", 1 << 20)
    m = onnx.load(returned / victim)
    m.opset_import.append(helper.make_opsetid("com.example.junk", 1))
    onnx.save(m, returned / victim)
    r, res = reassemble(sent, returned, tmp_path)
    assert r.returncode == 0, r.stderr
    out = onnx.load(res)
    assert not any(t.name.endswith("junk") for t in out.graph.initializer)
    assert "com.example.junk" not in [o.domain for o in out.opset_import]
    assert os.path.getsize(res) < os.path.getsize(sent["model"]) + (256 << 10)


def test_fifo_in_place_of_file(sent, returned, tmp_path):
    victim = sent["view"]["real"][0]
    os.unlink(returned / victim)
    os.mkfifo(returned / victim)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "FIFO")


def test_fifo_as_external_data(sent, returned, tmp_path):
    victim = sent["view"]["real"][0]
    m = onnx.load(returned / victim)
    t = max(m.graph.initializer, key=lambda t: len(t.raw_data))
    n = len(t.raw_data)
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", str(n))):
        e = t.external_data.add()
        e.key, e.value = k, v
    onnx.save(m, returned / victim)
    os.mkfifo(returned / "w.bin")
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "FIFO")


def test_symlink_leaving_directory(sent, returned, tmp_path):
    victim = sent["view"]["real"][0]
    outside = tmp_path / "outside.onnx"
    shutil.move(returned / victim, outside)
    os.symlink(outside, returned / victim)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "outside")


def test_too_many_nodes(sent, returned, tmp_path):
    """A chain of Identity nodes far beyond 16 x the nodes sent + 1000."""
    victim = sent["view"]["real"][0]
    m = onnx.load(returned / victim)
    sent_nodes = len(onnx.load(sent["base"] / "b" / victim).graph.node)
    out = m.graph.output[0].name
    for nd in m.graph.node:
        for i, o in enumerate(nd.output):
            if o == out:
                nd.output[i] = "chain0"
    k = 16 * sent_nodes + 1001
    m.graph.node.extend(helper.make_node("Identity", [f"chain{i}"], [f"chain{i + 1}" if i + 1 < k else out])
                        for i in range(k))
    onnx.save(m, returned / victim)
    r, res = reassemble(sent, returned, tmp_path)
    refused(r, res, victim, "nodes")
