"""`pip install .` in a fresh virtual environment, then the README's Python
example and the installed `proteus` command, from a folder outside the
repository, with nothing of the repository on PYTHONPATH (issue 9, item 10).

Slow (a venv, pip, the C build into build/pip): one test, run once.
Downloads from PyPI are cached in build/pip-cache between runs."""
import fcntl
import os
import re
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import ROOT

pytestmark = pytest.mark.xdist_group("package")

MODEL = os.path.join(ROOT, "corpus", "models", "squeezenet1_1-op13.onnx")


def readme_example():
    """The first ```python block of the README's "## Python" section."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    sec = re.search(r"^## Python\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert sec, "README.md has no '## Python' section"
    code = re.search(r"^```python\n(.*?)^```", sec.group(1), re.M | re.S)
    assert code, "the README's Python section has no ```python example"
    return code.group(1)


def clean_env(**extra):
    """The environment of a user who never saw the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROTEUS") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def run(args, cwd, env, timeout):
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args[:3]} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_pip_install_readme_example_and_cli(tmp_path):
    if not os.path.exists(MODEL):
        pytest.skip("corpus model missing")
    work = tmp_path / "user"  # outside the repository
    work.mkdir()
    assert not str(work).startswith(ROOT + os.sep)
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)  # a plain venv: no system site-packages
    py = str(venv_dir / "bin" / "python")
    cache = os.path.join(ROOT, "build", "pip-cache")
    os.makedirs(cache, exist_ok=True)
    env = clean_env(PIP_CACHE_DIR=cache, PIP_DISABLE_PIP_VERSION_CHECK="1")
    # one pip build of this tree at a time (it builds into build/pip)
    with open(os.path.join(ROOT, "build", "pip.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run([py, "-m", "pip", "install", "--quiet", ROOT], cwd=str(work), env=env, timeout=600)

    # the pip build kept to build/pip: no egg-info or setuptools build folder in the tree
    for junk in ("proteus.egg-info", "python/proteus.egg-info", "build/lib", "build/bdist.linux-x86_64"):
        assert not os.path.exists(os.path.join(ROOT, junk)), f"pip install left {junk} in the source tree"

    # the installed package: the binary, its Python half, no path of this tree compiled in
    site = run([py, "-c", "import proteus, os; print(os.path.dirname(proteus.__file__))"],
               cwd=str(work), env=clean_env(), timeout=60).stdout.strip()
    assert not site.startswith(ROOT + os.sep), site
    exe = os.path.join(site, "_bin", "proteus")
    assert os.access(exe, os.X_OK)
    assert os.path.exists(os.path.join(site, "_py", "proteus_py", "probe.py"))
    with open(exe, "rb") as f:
        assert ROOT.encode() not in f.read(), "the installed binary names the source tree"

    # the installed command, from outside the repository
    cli = str(venv_dir / "bin" / "proteus")
    r = run([cli, "--help"], cwd=str(work), env=clean_env(), timeout=60)
    assert "obfuscate" in r.stdout
    run([cli, "rehydrate", MODEL, "model.onnx"], cwd=str(work), env=clean_env(), timeout=120)
    pw = clean_env(PROTEUS_PASSPHRASE="correct horse battery staple")
    cli_dir = work / "cli"
    cli_dir.mkdir()
    r = run([cli, "obfuscate", "../model.onnx", "-o", "bucket", "--key", "model.key", "-k", "20"], cwd=str(cli_dir),
            env=pw, timeout=300)
    assert (cli_dir / "bucket" / "manifest.json").exists() and (cli_dir / "model.key").exists()
    # the default generator, learned, found its model file in the package (data/generator)
    assert "k=20 sentinels learned" in r.stdout, r.stdout
    r = run([cli, "optimize", "bucket", "-o", "optimized", "--with", "ort:basic"], cwd=str(cli_dir), env=pw,
            timeout=300)
    r = run([cli, "reassemble", "optimized", "--key", "model.key", "-o", "model.opt.onnx"], cwd=str(cli_dir),
            env=pw, timeout=300)
    run([cli, "verify", "../model.onnx", "model.opt.onnx"], cwd=str(cli_dir), env=pw, timeout=300)
    # errors are the tool's one line, exit 1, through the console script too
    bad = subprocess.run([cli, "reassemble", "optimized", "--key", "model.key", "-o", "x.onnx"], cwd=str(cli_dir),
                         env=clean_env(PROTEUS_PASSPHRASE="not the passphrase at all"), capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("proteus:"), bad.stderr
    assert "Traceback" not in bad.stderr

    # the README's example, as written, next to the model it names
    (work / "example.py").write_text(readme_example())
    r = run([py, "example.py"], cwd=str(work), env=clean_env(), timeout=300)
    assert "verify: passed" in r.stdout, r.stdout
    assert (work / "model.opt.onnx").exists()

    # the API raises ProteusError with the tool's message
    probe = ("import proteus\n"
             "try:\n"
             "    proteus.reassemble('optimized', 'model.key', 'y.onnx', passphrase='not the passphrase at all')\n"
             "except proteus.ProteusError as e:\n"
             "    print('ERROR', e.returncode, e)\n")
    r = run([py, "-c", probe], cwd=str(work), env=clean_env(), timeout=120)
    assert r.stdout.startswith("ERROR 1 proteus:"), r.stdout
    shutil.rmtree(tmp_path, ignore_errors=True)
