"""rehydrate is deterministic, fills exactly the missing tensors, and keeps
the rest."""
import filecmp

import onnx
from onnx import numpy_helper

from conftest import CORPUS, proteus

SMALL = [p for p in CORPUS if any(k in p for k in ("squeezenet1_1-op13", "mobilenet_v2-op17", "distilbert-op13"))]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    assert SMALL, "expected squeezenet/mobilenet/distilbert in the corpus"
    for m in SMALL:
        a, b, c = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.onnx"
        proteus("rehydrate", m, a, "--seed", 1, "--force")
        proteus("rehydrate", m, b, "--seed", 1, "--force")
        proteus("rehydrate", m, c, "--seed", 2, "--force")
        assert filecmp.cmp(a, b, shallow=False)
        assert not filecmp.cmp(a, c, shallow=False)


def test_fills_only_missing(tmp_path):
    for m in SMALL:
        out = tmp_path / "r.onnx"
        proteus("rehydrate", m, out, "--force")
        src = {t.name: t for t in onnx.load(m).graph.initializer}
        dst = {t.name: t for t in onnx.load(str(out)).graph.initializer}
        assert src.keys() == dst.keys()
        for name, t in src.items():
            d = dst[name]
            assert list(t.dims) == list(d.dims) and t.data_type == d.data_type
            arr = numpy_helper.to_array(d)
            assert arr.size == 0 or arr.nbytes > 0
            if t.raw_data or t.int64_data or t.int32_data or t.float_data:
                assert (numpy_helper.to_array(t) == arr).all(), f"{name} was changed"
