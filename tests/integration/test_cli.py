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
