"""The attacker's reference data: the public zoo (the repository corpus)
obfuscated by the attacker himself with the proteus CLI, so that he knows
which of his own files are real and which are sentinels.

Everything is cached under build/audit-cache/<stamp>/, where the stamp is a
hash of the proteus binary (a new generator means new sentinels): buckets
in buckets/, their parsed form in parsed/*.pkl."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor

from . import features as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.environ.get("PROTEUS_AUDIT_CACHE", os.path.join(ROOT, "build", "audit-cache"))
PROTEUS = os.environ.get("PROTEUS", os.path.join(ROOT, "build", "proteus"))

TRAIN_K = 5          # sentinels per real subgraph in the attacker's training buckets
TRAIN_SEED = 1001    # his seed (not the owner's)
SENTINELS = "random"
PARSE_VERSION = 4    # bump when features.read changes: cached parses are redone


def family(name):
    """Model family: the file name minus .onnx, -opNN and -dyn
    ("resnet18-dyn-op17" -> "resnet18")."""
    b = os.path.basename(name)
    if b.endswith(".onnx"):
        b = b[:-5]
    b = re.sub(r"-op\d+$", "", b)
    b = re.sub(r"-dyn$", "", b)
    return b


def corpus_models(root=ROOT):
    return sorted(glob.glob(os.path.join(root, "corpus", "models", "*.onnx")))


def holdout_models(root=ROOT):
    return sorted(glob.glob(os.path.join(root, "corpus", "holdout", "*.onnx")))


def families(models=None):
    return sorted({family(m) for m in (models or corpus_models())})


_STAMP = None


def stamp():
    """Hash of the proteus binary (cache key)."""
    global _STAMP
    if _STAMP is None:
        if not os.path.exists(PROTEUS):
            raise FileNotFoundError(f"{PROTEUS} is missing: run `make -s -j2 all` first")
        h = hashlib.sha256()
        with open(PROTEUS, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _STAMP = h.hexdigest()[:12]
    return _STAMP


def cache_dir():
    d = os.path.join(CACHE, stamp())
    os.makedirs(d, exist_ok=True)
    return d


@contextmanager
def cache_lock(path):
    """Holds an exclusive lock on path + '.lock' (created if needed): the
    cache is shared by concurrent audits and test workers, and two of them
    building the same entry would delete each other's staging folders."""
    import fcntl
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def key_view(key):
    """The owner-side key view (what `proteus key show KEY --json` prints)
    from a proteus-key/1 JSON object; a key view passes through."""
    if "groups" in key and "real" in key:
        return key
    parts = key.get("parts", [])
    real = [p["file"] for p in parts]
    groups = [{"real": p["file"], "sentinels": list(p.get("sentinels", []))} for p in parts]
    return {"n": len(parts), "k": int(key.get("k", 0)), "real": real,
            "files": list(key.get("files", [])), "groups": groups}


def obfuscate(model, out_dir, k, seed, sentinels=SENTINELS, extra=(), secret=None):
    """Runs `proteus obfuscate` into out_dir/bucket and out_dir/key.json
    (cached: an existing complete out_dir is reused).  Returns (bucket, key
    view)."""
    with cache_lock(out_dir):
        return _obfuscate_locked(model, out_dir, k, seed, sentinels, extra, secret)


def _obfuscate_locked(model, out_dir, k, seed, sentinels, extra, secret):
    bucket = os.path.join(out_dir, "bucket")
    keyp = os.path.join(out_dir, "key.json")
    if not (os.path.exists(keyp) and os.path.exists(os.path.join(bucket, "manifest.json"))):
        tmp = out_dir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        cmd = [PROTEUS, "obfuscate", model, "-o", os.path.join(tmp, "bucket"), "--key",
               os.path.join(tmp, "key.json"), "-k", str(k), "--seed", str(seed), "--no-probe", "--allow-weak", "--weightless",
               "--key-secret", secret or secret_file(), *extra]
        if k > 0:
            cmd += ["--sentinels", sentinels]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    view = os.path.join(out_dir, "view.json")
    if not os.path.exists(view):
        r = subprocess.run([PROTEUS, "key", "show", keyp, "--json", "--key-secret", secret or secret_file()],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"proteus key show {keyp}: {r.stderr.strip()}")
        with open(view + ".tmp", "w") as f:
            f.write(r.stdout)
        os.replace(view + ".tmp", view)
    with open(view) as f:
        return bucket, key_view(json.load(f))


def secret_file(who="attacker"):
    """A key secret (32 bytes, fixed so that buckets are reproducible): the
    attacker's own, sealing his zoo keys, or the stand-in owner's of the
    evaluation buckets (scripts/confidentiality), which no attack reads."""
    p = os.path.join(CACHE, f"{who}.secret")
    if not os.path.exists(p):
        os.makedirs(CACHE, exist_ok=True)
        with open(p + ".tmp", "wb") as f:
            f.write(hashlib.sha256(f"proteus audit: the {who}'s key secret".encode()).digest())
        os.replace(p + ".tmp", p)
    return p


class Bucket:
    """One parsed bucket with its (attacker's own, or owner's) labels."""

    def __init__(self, name, graphs, key=None):
        self.name = name
        self.family = family(name)
        self.graphs = graphs
        self.key = key
        self.label = {}   # file -> 0 real / 1 sentinel
        self.group = {}   # file -> group index
        if key:
            for gi, g in enumerate(key["groups"]):
                self.label[g["real"]] = 0
                self.group[g["real"]] = gi
                for s in g["sentinels"]:
                    self.label[s] = 1
                    self.group[s] = gi

    def reals(self):
        return [g for g in self.graphs if self.label.get(g.file) == 0]

    def sentinels(self):
        return [g for g in self.graphs if self.label.get(g.file) == 1]


def _parse_job(args):
    name, bucket, key, pkl = args
    graphs = F.read_bucket(bucket)
    with open(pkl + ".tmp", "wb") as f:
        pickle.dump((name, graphs, key), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(pkl + ".tmp", pkl)
    return pkl


def build_buckets(models, k, seed, tag, jobs=2, sentinels=SENTINELS, log=None, rehydrate=False, secret=None,
                  generator=None):
    """Obfuscates every model (k sentinels, seed) into the cache and parses
    it; returns [Bucket].  Cached.  With rehydrate, each model is first
    given seeded random weights (proteus rehydrate), and the bucket files
    are deleted once parsed (only their statistics are kept)."""
    cd = cache_dir()
    jobs_todo, pkls, cleanup, pending = [], [], [], []
    for m in models:
        name = os.path.basename(m)[:-5]
        od = os.path.join(cd, "buckets", f"{tag}", name)
        os.makedirs(os.path.dirname(od), exist_ok=True)
        pkl = os.path.join(cd, "parsed", f"{tag}-v{PARSE_VERSION}", name + ".pkl")
        os.makedirs(os.path.dirname(pkl), exist_ok=True)
        pkls.append(pkl)
        if not os.path.exists(pkl):
            pending.append((m, name, od, pkl))

    def make(item):
        m, name, od, pkl = item
        if log:
            log(f"zoo: obfuscating {name} (-k {k} --seed {seed}{', rehydrated' if rehydrate else ''}"
                f"{', ' + sentinels if k > 0 and sentinels != SENTINELS else ''})")
        src = m
        made = []
        if rehydrate:
            src = os.path.join(cd, "rehydrated", name + ".onnx")
            os.makedirs(os.path.dirname(src), exist_ok=True)
            r = subprocess.run([PROTEUS, "rehydrate", m, src, "--seed", str(seed)], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"proteus rehydrate {m}: {r.stderr.strip()}")
            made.append(src)
        bucket, key = obfuscate(src, od, k, seed, sentinels, secret=secret,
                                extra=("--generator", generator) if generator and k > 0 else ())
        if rehydrate:
            made.append(bucket)
        return (name, bucket, key, pkl), made

    # obfuscation runs as subprocesses: threads are enough to run `jobs` at once
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, jobs)) as ex:
        for job, made in ex.map(make, pending):
            jobs_todo.append(job)
            cleanup += made
    if jobs_todo:
        if jobs > 1 and len(jobs_todo) > 1:
            with ProcessPoolExecutor(jobs) as ex:
                list(ex.map(_parse_job, jobs_todo))
        else:
            for j in jobs_todo:
                _parse_job(j)
    for c in cleanup:
        if os.path.isdir(c):
            shutil.rmtree(c, ignore_errors=True)
        elif os.path.exists(c):
            os.remove(c)
    out = []
    for pkl in pkls:
        with open(pkl, "rb") as f:
            name, graphs, key = pickle.load(f)
        out.append(Bucket(name, graphs, key))
    return out


class Zoo:
    """The attacker's labelled reference buckets, possibly with some model
    families left out (exclude)."""

    def __init__(self, buckets, exclude=()):
        ex = {family(e) for e in exclude}
        self.excluded = sorted(ex)
        self.buckets = [b for b in buckets if b.family not in ex]

    def without(self, exclude):
        z = Zoo(self.buckets, exclude)
        z.excluded = sorted(set(self.excluded) | {family(e) for e in exclude})
        return z

    def families(self):
        return sorted({b.family for b in self.buckets})

    def reals(self):
        return [(b.family, g) for b in self.buckets for g in b.reals()]

    def sentinels(self):
        return [(b.family, g) for b in self.buckets for g in b.sentinels()]


_ZOO = {}


def gen_tag(sentinels, generator=None):
    """Cache tag of a sentinel generator ('' for the random baseline, whose
    caches keep their old names)."""
    if sentinels == "random":
        return ""
    if not generator:
        return f"-{sentinels}"
    with open(generator, "rb") as f:
        return f"-{sentinels}-{hashlib.sha256(f.read()).hexdigest()[:10]}"


# The learned generator costs 0.4 s a sentinel on an idle core of this
# machine (random: milliseconds), so its zoo is smaller: the op17 file of
# each family (op13 and dyn files are the same architectures) with
# LEARNED_ZOO_K sentinels.
LEARNED_ZOO_K = 1


def zoo_models(sentinels=SENTINELS, without=()):
    ms = [m for m in corpus_models() if family(m) not in set(without)]
    if sentinels == "random":
        return ms
    return [m for m in ms if m.endswith("-op17.onnx") and "-dyn" not in os.path.basename(m)]


def load_zoo(exclude=(), jobs=2, log=None, k=None, seed=TRAIN_SEED, sentinels=SENTINELS, generator=None, without=()):
    """The default zoo: every corpus model, obfuscated with k sentinels at
    the attacker's seed (by the given generator; see LEARNED_ZOO_K).  Built
    on first use (a minute or two with random sentinels).  without: families
    never obfuscated for it (those a generator was trained without: the
    attacker's zoo then holds only what that generator saw)."""
    if k is None:
        k = TRAIN_K if sentinels == "random" else LEARNED_ZOO_K
    tag = gen_tag(sentinels, generator)
    kk = (k, seed, tag, tuple(sorted(without)))
    if kk not in _ZOO:
        _ZOO[kk] = build_buckets(zoo_models(sentinels, without), k, seed, f"train-k{k}-s{seed}{tag}", jobs=jobs,
                                 log=log, sentinels=sentinels, generator=generator)
    return Zoo(_ZOO[kk], exclude)


def default_sentinels():
    """The generator `proteus obfuscate` uses without --sentinels (from its
    help: 'NAME (the default)')."""
    r = subprocess.run([PROTEUS, "obfuscate", "--help"], capture_output=True, text=True)
    m = re.search(r"(\w+) \(the default\)", r.stdout + r.stderr)
    return m.group(1) if m else SENTINELS


GENERATOR_INPUTS = ("corpus/models", "build/realworld")
# held out of data/generator/default.pxg (data/generator/README.md)
GENERATOR_HOLDOUT = ("nudenet-320n", "ppocrv5-det", "ppocrv5-rec")


def generator_without(families, log=None):
    """A learned-generator model trained as data/generator/default.pxg is,
    with the given families left out too (proteus train-generator
    --exclude-family); cached by the binary stamp and the family list."""
    fams = sorted(set(families) | set(GENERATOR_HOLDOUT))
    name = hashlib.sha256(",".join(fams).encode()).hexdigest()[:12]
    p = os.path.join(cache_dir(), "generators", name + ".pxg")
    with cache_lock(p):
        if not os.path.exists(p):
            _train_generator(p, fams, log)
    return p


def _train_generator(p, fams, log):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    dirs = [os.path.join(ROOT, d) for d in GENERATOR_INPUTS if os.path.isdir(os.path.join(ROOT, d))]
    cmd = [PROTEUS, "train-generator", *dirs, "-o", p + ".tmp"]
    for f in fams:
        cmd += ["--exclude-family", f]
    if log:
        log(f"generator: training without {', '.join(fams)}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-500:]}")
    os.replace(p + ".tmp", p)


def log_stderr(msg):
    print(msg, file=sys.stderr, flush=True)


# Small CNNs the attacker rehydrates to learn weight statistics of real
# subgraphs and of the sentinels proteus makes for a model that has weights.
WEIGHTS_ZOO = ["squeezenet1_1-op17", "mobilenet_v2-op17", "mnasnet1_0-op17", "resnet18-op17"]


def load_weights_zoo(exclude=(), jobs=1, log=None, k=None, seed=TRAIN_SEED, sentinels=SENTINELS, generator=None):
    if k is None:
        k = TRAIN_K if sentinels == "random" else LEARNED_ZOO_K
    tag = gen_tag(sentinels, generator)
    kk = ("weights", k, seed, tag)
    if kk not in _ZOO:
        models = [m for m in corpus_models() if os.path.basename(m)[:-5] in WEIGHTS_ZOO]
        _ZOO[kk] = build_buckets(models, k, seed, f"weights-k{k}-s{seed}{tag}", jobs=jobs, log=log, rehydrate=True,
                                 sentinels=sentinels, generator=generator)
    return Zoo(_ZOO[kk], exclude)
