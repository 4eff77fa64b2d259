"""Key sealing by the book (issue 9, items 2 and 5): a fresh salt for every
key file, buckets that are reproducible but unlinkable across models, a
minimum passphrase strength for new keys, and `proteus key passwd`."""
import json
import os
import shutil

import pytest

from conftest import ROOT, TEST_PASSPHRASE, proteus

MODELS = os.path.join(ROOT, "corpus", "models")
# small enough to be quick, split finely enough that the promise is large
OPTS = ("-k", 4, "--subgraph-size", 6, "--seed", 7, "--sentinels", "random")  # key mechanics: any generator
SALT = slice(30, 46)
NONCE = slice(46, 70)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys-models")
    out = {}
    for name in ("squeezenet1_1-op17", "mobilenet_v2-op17"):
        proteus("rehydrate", os.path.join(MODELS, name + ".onnx"), d / (name + ".onnx"), "--seed", 1)
        out[name.split("-")[0]] = d / (name + ".onnx")
    return out


def obfuscate(model, out, *extra, env=None, check=True):
    return proteus("obfuscate", model, "-o", out / "b", "--key", out / "k", *OPTS, "--no-probe", *extra,
                   env=env, check=check)


@pytest.fixture(scope="module")
def buckets(models, tmp_path_factory):
    """squeezenet twice and mobilenet once, one passphrase, one seed."""
    made = {}
    for tag, model in (("sq1", "squeezenet1_1"), ("sq2", "squeezenet1_1"), ("mb", "mobilenet_v2")):
        d = tmp_path_factory.mktemp("keys-" + tag)
        obfuscate(models[model], d)
        made[tag] = d
    return made


def error_lines(r):
    """stderr without warnings: a refusal is one line."""
    return [ln for ln in r.stderr.strip().splitlines() if ": warning:" not in ln]


def one_line(r, code, *fragments):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = error_lines(r)
    assert len(lines) == 1 and lines[0].startswith("proteus: "), r.stderr
    for f in fragments:
        assert str(f) in lines[0], (f, lines[0])
    return lines[0]


def key_view(key, *extra, env=None):
    return json.loads(proteus("key", "show", key, "--json", *extra, env=env).stdout)


def bucket_files(d):
    return sorted(os.listdir(d))


# --- salts -------------------------------------------------------------------

def test_two_keys_never_share_a_salt(buckets):
    keys = {t: (d / "k").read_bytes() for t, d in buckets.items()}
    for t, k in keys.items():
        assert k[:12] == b"PROTEUS-KEY\n" and k[12] == 1 and k[13] == 1, t
    tags = sorted(keys)
    for i, a in enumerate(tags):
        for b in tags[i + 1:]:
            assert keys[a][SALT] != keys[b][SALT], (a, b)
            assert keys[a][NONCE] != keys[b][NONCE], (a, b)
    # the KDF cost is in the header, and the same for all three
    assert len({k[14:30] for k in keys.values()}) == 1


def test_raw_secret_keys_never_share_a_nonce(models, tmp_path):
    sec = tmp_path / "s"
    sec.write_bytes(bytes(range(32)))
    nonces = []
    for tag in ("a", "b"):
        d = tmp_path / tag
        d.mkdir()
        obfuscate(models["squeezenet1_1"], d, "--key-secret", sec)
        k = (d / "k").read_bytes()
        assert k[13] == 2 and k[14:46] == bytes(32)  # no KDF fields for a raw secret
        nonces.append(k[NONCE])
    assert nonces[0] != nonces[1]
    assert bucket_files(tmp_path / "a" / "b") == bucket_files(tmp_path / "b" / "b")


# --- unlinkable, reproducible buckets ----------------------------------------

def test_two_models_share_no_file_name(buckets):
    a = set(bucket_files(buckets["sq1"] / "b")) - {"manifest.json"}
    b = set(bucket_files(buckets["mb"] / "b")) - {"manifest.json"}
    assert a and b
    assert not (a & b)


def test_same_model_twice_gives_a_byte_identical_bucket(buckets):
    a, b = buckets["sq1"] / "b", buckets["sq2"] / "b"
    names = bucket_files(a)
    assert names == bucket_files(b) and "manifest.json" in names
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    # the keys differ (fresh salt and nonce) but say the same thing
    assert (buckets["sq1"] / "k").read_bytes() != (buckets["sq2"] / "k").read_bytes()
    assert key_view(buckets["sq1"] / "k") == key_view(buckets["sq2"] / "k")


def test_another_passphrase_gives_other_names(models, buckets, tmp_path):
    env = dict(os.environ, PROTEUS_PASSPHRASE="a different owner passphrase")
    obfuscate(models["squeezenet1_1"], tmp_path, env=env)
    a = set(bucket_files(buckets["sq1"] / "b")) - {"manifest.json"}
    b = set(bucket_files(tmp_path / "b")) - {"manifest.json"}
    assert not (a & b)


# --- passphrase strength -----------------------------------------------------

@pytest.mark.parametrize("weak", ["hunter2", "x", "aaaaaaaaaaaaaaaaaaaa", "abcabcabcabcabc", "1234567890123"])
def test_weak_passphrase_refused_and_nothing_written(models, tmp_path, weak):
    env = dict(os.environ, PROTEUS_PASSPHRASE=weak)
    r = obfuscate(models["squeezenet1_1"], tmp_path, env=env, check=False)
    one_line(r, 1, tmp_path / "k", "too weak", "12 characters", "--weak-passphrase")
    assert os.listdir(tmp_path) == []  # no bucket, no key, no temporary


def test_weak_passphrase_from_a_file_refused(models, tmp_path):
    pf = tmp_path / "pass"
    pf.write_text("short\n")
    env = {k: v for k, v in os.environ.items() if k != "PROTEUS_PASSPHRASE"}
    r = obfuscate(models["squeezenet1_1"], tmp_path, "--passphrase-file", pf, env=env, check=False)
    one_line(r, 1, "too weak")
    assert os.listdir(tmp_path) == ["pass"]


def test_weak_passphrase_accepted_with_the_option(models, tmp_path):
    env = dict(os.environ, PROTEUS_PASSPHRASE="hunter2")
    obfuscate(models["squeezenet1_1"], tmp_path, "--weak-passphrase", env=env)
    # opening never checks strength
    assert key_view(tmp_path / "k", env=env)["k"] == 4


def test_help_states_the_rule():
    for cmd in (("obfuscate",), ("key",)):
        out = proteus(*cmd, "--help").stdout
        assert "12" in out and "--weak-passphrase" in out and "digits" in out, cmd


# --- key passwd --------------------------------------------------------------

NEW = "a brand new owner passphrase"


def passwd(key, *extra, old=TEST_PASSPHRASE, new=NEW):
    env = dict(os.environ, PROTEUS_PASSPHRASE=old)
    env.pop("PROTEUS_NEW_PASSPHRASE", None)
    if new is not None:
        env["PROTEUS_NEW_PASSPHRASE"] = new
    return proteus("key", "passwd", key, *extra, env=env, check=False)


def test_passwd_round_trip_and_reassemble(models, tmp_path):
    proteus("obfuscate", models["squeezenet1_1"], "-o", tmp_path / "b", "--key", tmp_path / "k", *OPTS)
    before = (tmp_path / "k").read_bytes()
    view = key_view(tmp_path / "k")
    r = passwd(tmp_path / "k")
    assert r.returncode == 0, r.stderr
    after = (tmp_path / "k").read_bytes()
    assert after != before and after[SALT] != before[SALT]
    # the old passphrase is refused, the new one opens the same key
    r = proteus("key", "show", tmp_path / "k", check=False)
    one_line(r, 1, "wrong passphrase/secret")
    new_env = dict(os.environ, PROTEUS_PASSPHRASE=NEW)
    assert key_view(tmp_path / "k", env=new_env) == view
    # and reassembly works with the new one
    proteus("optimize", tmp_path / "b", "-o", tmp_path / "o", "--with", "copy")
    proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r.onnx", env=new_env)
    assert os.path.getsize(tmp_path / "r.onnx") > 0
    r = proteus("reassemble", tmp_path / "o", "--key", tmp_path / "k", "-o", tmp_path / "r2.onnx", check=False)
    one_line(r, 1, "wrong passphrase/secret")
    assert not os.path.exists(tmp_path / "r2.onnx")


def _key_copy(buckets, tmp_path):
    k = tmp_path / "k"
    shutil.copy(buckets["sq1"] / "k", k)
    os.chmod(k, 0o600)
    return k


def test_passwd_wrong_old_secret_leaves_the_file(buckets, tmp_path):
    k = _key_copy(buckets, tmp_path)
    before = k.read_bytes()
    r = passwd(k, old="not the owner passphrase")
    one_line(r, 1, k, "wrong passphrase/secret")
    assert k.read_bytes() == before
    assert os.listdir(tmp_path) == ["k"]


def test_passwd_weak_new_passphrase_leaves_the_file(buckets, tmp_path):
    k = _key_copy(buckets, tmp_path)
    before = k.read_bytes()
    one_line(passwd(k, new="hunter2"), 1, "too weak", "--weak-passphrase")
    assert k.read_bytes() == before and os.listdir(tmp_path) == ["k"]
    # no new secret at all (no terminal): refused, naming the ways
    one_line(passwd(k, new=None), 1, "PROTEUS_NEW_PASSPHRASE", "--new-passphrase-file",
             "--new-key-secret")
    assert k.read_bytes() == before
    # --weak-passphrase accepts it
    assert passwd(k, "--weak-passphrase", new="hunter2").returncode == 0
    assert key_view(k, env=dict(os.environ, PROTEUS_PASSPHRASE="hunter2"))["k"] == 4


def test_passwd_files_and_raw_secret(buckets, tmp_path):
    k = _key_copy(buckets, tmp_path)
    view = key_view(k)
    pf = tmp_path / "newpass"
    pf.write_text("passphrase from a file\n")
    r = passwd(k, "--new-passphrase-file", pf, new=None)
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(k).st_mode & 0o777) == oct(0o600)  # permissions kept
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(range(100, 132)))
    r = passwd(k, "--passphrase-file", pf, "--new-key-secret", raw, new=None)
    assert r.returncode == 0, r.stderr
    assert k.read_bytes()[13] == 2
    assert key_view(k, "--key-secret", raw) == view
    one_line(proteus("key", "show", k, check=False), 1, "sealed with a raw 32-byte secret")
    assert sorted(os.listdir(tmp_path)) == ["k", "newpass", "raw"]


def test_passwd_usage(tmp_path):
    r = proteus("key", "passwd", check=False)
    assert r.returncode == 2 and "need KEY" in r.stderr
    r = proteus("key", "passwd", tmp_path / "k", "--new-key-secret", "a", "--new-passphrase-file", "b", check=False)
    assert r.returncode == 2 and "not both" in r.stderr
    r = proteus("key", "passwd", tmp_path / "missing", check=False)
    one_line(r, 1, tmp_path / "missing")
    assert "passwd" in proteus("key", "--help").stdout
