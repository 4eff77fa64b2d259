"""The fingerprint check's bound is measured from ONNX Runtime's own
optimization (proteus_py.probe): ONNX Runtime's honest output passes, on a
float model and on a QDQ model whose integer kernels move outputs by whole
quanta, while a small but real change is still refused: a float weight
scaled by 1.001, one weight of a QDQ part nudged by a few quanta."""
import json
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import CORPUS, PROTEUS, key_view, proteus

TIMEOUT = 300


def _reassemble(work, opt):
    return subprocess.run([PROTEUS, "reassemble", str(opt), "--key", str(work / "k"), "-o", str(work / "r.onnx"),
                           "--force"], capture_output=True, text=True, timeout=TIMEOUT)


def _refused(r, victim):
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert victim in line and "computes something else" in line, line


def qdq_model(path, rng_seed=0):
    """A small CNN (4 Conv+Relu, pooling, Gemm) quantized to QDQ by ONNX
    Runtime's own quantizer, calibrated on inputs a quarter the size of the
    fingerprint's, so activations saturate as in real image models."""
    quant = pytest.importorskip("onnxruntime.quantization")
    rng = np.random.default_rng(rng_seed)
    nodes, inits, x, c = [], [], "x", 3
    for i, co in enumerate([16, 16, 32, 32]):
        w = (rng.standard_normal((co, c, 3, 3)) / np.sqrt(c * 9)).astype(np.float32)
        b = (rng.standard_normal(co) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"c{i}.w"), numpy_helper.from_array(b, f"c{i}.b")]
        nodes += [helper.make_node("Conv", [x, f"c{i}.w", f"c{i}.b"], [f"h{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"])]
        x, c = f"r{i}", co
    inits += [numpy_helper.from_array((rng.standard_normal((10, c)) / np.sqrt(c)).astype(np.float32), "fc.w"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fc.b")]
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    fp = str(path) + ".float.onnx"
    onnx.save(m, fp)

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": (0.25 * rng.standard_normal((1, 3, 32, 32))).astype(np.float32)}
                            for _ in range(8)])

        def get_next(self):
            return next(self.it, None)

    quant.quantize_static(fp, str(path), Reader(), quant_format=quant.QuantFormat.QDQ,
                          activation_type=quant.QuantType.QUInt8, weight_type=quant.QuantType.QInt8)
    os.unlink(fp)


@pytest.fixture(scope="module")
def qdq(tmp_path_factory):
    work = tmp_path_factory.mktemp("fp-qdq")
    qdq_model(work / "m.onnx")
    proteus("obfuscate", work / "m.onnx", "-o", work / "b", "--key", work / "k", "-k", 1, "--allow-weak", "-n", 6,
            "--seed", 3)
    for level in ("basic", "extended", "all"):
        proteus("optimize", work / "b", "-o", work / f"o-{level}", "--with", f"ort:{level}")
    proteus("optimize", work / "b", "-o", work / "o-copy", "--with", "copy")
    yield {"work": work, "real": key_view(work / "k")["real"]}
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("level", ["copy", "basic", "extended", "all"])
def test_qdq_honest_passes(qdq, tmp_path, level):
    """ONNX Runtime's own result at every level (integer kernels at
    extended and all) and the file as sent pass the check."""
    r = _reassemble(qdq["work"], qdq["work"] / f"o-{level}")
    assert r.returncode == 0, r.stderr


def _random_feeds(path, rng):
    """Inputs for a file: 8-bit integers over their whole range (quantized
    activations), floats standard normal."""
    from proteus_py.ort import session
    feeds = {}
    for i in session(str(path)).get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if i.type == "tensor(uint8)":
            feeds[i.name] = rng.integers(0, 256, shape).astype(np.uint8)
        elif i.type == "tensor(int8)":
            feeds[i.name] = rng.integers(-128, 128, shape).astype(np.int8)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _nudge(src_dir, dst_dir, victim, quanta):
    """dst_dir: src_dir with one 8-bit convolution weight of the victim
    moved `quanta` steps towards zero, one that changes what the file
    computes (a weight of a channel that is dead on any input changes
    nothing a fingerprint could see); False when there is none."""
    from proteus_py.ort import session
    rng = np.random.default_rng(0)
    feeds = _random_feeds(src_dir / victim, rng)
    before = session(str(src_dir / victim)).run(None, feeds)
    m = onnx.load(src_dir / victim)
    for t in sorted((t for t in m.graph.initializer
                     if t.data_type in (TensorProto.INT8, TensorProto.UINT8) and len(t.dims) == 4),
                    key=lambda t: -int(np.prod(t.dims))):
        a0 = numpy_helper.to_array(t)
        mid = 128 if a0.dtype == np.uint8 else 0
        for i in np.argsort(-np.abs(a0.astype(np.int64) - mid), axis=None)[:16]:
            a = a0.copy()
            v = int(a.flat[i])
            a.flat[i] = v - quanta if v > mid else v + quanta
            mm = onnx.load(src_dir / victim)
            tt = next(x for x in mm.graph.initializer if x.name == t.name)
            tt.CopyFrom(numpy_helper.from_array(a, t.name))
            path = dst_dir.parent / "nudged.onnx"
            onnx.save(mm, path)
            after = session(str(path)).run(None, feeds)
            if any(not np.array_equal(x, y) for x, y in zip(before, after)):
                shutil.copytree(src_dir, dst_dir)
                shutil.copy(path, dst_dir / victim)
                return True
    return False


@pytest.mark.parametrize("level", ["copy", "all"])
def test_qdq_weight_nudged_refused(qdq, tmp_path, level):
    """One int8 weight of a real file moved by 3 quanta (in the file as
    sent, and in ONNX Runtime's QLinearConv form): refused, the file named."""
    tried = 0
    for victim in qdq["real"]:
        out = tmp_path / f"o-{victim}"
        if not _nudge(qdq["work"] / f"o-{level}", out, victim, 3):
            continue
        tried += 1
        _refused(_reassemble(qdq["work"], out), victim)
        shutil.rmtree(out)
    assert tried >= 3


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    work = tmp_path_factory.mktemp("fp-r18")
    src = next(p for p in CORPUS if "resnet18-op17" in p)
    proteus("rehydrate", src, work / "m.onnx", "--seed", 5)
    proteus("obfuscate", work / "m.onnx", "-o", work / "b", "--key", work / "k", "-k", 1, "--allow-weak",
            "--seed", 11)
    proteus("optimize", work / "b", "-o", work / "o", "--with", "ort:all")
    yield {"work": work, "real": key_view(work / "k")["real"]}
    shutil.rmtree(work, ignore_errors=True)


def test_float_honest_all_passes(r18):
    r = _reassemble(r18["work"], r18["work"] / "o")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("which", [0, 6, -1])
def test_float_weight_scaled_refused(r18, tmp_path, which):
    """The largest weight of a real file (in ONNX Runtime's all-level form:
    NCHWc-reordered, fused) scaled by 1.001: refused."""
    victim = r18["real"][which]
    out = tmp_path / "o"
    shutil.copytree(r18["work"] / "o", out)
    m = onnx.load(out / victim)
    t = max((t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT), key=lambda t: int(np.prod(t.dims)))
    t.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(t) * np.float32(1.001)).astype(np.float32), t.name))
    onnx.save(m, out / victim)
    _refused(_reassemble(r18["work"], out), victim)


def test_bound_is_twice_the_measured_deviation(tmp_path):
    """In-process: an output whose fingerprint records an honest deviation
    dev admits sampled elements moved by up to the floor + 2 dev, and
    refuses more."""
    from proteus_py import probe
    a = np.random.default_rng(3).standard_normal((64, 64)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["i0", "a"], ["o0"])],
        "g", [helper.make_tensor_value_info("i0", TensorProto.FLOAT, [8, 64])],
        [helper.make_tensor_value_info("o0", TensorProto.FLOAT, [8, 64])], [numpy_helper.from_array(a, "a")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = str(tmp_path / "f.onnx")
    onnx.save(m, path)
    fp = probe.compute([(42, path)])[0]["probe"]
    assert fp["v"] == probe.VERSION
    e, seed = fp["outputs"][0], fp["seed"]
    sent = np.asarray(probe._run(path, seed)[0][0], dtype=np.float32).ravel()
    pos = probe._positions(seed, 0, e["n"])
    assert np.array_equal(sent[pos].astype(np.float64), probe._decode_sample(e["sample"]))
    assert probe._compare(0, sent.reshape(e["shape"]), e, seed, None) is None
    for moved, ok in ((1.5e-3, True), (2.5e-3, False)):
        y = sent.copy()
        y[pos[0]] += np.float32(moved * e["scale"])
        # the projections of y itself: only the element bound is tested
        e2 = dict(e, dev=[1e-3 * e["scale"], 0.0], proj=probe._proj(y.astype(np.float64), probe._signs(seed, 0, y.size)))
        bad = probe._compare(0, y.reshape(e["shape"]), e2, seed, None)
        assert (bad is None) == ok, (moved, bad)
        bad = probe._compare(0, y.reshape(e["shape"]), dict(e2, dev=None), seed, None)
        assert bad and "an element is off" in bad
