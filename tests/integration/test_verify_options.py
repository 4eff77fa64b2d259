"""proteus verify's options for models random inputs do not suit and for
references ONNX Runtime's own optimization moves: --input NAME=FILE.npy
(values), the error that names the inputs drawn at random and the flags
that fix them, --reference-opt and the measured reference_opt_error, the
default rtol of a model that computes in float16, --json fields."""
import json
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import PROTEUS


def _verify(*args, **kw):
    return subprocess.run([PROTEUS, "verify", *map(str, args)], capture_output=True, text=True, **kw)


def _lines(s):
    return [ln for ln in s.splitlines() if ln.strip()]


def _one_error(r, code, *fragments):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = _lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("proteus: verify: "), r.stderr
    assert "Traceback" not in r.stderr and "onnxruntime:" not in r.stderr and "\x1b[" not in r.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


def _save(m, path):
    m.ir_version = 8
    onnx.save(m, path)
    return path


# --- --input NAME=FILE.npy ----------------------------------------------------------

def _rows_model(path):
    """x float [6], k int64 scalar -> y = Reshape(x, [k, 3]): runs only with
    k = 2 (k = 0 copies x's 6, k = 1 makes 3 elements), so the 0/1 that
    random draws give an integer input can never run it."""
    g = h.make_graph(
        [h.make_node("Unsqueeze", ["k", "ax"], ["k1"]), h.make_node("Concat", ["k1", "three"], ["shape"], axis=0),
         h.make_node("Reshape", ["x", "shape"], ["r"]), h.make_node("Relu", ["r"], ["y"])],
        "g", [h.make_tensor_value_info("x", T.FLOAT, [6]), h.make_tensor_value_info("k", T.INT64, [])],
        [h.make_tensor_value_info("y", T.FLOAT, [None, 3])],
        [nh.from_array(np.array([0], np.int64), "ax"), nh.from_array(np.array([3], np.int64), "three")])
    return _save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)


@pytest.fixture
def rows(tmp_path):
    m = _rows_model(tmp_path / "rows.onnx")
    k = tmp_path / "k.npy"
    np.save(k, np.array(2, np.int64))
    return m, k


def test_input_value_makes_it_run(rows, tmp_path):
    m, k = rows
    r = _verify(m, m, "--input", f"k={k}", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ok"] and s["outputs"]["y"]["bitwise"]
    assert s["inputs"]["k"] == {"dtype": "int64", "shape": [], "from": "file"}
    assert s["inputs"]["x"] == {"dtype": "float32", "shape": [6], "from": "random"}
    # several runs: the random inputs change, the given ones stay
    assert _verify(m, m, "--input", f"k={k}", "--runs", "3").returncode == 0
    # an array of the same kind whose values survive the conversion is accepted (np.save(f, 2) on
    # some platforms is int32)
    k32 = tmp_path / "k32.npy"
    np.save(k32, np.array(2, np.int32))
    assert _verify(m, m, "--input", f"k={k32}").returncode == 0


def test_input_not_confused_with_input_shape(rows):
    """argparse's prefix matching took --input for --input-shape; no more."""
    m, k = rows
    assert _verify(m, m, "--input", f"k={k}", "--input-shape", "x=6").returncode == 0
    _one_error(_verify(m, m, "--input-s", "x=6"), 2, "--input-s")


def test_random_draw_failure_names_inputs_and_flags(rows):
    m, _ = rows
    line = _one_error(_verify(m, m), 1, m, "ONNX Runtime failed to run it", "drawn at random",
                      "k int64 [] in 0..1", "--input NAME=FILE.npy", "--input k=FILE.npy", "--input-shape")
    assert "Reshape" in line
    r = _verify(m, m, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False


def test_symbolic_and_value_inputs_both_named(tmp_path):
    """An input with symbolic dims and an integer input drawn at random: the
    line asks for the shape of one and the value of the other."""
    g = h.make_graph(
        [h.make_node("Unsqueeze", ["k", "ax"], ["k1"]), h.make_node("Concat", ["k1", "three"], ["shape"], axis=0),
         h.make_node("Reshape", ["x", "shape"], ["y"])],
        "g", [h.make_tensor_value_info("x", T.FLOAT, ["N"]), h.make_tensor_value_info("k", T.INT64, [])],
        [h.make_tensor_value_info("y", T.FLOAT, [None, 3])],
        [nh.from_array(np.array([0], np.int64), "ax"), nh.from_array(np.array([3], np.int64), "three")])
    m = _save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), tmp_path / "sym.onnx")
    _one_error(_verify(m, m), 1, "--input-shape x=D0", "k int64 [] in 0..1", "--input NAME=FILE.npy")
    k = tmp_path / "k.npy"
    np.save(k, np.array(2, np.int64))
    assert _verify(m, m, "--input-shape", "x=6", "--input", f"k={k}").returncode == 0
    # an array gives its input its shape: x's N from the file
    x = tmp_path / "x.npy"
    np.save(x, np.arange(6, dtype=np.float32))
    r = _verify(m, m, "--input", f"x={x}", "--input", f"k={k}", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inputs"]["x"]["shape"] == [6]
    # a shape and an array that disagree
    _one_error(_verify(m, m, "--input", f"x={x}", "--input-shape", "x=9", "--input", f"k={k}"), 1,
               "--input x", "[6]", "[9]")


def test_bad_input_files_are_one_line(rows, tmp_path):
    m, k = rows
    _one_error(_verify(m, m, "--input", f"k={tmp_path / 'none.npy'}"), 1, "--input k=", "none.npy", "no such file")
    _one_error(_verify(m, m, "--input", f"k={tmp_path}"), 1, "not a regular file")
    txt = tmp_path / "k.txt"
    txt.write_text("2\n")
    _one_error(_verify(m, m, "--input", f"k={txt}"), 1, "k.txt", "not a .npy file")
    npz = tmp_path / "k.npz"
    np.savez(npz, k=np.array(2))
    _one_error(_verify(m, m, "--input", f"k={npz}"), 1, ".npz archive")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{}]), allow_pickle=True)
    _one_error(_verify(m, m, "--input", f"k={obj}"), 1, "obj.npy", "cannot read it")
    # wrong dtype: a float for an int64 input, a value an int64 cannot hold exactly
    f = tmp_path / "f.npy"
    np.save(f, np.array(2.5))
    _one_error(_verify(m, m, "--input", f"k={f}"), 1, "float64", "int64", "'k'")
    big = tmp_path / "big.npy"
    np.save(big, np.array(2 ** 63, np.uint64))
    _one_error(_verify(m, m, "--input", f"k={big}"), 1, "uint64", "int64")
    # wrong shape: rank, a fixed dim
    r1 = tmp_path / "r1.npy"
    np.save(r1, np.array([2], np.int64))
    _one_error(_verify(m, m, "--input", f"k={r1}"), 1, "shape [1]", "rank 0")
    x5 = tmp_path / "x5.npy"
    np.save(x5, np.zeros(5, np.float32))
    _one_error(_verify(m, m, "--input", f"x={x5}", "--input", f"k={k}"), 1, "fixed at 6")
    # an input the model does not have
    _one_error(_verify(m, m, "--input", f"rows={k}"), 1, "no input 'rows'", "x, k")
    # usage errors: exit 2
    _one_error(_verify(m, m, "--input", "k"), 2, "NAME=FILE.npy")
    _one_error(_verify(m, m, "--input", f"={k}"), 2, "NAME=FILE.npy")
    _one_error(_verify(m, m, "--input", f"k={k}", "--input", f"k={k}"), 2, "given twice")
    r = _verify(m, m, "--input", f"k={tmp_path / 'none.npy'}", "--json")
    assert r.returncode == 1 and json.loads(r.stdout) == {"ok": False, "error": _lines(r.stderr)[0][17:]}


# --- --reference-opt ----------------------------------------------------------------

def _conv_add_model(path, big=1e6):
    """Conv with bias +big, then Add -big: ONNX Runtime's basic level folds
    the Add into the Conv's bias (0, exact); unoptimized, the Conv's output
    is rounded at big's magnitude (ulp(1e6) = 0.0625) before the Add takes
    big away again: ~1e-3 of the output's range apart, beyond rtol 1e-4."""
    rng = np.random.default_rng(0)
    C = 4
    g = h.make_graph([h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
                      h.make_node("Add", ["c", "A"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", C, 8, 8])],
                     [nh.from_array(rng.standard_normal((C, 3, 3, 3)).astype(np.float32), "W"),
                      nh.from_array(np.full(C, big, np.float32), "B"),
                      nh.from_array(np.full((1, C, 1, 1), -big, np.float32), "A")])
    return _save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)


@pytest.fixture
def conv_add(tmp_path):
    """(reference, candidate): the candidate is the reference as ONNX Runtime
    optimizes it at 'basic' (what an optimizer-side pipeline returns)."""
    ref = _conv_add_model(tmp_path / "ref.onnx")
    cand = tmp_path / "cand.onnx"
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = str(cand)
    ort.InferenceSession(str(ref), so, providers=["CPUExecutionProvider"])
    assert [n.op_type for n in onnx.load(str(cand)).graph.node] == ["Conv"]
    return ref, cand


def test_reference_opt_error_measured_on_failure(conv_add):
    ref, cand = conv_add
    r = _verify(ref, cand, "--json")
    assert r.returncode == 1, r.stderr
    s = json.loads(r.stdout)
    assert not s["ok"] and s["reference_opt"] == "disabled"
    assert s["outputs"]["y"]["max_rel"] > 1e-4
    e = s["reference_opt_error"]
    assert e["level"] == "all" and not e["ok"] and e["worst_output"] == "y"
    # ONNX Runtime alone makes (about) the candidate's error ...
    assert e["max_rel"] > 1e-4 and e["outputs"]["y"]["max_rel"] == e["max_rel"]
    assert e["max_rel"] == pytest.approx(s["outputs"]["y"]["max_rel"], rel=0.5)
    # ... and against the reference at 'all' the candidate is within tolerance
    assert e["candidate"]["ok"] and e["candidate"]["max_rel"] < 1e-5
    # the text says so, and what to pass
    r = _verify(ref, cand)
    assert r.returncode == 1 and "BEYOND TOLERANCE" in r.stdout
    assert "ONNX Runtime's own 'all' optimization of the reference is off by" in r.stdout
    assert "--reference-opt all" in r.stdout and "within tolerance" in r.stdout


@pytest.mark.parametrize("level", ["basic", "extended", "all"])
def test_reference_opt_levels_pass(conv_add, level):
    ref, cand = conv_add
    r = _verify(ref, cand, "--reference-opt", level, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    s = json.loads(r.stdout)
    assert s["ok"] and s["reference_opt"] == level and "reference_opt_error" not in s
    assert s["outputs"]["y"]["max_rel"] < 1e-5
    t = _verify(ref, cand, "--reference-opt", level)
    assert f"verify: passed (reference optimized by ONNX Runtime at '{level}'" in t.stdout


def test_reference_opt_error_within_tolerance_blames_candidate(tmp_path):
    """A candidate that is wrong where ONNX Runtime's own optimization is
    not: the failure says the reference's own error is within tolerance."""
    ref = _conv_add_model(tmp_path / "ref.onnx", big=0.0)
    m = onnx.load(str(ref))
    W = nh.to_array(m.graph.initializer[0]).copy()
    W[0, 0, 0, 0] += 0.5
    m.graph.initializer[0].CopyFrom(nh.from_array(W, "W"))
    cand = _save(m, tmp_path / "cand.onnx")
    r = _verify(ref, cand)
    assert r.returncode == 1
    assert "BEYOND TOLERANCE" in r.stdout
    assert "within tolerance, so the candidate's error is not that optimizer's round-off alone" in r.stdout
    assert "--reference-opt all" not in r.stdout
    s = json.loads(_verify(ref, cand, "--json").stdout)
    assert s["reference_opt_error"]["ok"] and not s["reference_opt_error"]["candidate"]["ok"]
    # at --reference-opt all it fails as well, with the reference's own error for comparison
    r = _verify(ref, cand, "--reference-opt", "all")
    assert r.returncode == 1 and "for comparison" in r.stdout and "--reference-opt all" not in r.stdout


def test_reference_opt_usage(conv_add):
    ref, cand = conv_add
    _one_error(_verify(ref, cand, "--reference-opt", "max"), 2, "--reference-opt 'max'", "disabled, basic")
    _one_error(_verify(ref, cand, "--reference-opt"), 2, "--reference-opt")


# --- the precision a model computes in ----------------------------------------------

def _fp16_inside(path, ulp=False, scale=1.0):
    """float32 in and out, float16 inside (keep_io_types): x -> Cast(fp16) ->
    MatMul(W fp16) -> Relu -> MatMul(W2 fp16) -> Cast(fp32)."""
    rng = np.random.default_rng(1)
    W = (rng.standard_normal((16, 16)) * scale).astype(np.float16)
    if ulp:
        W.view(np.uint16)[:] += 1
    W2 = rng.standard_normal((16, 4)).astype(np.float16)
    g = h.make_graph(
        [h.make_node("Cast", ["x"], ["x16"], to=T.FLOAT16), h.make_node("MatMul", ["x16", "W"], ["a"]),
         h.make_node("Relu", ["a"], ["b"]), h.make_node("MatMul", ["b", "W2"], ["c"]),
         h.make_node("Cast", ["c"], ["y"], to=T.FLOAT)],
        "g", [h.make_tensor_value_info("x", T.FLOAT, ["N", 16])], [h.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
        [nh.from_array(W, "W"), nh.from_array(W2, "W2")])
    return _save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)


def test_rtol_follows_the_precision_computed_in(tmp_path):
    ref = _fp16_inside(tmp_path / "ref.onnx")
    near = _fp16_inside(tmp_path / "near.onnx", ulp=True)
    far = _fp16_inside(tmp_path / "far.onnx", scale=1.05)
    s = json.loads(_verify(ref, near, "--json").stdout)
    assert s["compute_dtype"] == "float16" and s["outputs"]["y"]["dtype"] == "float32"
    assert s["outputs"]["y"]["rtol"] == pytest.approx(10 * 2 ** -10)
    assert s["ok"] and s["outputs"]["y"]["max_rel"] > 1e-4  # float16 round-off, beyond float32's 1e-4
    r = _verify(ref, near)
    assert r.returncode == 0 and "the model computes in float16" in r.stdout, r.stdout
    assert _verify(ref, near, "--rtol", "1e-4").returncode == 1  # an explicit rtol applies as given
    assert _verify(ref, far).returncode == 1  # 5% off is beyond float16 round-off
    # a float32 model keeps float32's 1e-4
    f32 = _conv_add_model(tmp_path / "f32.onnx", big=0.0)
    s = json.loads(_verify(f32, f32, "--json").stdout)
    assert s["compute_dtype"] == "float32" and s["outputs"]["y"]["rtol"] == 1e-4
