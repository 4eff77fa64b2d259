"""The docs tell the truth about where things are: every relative link in
the README and docs/ resolves, and the threat model kept in the repository
is the team's (../shared/docs/threat-model.md) when that copy is present."""
import os
import re

import pytest

from conftest import ROOT

DOCS = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f) for f in
                                             sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.relpath(d, ROOT) for d in DOCS])
def test_relative_links_resolve(doc):
    text = open(doc).read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        assert not target.startswith("/"), f"{doc}: absolute path {target}"
        assert os.path.exists(os.path.join(os.path.dirname(doc), target)), f"{doc}: broken link {target}"
    assert "/work/shared" not in text, f"{doc}: names a path outside the repository"


def test_threat_model_in_step():
    shared = os.path.join(ROOT, "..", "shared", "docs", "threat-model.md")
    if not os.path.exists(shared):
        pytest.skip("no shared/ beside the repository")
    assert open(os.path.join(ROOT, "docs", "threat-model.md")).read() == open(shared).read()
