"""The optimizer's side and the CLI's behaviour (issue 9, items 4 and 8):
manifests that could attack the optimizer's machine are refused, cmd:
templates run without a shell, failing runs stop early, unknown drivers are
a usage error, ONNX Runtime's hardware warning is passed on as one line,
--json summaries, verify's dtype-aware tolerance and --input-shape, one-line
errors without tracebacks or ONNX Runtime logs, --version."""
import json
import os
import pty
import re
import signal
import subprocess
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import PROTEUS, ROOT, proteus

NAMES = [f"{i:016x}" for i in (0x0123456789abcdef, 0xfedcba9876543210, 0x00000000deadbeef, 0x1111222233334444)]


def _mlp(seed=0, dtype=np.float32, scale=1.0, ulp=False):
    """A small model: y = relu(x @ W + b) @ W2, x of shape [N, 16]."""
    et = T.FLOAT16 if dtype == np.float16 else T.FLOAT
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((16, 16)) * scale).astype(dtype)
    if ulp:  # every weight one unit in the last place up
        W.view(np.uint16 if dtype == np.float16 else np.uint32)[:] += 1
    b = rng.standard_normal(16).astype(dtype)
    W2 = rng.standard_normal((16, 4)).astype(dtype)
    g = h.make_graph(
        [h.make_node("MatMul", ["x", "W"], ["h"]), h.make_node("Add", ["h", "b"], ["h2"]),
         h.make_node("Relu", ["h2"], ["h3"]), h.make_node("MatMul", ["h3", "W2"], ["y"])],
        "g", [h.make_tensor_value_info("x", et, ["N", 16])], [h.make_tensor_value_info("y", et, ["N", 4])],
        [nh.from_array(W, "W"), nh.from_array(b, "b"), nh.from_array(W2, "W2")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _bucket(d, names=None, n=None, model=None):
    """A hand-made bucket: manifest.json listing names, each a small model."""
    d.mkdir(parents=True, exist_ok=True)
    if names is None:
        names = [f"{i:016x}.onnx" for i in range(0xabc000, 0xabc000 + (n or 3))]
    data = (model or _mlp()).SerializeToString()
    for name in names:
        if "/" not in name:
            (d / name).write_bytes(data)
    (d / "manifest.json").write_text(json.dumps({"format": "proteus-bucket/1", "files": names}))
    return names


def _outputs(d):
    return sorted(f for f in os.listdir(d)) if d.exists() else []


def _lines(text):
    return [x for x in text.splitlines() if x.strip()]


# --- manifests that attack the optimizer's machine ---------------------------

def test_manifest_command_injection_refused(tmp_path):
    """A file named x$(touch PWNED).onnx ran `touch PWNED` under a quoted cmd:
    template; such a name is refused before anything runs."""
    b = tmp_path / "b"
    bad = "x$(touch PWNED).onnx"
    _bucket(b, names=[NAMES[0] + ".onnx", bad])
    for tpl in ('cmd:cp "{in}" "{out}"', "cmd:cp {in} {out}"):
        r = proteus("optimize", b, "-o", tmp_path / "o", "--with", tpl, check=False, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        lines = _lines(r.stderr)
        assert len(lines) == 1 and "manifest.json" in lines[0] and "touch PWNED" in lines[0], r.stderr
        assert "16 lowercase hex digits" in lines[0]
        assert not (tmp_path / "PWNED").exists() and not (b / "PWNED").exists()
        assert _outputs(tmp_path / "o") == []


@pytest.mark.parametrize("bad", ["0123456789ABCDEF.onnx", "0123456789abcde.onnx", "0123456789abcdef0.onnx",
                                 "0123456789abcdef.onnx.sh", "0123456789abcdef.ONNX", "0123456789abcdeg.onnx",
                                 " 0123456789abcdef.onnx", "0123456789abcdef.onnx\n", "-rf.onnx", ".onnx"])
def test_manifest_names_must_match_the_bucket_pattern(tmp_path, bad):
    b = tmp_path / "b"
    _bucket(b, names=[bad])
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "copy", check=False)
    assert r.returncode == 1, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1 and "manifest.json" in lines[0] and "entry 1" in lines[0], r.stderr
    assert _outputs(tmp_path / "o") == []


def test_manifest_duplicate_refused(tmp_path):
    b = tmp_path / "b"
    _bucket(b, names=[NAMES[0] + ".onnx", NAMES[1] + ".onnx", NAMES[0] + ".onnx"])
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "copy", check=False)
    assert r.returncode == 1
    lines = _lines(r.stderr)
    assert len(lines) == 1 and NAMES[0] in lines[0] and "more than once" in lines[0], r.stderr
    assert _outputs(tmp_path / "o") == []


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_special_files_in_bucket_refused(tmp_path, kind):
    """A FIFO would hang the optimizer (cp blocks reading it), a symlink makes
    it read any file of its machine: both refused before anything opens."""
    b = tmp_path / "b"
    names = _bucket(b, n=3)
    victim = b / names[1]
    victim.unlink()
    secret = tmp_path / "secret.txt"
    secret.write_text("the optimizer's own file\n")
    if kind == "fifo":
        os.mkfifo(victim)
    elif kind == "symlink":
        os.symlink(secret, victim)
    else:
        victim.mkdir()
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:cp {in} {out}", check=False, timeout=60)
    assert r.returncode == 1, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1 and names[1] in lines[0] and "not a regular file" in lines[0], r.stderr
    assert {"fifo": "FIFO", "symlink": "symlink", "directory": "directory"}[kind] in lines[0]
    assert _outputs(tmp_path / "o") == []


def test_manifest_fifo_refused(tmp_path):
    b = tmp_path / "b"
    b.mkdir()
    os.mkfifo(b / "manifest.json")
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "copy", check=False, timeout=60)
    assert r.returncode == 1 and "manifest.json" in r.stderr and "not a regular file" in r.stderr, r.stderr


# --- cmd: templates run without a shell ---------------------------------------

@pytest.mark.parametrize("tpl", ["cmd:cp {in} {out}", 'cmd:cp "{in}" "{out}"', "cmd:cp '{in}' '{out}'",
                                 "cmd:cp  \\\n{in}\t{out}"])
def test_cmd_templates_work_as_written(tmp_path, tpl):
    b = tmp_path / "b"
    names = _bucket(b, n=4)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", tpl, check=False)
    assert r.returncode == 0, r.stderr
    assert _outputs(tmp_path / "o") == sorted(names)
    for n in names:
        assert (tmp_path / "o" / n).read_bytes() == (b / n).read_bytes()


def test_cmd_paths_with_spaces_and_quotes(tmp_path):
    """Substitution happens inside a word after splitting: odd characters in
    the paths never split a word or reach a shell."""
    b = tmp_path / "my bucket 'x' $(touch PWNED)"
    names = _bucket(b, n=2)
    out = tmp_path / 'out "dir"'
    r = proteus("optimize", b, "-o", out, "--with", 'cmd:cp "{in}" "{out}"', check=False, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _outputs(out) == sorted(names)
    assert not (tmp_path / "PWNED").exists()


def test_cmd_has_no_shell(tmp_path):
    b = tmp_path / "b"
    _bucket(b, n=1)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:cp {in} {out}; touch PWNED", check=False,
                cwd=tmp_path)
    assert r.returncode == 1
    assert not (tmp_path / "PWNED").exists()


def test_help_shows_templates_that_work(tmp_path):
    help_text = proteus("optimize", "--help").stdout
    examples = re.findall(r"--with '(cmd:[^']*)'", help_text)
    assert examples, help_text
    runnable = [e for e in examples if e.startswith("cmd:cp ")]
    assert runnable
    b = tmp_path / "b"
    names = _bucket(b, n=2)
    for i, tpl in enumerate(runnable):
        r = proteus("optimize", b, "-o", tmp_path / f"o{i}", "--with", tpl, check=False)
        assert r.returncode == 0, (tpl, r.stderr)
        assert _outputs(tmp_path / f"o{i}") == sorted(names)


@pytest.mark.parametrize("tpl,frag", [("cmd:cp \"{in} {out}", "unterminated double quote"),
                                      ("cmd:cp '{in} {out}", "unterminated single quote"),
                                      ("cmd:cp {in}", "{in} and {out}"), ("cmd:", "empty"),
                                      ("cmd:cp {in} {out}\\", "backslash"),
                                      ('cmd:"cp {in} {out}"', "quoted as one word")])
def test_bad_templates_are_usage_errors(tmp_path, tpl, frag):
    b = tmp_path / "b"
    _bucket(b, n=1)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", tpl, check=False)
    assert r.returncode == 2, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1 and frag in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


def test_command_failure_is_one_line_with_its_message(tmp_path):
    b = tmp_path / "b"
    names = _bucket(b, n=1)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with",
                "cmd:sh -c 'echo first >&2; echo the tool says no >&2; exit 3' {in} {out}", check=False)
    assert r.returncode == 1
    lines = _lines(r.stderr)
    assert len(lines) == 2, r.stderr
    assert names[0] in lines[0] and "status 3" in lines[0] and "the tool says no" in lines[0]
    assert _outputs(tmp_path / "o") == []


def test_missing_program_named(tmp_path):
    b = tmp_path / "b"
    _bucket(b, n=1)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:no-such-optimizer-xyz {in} {out}", check=False)
    assert r.returncode == 1
    assert "cannot run 'no-such-optimizer-xyz'" in r.stderr


# --- failing runs stop early; unknown drivers ------------------------------------

def test_max_failures_stops_early(tmp_path):
    b = tmp_path / "b"
    _bucket(b, n=20)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:false {in} {out}", "-j", 1, check=False)
    assert r.returncode == 1
    lines = _lines(r.stderr)
    assert len(lines) == 4, r.stderr
    assert all(re.match(r"proteus: optimize: [0-9a-f]{16}\.onnx: ", x) for x in lines[:3]), r.stderr
    assert "stopped after 3 failed files" in lines[3] and "17 of 20 files not tried" in lines[3], r.stderr
    # parallel: at most jobs - 1 more files were already running
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:false {in} {out}", "-j", 4, check=False)
    assert r.returncode == 1 and len(_lines(r.stderr)) <= 3 + 3 + 1, r.stderr


def test_max_failures_zero_tries_everything(tmp_path):
    b = tmp_path / "b"
    _bucket(b, n=6)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "cmd:false {in} {out}", "--max-failures", 0,
                check=False)
    assert r.returncode == 1
    lines = _lines(r.stderr)
    assert len(lines) == 7 and lines[-1] == "proteus: optimize: 6 of 6 files failed", r.stderr


def test_max_failures_python_driver(tmp_path):
    """The Python worker pool stops early too (files it cannot read)."""
    b = tmp_path / "b"
    names = _bucket(b, n=12)
    for n in names:
        (b / n).write_bytes(b"not a model")
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "ort:basic", "-j", 1, "--max-failures", 2,
                check=False)
    assert r.returncode == 1
    lines = _lines(r.stderr)
    assert len(lines) == 3 and "stopped after 2 failed files" in lines[-1], r.stderr
    assert "Traceback" not in r.stderr and "onnxruntime:" not in r.stderr


@pytest.mark.parametrize("driver", ["ort:fast", "onnxsimplifier", "cmd", "shell:cp {in} {out}"])
def test_unknown_driver_lists_known_exit_2(tmp_path, driver):
    b = tmp_path / "b"
    _bucket(b, n=1)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", driver, check=False)
    assert r.returncode == 2, r.stderr
    lines = _lines(r.stderr)
    assert len(lines) == 1, r.stderr
    for known in ("ort:basic", "ort:extended", "ort:all", "onnxoptimizer", "onnxsim", "copy", "cmd:"):
        assert known in lines[0], lines[0]
    assert not (tmp_path / "o").exists()


# --- what the run tells the user -------------------------------------------------

def test_optimize_json_summary(tmp_path):
    b = tmp_path / "b"
    names = _bucket(b, n=3)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "copy", "--json")
    s = json.loads(r.stdout)
    assert s["ok"] is True and s["driver"] == "copy" and s["files"] == 3 and s["files_ok"] == 3
    assert s["files_failed"] == 0 and s["files_not_tried"] == 0 and s["seconds"] >= 0
    assert _outputs(tmp_path / "o") == sorted(names)
    # a failing run: the summary still comes, on stdout, and the status is 1
    r = proteus("optimize", b, "-o", tmp_path / "o2", "--with", "cmd:false {in} {out}", "--json", "-j", 1,
                "--max-failures", 2, check=False)
    assert r.returncode == 1
    s = json.loads(r.stdout)
    assert s["ok"] is False and s["files_failed"] == 2 and s["files_not_tried"] == 1
    assert {f["file"] for f in s["failures"]} <= set(names)


def _ort_warns_here(model_path, tmp_path):
    """Does ONNX Runtime, left to log, warn about hardware-specific output of
    ORT_ENABLE_ALL on this machine?"""
    code = ("import onnxruntime as o, sys\n"
            "s = o.SessionOptions(); s.graph_optimization_level = o.GraphOptimizationLevel.ORT_ENABLE_ALL\n"
            f"s.optimized_model_filepath = {str(tmp_path / 'probe.onnx')!r}\n"
            f"o.InferenceSession({str(model_path)!r}, s, providers=['CPUExecutionProvider'])\n")
    py = os.path.join(ROOT, ".venv", "bin", "python")
    r = subprocess.run([py, "-c", code], capture_output=True, text=True)
    return "hardware specific" in r.stderr


def test_ort_all_hardware_warning_passed_on(tmp_path):
    b = tmp_path / "b"
    names = _bucket(b, n=3)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "ort:all", check=False)
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stderr and "[W:onnxruntime" not in r.stderr, r.stderr
    warnings = [x for x in _lines(r.stderr) if x.startswith("proteus: optimize: warning:")]
    if _ort_warns_here(b / names[0], tmp_path):
        assert len(warnings) == 1 and "hardware" in warnings[0], r.stderr
        assert _lines(r.stderr) == warnings
        s = json.loads(proteus("optimize", b, "-o", tmp_path / "o2", "--with", "ort:all", "--json").stdout)
        assert len(s["warnings"]) == 1 and "hardware" in s["warnings"][0]
    else:
        assert warnings == [], r.stderr
    # ort:extended is not tuned to the hardware: no warning
    r = proteus("optimize", b, "-o", tmp_path / "o3", "--with", "ort:extended")
    assert r.stderr == ""


def test_progress_only_on_a_terminal(tmp_path):
    b = tmp_path / "b"
    _bucket(b, n=3)
    r = proteus("optimize", b, "-o", tmp_path / "o", "--with", "copy")
    assert r.stderr == ""  # not a terminal: no progress bar
    master, slave = pty.openpty()
    try:
        p = subprocess.run([PROTEUS, "optimize", str(b), "-o", str(tmp_path / "o2"), "--with", "copy"],
                           stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0
    assert b"optimize [" in out and b"3/3" in out, out


# --- verify -------------------------------------------------------------------------

def _verify(*args, **kw):
    return subprocess.run([PROTEUS, "verify", *map(str, args)], capture_output=True, text=True, **kw)


def _one_error(r, code, *fragments):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = _lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith("proteus: verify: "), r.stderr
    assert "Traceback" not in r.stderr and "onnxruntime:" not in r.stderr and "\x1b[" not in r.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


def test_verify_fp16_default_tolerance(tmp_path):
    """fp16 outputs get an fp16 tolerance: a copy whose weights are one ulp
    off (0.04% of the range; beyond float32's 1e-4) passes, a copy 5% off
    fails, the model against itself passes."""
    ref, near, far = tmp_path / "ref.onnx", tmp_path / "near.onnx", tmp_path / "far.onnx"
    onnx.save(_mlp(3, np.float16), ref)
    onnx.save(_mlp(3, np.float16, ulp=True), near)
    onnx.save(_mlp(3, np.float16, scale=1.05), far)
    r = _verify(ref, ref, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ok"] and s["outputs"]["y"]["bitwise"] and s["outputs"]["y"]["dtype"] == "float16"
    assert 5e-3 <= s["outputs"]["y"]["rtol"] <= 2e-2
    r = _verify(ref, near, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    s = json.loads(r.stdout)
    assert s["ok"] and not s["outputs"]["y"]["bitwise"] and s["outputs"]["y"]["max_rel"] > 1e-4
    assert _verify(ref, near, "--rtol", "1e-4").returncode == 1  # an explicit rtol applies as given
    r = _verify(ref, far)
    assert r.returncode == 1 and "BEYOND TOLERANCE" in r.stdout, r.stdout
    # float32 keeps 1e-4
    onnx.save(_mlp(3, np.float32), tmp_path / "f32.onnx")
    s = json.loads(_verify(tmp_path / "f32.onnx", tmp_path / "f32.onnx", "--json").stdout)
    assert s["outputs"]["y"]["rtol"] == 1e-4


def _dyn_model():
    """x [N, L] -> Reshape to [-1, 4]: runs only when N*L is a multiple of 4."""
    g = h.make_graph([h.make_node("Reshape", ["x", "s"], ["r"]), h.make_node("Relu", ["r"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, ["N", "L"])],
                     [h.make_tensor_value_info("y", T.FLOAT, [None, 4])],
                     [nh.from_array(np.array([-1, 4], np.int64), "s")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_verify_input_shape(tmp_path):
    m = tmp_path / "dyn.onnx"
    onnx.save(_dyn_model(), m)
    line = _one_error(_verify(m, m), 1, m, "'x'", "--input-shape x=D0,D1", "[N, L]")
    assert "shapes tried" in line
    r = _verify(m, m, "--input-shape", "x=2,4", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"]
    # wrong uses are named
    _one_error(_verify(m, m, "--input-shape", "ids=2,4"), 1, "no input 'ids'", "x")
    _one_error(_verify(m, m, "--input-shape", "x=2,4,1"), 1, "rank 2")
    _one_error(_verify(m, m, "--input-shape", "x:2,4"), 2, "NAME=D0,D1")
    _one_error(_verify(m, m, "--input-shape", "x=2,four"), 2, "whole numbers")


def test_verify_input_shape_fixed_dims_checked(tmp_path):
    m = tmp_path / "mlp.onnx"
    onnx.save(_mlp(), m)
    _one_error(_verify(m, m, "--input-shape", "x=2,15"), 1, "fixed at 16")
    assert _verify(m, m, "--input-shape", "x=5,16").returncode == 0


@pytest.mark.parametrize("which", ["reference", "candidate"])
def test_verify_corrupt_file_one_line(tmp_path, which):
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(_mlp(), good)
    bad.write_bytes(good.read_bytes()[:200])
    args = (bad, good) if which == "reference" else (good, bad)
    _one_error(_verify(*args), 1, bad)
    r = _verify(*args, "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False


def test_verify_missing_and_special_files(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(_mlp(), good)
    _one_error(_verify(good, tmp_path / "none.onnx"), 1, tmp_path / "none.onnx", "no such file")
    os.mkfifo(tmp_path / "fifo.onnx")
    _one_error(_verify(good, tmp_path / "fifo.onnx", timeout=60), 1, "fifo.onnx", "not a regular file")


def test_verify_interface_mismatch_names_candidate(tmp_path):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(_mlp(), a)
    m = _mlp()
    m.graph.node[-1].output[0] = "z"
    m.graph.output[0].name = "z"
    onnx.save(m, b)
    _one_error(_verify(a, b), 1, b, "outputs")


def test_verify_usage_errors_are_one_line(tmp_path):
    good = tmp_path / "good.onnx"
    onnx.save(_mlp(), good)
    _one_error(_verify(good), 2, "REFERENCE and CANDIDATE")
    _one_error(_verify(good, good, "--bogus"), 2, "--bogus")
    _one_error(_verify(good, good, "--rtol", "x"), 2, "--rtol")


def test_verify_interrupted_no_traceback(tmp_path):
    """Ctrl-C while verify runs: one line, no Python traceback."""
    good = tmp_path / "good.onnx"
    onnx.save(_mlp(), good)
    p = subprocess.Popen([PROTEUS, "verify", str(good), str(good), "--runs", "100000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    if p.returncode != 0:
        assert _lines(err) == ["proteus: verify: interrupted"], err


# --- --version ------------------------------------------------------------------------

@pytest.mark.parametrize("arg", ["--version", "version"])
def test_version(arg):
    want = open(os.path.join(ROOT, "VERSION")).read().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", want)
    r = proteus(arg)
    assert r.stdout == f"proteus {want}\n" and r.stderr == ""


# --- interruption -------------------------------------------------------------------

@pytest.mark.parametrize("driver", ["cmd:sh -c 'sleep 30; cp \"$0\" \"$1\"' {in} {out}", "ort:all"])
def test_optimize_interrupted_leaves_no_temporaries(tmp_path, driver):
    b = tmp_path / "b"
    _bucket(b, n=4 if driver.startswith("cmd:") else 4000)
    out = tmp_path / "o"
    p = subprocess.Popen([PROTEUS, "optimize", str(b), "-o", str(out), "--with", driver], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)  # to proteus alone: it must stop its children itself
    _, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 20
    assert p.returncode == 130, err
    lines = _lines(err)
    assert lines[-1].startswith("proteus: optimize: interrupted (SIGINT)"), err
    assert "Traceback" not in err
    assert not [f for f in os.listdir(out) if f.startswith(".")], os.listdir(out)
    assert len(os.listdir(out)) < len(os.listdir(b)) - 1


def test_outputs_written_in_name_order(tmp_path):
    """The optimized files are created in name order (inode order carries
    nothing of the manifest's order), and shards are drawn in name order."""
    b = tmp_path / "b"
    names = [f"{i:016x}.onnx" for i in (0xf0, 0x10, 0xa0, 0x30, 0xc0, 0x20)]
    _bucket(b, names=names)
    out = tmp_path / "o"
    proteus("optimize", b, "-o", out, "--with", "cmd:cp {in} {out}", "-j", 1)
    ct = [os.stat(out / f).st_ctime_ns for f in sorted(names)]
    assert ct == sorted(ct), ct  # ties allowed: timestamps are coarse
    proteus("optimize", b, "-o", tmp_path / "s0", "--with", "copy", "--shard", "0/2")
    assert _outputs(tmp_path / "s0") == sorted(names)[0::2]
