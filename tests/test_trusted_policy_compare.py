"""Comparing the released commit's policy with the trusted one: every key is ranked, none slips through.

A released commit must not be able to approve its own change through a policy key the comparison does not
know (issue 8: "the released commit can never approve itself"). These tests mutate the policy directly,
key by key, so a key added to `gatekeeper.trust.policy` later is covered without editing this file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gatekeeper.trust.policy import Policy, parse_policy
from gatekeeper.trust.trusted_policy import _leaves, compare


def _mutated(policy: Policy, path: str) -> Policy:
    """`policy` with the leaf at `path` (yaml names) changed to another value of the same type."""
    parts = path.split(".")

    def change(obj: Any, keys: list[str]) -> Any:
        name = keys[0].replace("-", "_")
        value = getattr(obj, name)
        if len(keys) > 1:
            return dataclasses.replace(obj, **{name: change(value, keys[1:])})
        if isinstance(value, bool):
            new: Any = not value
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, str):
            new = value + "-changed"
        elif isinstance(value, list):
            new = [*value, "added@1.0.0"]
        elif isinstance(value, dict):
            new = {**value, "added": "warn" if name == "rules" else "added"}
        else:  # pragma: no cover - a new kind of value: make the test say so
            raise AssertionError(f"{path}: no mutation for {type(value).__name__}")
        return dataclasses.replace(obj, **{name: new})

    return change(policy, parts)


LEAVES = sorted(_leaves(Policy()))


@pytest.mark.parametrize("path", [p for p in LEAVES if p != "rules"])
def test_every_policy_key_that_changes_is_reported(path: str) -> None:
    base = Policy()
    loosened, tightened = compare(base, _mutated(base, path))
    assert loosened or tightened, f"a change of `{path}` went unnoticed"


def test_adding_an_install_script_approval_loosens() -> None:
    trusted = parse_policy("{}", source="trusted")
    released = parse_policy("approve:\n  install-scripts: ['evil-dep@1.0.0']\n", source="released")
    loosened, _ = compare(trusted, released)
    assert any("approve.install-scripts" in item and "evil-dep@1.0.0" in item for item in loosened)


def test_raising_a_network_budget_loosens_and_lowering_tightens() -> None:
    trusted = parse_policy("{}", source="trusted")
    raised = parse_policy("network:\n  max-packument-bytes: 999999999999\n", source="released")
    lowered = parse_policy("network:\n  max-packument-bytes: 1024\n", source="released")
    assert any("network.max-packument-bytes" in item for item in compare(trusted, raised)[0])
    assert compare(trusted, lowered) == ([], ["`network.max-packument-bytes` 67108864 -> 1024"])


def test_equal_policies_report_nothing() -> None:
    assert compare(Policy(), Policy()) == ([], [])


def test_an_unfindable_last_release_lets_the_defaults_decide_but_keeps_notify_and_watch(tmp_path) -> None:
    """Not found (no git history here): a released policy loosening a gate knob does not decide, the safe
    defaults do; its `notify`/`watch` sections (what happens after a publish) are kept, e.g. a monorepo's
    tag format, so the Release lands where watch looks for it."""
    from gatekeeper.trust.policy import parse_policy
    from gatekeeper.trust.trusted_policy import resolve

    text = "checks:\n  ignore: [lint]\nnotify:\n  tag-format: '{name}@{version}'\n"
    where = {"workspace": tmp_path, "policy_path": "p.yml", "sha": "a" * 40, "name": "x", "baseline": "1.0.0"}
    trust = resolve(parse_policy(text), **where)
    assert trust.how == "not found"
    assert trust.policy.checks.ignore == [] and trust.policy.notify.tag_format == "{name}@{version}"
    only_notify = parse_policy("notify:\n  tag-format: '{name}@{version}'\n")
    trust = resolve(only_notify, **where)
    assert trust.policy.notify.tag_format == "{name}@{version}" and "approvals not trusted" in trust.policy.source


def test_adding_a_release_file_loosens_and_dropping_one_tightens() -> None:
    """`commit.release-files` (issue 21): a file a release commit may change on top of the released commit."""
    trusted = parse_policy("{}", source="trusted")
    wider = parse_policy("commit:\n  release-files: [package.json, index.js]\n", source="released")
    loosened, _ = compare(trusted, wider)
    assert any("commit.release-files" in item and "index.js" in item for item in loosened)
    narrower = parse_policy("commit:\n  release-files: [package.json]\n", source="released")
    loosened, tightened = compare(trusted, narrower)
    assert not loosened and any("CHANGELOG.md" in item for item in tightened)


def test_requiring_oidc_and_naming_its_workflow_tighten_and_the_reverse_loosens() -> None:
    """Issue 23: `credential.mode: oidc` and a named `oidc-workflow` are tightenings (they were counted as
    loosenings, so with the last release's commit not found the defaults decided: a token could publish)."""
    oidc = parse_policy("credential:\n  mode: oidc\n  oidc-workflow: release.yml\n  provenance: always\n")
    loosened, tightened = compare(Policy(), oidc)
    assert loosened == []
    assert {t.split(" ")[0] for t in tightened} == {
        "`credential.mode`",
        "`credential.oidc-workflow`",
        "`credential.provenance`",
    }
    back, _ = compare(oidc, Policy())
    assert {x.split(" ")[0] for x in back} == {
        "`credential.mode`",
        "`credential.oidc-workflow`",
        "`credential.provenance`",
    }
    other = parse_policy("credential:\n  mode: oidc\n  oidc-workflow: nightly.yml\n  provenance: always\n")
    assert [x.split(" ")[0] for x in compare(oidc, other)[0]] == ["`credential.oidc-workflow`"]  # another workflow
    assert compare(Policy(), parse_policy("credential:\n  mode: token\n"))[0] != []  # never OIDC: looser


def test_with_the_anchor_missing_a_released_policy_that_adopts_oidc_still_applies(tmp_path) -> None:
    from gatekeeper.trust.trusted_policy import resolve

    released = parse_policy("credential:\n  mode: oidc\n  oidc-workflow: release.yml\n")
    where = {"workspace": tmp_path, "policy_path": "p.yml", "sha": "a" * 40, "name": "x", "baseline": "1.0.0"}
    trust = resolve(released, **where)
    assert trust.how == "not found"
    assert trust.policy.credential.mode == "oidc" and trust.policy.credential.oidc_workflow == "release.yml"


def test_the_anchor_prefers_verified_provenance_and_blocks_on_disagreement(tmp_path) -> None:
    """Issue 23, item 4, in a real git repository: the verified provenance's commit decides over gitHead and tags;
    gitHead or a tag for that version pointing elsewhere is a conflict."""
    from gatekeeper.trust.trusted_policy import find_release_commit
    from tests._support.workspace import commit_all, git, head_sha, make_package_repo

    ws = make_package_repo(tmp_path / "r", "x", "1.0.0")
    c0 = head_sha(ws)
    (ws / "CHANGELOG.md").write_text("c1\n")
    c1 = commit_all(ws, "c1")
    (ws / "CHANGELOG.md").write_text("c2\n")
    head = commit_all(ws, "c2")

    def anchor(**kw: Any) -> Any:
        return find_release_commit(ws, head, "x", "1.0.0", kw.pop("git_head", None), **kw)

    a = anchor(provenance_commit=c0, git_head=c0)
    assert (a.commit, a.how, a.conflicts) == (c0, "its verified provenance", ())
    assert anchor(git_head=c1).how == "the packument's gitHead of 1.0.0"
    assert anchor(provenance_commit=c0, git_head=c1).conflicts  # the record and the signature disagree
    git(ws, "tag", "v1.0.0", c1)
    assert "tag `v1.0.0` points at" in anchor(provenance_commit=c0).conflicts[0]
    assert anchor().commit is None and "no tag ruleset protects it" in anchor().notes[0]
    assert anchor(tag_rulesets=lambda tag: ["release tags"]).commit == c1
    assert anchor(tag_format="{name}@{version}", tag_rulesets=lambda tag: ["all"]).commit is None
