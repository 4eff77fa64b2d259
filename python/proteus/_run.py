"""Finding and running the proteus binary (shared by the API and the
console script).  Nothing here depends on the source tree: the binary is the
one shipped inside this package (proteus/_bin/proteus, put there by
`pip install .`), its Python half is proteus/_py/proteus_py, and the
interpreter that runs the Python half is the one running this code."""
import os
import stat
import sys

_PKG = os.path.dirname(os.path.abspath(__file__))


class ProteusError(Exception):
    """A proteus command failed.  str() is the CLI's one-line message
    (`proteus: FILE: problem`); .returncode is its exit status (1 for a
    failure, 2 for a usage error), .stderr everything it wrote there,
    .details the JSON summary it printed, if any (optimize lists its failures)."""

    def __init__(self, message, returncode=1, stderr=""):
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.stderr = stderr
        self.details = {}


def binary():
    """The proteus executable: $PROTEUS_BIN, else the packaged one, else (a
    source checkout whose python/ folder is on sys.path) <root>/build/proteus."""
    env = os.environ.get("PROTEUS_BIN")
    if env:
        return env
    packaged = os.path.join(_PKG, "_bin", "proteus")
    if os.path.exists(packaged):
        try:  # a wheel unpacked without its mode bits
            st = os.stat(packaged)
            if not st.st_mode & stat.S_IXUSR:
                os.chmod(packaged, st.st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            pass
        return packaged
    source = os.path.join(os.path.dirname(os.path.dirname(_PKG)), "build", "proteus")
    if os.path.exists(source):
        return source
    raise ProteusError("proteus: the proteus binary is not installed (pip install . from the proteus repository, "
                       "or set PROTEUS_BIN)")


def environment(base=None):
    """The environment the binary runs in: its Python half (PROTEUS_PYDIR) and
    the interpreter that has onnx and onnxruntime (PROTEUS_PYTHON, this one)
    unless the caller set them."""
    env = dict(os.environ if base is None else base)
    pydir = os.path.join(_PKG, "_py")
    if "PROTEUS_PYDIR" not in env and os.path.isdir(os.path.join(pydir, "proteus_py")):
        env["PROTEUS_PYDIR"] = pydir
    if os.path.isdir(os.path.join(pydir, "proteus_py")):  # installed: nothing in the source tree
        env.setdefault("PROTEUS_PYTHON", sys.executable)
        cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        env.setdefault("PROTEUS_AUDIT_CACHE", os.path.join(cache, "proteus", "audit-cache"))
    return env
