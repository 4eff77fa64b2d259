"""Load -> save keeps the graph, and ONNX Runtime agrees bit for bit."""
import os

import numpy as np
import onnx
from onnx import numpy_helper

from conftest import proteus
from proteus_py.inputs import make_inputs
from proteus_py.ort import run


def _tensor_key(t):
    has_data = bool(t.raw_data or t.float_data or t.int32_data or t.int64_data or t.double_data
                    or t.uint64_data or t.string_data or t.external_data)
    arr = numpy_helper.to_array(t) if has_data else None
    return (t.name, tuple(t.dims), t.data_type, has_data, arr)


def _same_tensor(a, b):
    ka, kb = _tensor_key(a), _tensor_key(b)
    if ka[:4] != kb[:4]:
        return False
    if ka[4] is None:
        return True
    return ka[4].dtype == kb[4].dtype and ka[4].tobytes() == kb[4].tobytes()


def _attr_eq(a, b):
    if a.name != b.name or a.type != b.type:
        return False
    if a.type == onnx.AttributeProto.TENSOR:
        return _same_tensor(a.t, b.t)
    return a == b


def assert_same_graph(pa, pb):
    a, b = onnx.load(pa), onnx.load(pb)
    assert [(o.domain, o.version) for o in a.opset_import] == [(o.domain, o.version) for o in b.opset_import]
    assert a.ir_version == b.ir_version
    assert len(a.graph.node) == len(b.graph.node)
    for na, nb in zip(a.graph.node, b.graph.node):
        assert (na.op_type, na.domain, na.name, list(na.input), list(na.output)) == \
               (nb.op_type, nb.domain, nb.name, list(nb.input), list(nb.output))
        assert len(na.attribute) == len(nb.attribute)
        for x, y in zip(na.attribute, nb.attribute):
            assert _attr_eq(x, y), f"node {na.name}: attribute {x.name} differs"
    assert [i.name for i in a.graph.input] == [i.name for i in b.graph.input]
    assert [o.name for o in a.graph.output] == [o.name for o in b.graph.output]
    assert list(a.graph.input) == list(b.graph.input)
    assert list(a.graph.output) == list(b.graph.output)
    assert len(a.graph.initializer) == len(b.graph.initializer)
    for x, y in zip(a.graph.initializer, b.graph.initializer):
        assert _same_tensor(x, y), f"initializer {x.name} differs"


def test_weightless_roundtrip_keeps_graph(corpus_model, tmp_path):
    out = tmp_path / "rt.onnx"
    proteus("roundtrip", corpus_model, out)
    assert_same_graph(corpus_model, str(out))


def test_rehydrated_roundtrip_bitwise_in_ort(corpus_model, scratch):
    tmp_path = scratch
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    proteus("rehydrate", corpus_model, a, "--seed", 7)
    proteus("roundtrip", a, b)
    assert_same_graph(str(a), str(b))
    feeds = make_inputs(str(a), seed=3)
    names_a, outs_a = run(str(a), feeds)
    names_b, outs_b = run(str(b), feeds)
    assert names_a == names_b
    for name, x, y in zip(names_a, outs_a, outs_b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes(), f"output {name} differs after the round trip"
        if np.issubdtype(x.dtype, np.floating):
            assert np.isfinite(x).all(), f"output {name} of the rehydrated model is not finite"
            assert np.std(x) > 0, f"output {name} is constant: rehydration degenerate"
    for p in (a, b):
        os.unlink(p)
        if os.path.exists(str(p) + ".data"):
            os.unlink(str(p) + ".data")


def test_graph_attributes_and_odd_fields_survive(tmp_path):
    """If/Loop bodies (graph-valued attributes), sparse initializers, functions
    and metadata are kept intact through load -> save."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then",
                               [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else",
                               [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "v_in"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [2])])
    trip = helper.make_tensor("trip", TensorProto.INT64, [], [3])
    nodes = [helper.make_node("If", ["c"], ["z"], then_branch=then_g, else_branch=else_g, doc_string="why"),
             helper.make_node("Loop", ["trip", "", "z"], ["y"], body=body)]
    g = helper.make_graph(nodes, "g", [x, c], [y], [trip])
    sparse = helper.make_sparse_tensor(helper.make_tensor("sv", TensorProto.FLOAT, [1], [5.0]),
                                       helper.make_tensor("si", TensorProto.INT64, [1], [1]), [3])
    g.sparse_initializer.append(sparse)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.metadata_props.add(key="k", value="v")
    m.functions.append(helper.make_function("local", "f", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                                            [helper.make_opsetid("", 17)]))
    src, out = tmp_path / "m.onnx", tmp_path / "o.onnx"
    onnx.save(m, src)
    proteus("roundtrip", src, out)
    a, b = onnx.load(str(src)), onnx.load(str(out))
    assert a.graph.node == b.graph.node
    assert list(a.graph.sparse_initializer) == list(b.graph.sparse_initializer)
    assert list(a.functions) == list(b.functions)
    assert list(a.metadata_props) == list(b.metadata_props)
    feeds = {"x": np.array([1.0, -2.0], np.float32), "c": np.array(True)}
    sa = __import__("onnxruntime").InferenceSession(str(src), providers=["CPUExecutionProvider"])
    sb = __import__("onnxruntime").InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sa.run(None, feeds)[0].tobytes() == sb.run(None, feeds)[0].tobytes()
