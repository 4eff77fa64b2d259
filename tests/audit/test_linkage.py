"""Threat-model class 12, several buckets of one owner (issue 9, item 2):
the linkage attack finds nothing between two models obfuscated with one
secret and seed, and lines buckets up completely when names and files
recur, as they did when the owner's streams were keyed by (secret, seed)
only."""
import json
import os
import shutil

import pytest

from conftest import MODELS, PROTEUS, run
from proteus_py.audit import linkage

OPTS = ("-k", 4, "--subgraph-size", 6, "--seed", 3, "--no-probe")


@pytest.fixture(scope="module")
def owner(tmp_path_factory, secret):
    """Two models of one owner (one secret, one seed): {tag: (bucket, key, view)}."""
    d = tmp_path_factory.mktemp("linkage")
    out = {}
    for tag, name in (("sq", "squeezenet1_1-op17"), ("mb", "mobilenet_v2-op17")):
        m = d / f"{tag}.onnx"
        run(PROTEUS, "rehydrate", os.path.join(MODELS, name + ".onnx"), m, "--seed", 1)
        b, k = d / f"{tag}-bucket", d / f"{tag}-key"
        run(PROTEUS, "obfuscate", m, "-o", b, "--key", k, *OPTS, "--key-secret", secret)
        view = json.loads(run(PROTEUS, "key", "show", k, "--json", "--key-secret", secret).stdout)
        out[tag] = (str(b), str(k), view)
    return out


def slot_names(view):
    """Every file in the order the owner's name stream drew it: the real files
    in model order, then each group's sentinels."""
    return list(view["real"]) + [s for g in view["groups"] for s in g["sentinels"]]


def old_style_copy(src, view, names_like, dst):
    """Bucket src renamed as the (secret, seed)-only derivation named it: slot
    i of every bucket of one owner got the same name.  Returns the renamed
    key view."""
    os.makedirs(dst)
    ren = dict(zip(slot_names(view), slot_names(names_like)))
    for f in view["files"]:
        shutil.copy(os.path.join(src, f), os.path.join(dst, ren.get(f, f)))
    with open(os.path.join(src, "manifest.json")) as fh:
        man = json.load(fh)
    man["files"] = sorted(ren.get(f, f) for f in man["files"])
    with open(os.path.join(dst, "manifest.json"), "w") as fh:
        json.dump(man, fh)
    return {"n": view["n"], "k": view["k"], "real": [ren.get(f, f) for f in view["real"]],
            "files": sorted(ren.get(f, f) for f in view["files"]),
            "groups": [{"real": ren.get(g["real"], g["real"]), "sentinels": [ren.get(s, s) for s in g["sentinels"]]}
                       for g in view["groups"]]}


def test_two_models_one_secret_and_seed_do_not_link(owner):
    (ba, _, va), (bb, _, vb) = owner["sq"], owner["mb"]
    r = linkage.link(ba, bb, va, vb)
    assert r["files"] == len(va["files"]) and r["other_files"] == len(vb["files"])
    assert r["shared_names"] == 0
    assert r["identical_files"] == 0
    assert r["leaked_key"]["real_named"] == 0 and r["leaked_key"]["guessed"] == 0
    # sentinels are drawn from streams keyed by the model: none recurs
    assert r["structure_pairs"]["sentinel-sentinel"] == 0
    assert not r["linked"]
    # and the other way round
    r = linkage.link(bb, ba, vb, va)
    assert r["shared_names"] == 0 and r["identical_files"] == 0 and r["leaked_key"]["real_named"] == 0


def test_a_copy_links_completely(owner, tmp_path):
    ba, _, va = owner["sq"]
    shutil.copytree(ba, tmp_path / "copy")
    r = linkage.link(ba, str(tmp_path / "copy"), va, va)
    n_files = len(va["files"])
    assert r["shared_names"] == n_files and r["identical_files"] == n_files
    assert r["identical_structure"] == n_files
    assert r["leaked_key"]["real_named"] == va["n"] and r["leaked_key"]["wrong"] == 0
    assert r["linked"]


def test_old_style_names_link_two_models(owner, tmp_path):
    """With names drawn from (secret, seed) only, one leaked key names every
    real file of the owner's other buckets."""
    (ba, _, va), (bb, _, vb) = owner["sq"], owner["mb"]
    assert va["n"] <= vb["n"]  # so that slots 0..n_A-1 are real in both
    vb_old = old_style_copy(bb, vb, va, str(tmp_path / "mb-old"))
    r = linkage.link(ba, str(tmp_path / "mb-old"), va, vb_old)
    assert r["shared_names"] == len(va["files"])
    assert r["identical_files"] == 0  # other model, other bytes: the names alone link them
    lk = r["leaked_key"]
    # B's n_B real names are A's first n_B slots: A's n_A real files, then
    # n_B - n_A of A's sentinels
    assert lk["by_name"] == vb["n"] and lk["real_named"] == va["n"] and lk["wrong"] == vb["n"] - va["n"]
    assert r["linked"]


def test_the_c_command_runs_the_linkage(owner, secret, tmp_path):
    (ba, ka, va), (bb, kb, _) = owner["sq"], owner["mb"]
    shutil.copytree(ba, tmp_path / "copy")
    r = run(PROTEUS, "audit", ba, "--key", ka, "--key-secret", secret, "--json",
            "--link", bb, "--link-key", kb, "--link", tmp_path / "copy", "--link-key", ka)
    rep = json.loads(r.stdout)
    assert rep["attack"] == "linkage" and len(rep["links"]) == 2
    fresh, copy = rep["links"]
    assert fresh["shared_names"] == 0 and fresh["identical_files"] == 0 and not fresh["linked"]
    assert fresh["leaked_key"]["real_named"] == 0
    assert copy["linked"] and copy["leaked_key"]["real_named"] == va["n"]
    # without link keys: still the names and bytes, no scoring of a leaked key
    r = run(PROTEUS, "audit", ba, "--key", ka, "--key-secret", secret, "--link", tmp_path / "copy")
    assert "shared file names" in r.stdout and "LINKED" in r.stdout


def test_module_entry(owner, tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    (ba, _, va), (bb, _, _) = owner["sq"], owner["mb"]
    vp = tmp_path / "view.json"
    vp.write_text(json.dumps(va))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, "-m", "proteus_py.audit.linkage", ba, bb, ba, "--key-a", str(vp),
                        "--key-b", str(vp), "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert [x["linked"] for x in rep["links"]] == [False, True]
    assert "leaked_key" in rep["links"][0] and "leaked_key" not in rep["links"][1]
