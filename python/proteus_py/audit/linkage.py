"""Threat-model class 12: several buckets of one owner.

The attacker holds bucket A and other buckets B of the same owner (another
model, the same model again, a second optimizer's copy) and tries to line
them up.  Everything proteus draws from the owner's streams (file names,
sentinels) must differ between buckets; only what the model itself repeats
(real subgraphs, real weights) may recur.  This module measures, for A
against each B:

  shared_names         file names present in both buckets;
  identical_files      files of A whose bytes equal a file of B (sha256);
  identical_structure  files of A whose structure (operators, topology,
                       attributes, shapes: features.wl_hash) equals a file
                       of B's; with the keys split into real/sentinel pairs,
                       so that recurring sentinels (drawn from one stream)
                       stand out from recurring real blocks;
  leaked_key           "one leaked key": given B's key, the files of A the
                       attacker names as real (A files named like a real file
                       of B, or byte-identical to one); scored with A's key:
                       how many real files of A that names, how many wrong.

Run it as part of `proteus audit BUCKET --key KEY --link OTHER [--link-key
OTHER_KEY]` (the C command opens the keys), or on key views directly:

  python -m proteus_py.audit.linkage A B [--key-a VIEW.json] [--key-b VIEW.json] [--json]

where a view is what `proteus key show KEY --json` prints."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from . import features as F


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class BucketFacts:
    """What the linkage attack reads of one bucket: its file names (manifest
    order), each file's sha256 and structure hash."""

    def __init__(self, bucket):
        self.bucket = bucket
        self.files = F.bucket_files(bucket)
        self.sha = {f: _sha256(os.path.join(bucket, f)) for f in self.files}
        self.structure = {}
        for f in self.files:
            sg = F.read(os.path.join(bucket, f), stat=False)
            self.structure[f] = None if sg.parse_error else F.wl_hash(sg, with_shapes=True)


def _facts(b):
    return b if isinstance(b, BucketFacts) else BucketFacts(b)


def _real(view):
    return set(view.get("real", [])) if view else set()


def link(bucket_a, bucket_b, key_a=None, key_b=None):
    """Lines bucket A up with bucket B.  bucket_*: a directory or BucketFacts;
    key_*: key views (dicts) or None.  Returns a dict (JSON-ready)."""
    a, b = _facts(bucket_a), _facts(bucket_b)
    names_b = set(b.files)
    sha_b = {}
    for f, h in b.sha.items():
        sha_b.setdefault(h, []).append(f)
    struct_b = {}
    for f, h in b.structure.items():
        if h is not None:
            struct_b.setdefault(h, []).append(f)
    shared = sorted(f for f in a.files if f in names_b)
    identical = sorted(f for f in a.files if a.sha[f] in sha_b)
    same_struct = sorted(f for f in a.files if a.structure[f] is not None and a.structure[f] in struct_b)
    out = {
        "bucket": os.path.abspath(a.bucket), "other": os.path.abspath(b.bucket),
        "files": len(a.files), "other_files": len(b.files),
        "shared_names": len(shared), "identical_files": len(identical),
        "identical_structure": len(same_struct),
        "examples": {"shared_names": shared[:5], "identical_files": identical[:5]},
    }
    real_a, real_b = _real(key_a), _real(key_b)
    if key_a and key_b:
        # which kind of file of A matches which kind of B's (real/sentinel)
        pairs = {"real-real": 0, "real-sentinel": 0, "sentinel-real": 0, "sentinel-sentinel": 0}
        for f in same_struct:
            ka = "real" if f in real_a else "sentinel"
            for g in struct_b[a.structure[f]]:
                pairs[f"{ka}-{'real' if g in real_b else 'sentinel'}"] += 1
        out["structure_pairs"] = pairs
    if key_b:
        # one leaked key: B's real names and B's real bytes, looked for in A
        sha_real_b = {b.sha[f] for f in real_b if f in b.sha}
        by_name = {f for f in a.files if f in real_b}
        by_bytes = {f for f in a.files if a.sha[f] in sha_real_b}
        guess = by_name | by_bytes
        lk = {"guessed": len(guess), "by_name": len(by_name), "by_bytes": len(by_bytes)}
        if key_a:
            lk["real_named"] = len(guess & real_a)
            lk["wrong"] = len(guess - real_a)
            lk["n"] = len(real_a)
        out["leaked_key"] = lk
    out["linked"] = bool(shared or identical)
    return out


def link_all(bucket, others, key=None, other_keys=None, log=None):
    """link() of bucket against each of others (other_keys: one view or None
    per other).  Returns {"bucket", "attack": "linkage", "links": [...]}."""
    other_keys = list(other_keys or [])
    other_keys += [None] * (len(others) - len(other_keys))
    a = BucketFacts(bucket)
    links = []
    for o, ko in zip(others, other_keys):
        r = link(a, o, key, ko)
        links.append(r)
        if log:
            log(f"audit: linkage with {o}: {r['shared_names']} shared names, {r['identical_files']} identical files")
    return {"bucket": os.path.abspath(bucket), "attack": "linkage", "class": 12, "links": links}


def table(report):
    lines = [f"bucket: {report['bucket']}", "several buckets of one owner (threat class 12):", ""]
    for r in report["links"]:
        lines.append(f"against {r['other']} ({r['other_files']} files):")
        lines.append(f"  shared file names     {r['shared_names']:6d} of {r['files']}")
        lines.append(f"  identical files       {r['identical_files']:6d}")
        lines.append(f"  identical structure   {r['identical_structure']:6d}"
                     + (f"  (A-B pairs: " + ", ".join(f"{k} {v}" for k, v in r["structure_pairs"].items()) + ")"
                        if "structure_pairs" in r else ""))
        lk = r.get("leaked_key")
        if lk:
            if "real_named" in lk:
                lines.append(f"  with the other's key: names {lk['real_named']} of {lk['n']} real files "
                             f"({lk['wrong']} wrong guesses)")
            else:
                lines.append(f"  with the other's key: {lk['guessed']} files guessed real")
        lines.append("  LINKED: the buckets line up" if r["linked"] else "  not linked by names or bytes")
    return "\n".join(lines)


def _load_view(path):
    if not path:
        return None
    from . import zoo as Z
    with open(path) as f:
        return Z.key_view(json.load(f))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m proteus_py.audit.linkage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bucket")
    ap.add_argument("others", nargs="+")
    ap.add_argument("--key-a", help="key view of BUCKET (to score)")
    ap.add_argument("--key-b", action="append", default=[], help="key view of each other bucket, in order")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(sys.argv[1:] if argv is None else argv)
    for d in [a.bucket, *a.others]:
        if not os.path.isdir(d):
            print(f"proteus audit: {d}: not a bucket directory", file=sys.stderr)
            return 1
    if len(a.key_b) > len(a.others):
        ap.error("more --key-b than other buckets")
    rep = link_all(a.bucket, a.others, _load_view(a.key_a), [_load_view(p) for p in a.key_b])
    print(json.dumps(rep, indent=1) if a.json else table(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
