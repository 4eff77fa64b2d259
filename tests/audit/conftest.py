"""Fixtures for the audit tests: buckets made with the proteus CLI (their
keys sealed with a test secret) and the owner's key view of each."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))

PROTEUS = os.path.abspath(os.environ.get("PROTEUS", os.path.join(ROOT, "build", "proteus")))
MODELS = os.path.join(ROOT, "corpus", "models")
HOLDOUT = os.path.join(ROOT, "corpus", "holdout")


def run(*args, **kw):
    r = subprocess.run([*map(str, args)], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r


@pytest.fixture(scope="session")
def secret(tmp_path_factory):
    p = tmp_path_factory.mktemp("secret") / "secret"
    p.write_bytes(bytes(range(32)))
    return str(p)


@pytest.fixture(scope="session")
def make_bucket(tmp_path_factory, secret):
    """make_bucket(model path, k, seed) -> (bucket dir, key path, key view)."""
    if not os.path.exists(PROTEUS):
        pytest.fail(f"{PROTEUS} is missing: run `make -s -j2 all`")
    made = {}

    def make(model, k, seed=3):
        key_ = (model, k, seed)
        if key_ not in made:
            d = tmp_path_factory.mktemp(os.path.basename(model)[:-5] + f"-k{k}")
            b, kp = d / "bucket", d / "key"
            args = [PROTEUS, "obfuscate", model, "-o", b, "--key", kp, "-k", k, "--seed", seed, "--no-probe", "--allow-weak", "--weightless",
                    "--key-secret", secret]
            if k > 0:
                args += ["--sentinels", "random"]
            run(*args)
            view = json.loads(run(PROTEUS, "key", "show", kp, "--json", "--key-secret", secret).stdout)
            made[key_] = (str(b), str(kp), view)
        return made[key_]
    return make


def audit_cli(bucket, view, *extra):
    """python -m proteus_py.audit BUCKET --key-json - --json ..., the key
    view on stdin (as the C command passes it); the zoo has random sentinels,
    as make_bucket's buckets."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-m", "proteus_py.audit", bucket, "--key-json", "-", "--json", "--quiet",
                        "--sentinels", "random", *extra],
                       input=json.dumps(view), capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise AssertionError(f"audit failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)
