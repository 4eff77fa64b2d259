"""reassemble never destroys the owner's data and says when a key belongs
to another bucket (it used to blame the optimizer for every file)."""
import json

import pytest

from conftest import CORPUS, proteus

RESNET = next(p for p in CORPUS if p.endswith("resnet18-op17.onnx"))
SQUEEZE = next(p for p in CORPUS if p.endswith("squeezenet1_1-op17.onnx"))


@pytest.fixture(scope="module")
def buckets(tmp_path_factory):
    d = tmp_path_factory.mktemp("reassemble-guards")
    for name, src in (("r", RESNET), ("s", SQUEEZE)):
        proteus("rehydrate", src, d / f"{name}.onnx", "--seed", 1)
        proteus("obfuscate", d / f"{name}.onnx", "-o", d / f"{name}-b", "--key", d / f"{name}-k", "-k", 2,
                "--allow-weak")
        proteus("optimize", d / f"{name}-b", "-o", d / f"{name}-o", "--with", "copy")
    return d


def _one_line(r, *fragments):
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for f in fragments:
        assert str(f) in r.stderr, (f, r.stderr)


def test_output_never_replaces_the_key(buckets):
    key = buckets / "r-k"
    before = key.read_bytes()
    for extra in ([], ["--force"]):
        r = proteus("reassemble", buckets / "r-o", "--key", key, "-o", key, *extra, check=False)
        assert r.returncode != 0
        assert key.read_bytes() == before


def test_existing_output_kept_unless_force(buckets, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the owner's earlier model")
    r = proteus("reassemble", buckets / "r-o", "--key", buckets / "r-k", "-o", out, check=False)
    _one_line(r, out, "already exists", "--force")
    assert out.read_bytes() == b"the owner's earlier model"
    r = proteus("reassemble", buckets / "r-o", "--key", buckets / "r-k", "-o", out, "--force", "--json")
    s = json.loads(r.stdout)
    assert s["subgraphs"] >= 3 and s["model"] == str(out)
    assert out.stat().st_size > 1000


def test_key_of_another_bucket_named(buckets, tmp_path):
    r = proteus("reassemble", buckets / "s-o", "--key", buckets / "r-k", "-o", tmp_path / "m.onnx", check=False)
    _one_line(r, "belongs to another bucket", buckets / "r-k")
    assert "did not return" not in r.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_optimize_keeps_earlier_results(buckets, tmp_path):
    """optimize into the bucket itself, or over an earlier run's results,
    is refused (--force replaces the results; shards may share OUT)."""
    b = buckets / "r-b"
    before = {f.name: f.read_bytes() for f in b.iterdir()}
    r = proteus("optimize", b, "-o", b, "--with", "copy", check=False)
    assert r.returncode == 2 and "the bucket itself" in r.stderr
    assert {f.name: f.read_bytes() for f in b.iterdir()} == before
    out = tmp_path / "o"
    proteus("optimize", b, "-o", out, "--with", "copy", "--shard", "0/2")
    proteus("optimize", b, "-o", out, "--with", "copy", "--shard", "1/2")
    r = proteus("optimize", b, "-o", out, "--with", "copy", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr and "--force" in r.stderr
    proteus("optimize", b, "-o", out, "--with", "copy", "--force")
