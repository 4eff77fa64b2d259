"""proteus from Python: have a model's graph optimized by an untrusted party
without revealing its architecture.

    import proteus
    ob = proteus.obfuscate("model.onnx", "bucket", "model.key", k=20, passphrase="...")
    proteus.optimize("bucket", "optimized", driver="ort:all")      # the optimizer's side
    re = proteus.reassemble("optimized", "model.key", "model.opt.onnx", passphrase="...")
    assert proteus.verify("model.onnx", re.model).ok

Each function runs the proteus command-line tool shipped in this package
(`pip install .` builds it) and returns a plain dataclass; a model may be
given as a path or as an onnx.ModelProto.  A failure raises ProteusError
with the tool's one-line message.  The owner's secret is a passphrase
(passed to the tool in its environment, never on its command line), a
passphrase file, a 32-byte key secret (bytes, or the path of a file holding
them), or, when none is given, $PROTEUS_PASSPHRASE.

audit() runs on /usr/bin/python3 (it needs Debian's python3-torch) unless
$PROTEUS_AUDIT_PYTHON names another interpreter with torch."""
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from proteus._run import ProteusError, binary, environment

__all__ = ["obfuscate", "optimize", "reassemble", "verify", "audit", "ProteusError", "ObfuscateResult",
           "OptimizeResult", "ReassembleResult", "VerifyResult", "OutputError", "AuditResult", "AuditAttack",
           "binary", "__version__"]


def _version():
    try:
        from importlib.metadata import version
        return version("proteus")
    except Exception:
        return "0+unknown"


__version__ = _version()


@dataclass
class ObfuscateResult:
    bucket: str                 # the folder of anonymous files (give it to the optimizer)
    key: str                    # the sealed key (keep it)
    nodes: Optional[int] = None
    subgraphs: Optional[int] = None  # n: the real subgraphs
    files: Optional[int] = None      # n * (k + 1)
    k: Optional[int] = None
    cut_edges: Optional[int] = None
    seconds: Optional[float] = None
    warnings: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)  # the tool's --json summary, when it has one


@dataclass
class OptimizeResult:
    out: str
    files: Optional[int] = None      # files optimized
    driver: Optional[str] = None
    seconds: Optional[float] = None
    warnings: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ReassembleResult:
    model: str                  # the path of the reassembled model
    subgraphs: Optional[int] = None
    nodes: Optional[int] = None
    removed_at_seams: Optional[int] = None
    seconds: Optional[float] = None
    warnings: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class OutputError:
    max_abs: float
    max_rel: float
    bitwise: bool
    ok: bool
    note: Optional[str] = None


@dataclass
class VerifyResult:
    ok: bool                    # every output within tolerance
    outputs: Dict[str, OutputError] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditAttack:
    name: str
    log10_candidates: Optional[float] = None
    specificity: Optional[float] = None
    threshold: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditResult:
    n: Optional[int] = None
    k: Optional[int] = None
    log10_promise: Optional[float] = None    # n * log10(k + 1)
    attacks: List[AuditAttack] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)  # the whole --json report


# ---------------------------------------------------------------- running

_json_cache: Dict[str, bool] = {}


def _has_json(cmd):
    """Whether `proteus CMD --help` offers --json (older builds print text)."""
    if cmd not in _json_cache:
        try:
            r = subprocess.run([binary(), cmd, "--help"], env=environment(), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=60)
            _json_cache[cmd] = "--json" in r.stdout
        except (OSError, subprocess.SubprocessError):
            _json_cache[cmd] = False
    return _json_cache[cmd]


def _message(stderr, cmd, code):
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    mine = [ln for ln in lines if ln.startswith("proteus:") and "warning:" not in ln]
    if mine:
        return mine[-1]
    if lines:
        return lines[-1]
    return f"proteus: {cmd}: failed (exit status {code})"


def _run(cmd, args, secret_env=None, ok_codes=(0,)):
    env = environment()
    if secret_env:
        env.update(secret_env)
    r = subprocess.run([binary(), cmd, *map(str, args)], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    if r.returncode not in ok_codes:
        e = ProteusError(_message(r.stderr, cmd, r.returncode), r.returncode, r.stderr)
        e.details = _json_of(r.stdout) or {}  # e.g. optimize's failures, when it printed its --json summary
        raise e
    return r


def _json_of(stdout):
    """The JSON object the tool printed, if its output starts with one."""
    s = stdout.lstrip()
    if not s.startswith("{"):
        return None
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        try:  # one object on the first line, text after it
            return json.loads(s.splitlines()[0])
        except (json.JSONDecodeError, IndexError):
            return None


def _warnings(stderr):
    return [ln.strip() for ln in stderr.splitlines() if "warning" in ln.lower()]


def _pick(d, *names):
    for n in names:
        if isinstance(d, dict) and n in d:
            return d[n]
    return None


class _Secret:
    """The owner's secret as options and environment for the tool; a key
    secret given as bytes lives in a private temporary file until close()."""

    def __init__(self, passphrase=None, passphrase_file=None, key_secret=None):
        self.args, self.env, self._tmp = [], {}, None
        if sum(x is not None for x in (passphrase, passphrase_file, key_secret)) > 1:
            raise ValueError("give one of passphrase, passphrase_file, key_secret")
        if passphrase is not None:
            self.env["PROTEUS_PASSPHRASE"] = passphrase
        elif passphrase_file is not None:
            self.args = ["--passphrase-file", os.fspath(passphrase_file)]
        elif isinstance(key_secret, (bytes, bytearray, memoryview)):
            fd, self._tmp = tempfile.mkstemp(prefix="proteus-secret-")
            with os.fdopen(fd, "wb") as f:
                f.write(bytes(key_secret))
            self.args = ["--key-secret", self._tmp]
        elif key_secret is not None:
            self.args = ["--key-secret", os.fspath(key_secret)]

    def close(self):
        if self._tmp:
            os.unlink(self._tmp)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ModelPath:
    """A model given as a path, or an onnx.ModelProto saved to a private
    temporary folder (weights beyond protobuf's 2 GiB as external data next
    to it) until the block ends."""

    def __init__(self, model):
        self.model, self._dir, self.path = model, None, None

    def __enter__(self):
        if isinstance(self.model, (str, bytes, os.PathLike)):
            self.path = os.fspath(self.model)
            return self.path
        import onnx
        if not isinstance(self.model, onnx.ModelProto):
            raise TypeError(f"a model is a path or an onnx.ModelProto, not {type(self.model).__name__}")
        self._dir = tempfile.TemporaryDirectory(prefix="proteus-model-")
        self.path = os.path.join(self._dir.name, "model.onnx")
        big = self.model.ByteSize() > (1 << 31) - (64 << 20)
        onnx.save_model(self.model, self.path, save_as_external_data=big, location="model.onnx.data")
        return self.path

    def __exit__(self, *exc):
        if self._dir:
            self._dir.cleanup()


def _num(pattern, text, conv=int):
    m = re.search(pattern, text)
    return conv(m.group(1)) if m else None


# ---------------------------------------------------------------- the pipeline

def obfuscate(model, bucket, key, *, k=None, seed=None, subgraph_size=None, n=None, sentinels=None,
              passphrase=None, passphrase_file=None, key_secret=None, no_probe=False, extra_args=()):
    """Partitions MODEL (a path or an onnx.ModelProto), hides each subgraph
    among K sentinels, writes BUCKET/ (for the optimizer) and the sealed KEY
    (for the owner).  k, seed, subgraph_size, n, sentinels: as the CLI's
    -k, --seed, --subgraph-size, -n, --sentinels (None: its default; for
    sentinels, learned, while "random" is the weak control baseline).
    extra_args: further CLI options, passed as they are."""
    with _Secret(passphrase, passphrase_file, key_secret) as sec, _ModelPath(model) as path:
        args = [path, "-o", os.fspath(bucket), "--key", os.fspath(key), *sec.args]
        for opt, v in (("-k", k), ("--seed", seed), ("--subgraph-size", subgraph_size), ("-n", n),
                       ("--sentinels", sentinels)):
            if v is not None:
                args += [opt, str(v)]
        if no_probe:
            args.append("--no-probe")
        args += list(extra_args)
        if _has_json("obfuscate"):
            args.append("--json")
        r = _run("obfuscate", args, sec.env)
    res = ObfuscateResult(bucket=os.fspath(bucket), key=os.fspath(key), warnings=_warnings(r.stderr))
    j = _json_of(r.stdout)
    if j is not None:
        res.raw = j
        res.nodes = _pick(j, "nodes", "n_nodes")
        res.subgraphs = _pick(j, "subgraphs", "n_subgraphs", "n_parts", "n")
        res.files = _pick(j, "files", "n_files")
        res.k = _pick(j, "k")
        res.cut_edges = _pick(j, "cut_edges")
        res.seconds = _pick(j, "seconds", "time_s", "elapsed_s")
    else:
        t = r.stdout
        res.nodes = _num(r"(\d+) nodes ->", t)
        res.subgraphs = _num(r"-> (\d+) subgraphs", t)
        res.cut_edges = _num(r"(\d+) cut edges", t)
        res.k = _num(r"\bk=(\d+)", t)
        res.files = _num(r"(\d+) files in ", t)
        res.seconds = _num(r"\(([\d.]+) s\)", t, float)
    if res.k is None and k is not None:
        res.k = k
    return res


def optimize(bucket, out, driver="ort:all", jobs=2, *, shard=None, extra_args=()):
    """The optimizer's side: runs DRIVER (ort:basic|extended|all,
    onnxoptimizer, onnxsim, copy, or cmd:"TEMPLATE {in} {out}") on every file
    of BUCKET, writing OUT/.  shard: (i, n) for one shard of n."""
    args = [os.fspath(bucket), "-o", os.fspath(out), "--with", driver, "-j", str(jobs)]
    if shard is not None:
        args += ["--shard", f"{shard[0]}/{shard[1]}"]
    args += list(extra_args)
    if _has_json("optimize"):
        args.append("--json")
    r = _run("optimize", args)
    res = OptimizeResult(out=os.fspath(out), driver=driver, warnings=_warnings(r.stderr))
    j = _json_of(r.stdout)
    if j is not None:
        res.raw = j
        f = _pick(j, "files_ok", "n_ok", "files")
        res.files = f if isinstance(f, int) and not isinstance(f, bool) else (len(f) if isinstance(f, list) else None)
        res.seconds = _pick(j, "seconds", "time_s", "elapsed_s")
        w = _pick(j, "warnings")
        if isinstance(w, list) and not res.warnings:
            res.warnings = [str(x) for x in w]
    else:
        res.files = _num(r"optimize: (\d+) files", r.stdout)
        res.seconds = _num(r"\(([\d.]+) s\)", r.stdout, float)
    return res


def reassemble(out, key, model_out, *, passphrase=None, passphrase_file=None, key_secret=None,
               no_seam_cleanup=False, no_probe=False, extra_args=()):
    """Checks every optimized file in OUT against KEY and stitches the real
    ones into MODEL_OUT (a path).  Returns the path and counts; load it with
    onnx.load(result.model)."""
    with _Secret(passphrase, passphrase_file, key_secret) as sec:
        args = [os.fspath(out), "--key", os.fspath(key), "-o", os.fspath(model_out), *sec.args]
        if no_seam_cleanup:
            args.append("--no-seam-cleanup")
        if no_probe:
            args.append("--no-probe")
        args += list(extra_args)
        if _has_json("reassemble"):
            args.append("--json")
        r = _run("reassemble", args, sec.env)
    res = ReassembleResult(model=os.fspath(model_out), warnings=_warnings(r.stderr))
    j = _json_of(r.stdout)
    if j is not None:
        res.raw = j
        res.subgraphs = _pick(j, "subgraphs", "n_subgraphs", "n_parts", "n")
        res.nodes = _pick(j, "nodes", "n_nodes")
        res.removed_at_seams = _pick(j, "removed_at_seams", "seam_removed", "seams_removed")
        res.seconds = _pick(j, "seconds", "time_s", "elapsed_s")
    else:
        t = r.stdout
        res.subgraphs = _num(r"reassemble: (\d+) subgraphs", t)
        res.nodes = _num(r"(\d+) nodes", t)
        res.removed_at_seams = _num(r"(\d+) removed at seams", t)
        res.seconds = _num(r"\(([\d.]+) s\)", t, float)
    return res


def verify(ref, cand, rtol=None, *, atol=None, seed=None, runs=None):
    """Runs REF and CAND (paths or onnx.ModelProto) in ONNX Runtime on the
    same seeded inputs and compares every output.  A difference beyond
    tolerance is not an exception: result.ok is False."""
    with _ModelPath(ref) as rp, _ModelPath(cand) as cp:
        args = [rp, cp]
        for opt, v in (("--rtol", rtol), ("--atol", atol), ("--seed", seed), ("--runs", runs)):
            if v is not None:
                args += [opt, str(v)]
        use_json = _has_json("verify")
        if use_json:
            args.append("--json")
        r = _run("verify", args, ok_codes=(0, 1))
    j = _json_of(r.stdout)
    if j is None and r.returncode != 0 and not r.stdout.strip():
        raise ProteusError(_message(r.stderr, "verify", r.returncode), r.returncode, r.stderr)
    if j is not None:
        outs = {}
        for name, o in (_pick(j, "outputs") or {}).items():
            outs[name] = OutputError(max_abs=o.get("max_abs"), max_rel=o.get("max_rel"),
                                     bitwise=bool(o.get("bitwise")), ok=bool(o.get("ok")), note=o.get("note"))
        ok = _pick(j, "ok")
        return VerifyResult(ok=bool(ok) if ok is not None else r.returncode == 0, outputs=outs, raw=j)
    outs = {}
    for m in re.finditer(r"^(.*): max abs error (\S+), max rel error (\S+)\s+(.*)$", r.stdout, re.M):
        tag = m.group(4).strip()
        outs[m.group(1)] = OutputError(max_abs=float(m.group(2)), max_rel=float(m.group(3)),
                                       bitwise=tag == "bitwise identical", ok=tag != "BEYOND TOLERANCE")
    return VerifyResult(ok=r.returncode == 0, outputs=outs)


def audit(bucket, key, *, passphrase=None, passphrase_file=None, key_secret=None, out=None, classifier=None,
          zoo_exclude=(), sentinels=None, extra_args=()):
    """Attacks BUCKET as an attacker without the key would and scores each
    attack with KEY: how many candidate models are left of the
    (k+1)^n promised.  Runs on /usr/bin/python3 with Debian's torch
    ($PROTEUS_AUDIT_PYTHON overrides).  out: a folder for PNG plots.
    sentinels: the generator BUCKET was made with, which the attacker's zoo
    uses too (None: obfuscate's default, learned)."""
    with _Secret(passphrase, passphrase_file, key_secret) as sec:
        args = [os.fspath(bucket), "--key", os.fspath(key), "--json", *sec.args]
        if out is not None:
            args += ["--out", os.fspath(out)]
        if classifier is not None:
            args += ["--classifier", os.fspath(classifier)]
        for z in zoo_exclude:
            args += ["--zoo-exclude", z]
        if sentinels is not None:
            args += ["--sentinels", sentinels]
        args += list(extra_args)
        r = _run("audit", args, sec.env)
    j = _json_of(r.stdout)
    if j is None:
        raise ProteusError("proteus: audit: no JSON report on its output", r.returncode, r.stderr)
    attacks = [AuditAttack(name=a.get("name", "?"), log10_candidates=a.get("log10_candidates"),
                           specificity=a.get("specificity"), threshold=a.get("threshold"), raw=a)
               for a in (_pick(j, "attacks") or []) if isinstance(a, dict)]
    return AuditResult(n=_pick(j, "n"), k=_pick(j, "k"), log10_promise=_pick(j, "log10_promise"), attacks=attacks,
                       raw=j)
