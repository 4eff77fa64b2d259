import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

# Keys are sealed: every CLI call of the tests gets this passphrase unless a
# test says otherwise (subprocesses inherit it).
TEST_PASSPHRASE = "proteus test passphrase"
os.environ["PROTEUS_PASSPHRASE"] = TEST_PASSPHRASE

PROTEUS = os.path.abspath(os.environ.get("PROTEUS", os.path.join(ROOT, "build", "proteus")))
CORPUS = sorted(glob.glob(os.path.join(ROOT, "corpus", "models", "*.onnx")))


def corpus_ids():
    return [os.path.basename(p)[:-5] for p in CORPUS]


def proteus(*args, check=True, **kw):
    """Runs the CLI; returns CompletedProcess (text)."""
    r = subprocess.run([PROTEUS, *map(str, args)], capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"proteus {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r


def key_view(key, *extra):
    """What `proteus key show KEY --json` says (the key itself is sealed)."""
    import json
    return json.loads(proteus("key", "show", key, "--json", *extra).stdout)


@pytest.fixture(params=CORPUS, ids=corpus_ids())
def corpus_model(request):
    return request.param


def pytest_collection_modifyitems(config, items):
    if not CORPUS:
        raise pytest.UsageError("corpus/models is empty: the integration tests need the corpus")
    # The multi-gigabyte models (rehydrated XLM is 2.7 GB) run on one xdist
    # worker, one at a time, so two of them never share the machine's memory.
    for item in items:
        if "xlm" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("large-models"))


@pytest.fixture
def scratch(tmp_path):
    """tmp_path that is emptied when the test ends (rehydrated corpus models
    are large; pytest would keep every test's files until the session ends)."""
    yield tmp_path
    import shutil
    shutil.rmtree(tmp_path, ignore_errors=True)
