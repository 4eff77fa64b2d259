"""Outputs appear whole or not at all: obfuscate and reassemble killed with
SIGKILL at random moments never leave a partial bucket, key or model under
the requested names (a hidden temporary may remain)."""
import json
import os
import random
import signal
import subprocess
import time

import onnx

from conftest import CORPUS, PROTEUS, key_view, proteus


def _kill_at(args, delay):
    p = subprocess.Popen([PROTEUS, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()


def _bucket_whole(bucket):
    """Absent, or every file its manifest lists, each a loadable model."""
    if not os.path.exists(bucket):
        return True
    files = json.loads(open(os.path.join(bucket, "manifest.json")).read())["files"]
    assert sorted(f for f in os.listdir(bucket) if not f.startswith(".")) == sorted(files + ["manifest.json"])
    for f in files:
        onnx.load(os.path.join(bucket, f), load_external_data=False)
    return True


def test_sigkill_never_leaves_partial_outputs(tmp_path):
    src = next(p for p in CORPUS if "resnet18-op17" in p)
    model = tmp_path / "m.onnx"
    proteus("rehydrate", src, model)
    t0 = time.time()
    proteus("obfuscate", model, "-o", tmp_path / "ref-b", "--key", tmp_path / "ref-k.json", "--no-probe", "-k", 0, "--allow-weak")
    full = time.time() - t0
    proteus("optimize", tmp_path / "ref-b", "-o", tmp_path / "opt", "--with", "copy")
    rng = random.Random(1)
    seen_whole = seen_absent = 0
    for i in range(25):
        b, k = tmp_path / f"b{i}", tmp_path / f"k{i}.json"
        _kill_at(["obfuscate", model, "-o", b, "--key", k, "--no-probe", "-k", "0", "--allow-weak"], rng.uniform(0, full * 1.2))
        if os.path.exists(k):
            assert key_view(k)["n"] >= 1  # whole: it opens and authenticates
            assert os.path.exists(b), "key without its bucket"
        assert _bucket_whole(str(b))
        if os.path.exists(b):
            seen_whole += 1
        else:
            seen_absent += 1
        r = tmp_path / f"r{i}.onnx"
        _kill_at(["reassemble", tmp_path / "opt", "--key", tmp_path / "ref-k.json", "-o", r, "--no-probe"],
                 rng.uniform(0, 0.4))
        if os.path.exists(r):
            onnx.checker.check_model(onnx.load(str(r)))
        visible = [f for f in os.listdir(tmp_path) if not f.startswith(".")]
        assert all(not f.endswith(".tmp") for f in visible)
    assert seen_absent > 0, "no kill landed before the bucket was complete: the test proves nothing"
