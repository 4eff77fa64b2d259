"""The error-message suite: for each class of bad input, the exact message
(one line, naming the file), the exit code, and that nothing was written."""
import os
import shutil

import onnx
import pytest
from onnx import numpy_helper

from conftest import ROOT, TEST_PASSPHRASE, key_view, proteus

SRC = os.path.join(ROOT, "corpus", "models", "resnet18-op17.onnx")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A rehydrated resnet18, its bucket (k=1), key and a copy-optimized bucket."""
    d = tmp_path_factory.mktemp("errors")
    proteus("rehydrate", SRC, d / "m.onnx", "--seed", 4)
    proteus("obfuscate", d / "m.onnx", "-o", d / "b", "--key", d / "k", "-k", 1, "--seed", 3, "--allow-weak",
            "--sentinels", "random")  # the errors below come after obfuscation: any generator
    proteus("optimize", d / "b", "-o", d / "o", "--with", "copy")
    return d


def one_line(r, code, *fragments):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("proteus: "), r.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def work(setup, tmp_path):
    """A private copy of the optimized bucket and the key."""
    shutil.copytree(setup / "o", tmp_path / "o")
    shutil.copy(setup / "k", tmp_path / "k")
    return tmp_path


def reassemble(work, *extra, env=None):
    return proteus("reassemble", work / "o", "--key", work / "k", "-o", work / "r.onnx", *extra, check=False, env=env)


# --- bad model files ---------------------------------------------------------

@pytest.mark.parametrize("cmd", ["inspect", "obfuscate"])
def test_truncated_protobuf(setup, tmp_path, cmd):
    data = open(setup / "m.onnx", "rb").read()
    bad = tmp_path / "t.onnx"
    bad.write_bytes(data[: len(data) // 3])
    args = [cmd, bad] + (["-o", tmp_path / "b", "--key", tmp_path / "k"] if cmd == "obfuscate" else [])
    one_line(proteus(*args, check=False), 1, bad, "truncated")
    assert not (tmp_path / "b").exists() and not (tmp_path / "k").exists()


def test_not_onnx(tmp_path):
    bad = tmp_path / "n.onnx"
    bad.write_text("this is not a model\n")
    one_line(proteus("obfuscate", bad, "-o", tmp_path / "b", "--key", tmp_path / "k", check=False), 1, bad)
    assert not (tmp_path / "b").exists() and not (tmp_path / "k").exists()


def test_missing_model(tmp_path):
    one_line(proteus("obfuscate", tmp_path / "none.onnx", "-o", tmp_path / "b", "--key", tmp_path / "k",
                     check=False), 1, tmp_path / "none.onnx", "No such file")
    assert not (tmp_path / "b").exists() and not (tmp_path / "k").exists()


# --- what the optimizer sends back -------------------------------------------

def test_missing_bucket_file(work):
    victim = key_view(work / "k")["real"][2]
    os.unlink(work / "o" / victim)
    one_line(reassemble(work), 1, victim)
    assert not (work / "r.onnx").exists()


def test_files_swapped(work):
    real = key_view(work / "k")["real"]
    a, b = real[0], real[1]
    os.rename(work / "o" / a, work / "o" / "x")
    os.rename(work / "o" / b, work / "o" / a)
    os.rename(work / "o" / "x", work / "o" / b)
    line = one_line(reassemble(work), 1)
    assert a in line or b in line
    assert not (work / "r.onnx").exists()


def test_interface_changed_by_optimizer(work):
    victim = key_view(work / "k")["real"][1]
    m = onnx.load(work / "o" / victim)
    d = m.graph.output[0].type.tensor_type.shape.dim
    d[1].dim_value += 1
    onnx.save(m, work / "o" / victim)
    one_line(reassemble(work), 1, victim, "interface")
    assert not (work / "r.onnx").exists()


def test_numerics_changed_by_optimizer(work):
    victim = key_view(work / "k")["real"][-1]
    m = onnx.load(work / "o" / victim)
    t = max(m.graph.initializer, key=lambda t: len(t.raw_data))
    a = numpy_helper.to_array(t).copy()
    a.flat[a.size // 3] += 0.5
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    onnx.save(m, work / "o" / victim)
    one_line(reassemble(work), 1, victim, "computes something else")
    assert not (work / "r.onnx").exists()


# --- the key ------------------------------------------------------------------

def test_wrong_passphrase(work):
    env = dict(os.environ, PROTEUS_PASSPHRASE="not the passphrase")
    one_line(reassemble(work, env=env), 1, work / "k", "wrong passphrase/secret or the key file was modified")
    assert not (work / "r.onnx").exists()
    r = proteus("key", "show", work / "k", check=False, env=env)
    one_line(r, 1, "cannot decrypt the key")
    assert r.stdout == ""


@pytest.mark.parametrize("where", [0.0, 0.3, 0.6, 0.999])
def test_tampered_key(work, where):
    data = bytearray(open(work / "k", "rb").read())
    i = min(len(data) - 1, int(len(data) * where))
    data[i] ^= 0x01
    (work / "k").write_bytes(bytes(data))
    line = one_line(reassemble(work), 1, work / "k")
    assert "was modified" in line or "not a proteus key" in line
    assert not (work / "r.onnx").exists()


def test_truncated_key(work):
    data = open(work / "k", "rb").read()
    (work / "k").write_bytes(data[:40])
    one_line(reassemble(work), 1, work / "k", "truncated")


def test_plain_json_key_refused(work):
    (work / "k").write_text('{"format": "proteus-key/1"}')
    one_line(reassemble(work), 1, work / "k", "not encrypted")


def test_no_secret(work):
    env = {k: v for k, v in os.environ.items() if k != "PROTEUS_PASSPHRASE"}
    r = proteus("reassemble", work / "o", "--key", work / "k", "-o", work / "r.onnx", check=False, env=env,
                stdin=open(os.devnull))
    one_line(r, 1, "PROTEUS_PASSPHRASE", "--key-secret", "--passphrase-file")
    assert not (work / "r.onnx").exists()


def test_passphrase_file_and_raw_secret(setup, tmp_path):
    """--passphrase-file opens a key sealed with the same passphrase from the
    environment; a raw 32-byte secret seals and opens; the wrong kind and a
    secret of the wrong size are refused, and obfuscate then writes nothing."""
    pf = tmp_path / "pass.txt"
    pf.write_text(TEST_PASSPHRASE + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PROTEUS_PASSPHRASE"}
    assert key_view(setup / "k", "--passphrase-file", pf)["k"] == 1
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32))
    proteus("obfuscate", setup / "m.onnx", "-o", tmp_path / "b", "--key", tmp_path / "k", "--key-secret", secret,
            "--no-probe", "--allow-weak", "--sentinels", "random", env=env)  # the key's sealing: any generator
    assert key_view(tmp_path / "k", "--key-secret", secret)["n"] >= 2
    one_line(proteus("key", "show", tmp_path / "k", "--passphrase-file", pf, check=False, env=env), 1,
             "sealed with a raw 32-byte secret")
    short = tmp_path / "short"
    short.write_bytes(os.urandom(31))
    one_line(proteus("obfuscate", setup / "m.onnx", "-o", tmp_path / "b2", "--key", tmp_path / "k2", "--key-secret",
                     short, check=False, env=env), 1, short)
    assert not (tmp_path / "b2").exists() and not (tmp_path / "k2").exists()


def test_key_is_not_readable_json(setup):
    data = open(setup / "k", "rb").read()
    assert data.startswith(b"PROTEUS-KEY")
    for s in (b"proteus-key/1", b".onnx", b"parts", b"sentinels"):
        assert s not in data


def test_control_flow_bodies_anonymized(tmp_path):
    """An If node's branches used to carry original names into the bucket:
    obfuscate refused them.  Now the bodies go along, renamed."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["secret_then_name"])], "then_branch", [],
                               [helper.make_tensor_value_info("secret_then_name", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["secret_else_name"])], "else_branch", [],
                               [helper.make_tensor_value_info("secret_else_name", TensorProto.FLOAT, [2])])
    node = helper.make_node("If", ["c"], ["y"], name="my_if", then_branch=then_g, else_branch=else_g)
    m = helper.make_model(helper.make_graph([node], "g", [x, c], [y]), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "if.onnx"
    onnx.save(m, path)
    proteus("obfuscate", path, "-o", tmp_path / "b", "--key", tmp_path / "k", "--no-probe", "--allow-weak", "-k", 2)
    for f in os.listdir(tmp_path / "b"):
        data = (tmp_path / "b" / f).read_bytes()
        assert b"secret_" not in data and b"my_if" not in data
