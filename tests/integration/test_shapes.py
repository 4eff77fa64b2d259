"""proteus shape inference against onnx's own (infer_shapes, data_prop=True).

For every corpus model, value_info is stripped, `proteus shapes` runs on the
weightless file, and every value onnx infers (graph inputs, outputs and
value_info) must agree: same dtype, same rank, every dim onnx knows as a
number is the same number, every dim onnx names is symbolic or unknown in
ours with a consistent onnx-symbol -> our-symbol mapping.

One deliberate allowance: where onnx only *invented* a symbol (unk__N, its
name for "could not compute") and proteus computed a number, the number is
accepted (proteus propagates data through more ops than onnx: Where, Equal,
Div, Range, ...); those dims are counted and reported, never silently.
"""
import collections
import json
import os
import re

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper, shape_inference

from conftest import CORPUS, proteus

UNK = re.compile(r"^unk__\d+$")


# --- helpers ---------------------------------------------------------------------

def strip_value_info(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    return m


def _has_data(t):
    return (t.raw_data or t.float_data or t.int32_data or t.int64_data or t.double_data or t.uint64_data
            or t.string_data or t.external_data or t.data_location == onnx.TensorProto.EXTERNAL)


def fill_missing_data(model):
    """Zeros for weightless initializers, so onnx's checker and data
    propagation accept the model (shapes do not depend on float values)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for t in m.graph.initializer:
        if _has_data(t):
            continue
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        if n == 0:
            continue
        np_dt = helper.tensor_dtype_to_np_dtype(t.data_type)
        t.raw_data = np.zeros(n, dtype=np_dt).tobytes()
    return m


def _dtype_name(elem_type):
    if elem_type == 0:
        return None
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    if elem_type == onnx.TensorProto.BFLOAT16:
        return "bfloat16"
    name = helper.tensor_dtype_to_np_dtype(elem_type).name
    return {"float8_e4m3fn": "float8e4m3fn", "float8_e4m3fnuz": "float8e4m3fnuz",
            "float8_e5m2": "float8e5m2", "float8_e5m2fnuz": "float8e5m2fnuz",
            "float4_e2m1fn": "float4e2m1"}.get(name, name)


def _vi_entry(vi):
    tt = vi.type.tensor_type
    if vi.type.WhichOneof("value") != "tensor_type":
        return None
    shape = None
    if tt.HasField("shape"):
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.HasField("dim_param") and d.dim_param:
                shape.append(d.dim_param)
            else:
                shape.append(None)
    return _dtype_name(tt.elem_type), shape


def onnx_values(model):
    """name -> (dtype name or None, shape or None) for everything onnx infers.
    onnx accepts the weightless files as they are (shapes never read float
    weights); zeros are filled in only if it refuses one."""
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:
        inferred = shape_inference.infer_shapes(fill_missing_data(model), strict_mode=False, data_prop=True)
    out = {}
    g = inferred.graph
    inits = {t.name for t in g.initializer}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.name in inits:
            continue
        e = _vi_entry(vi)
        if e is not None:
            out[vi.name] = e
    return out


def proteus_values(path):
    r = proteus("shapes", path)
    return {v["name"]: (v["dtype"], v["shape"]) for v in json.loads(r.stdout)["values"]}


def compare(theirs, ours):
    """Returns (values compared, mismatch lines, dims where we are more precise)."""
    mismatches, more_precise = [], []
    sym_map = {}
    compared = 0
    for name, (tdt, tshape) in sorted(theirs.items()):
        if name not in ours:
            mismatches.append(f"{name}: onnx infers it, proteus has no such value")
            continue
        odt, oshape = ours[name]
        compared += 1
        if tdt is not None and odt != tdt:
            mismatches.append(f"{name}: dtype onnx={tdt} proteus={odt}")
        if tshape is None:
            continue
        if oshape is None:
            mismatches.append(f"{name}: onnx shape {tshape}, proteus unknown rank")
            continue
        if len(oshape) != len(tshape):
            mismatches.append(f"{name}: rank onnx={len(tshape)} {tshape} proteus={len(oshape)} {oshape}")
            continue
        for i, (t, o) in enumerate(zip(tshape, oshape)):
            if isinstance(t, int):
                if o != t:
                    mismatches.append(f"{name}[{i}]: onnx={t} proteus={o!r} (onnx {tshape}, proteus {oshape})")
            elif isinstance(t, str):
                if isinstance(o, int):
                    if UNK.match(t):
                        more_precise.append(f"{name}[{i}]: onnx={t} proteus={o}")
                    else:
                        mismatches.append(f"{name}[{i}]: onnx symbol {t!r}, proteus number {o}")
                elif isinstance(o, str):
                    prev = sym_map.setdefault(t, o)
                    if prev != o:
                        mismatches.append(f"{name}[{i}]: onnx symbol {t!r} maps to proteus {prev!r} and {o!r}")
    return compared, mismatches, more_precise


def check_model(path, tmp_path):
    model = onnx.load(path, load_external_data=False)
    stripped = strip_value_info(model)
    p = os.path.join(str(tmp_path), os.path.basename(path))
    onnx.save(stripped, p)
    theirs = onnx_values(stripped)
    ours = proteus_values(p)
    return theirs, ours, compare(theirs, ours)


def _known(entry):
    dt, shape = entry
    return dt is not None or shape is not None


# --- corpus ---------------------------------------------------------------------

def test_shapes_match_onnx(corpus_model, tmp_path):
    theirs, ours, (n, mismatches, more_precise) = check_model(corpus_model, tmp_path)
    assert not mismatches, f"{len(mismatches)} mismatches of {n} values:\n" + "\n".join(mismatches)
    assert n == len(theirs)
    n_theirs = sum(1 for e in theirs.values() if _known(e))
    n_ours = sum(1 for e in ours.values() if _known(e))
    assert n_ours >= n_theirs, f"proteus infers {n_ours} values, onnx {n_theirs}"
    if more_precise:
        print(f"{os.path.basename(corpus_model)}: {len(more_precise)} dims proteus computed where onnx "
              f"invented a symbol: " + "; ".join(more_precise[:5]))


DYNAMIC = [p for p in CORPUS if "-dyn-" in os.path.basename(p)]


@pytest.mark.parametrize("path", DYNAMIC, ids=[os.path.basename(p)[:-5] for p in DYNAMIC])
def test_dynamic_shapes_match_runtime(path, tmp_path):
    """The dynamic-shape variants keep their input symbols all the way
    through, and every dim agrees with onnxruntime at batch=2, seq=7."""
    model = strip_value_info(onnx.load(path, load_external_data=False))
    p = os.path.join(str(tmp_path), "m.onnx")
    onnx.save(model, p)
    ours = proteus_values(p)
    actual = runtime_shapes(model, {"batch": 2, "seq": 7, "sequence": 7})
    assert actual is not None, "onnxruntime could not run the model"
    bad = check_runtime(actual, ours)
    assert not bad, "proteus disagrees with onnxruntime:\n" + "\n".join(bad)
    vague = [k for k in actual if ours.get(k, (None, None))[1] is None
             or any(isinstance(d, str) and UNK.match(d) for d in ours[k][1])]
    assert not vague, f"{len(vague)} values lost their input symbols, e.g. {vague[:5]}"


def test_inspect_histogram(tmp_path):
    picks = [p for p in CORPUS if re.search(r"(resnet18|bert|gpt2|vit_b_16)-op17", os.path.basename(p))]
    assert picks, "no corpus model to inspect"
    for path in picks:
        r = proteus("inspect", path, "--json")
        info = json.loads(r.stdout)
        model = onnx.load(path, load_external_data=False)
        want = collections.Counter(
            (f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type) for n in model.graph.node)
        assert info["ops"] == dict(want), path
        assert info["nodes"] == len(model.graph.node)


# --- op zoo: one small model per op variant, for the ops the corpus lacks ---------

T = onnx.TensorProto
F, I64, B = T.FLOAT, T.INT64, T.BOOL


def _vi(name, dt, shape):
    return helper.make_tensor_value_info(name, dt, shape)


def _ints(name, vals):
    return numpy_helper.from_array(np.array(vals, dtype=np.int64), name)


def _floats(name, vals):
    return numpy_helper.from_array(np.array(vals, dtype=np.float32), name)


def _w(name, shape):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _n(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, name=f"n_{op}_{outs[0]}", **attrs)


X4 = _vi("x", F, ["N", 3, 32, 32])   # image with a symbolic batch
XS = _vi("x", F, ["batch", "seq", 64])  # sequence


def _unary(op, opset=17, **a):
    return (f"{op}", opset, [_n(op, ["x"], ["y"], **a)], [XS], [])


ZOO = [
    *[_unary(op) for op in ["Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs",
                            "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Softplus", "Softsign", "Elu", "Selu",
                            "LeakyRelu", "HardSigmoid", "HardSwish", "Celu", "ThresholdedRelu", "Identity",
                            "IsNaN", "IsInf", "Softmax", "LogSoftmax", "Hardmax", "LpNormalization"]],
    _unary("Mish", 18), _unary("Gelu", 20), _unary("Softmax", 11, axis=1),
    ("Cast", 17, [_n("Cast", ["x"], ["y"], to=T.INT64)], [XS], []),
    ("CastLike", 17, [_n("CastLike", ["x", "t"], ["y"])], [XS, _vi("t", T.FLOAT16, [1])], []),
    ("Not", 17, [_n("Not", ["x"], ["y"])], [_vi("x", B, ["a", 4])], []),
    ("Dropout_mask", 17, [_n("Dropout", ["x"], ["y", "m"])], [XS], []),
    ("Clip", 17, [_n("Clip", ["x", "lo", "hi"], ["y"])], [XS], [_floats("lo", 0.0), _floats("hi", 6.0)]),
    ("MVN", 17, [_n("MeanVarianceNormalization", ["x"], ["y"])], [X4], []),
    *[(f"{op}_bcast", 17, [_n(op, ["a", "b"], ["y"])], [_vi("a", F, ["N", 3, 1]), _vi("b", F, [1, 5])], [])
      for op in ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
                 "LessOrEqual", "GreaterOrEqual"]],
    ("Mod", 17, [_n("Mod", ["a", "b"], ["y"], fmod=1)], [_vi("a", F, [2, 3]), _vi("b", F, [3])], []),
    ("Sym_bcast", 17, [_n("Add", ["a", "b"], ["y"])], [_vi("a", F, ["s", 1, "t"]), _vi("b", F, ["s", 7, "u"])], []),
    ("Max3", 17, [_n("Max", ["a", "b", "c"], ["y"])],
     [_vi("a", F, [1, 4]), _vi("b", F, [3, 1]), _vi("c", F, [4])], []),
    *[(op, 17, [_n(op, ["a", "b"], ["y"])], [_vi("a", B, [2, 1]), _vi("b", B, [3])], []) for op in ["And", "Or", "Xor"]],
    ("Where", 17, [_n("Where", ["c", "a", "b"], ["y"])],
     [_vi("c", B, ["n", 1, 1]), _vi("a", T.INT32, [4, 1]), _vi("b", T.INT32, [5])], []),
    ("PRelu", 17, [_n("PRelu", ["x", "s"], ["y"])], [X4], [_w("s", [3, 1, 1])]),
    ("BitShift", 17, [_n("BitShift", ["a", "b"], ["y"], direction="LEFT")],
     [_vi("a", T.UINT8, [2, 3]), _vi("b", T.UINT8, [3])], []),
    # convolution and pooling
    ("Conv", 17, [_n("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])], [X4],
     [_w("w", [8, 3, 3, 3]), _w("b", [8])]),
    ("Conv_dil_group", 17, [_n("Conv", ["x", "w"], ["y"], dilations=[2, 3], group=3, pads=[0, 1, 2, 3])],
     [_vi("x", F, [1, 6, 17, 19])], [_w("w", [9, 2, 3, 3])]),
    *[(f"Conv_{ap}", 17, [_n("Conv", ["x", "w"], ["y"], auto_pad=ap, strides=[2, 3])],
       [_vi("x", F, [1, 3, 15, 16])], [_w("w", [4, 3, 3, 4])]) for ap in ["SAME_UPPER", "SAME_LOWER", "VALID"]],
    ("Conv_sym_spatial", 17, [_n("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
     [_vi("x", F, ["N", 3, "H", "W"])], [_w("w", [8, 3, 3, 3])]),
    ("Conv1d", 17, [_n("Conv", ["x", "w"], ["y"], strides=[3])], [_vi("x", F, [2, 4, 50])], [_w("w", [5, 4, 7])]),
    ("Conv3d", 17, [_n("Conv", ["x", "w"], ["y"], pads=[1, 0, 1, 1, 0, 1])], [_vi("x", F, [1, 2, 8, 9, 10])],
     [_w("w", [3, 2, 3, 3, 3])]),
    ("ConvTranspose", 17, [_n("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1],
                                output_padding=[1, 0])], [X4], [_w("w", [3, 5, 3, 3])]),
    ("ConvTranspose_group_dil", 17, [_n("ConvTranspose", ["x", "w"], ["y"], group=3, dilations=[2, 2],
                                          strides=[3, 1])], [_vi("x", F, [1, 6, 7, 8])], [_w("w", [6, 2, 3, 2])]),
    ("ConvTranspose_same", 17, [_n("ConvTranspose", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
     [X4], [_w("w", [3, 4, 3, 3])]),
    ("ConvTranspose_oshape", 17, [_n("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], output_shape=[65, 66])],
     [X4], [_w("w", [3, 4, 3, 3])]),
    ("MaxPool_ceil", 17, [_n("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)],
     [_vi("x", F, [1, 3, 112, 113])], []),
    ("MaxPool_ceil_pad", 17, [_n("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                                 ceil_mode=1)], [_vi("x", F, [1, 3, 6, 7])], []),
    ("MaxPool_dil", 17, [_n("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], dilations=[2, 2], pads=[1, 2, 1, 2])],
     [X4], []),
    ("MaxPool_same", 17, [_n("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER")],
     [_vi("x", F, [1, 3, 15, 16])], []),
    ("AveragePool", 17, [_n("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                            ceil_mode=1, count_include_pad=1)], [X4], []),
    ("AveragePool19_dil", 19, [_n("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])], [X4], []),
    ("LpPool", 18, [_n("LpPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], p=2)], [X4], []),
    ("GlobalAveragePool", 17, [_n("GlobalAveragePool", ["x"], ["y"])], [X4], []),
    ("GlobalMaxPool", 17, [_n("GlobalMaxPool", ["x"], ["y"])], [X4], []),
    # normalization
    ("BatchNormalization", 15, [_n("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])], [X4],
     [_w(k, [3]) for k in "sbmv"]),
    ("InstanceNormalization", 17, [_n("InstanceNormalization", ["x", "s", "b"], ["y"])], [X4],
     [_w(k, [3]) for k in "sb"]),
    ("LayerNormalization_stats", 17, [_n("LayerNormalization", ["x", "s", "b"], ["y", "mean", "isd"], axis=1)],
     [_vi("x", F, ["B", 8, 64])], [_w("s", [8, 64]), _w("b", [8, 64])]),
    ("LayerNormalization", 17, [_n("LayerNormalization", ["x", "s"], ["y", "mean"])], [XS], [_w("s", [64])]),
    ("GroupNormalization", 18, [_n("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3)], [X4],
     [_w(k, [3]) for k in "sb"]),
    ("LRN", 17, [_n("LRN", ["x"], ["y"], size=3)], [X4], []),
    # contractions
    ("Gemm", 17, [_n("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1)], [_vi("a", F, [7, "M"])],
     [_w("b", [5, 7]), _w("c", [5])]),
    ("MatMul_batch", 17, [_n("MatMul", ["a", "b"], ["y"])], [_vi("a", F, [2, 1, 3, 4]), _vi("b", F, [5, 4, 6])], []),
    ("MatMul_1d_2d", 17, [_n("MatMul", ["a", "b"], ["y"])], [_vi("a", F, [4]), _vi("b", F, ["B", 4, 6])], []),
    ("MatMul_2d_1d", 17, [_n("MatMul", ["a", "b"], ["y"])], [_vi("a", F, ["B", 3, 4]), _vi("b", F, [4])], []),
    ("MatMul_1d_1d", 17, [_n("MatMul", ["a", "b"], ["y"])], [_vi("a", F, [4]), _vi("b", F, [4])], []),
    ("MatMul_sym", 17, [_n("MatMul", ["x", "b"], ["y"])], [XS, _vi("b", F, [64, 32])], []),
    *[(f"Einsum_{i}", 17, [_n("Einsum", ins, ["y"], equation=eq)], vis, [])
      for i, (eq, ins, vis) in enumerate([
          ("bij,bjk->bik", ["a", "b"], [_vi("a", F, ["B", 3, 4]), _vi("b", F, ["B", 4, 5])]),
          ("ij->ji", ["a"], [_vi("a", F, [3, 4])]),
          ("ii->i", ["a"], [_vi("a", F, [3, 3])]),
          ("...ij,...jk->...ik", ["a", "b"], [_vi("a", F, [2, 1, 3, 4]), _vi("b", F, [2, 7, 4, 5])]),
          ("ij,jk", ["a", "b"], [_vi("a", F, [3, 4]), _vi("b", F, [4, 5])]),
          ("bhqd,bhkd->bhqk", ["a", "b"], [_vi("a", F, ["b", 12, "q", 64]), _vi("b", F, ["b", 12, "k", 64])]),
      ])],
    # shape manipulation
    *[(f"Flatten_{ax}", 17, [_n("Flatten", ["x"], ["y"], axis=ax)], [X4], []) for ax in [0, 1, 2, -1, 4]],
    ("Reshape_0_m1", 17, [_n("Reshape", ["x", "s"], ["y"])], [X4], [_ints("s", [0, -1, 16])]),
    ("Reshape_m1_static", 17, [_n("Reshape", ["x", "s"], ["y"])], [_vi("x", F, [2, 3, 4])], [_ints("s", [4, -1])]),
    ("Reshape_allowzero", 17, [_n("Reshape", ["x", "s"], ["y"], allowzero=1)], [_vi("x", F, [0, 3])],
     [_ints("s", [3, 0])]),
    ("Reshape_5", 5, [_n("Reshape", ["x", "s"], ["y"])], [_vi("x", F, [2, 3, 4])], [_ints("s", [0, 12])]),
    ("Transpose", 17, [_n("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], [X4], []),
    ("Transpose_default", 17, [_n("Transpose", ["x"], ["y"])], [X4], []),
    ("Squeeze_11", 11, [_n("Squeeze", ["x"], ["y"], axes=[0, -1])], [_vi("x", F, [1, "a", 1])], []),
    ("Squeeze_13", 13, [_n("Squeeze", ["x", "ax"], ["y"])], [_vi("x", F, [1, "a", 1])], [_ints("ax", [2])]),
    ("Squeeze_noaxes", 13, [_n("Squeeze", ["x"], ["y"])], [_vi("x", F, [1, 4, 1, 5])], []),
    ("Unsqueeze_11", 11, [_n("Unsqueeze", ["x"], ["y"], axes=[0, -1])], [XS], []),
    ("Unsqueeze_13", 13, [_n("Unsqueeze", ["x", "ax"], ["y"])], [XS], [_ints("ax", [1, -1])]),
    ("Concat", 17, [_n("Concat", ["a", "b", "c"], ["y"], axis=1)],
     [_vi("a", F, ["N", 2, 5]), _vi("b", F, ["N", 3, 5]), _vi("c", F, ["N", 1, 5])], []),
    ("Concat_sym", 17, [_n("Concat", ["a", "b"], ["y"], axis=-1)],
     [_vi("a", F, ["N", "s"]), _vi("b", F, ["N", 3])], []),
    ("Split_11", 11, [_n("Split", ["x"], ["a", "b"], axis=1, split=[1, 2])], [X4], []),
    ("Split_13_input", 13, [_n("Split", ["x", "s"], ["a", "b", "c"], axis=-1)], [XS], [_ints("s", [10, 20, 34])]),
    ("Split_13_equal", 13, [_n("Split", ["x"], ["a", "b"], axis=2)], [X4], []),
    ("Split_18_num_outputs", 18, [_n("Split", ["x"], ["a", "b", "c"], axis=2, num_outputs=3)],
     [_vi("x", F, [1, 3, 10])], []),
    ("Split_sym_axis", 13, [_n("Split", ["x"], ["a", "b"], axis=1)], [XS], []),
    ("Slice", 17, [_n("Slice", ["x", "s", "e", "a", "st"], ["y"])], [X4],
     [_ints("s", [1, -10, 30]), _ints("e", [9223372036854775807, -1, 0]), _ints("a", [1, 2, 3]),
      _ints("st", [1, 2, -3])]),
    ("Slice_clamp", 17, [_n("Slice", ["x", "s", "e"], ["y"])], [_vi("x", F, [5, 6])],
     [_ints("s", [-100, 2]), _ints("e", [100, 1])]),
    ("Slice_1", 1, [_n("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1], axes=[0, 1])], [_vi("x", F, [5, 6])], []),
    ("Gather", 17, [_n("Gather", ["x", "i"], ["y"], axis=1)], [X4], [_ints("i", [[0, 2], [1, 1]])]),
    ("Gather_scalar", 17, [_n("Gather", ["x", "i"], ["y"], axis=0)], [XS], [_ints("i", 1)]),
    ("Gather_embed", 17, [_n("Gather", ["w", "i"], ["y"])], [_vi("i", I64, ["batch", "seq"])], [_w("w", [100, 16])]),
    ("GatherElements", 17, [_n("GatherElements", ["x", "i"], ["y"], axis=1)],
     [_vi("x", F, [3, 4]), _vi("i", I64, [3, 2])], []),
    ("GatherND", 17, [_n("GatherND", ["x", "i"], ["y"], batch_dims=1)],
     [_vi("x", F, [2, 3, 4, 5]), _vi("i", I64, [2, 6, 2])], []),
    ("ScatterND", 17, [_n("ScatterND", ["x", "i", "u"], ["y"])],
     [_vi("x", F, [4, 5]), _vi("i", I64, [2, 1]), _vi("u", F, [2, 5])], []),
    ("ScatterElements", 17, [_n("ScatterElements", ["x", "i", "u"], ["y"], axis=1)],
     [_vi("x", F, [4, 5]), _vi("i", I64, [4, 2]), _vi("u", F, [4, 2])], []),
    ("Expand", 17, [_n("Expand", ["x", "s"], ["y"])], [_vi("x", F, [3, 1])], [_ints("s", [2, 1, 6])]),
    ("Tile", 17, [_n("Tile", ["x", "r"], ["y"])], [X4], [_ints("r", [1, 2, 3, 1])]),
    ("Pad_11", 11, [_n("Pad", ["x", "p"], ["y"])], [X4], [_ints("p", [0, 0, 1, 2, 0, 0, 3, -1])]),
    ("Pad_18_axes", 18, [_n("Pad", ["x", "p", "", "a"], ["y"])], [X4], [_ints("p", [1, 2, 3, 4]), _ints("a", [2, -1])]),
    ("Pad_2", 2, [_n("Pad", ["x"], ["y"], pads=[0, 0, 1, 1, 0, 0, 1, 1])], [_vi("x", F, [1, 3, 4, 4])], []),
    ("Resize_scales", 17, [_n("Resize", ["x", "", "sc"], ["y"], mode="nearest")], [X4],
     [_floats("sc", [1, 1, 2, 1.5])]),
    ("Resize_sizes", 17, [_n("Resize", ["x", "", "", "sz"], ["y"])], [_vi("x", F, [1, 3, 10, 10])],
     [_ints("sz", [1, 3, 20, 15])]),
    ("Resize_18_axes", 18, [_n("Resize", ["x", "", "sc"], ["y"], axes=[2, 3])], [X4], [_floats("sc", [0.5, 3])]),
    ("Resize_aspect", 18, [_n("Resize", ["x", "", "", "sz"], ["y"], axes=[2, 3],
                              keep_aspect_ratio_policy="not_larger")], [_vi("x", F, [1, 3, 10, 20])],
     [_ints("sz", [15, 15])]),
    ("Resize_10", 10, [_n("Resize", ["x", "sc"], ["y"])], [X4], [_floats("sc", [1, 1, 2, 2])]),
    ("Upsample_9", 9, [_n("Upsample", ["x", "sc"], ["y"])], [X4], [_floats("sc", [1, 1, 2, 3])]),
    ("Shape_15", 15, [_n("Shape", ["x"], ["y"], start=1, end=-1)], [X4], []),
    ("Size", 17, [_n("Size", ["x"], ["y"])], [X4], []),
    ("Constant_value", 17, [_n("Constant", [], ["y"], value=_ints("v", [[1, 2, 3]]))], [], []),
    ("Constant_floats", 17, [_n("Constant", [], ["y"], value_floats=[1.0, 2.0])], [], []),
    ("Constant_int", 17, [_n("Constant", [], ["y"], value_int=3)], [], []),
    ("ConstantOfShape", 17, [_n("ConstantOfShape", ["s"], ["y"],
                                value=numpy_helper.from_array(np.array([1], dtype=np.int32), "v"))], [],
     [_ints("s", [2, 3])]),
    ("Range_int", 17, [_n("Range", ["a", "b", "c"], ["y"])], [], [_ints("a", 10), _ints("b", 1), _ints("c", -3)]),
    ("Range_float", 17, [_n("Range", ["a", "b", "c"], ["y"])], [],
     [_floats("a", 0.5), _floats("b", 4.0), _floats("c", 1.0)]),
    # reductions
    ("ReduceMean_13", 13, [_n("ReduceMean", ["x"], ["y"], axes=[1, -1])], [X4], []),
    ("ReduceMean_18", 18, [_n("ReduceMean", ["x", "a"], ["y"], keepdims=0)], [X4], [_ints("a", [1, -1])]),
    ("ReduceSum_11", 11, [_n("ReduceSum", ["x"], ["y"], axes=[2], keepdims=0)], [X4], []),
    ("ReduceSum_13", 13, [_n("ReduceSum", ["x", "a"], ["y"])], [X4], [_ints("a", [0])]),
    ("ReduceSum_noop", 13, [_n("ReduceSum", ["x"], ["y"], noop_with_empty_axes=1)], [X4], []),
    ("ReduceSum_all", 13, [_n("ReduceSum", ["x"], ["y"], keepdims=0)], [X4], []),
    *[(op, 17, [_n(op, ["x"], ["y"], axes=[1], keepdims=0)], [X4], [])
      for op in ["ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                 "ReduceLogSumExp", "ReduceSumSquare"]],
    ("ArgMax", 17, [_n("ArgMax", ["x"], ["y"], axis=-1, keepdims=0)], [XS], []),
    ("ArgMin", 17, [_n("ArgMin", ["x"], ["y"], axis=1)], [XS], []),
    ("TopK", 17, [_n("TopK", ["x", "k"], ["v", "i"], axis=1)], [X4], [_ints("k", [2])]),
    ("CumSum", 17, [_n("CumSum", ["x", "a"], ["y"])], [XS], [_ints("a", 1)]),
    ("Trilu", 17, [_n("Trilu", ["x"], ["y"], upper=0)], [XS], []),
    ("NonZero", 17, [_n("NonZero", ["x"], ["y"])], [X4], []),
    ("OneHot", 17, [_n("OneHot", ["i", "d", "v"], ["y"], axis=1)], [_vi("i", I64, ["n", 4])],
     [_ints("d", 10), _floats("v", [0, 1])]),
    ("DepthToSpace", 17, [_n("DepthToSpace", ["x"], ["y"], blocksize=2)], [_vi("x", F, [1, 8, 5, 6])], []),
    ("SpaceToDepth", 17, [_n("SpaceToDepth", ["x"], ["y"], blocksize=2)], [X4], []),
    ("Compress", 17, [_n("Compress", ["x", "c"], ["y"], axis=1)], [X4, _vi("c", B, [3])], []),
    ("EyeLike", 17, [_n("EyeLike", ["x"], ["y"], dtype=T.INT32)], [_vi("x", F, [3, 4])], []),
    ("RandomNormalLike", 17, [_n("RandomNormalLike", ["x"], ["y"])], [XS], []),
    ("QuantizeLinear", 17, [_n("QuantizeLinear", ["x", "s", "z"], ["y"])], [XS],
     [_floats("s", 0.1), numpy_helper.from_array(np.array(0, dtype=np.int8), "z")]),
    ("DequantizeLinear", 17, [_n("DequantizeLinear", ["x", "s"], ["y"])], [_vi("x", T.UINT8, [2, 3])],
     [_floats("s", 0.1)]),
    ("LSTM", 17, [_n("LSTM", ["x", "w", "r"], ["y", "yh", "yc"], hidden_size=5, direction="bidirectional")],
     [_vi("x", F, ["T", "B", 4])], [_w("w", [2, 20, 4]), _w("r", [2, 20, 5])]),
    ("GRU", 17, [_n("GRU", ["x", "w", "r"], ["y", "yh"], hidden_size=5)],
     [_vi("x", F, [7, 2, 4])], [_w("w", [1, 15, 4]), _w("r", [1, 15, 5])]),
    # data propagation chains (the transformer exporters' idiom)
    ("DataProp_reshape", 17, [
        _n("Shape", ["x"], ["s"]),
        _n("Gather", ["s", "i0"], ["b"], axis=0),
        _n("Gather", ["s", "i1"], ["q"], axis=0),
        _n("Unsqueeze", ["b", "ax"], ["bu"]),
        _n("Unsqueeze", ["q", "ax"], ["qu"]),
        _n("Concat", ["bu", "qu", "h", "d"], ["tgt"], axis=0),
        _n("Reshape", ["x", "tgt"], ["y"]),
        _n("Transpose", ["y"], ["yt"], perm=[0, 2, 1, 3]),
        _n("Slice", ["s", "z0", "i2"], ["s01"]),
        _n("Concat", ["s01", "m1"], ["tgt2"], axis=0),
        _n("Reshape", ["yt", "tgt2"], ["z"]),
        _n("Size", ["x"], ["n"]),
        _n("ConstantOfShape", ["s"], ["zeros"]),
        _n("Expand", ["one", "s"], ["ones"]),
        _n("Range", ["r0", "q", "r1"], ["pos"]),
    ], [XS], [_ints("i0", 0), _ints("i1", 1), _ints("i2", [2]), _ints("ax", [0]), _ints("h", [8]), _ints("d", [8]),
              _ints("m1", [-1]), _floats("one", [1.0]), _ints("r0", 0), _ints("r1", 1), _ints("z0", [0])]),
    ("DataProp_shape_slice", 17, [
        _n("Shape", ["x"], ["s"]),
        _n("Slice", ["s", "st", "en"], ["hw"]),
        _n("Concat", ["nc", "hw"], ["tgt"], axis=0),
        _n("Reshape", ["x", "tgt"], ["y"]),
        _n("Mul", ["hw", "two"], ["hw2"]),
        _n("Concat", ["nc", "hw2"], ["tgt2"], axis=0),
        _n("ConstantOfShape", ["tgt2"], ["big"]),
    ], [_vi("x", F, [2, 3, "H", 5])], [_ints("st", [2]), _ints("en", [4]), _ints("nc", [6, 1]),
                                         _ints("two", [2])]),
]


# Where onnx's own inference is wrong and proteus follows the runtime: these
# cases are checked against onnxruntime only.
ONNX_DIFFERS = {
    # onnx < opset 22 pooling ignores PyTorch's rule that a ceil_mode window
    # may not start in the right padding; onnxruntime (all opsets) and onnx's
    # opset-22 rule give 4, the older onnx rule 5.
    "MaxPool_ceil_pad": "ceil_mode window starting in the padding",
}

SYM_VALUE = 4  # value given to every symbolic input dim when running onnxruntime


def runtime_shapes(model, sym_values=None):
    """Actual (dtype, shape) of every node output under onnxruntime, or None
    when the model cannot run there.  Symbolic input dims take sym_values
    (default SYM_VALUE)."""
    sym_values = sym_values or {}
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    m = onnx.ModelProto()
    m.CopyFrom(fill_missing_data(model))
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(helper.make_empty_tensor_value_info(o))
                have.add(o)
    rng = np.random.default_rng(0)
    feeds = {}
    for vi in m.graph.input:
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else sym_values.get(d.dim_param, SYM_VALUE)
                 for d in tt.shape.dim]
        np_dt = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if np_dt == np.bool_:
            feeds[vi.name] = rng.random(shape) > 0.5
        elif np.issubdtype(np_dt, np.integer):
            feeds[vi.name] = np.zeros(shape, dtype=np_dt)
        else:
            feeds[vi.name] = rng.random(shape).astype(np_dt)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception:  # an op or opset onnxruntime lacks: no ground truth
        return None
    return {o.name: (np.asarray(v).dtype.name, list(np.asarray(v).shape)) for o, v in zip(sess.get_outputs(), outs)}


def check_runtime(actual, ours):
    """Our concrete dims equal the runtime's, one value per symbol."""
    bad, seen = [], {}
    for name, (adt, ashape) in actual.items():
        odt, oshape = ours.get(name, (None, None))
        if odt is not None and odt != adt:
            bad.append(f"{name}: dtype runtime={adt} proteus={odt}")
        if oshape is None:
            continue
        if len(oshape) != len(ashape):
            bad.append(f"{name}: runtime shape {ashape}, proteus {oshape}")
            continue
        for i, (a, o) in enumerate(zip(ashape, oshape)):
            if isinstance(o, int) and o != a:
                bad.append(f"{name}[{i}]: runtime={a} proteus={o}")
            elif isinstance(o, str) and seen.setdefault(o, a) != a:
                bad.append(f"{name}[{i}]: symbol {o!r} is {a} here, {seen[o]} elsewhere")
    return bad


@pytest.mark.parametrize("spec", ZOO, ids=[s[0] for s in ZOO])
def test_op_zoo_matches_onnx(spec, tmp_path):
    name, opset, nodes, inputs, inits = spec
    outs = [helper.make_empty_tensor_value_info(o) for o in nodes[-1].output]
    g = helper.make_graph(nodes, name, inputs, outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    p = tmp_path / f"{name}.onnx"
    onnx.save(m, str(p))
    ours = proteus_values(str(p))
    for o in nodes[-1].output:
        assert ours[o][0] is not None and ours[o][1] is not None, f"{o} not inferred: {ours[o]}"
    actual = runtime_shapes(m)
    if actual is not None:
        bad = check_runtime(actual, ours)
        assert not bad, "proteus disagrees with onnxruntime:\n" + "\n".join(bad)
    n, mismatches, _ = compare(onnx_values(m), ours)
    if name in ONNX_DIFFERS:
        assert mismatches and actual is not None, "onnx and proteus agree now: drop the ONNX_DIFFERS entry"
        return
    assert not mismatches, "\n".join(mismatches)
