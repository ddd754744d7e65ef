"""The release plan as data (gatekeeper/steps/plan.py): workspaces of npm, yarn and pnpm layouts, folder lists and
globs, changesets' publish plan, dependency order; hostile workspace files refused. Real files in a temp repo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.errors import ConfigError
from gatekeeper.steps.plan import read_plan


def pkg(root: Path, folder: str, name: str, version: str = "1.0.0", **fields: Any) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "package.json").write_text(json.dumps({"name": name, "version": version, **fields}))


def repo(tmp_path: Path, root_fields: dict[str, Any] | None = None) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "package.json").write_text(json.dumps({"name": "root", "private": True, **(root_fields or {})}))
    pkg(root, "packages/app", "app", dependencies={"lib": "^1.0.0"})
    pkg(root, "packages/lib", "lib", peerDependencies={"core": "*"})
    pkg(root, "packages/core", "core")
    pkg(root, "packages/internal", "internal", private=True)
    pkg(root, "tools/cli", "cli", optionalDependencies={"app": "1.0.0"})
    return root


def names(plan: Any) -> list[str]:
    return [p.name for p in plan.packages]


def test_the_default_is_no_plan(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": ["packages/*"]})
    assert read_plan("", root, workspace=root) is None
    assert read_plan("  \n", root, workspace=root) is None


def test_npm_workspaces_in_dependency_order_without_private(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": ["packages/*", "tools/*"]})
    plan = read_plan("workspaces", root, workspace=root)
    assert plan is not None and plan.source == "workspaces"
    assert names(plan) == ["core", "lib", "app", "cli"]  # each after what it depends on
    assert plan.left_out == [{"folder": "packages/internal", "name": "internal", "why": "private: true"}]
    assert dict((p.name, p.depends_on) for p in plan.packages)["cli"] == ("app",)
    assert plan.packages[0].folder == "packages/core"


def test_yarn_workspaces_object_and_negation(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": {"packages": ["packages/*", "!packages/app"]}})
    plan = read_plan("workspaces", root, workspace=root)
    assert plan is not None and names(plan) == ["core", "lib"]


def test_pnpm_workspace_yaml_wins_and_is_read_safely(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": ["tools/*"]})
    (root / "pnpm-workspace.yaml").write_text("packages:\n  - 'packages/**'\n  - '!**/internal'\ncatalog:\n  x: ^1\n")
    plan = read_plan("workspaces", root, workspace=root)
    assert plan is not None and names(plan) == ["core", "lib", "app"]
    (root / "pnpm-workspace.yaml").write_text("packages: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_plan("workspaces", root, workspace=root)


def test_folder_list_with_globs_relative_to_the_root(tmp_path: Path) -> None:
    ws = tmp_path
    root = repo(tmp_path)
    plan = read_plan("packages/app\n# a comment\npackages/l*\n", root, workspace=ws)
    assert plan is not None and plan.source == "list"
    assert names(plan) == ["lib", "app"] and plan.packages[0].folder == "repo/packages/lib"


@pytest.mark.parametrize("glob", ["../outside", "/etc", "packages/../../x", "packages\\app"])
def test_globs_that_leave_the_repository_are_refused(tmp_path: Path, glob: str) -> None:
    root = repo(tmp_path)
    with pytest.raises(ConfigError, match="not a folder pattern inside the repository"):
        read_plan(glob, root, workspace=root)


def test_a_symlink_out_of_the_repository_is_not_followed(tmp_path: Path) -> None:
    root = repo(tmp_path)
    outside = tmp_path / "outside"
    pkg(outside, "evil", "evil")
    os.symlink(outside / "evil", root / "packages" / "evil")
    plan = read_plan("packages/*", root, workspace=root)
    assert plan is not None and "evil" not in names(plan)
    (root / "packages/core/package.json").unlink()
    os.symlink(outside / "evil" / "package.json", root / "packages/core/package.json")
    with pytest.raises(ConfigError, match="outside the repository"):
        read_plan("packages/core", root, workspace=root)


def test_hostile_manifests_are_refused(tmp_path: Path) -> None:
    root = repo(tmp_path)
    pkg(root, "bad/name", "../../etc")
    with pytest.raises(ConfigError, match="no valid package name"):
        read_plan("bad/name", root, workspace=root)
    pkg(root, "bad/version", "ok", version="latest")
    with pytest.raises(ConfigError, match="no valid version"):
        read_plan("bad/version", root, workspace=root)
    (root / "bad/huge").mkdir(parents=True)
    (root / "bad/huge/package.json").write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than"):
        read_plan("bad/huge", root, workspace=root)
    pkg(root, "bad/dup", "core")
    with pytest.raises(ConfigError, match="Two workspace packages are named core"):
        read_plan("packages/core\nbad/dup", root, workspace=root)


def test_no_workspaces_or_nothing_to_publish_is_an_error(tmp_path: Path) -> None:
    root = repo(tmp_path)
    with pytest.raises(ConfigError, match=r"no package\.json `workspaces`"):
        read_plan("workspaces", root, workspace=root)
    with pytest.raises(ConfigError, match="no package to publish"):
        read_plan("packages/internal", root, workspace=root)
    with pytest.raises(ConfigError, match="match no folder"):
        read_plan("nothing/*", root, workspace=root)


def test_a_dependency_cycle_keeps_the_given_order(tmp_path: Path) -> None:
    root = tmp_path / "r"
    pkg(root, "x", "x", dependencies={"y": "1"})
    pkg(root, "y", "y", dependencies={"x": "1"})
    plan = read_plan("y\nx", root, workspace=root)
    assert plan is not None and names(plan) == ["y", "x"]


def changesets_plan(root: Path, entries: list[list[dict[str, Any]]], version: Any = 1) -> None:
    (root / "publish-plan.json").write_text(json.dumps({"version": version, "plan": entries}))


def test_changesets_publish_plan(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": ["packages/*"]})
    integrity = "sha256-" + "A" * 43 + "="  # changesets' pack writes sha256 SRIs
    changesets_plan(
        root,
        [
            [{"kind": "publish", "name": "app", "version": "1.0.0", "access": "public", "tag": "next"}],
            [
                {
                    "kind": "publish",
                    "name": "lib",
                    "version": "1.0.0",
                    "access": "restricted",
                    "tag": "latest",
                    "tarball": {"path": "packages/lib-1.0.0.tgz", "integrity": integrity},
                },
                {"kind": "tag-only", "name": "core", "version": "1.0.0"},
            ],
        ],
    )
    plan = read_plan("changesets", root, workspace=root)
    assert plan is not None and plan.source == "changesets"
    assert names(plan) == ["lib", "app"]  # the gate orders by the manifests, whatever the file says
    lib, app = plan.packages
    assert (lib.tag, lib.access, lib.integrity) == ("latest", "restricted", integrity)
    assert (app.tag, app.access, app.integrity) == ("next", "public", "")
    assert plan.tag_only == [{"name": "core", "version": "1.0.0"}]


@pytest.mark.parametrize(
    ("entries", "version", "match"),
    [
        ([[{"kind": "publish", "name": "app", "version": "1.0.0"}]], 2, "version '2'|version 2"),
        ([[{"kind": "publish", "name": "nope", "version": "1.0.0"}]], 1, "no workspace package"),
        ([[{"kind": "publish", "name": "app", "version": "9.9.9"}]], 1, "package.json says 1.0.0"),
        ([[{"kind": "publish", "name": "internal", "version": "1.0.0"}]], 1, "private"),
        ([[{"kind": "publish", "name": "app", "version": "1.0.0", "tag": "--registry=x"}]], 1, "not a dist-tag"),
        ([[{"kind": "unpublish", "name": "app", "version": "1.0.0"}]], 1, "has kind"),
        (
            [[{"kind": "publish", "name": "app", "version": "1.0.0", "tarball": {"integrity": "md5-x"}}]],
            1,
            "sha256/sha512",
        ),
    ],
)
def test_a_bad_changesets_plan_is_refused(tmp_path: Path, entries: Any, version: Any, match: str) -> None:
    root = repo(tmp_path, {"workspaces": ["packages/*"]})
    changesets_plan(root, entries, version)
    with pytest.raises(ConfigError, match=match):
        read_plan("changesets", root, workspace=root)


def test_the_changesets_plan_must_be_in_the_workspace(tmp_path: Path) -> None:
    root = repo(tmp_path, {"workspaces": ["packages/*"]})
    with pytest.raises(ConfigError, match="outside the workspace"):
        read_plan("changesets", root, workspace=root, changesets_plan="../plan.json")
    with pytest.raises(ConfigError, match="no publish plan"):
        read_plan("changesets", root, workspace=root, changesets_plan="missing.json")


# -- per-package policy sections (trust/policy.py `packages:`)


def test_a_package_section_replaces_approvals_and_adds_rules_for_that_package_only() -> None:
    from gatekeeper.trust.policy import parse_policy

    policy = parse_policy(
        "approve:\n  scripts:\n    postinstall: node top.js\nrules:\n  large-change: warn\n"
        "packages:\n  '@acme/native':\n    approve:\n      scripts:\n        install: node-gyp rebuild\n"
        "    rules:\n      large-change: block\n"
    )
    native = policy.for_package("@acme/native")
    assert native.approve.scripts == {"install": "node-gyp rebuild"}  # the top-level approval is not its
    assert native.rules == {"large-change": "block"} and native.packages == {}
    other = policy.for_package("@acme/other")
    assert other.approve.scripts == {"postinstall": "node top.js"} and other.rules == {"large-change": "warn"}
    assert other.packages == {}  # never another package's section


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("packages:\n  x:\n    rules:\n      no-such-rule: warn\n", "packages.x.rules.no-such-rule"),
        ("packages:\n  x:\n    rules:\n      check-failed: 'off'\n", "would lower a safety floor"),
        ("packages:\n  x:\n    diff:\n      baseline-tag: next\n", "unknown key"),
        ("packages:\n  '../evil':\n    rules: {}\n", "expected an npm package name"),
    ],
)
def test_a_bad_package_section_is_refused(text: str, match: str) -> None:
    from gatekeeper.errors import PolicyError
    from gatekeeper.trust.policy import parse_policy

    with pytest.raises(PolicyError, match=match):
        parse_policy(text)


def test_a_package_section_that_loosens_is_caught_by_the_trusted_policy(tmp_path: Path) -> None:
    """The trusted policy compares a package with its own section at the last release's commit."""
    from gatekeeper.trust.policy import parse_policy
    from gatekeeper.trust.trusted_policy import compare

    old = parse_policy("packages:\n  a:\n    approve:\n      dependencies: [x]\n")
    new = parse_policy("packages:\n  a:\n    approve:\n      dependencies: [x, evil]\n")
    loosened, _ = compare(old.for_package("a"), new.for_package("a"))
    assert loosened == ["`approve.dependencies` adds `evil`"]
    assert compare(old.for_package("b"), new.for_package("b")) == ([], [])  # b's policy did not change
    # the whole files differ: a policy-changed comparison of them counts the unranked section as a loosening
    assert compare(old, new)[0]


# -- the plan in the reports


def _plan_outcome() -> Any:
    from gatekeeper import report
    from gatekeeper.decision import Decision, GateResult
    from gatekeeper.findings import Finding, Severity

    blocked = Finding("lifecycle-script-added", Severity.BLOCK, "postinstall `node x.js` added", "package.json", 3)
    return report.Outcome(
        mode="publish",
        decision=Decision(False, 1, "blocked: c@1.0.1; nothing was published"),
        gates=[GateResult("a@1.0.1/diff", "pass"), GateResult("c@1.0.1/diff", "fail", [blocked])],
        plan={
            "source": "workspaces",
            "order": [],
            "left_out": [{"folder": "packages/internal", "name": "internal", "why": "private: true"}],
        },
        packages=[
            {"name": "a", "version": "1.0.1", "folder": "packages/a", "state": "allowed", "blocking": []},
            {
                "name": "c\x1b[2J",
                "version": "1.0.1",
                "folder": "packages/c",
                "state": "blocked",
                "blocking": ["lifecycle-script-added"],
            },
        ],
    )


def test_the_text_report_lists_the_plan_in_order_with_each_verdict() -> None:
    from gatekeeper.report.text import to_text

    text = to_text(_plan_outcome())
    assert text.splitlines()[0] == "npm-gatekeeper: the release plan (2 packages) blocked - NOT published"
    assert "  release plan (workspaces), in publish order:" in text
    assert "    1. a@1.0.1 [packages/a]: allowed" in text
    assert "2. c" in text and ": blocked (lifecycle-script-added)" in text
    assert "\x1b" not in text  # package text is made visible, never sent to the terminal
    assert "    left out: packages/internal (private: true)" in text
    assert "gate c@1.0.1/diff: fail" in text


def test_the_summary_has_the_plan_table() -> None:
    from gatekeeper.report.markdown import to_markdown

    md = to_markdown(_plan_outcome())
    assert md.startswith("## 🛑 npm-gatekeeper: the release plan (2 packages) blocked — NOT published")
    assert "### Release plan (workspaces), in publish order" in md
    assert "| 1 | `a@1.0.1` | `packages/a` | ✅ allowed (not published) |  |" in md
    assert "🛑 blocked | `lifecycle-script-added` |" in md
    assert "Left out: `packages/internal` (private: true)" in md


def test_the_plan_says_which_tool_packed_each_package() -> None:
    from gatekeeper.report.markdown import to_markdown
    from gatekeeper.report.text import to_text

    outcome = _plan_outcome()
    outcome.packages[0]["packed_by"] = "pnpm 11.29.0"
    assert "    1. a@1.0.1 [packages/a, packed by pnpm 11.29.0]: allowed" in to_text(outcome)
    md = to_markdown(outcome)
    assert "| 1 | `a@1.0.1` | `packages/a`, packed by pnpm 11.29.0 | ✅ allowed (not published) |  |" in md
    assert "| 2 | `c" in md and "`packages/c` | 🛑 blocked" in md  # none said: the folder alone
