"""Lockfile review: real lockfiles written by npm against Verdaccio, plus the source shapes npm writes
for git/tarball/file/link dependencies (built as npm writes them, where no network source is reachable)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.diffing.lockfile import (
    LockfileApprovals,
    LockfileError,
    json_key_line,
    package_name_of,
    parse_npm_lockfile,
    review_lockfile,
)
from gatekeeper.findings import Severity
from tests.pr_support import PublishedDeps, published_deps  # noqa: F401 - a fixture

PUBLIC = "https://registry.npmjs.org/"
NONE = LockfileApprovals()


def npm_lock(tmp: Path, deps: PublishedDeps, *specs: str, omit_resolved: bool = False) -> bytes:
    """A lockfile written by `npm install --package-lock-only` against Verdaccio."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}), encoding="utf-8")
    flag = f"--omit-lockfile-registry-resolved={'true' if omit_resolved else 'false'}"
    proc = subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", flag, *specs],
        cwd=tmp,
        env=deps.npm_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return (tmp / "package-lock.json").read_bytes()


def lock(packages: dict[str, dict[str, Any]], version: int = 3) -> bytes:
    doc = {"name": "app", "version": "1.0.0", "lockfileVersion": version, "requires": True}
    doc["packages"] = {"": {"name": "app", "version": "1.0.0"}, **packages}
    return (json.dumps(doc, indent=2) + "\n").encode()


def review(base: bytes | None, head: bytes | None, registry: str = PUBLIC, approvals: LockfileApprovals = NONE):
    return review_lockfile("package-lock.json", base, head, registry_url=registry, approvals=approvals)


# ------------------------------------------------------------------------------------ real npm lockfiles


def test_new_dependency_with_install_script(tmp_path: Path, published_deps: PublishedDeps) -> None:  # noqa: F811
    deps = published_deps
    base = npm_lock(tmp_path / "base", deps, f"{deps.plain}@1.0.0")
    head = npm_lock(tmp_path / "head", deps, f"{deps.plain}@1.0.0", f"{deps.scripted}@1.0.0")
    [f] = review(base, head, deps.registry)
    assert f.rule == "lockfile-install-script" and f.severity is Severity.BLOCK
    assert f.evidence["package"] == deps.scripted and f.evidence["version"] == "1.0.0"
    assert f.evidence["resolved"].startswith(deps.registry)
    assert '"hasInstallScript": true' in head.decode().splitlines()[f.line - 1]  # type: ignore[operator]


def test_install_script_approvals_are_exact(tmp_path: Path, published_deps: PublishedDeps) -> None:  # noqa: F811
    deps = published_deps
    head = npm_lock(tmp_path / "head", deps, f"{deps.scripted}@1.0.0")
    for approved, severity in (
        ({deps.scripted}, Severity.INFO),
        ({f"{deps.scripted}@1.0.0"}, Severity.INFO),
        ({f"{deps.scripted}@2.0.0"}, Severity.BLOCK),
        ({"other"}, Severity.BLOCK),
    ):
        [f] = review(None, head, deps.registry, LockfileApprovals(install_scripts=frozenset(approved)))
        assert f.severity is severity, approved


def test_update_that_gains_an_install_script(tmp_path: Path, published_deps: PublishedDeps) -> None:  # noqa: F811
    deps = published_deps
    base = npm_lock(tmp_path / "base", deps, f"{deps.plain}@1.0.0")
    head = npm_lock(tmp_path / "head", deps, f"{deps.plain}@1.1.0")
    [f] = review(base, head, deps.registry)
    assert f.rule == "lockfile-install-script" and f"was {deps.plain}@1.0.0" in f.message
    assert review(head, head, deps.registry) == []  # nothing new


def test_lockfile_without_resolved_urls_installs_from_the_configured_registry(
    tmp_path: Path,
    published_deps: PublishedDeps,  # noqa: F811
) -> None:
    deps = published_deps
    head = npm_lock(tmp_path / "head", deps, f"{deps.scripted}@1.0.0", omit_resolved=True)
    assert "resolved" not in parse_npm_lockfile(head).text
    assert [f.rule for f in review(None, head, PUBLIC)] == ["lockfile-install-script"]


def test_resolved_from_another_registry_is_a_source_change(
    tmp_path: Path,
    published_deps: PublishedDeps,  # noqa: F811
) -> None:
    deps = published_deps
    head = npm_lock(tmp_path / "head", deps, f"{deps.plain}@1.0.0")
    [f] = review(None, head, PUBLIC)
    assert f.rule == "lockfile-source-changed" and "not the registry" in f.message
    assert '"resolved"' in head.decode().splitlines()[f.line - 1]  # type: ignore[operator]
    assert review(None, head, deps.registry) == []
    sources = LockfileApprovals(sources={deps.plain: f.evidence["resolved"]})  # type: ignore[dict-item]
    assert [x.severity for x in review(None, head, PUBLIC, sources)] == [Severity.INFO]


# ------------------------------------------------------------------------------------ source shapes

GIT = "git+ssh://git@github.com/evil/pkg.git#0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"version": "1.0.0", "resolved": GIT}, "git source"),
        ({"version": "1.0.0", "resolved": "https://evil.example/pkg-1.0.0.tgz"}, "tarball URL"),
        ({"version": "1.0.0", "resolved": "https://registry.npmjs.org/other/-/other-1.0.0.tgz"}, "tarball URL"),
        ({"version": "1.0.0", "resolved": "http://registry.npmjs.org/pkg/-/pkg-1.0.0.tgz"}, "tarball URL"),
        ({"version": "1.0.0", "resolved": "file:vendor/pkg-1.0.0.tgz"}, "local file"),
        ({"resolved": "../outside", "link": True}, "outside the repository"),
        ({"resolved": "/abs/path", "link": True}, "outside the repository"),
    ],
)
def test_sources_outside_the_registry(entry: dict[str, Any], why: str) -> None:
    [f] = review(None, lock({"node_modules/pkg": entry}))
    assert f.rule == "lockfile-source-changed" and f.severity is Severity.BLOCK and why in f.message


@pytest.mark.parametrize(
    "entry",
    [
        {"version": "1.0.0", "resolved": "https://registry.npmjs.org/pkg/-/pkg-1.0.0.tgz"},
        {"version": "1.0.0", "resolved": "https://registry.yarnpkg.com/pkg/-/pkg-1.0.0.tgz"},
        {"version": "1.0.0"},
        {"resolved": "packages/pkg", "link": True},
        {"version": "1.0.0", "inBundle": True},
    ],
)
def test_registry_sources_pass(entry: dict[str, Any]) -> None:
    assert review(None, lock({"node_modules/pkg": entry})) == []


def test_scoped_and_private_registry_hosts() -> None:
    scoped = {"version": "2.0.0", "resolved": "https://registry.npmjs.org/@s/pkg/-/pkg-2.0.0.tgz"}
    assert review(None, lock({"node_modules/@s/pkg": scoped})) == []
    private = "https://npm.corp.example/api/npm/{}/-/{}-1.0.0.tgz"
    base = lock({"node_modules/a": {"version": "1.0.0", "resolved": private.format("a", "a")}})
    head = lock(
        {
            "node_modules/a": {"version": "1.0.0", "resolved": private.format("a", "a")},
            "node_modules/b": {"version": "1.0.0", "resolved": private.format("b", "b")},
        }
    )
    assert review(base, head) == []  # the base already resolves from that registry host
    assert [f.rule for f in review(None, head)] == ["lockfile-source-changed"] * 2


def test_an_unchanged_source_is_not_reported_again() -> None:
    base = lock({"node_modules/pkg": {"version": "1.0.0", "resolved": GIT}})
    head = lock({"node_modules/pkg": {"version": "1.0.0", "resolved": GIT, "dev": True}})
    assert review(base, head) == []


def test_moved_entry_with_the_same_install_script_is_not_new() -> None:
    entry = {"version": "1.0.0", "integrity": "sha512-abc", "hasInstallScript": True}
    base = lock({"node_modules/a/node_modules/esb": entry})
    head = lock({"node_modules/esb": entry})
    assert review(base, head) == []
    changed = lock({"node_modules/esb": {**entry, "integrity": "sha512-other"}})
    assert [f.rule for f in review(base, changed)] == ["lockfile-integrity-changed", "lockfile-install-script"]


def test_same_version_with_another_integrity_blocks() -> None:
    entry = {"version": "1.0.0", "integrity": "sha512-abc", "resolved": "https://registry.npmjs.org/x/-/x-1.0.0.tgz"}
    base = lock({"node_modules/x": entry})
    [f] = review(base, lock({"node_modules/x": {**entry, "integrity": "sha512-evil"}}))
    assert f.rule == "lockfile-integrity-changed" and f.blocks and f.evidence["version"] == "1.0.0"
    assert (
        '"integrity"'
        in lock({"node_modules/x": {**entry, "integrity": "sha512-evil"}})
        .decode()
        .splitlines()[
            f.line - 1  # type: ignore[operator]
        ]
    )
    assert review(base, lock({"node_modules/x": {**entry, "version": "1.0.1", "integrity": "sha512-new"}})) == []


def test_path_through_the_tree_follows_node_resolution() -> None:
    from gatekeeper.diffing.lockfile import parse_npm_lockfile

    doc = json.loads(
        lock(
            {
                "node_modules/a": {"version": "1.0.0", "dependencies": {"b": "^1"}},
                "node_modules/a/node_modules/b": {"version": "1.1.0", "dependencies": {"c": "^1"}},
                "node_modules/b": {"version": "2.0.0"},
                "node_modules/c": {"version": "1.0.0", "hasInstallScript": True},
            }
        )
    )
    doc["packages"][""]["dependencies"] = {"a": "^1", "b": "^2"}
    parsed = parse_npm_lockfile(json.dumps(doc))
    assert parsed.path_to("node_modules/c") == ["a@1.0.0", "b@1.1.0", "c@1.0.0"]
    assert parsed.path_to("node_modules/b") == ["b@2.0.0"]


def test_alias_uses_the_real_package_name() -> None:
    head = lock({"node_modules/alias": {"name": "real", "version": "1.0.0", "hasInstallScript": True}})
    [f] = review(None, head, approvals=LockfileApprovals(install_scripts=frozenset({"real"})))
    assert f.severity is Severity.INFO and f.evidence["package"] == "real"


def test_v1_lockfile_is_reported_not_analysed() -> None:
    v1 = json.dumps({"name": "app", "lockfileVersion": 1, "dependencies": {"x": {"version": "1.0.0"}}}).encode()
    [f] = review(None, v1)
    assert f.rule == "lockfile-changed" and f.severity is Severity.WARN and "lockfileVersion 1" in f.message


def test_unreadable_lockfiles() -> None:
    with pytest.raises(LockfileError, match="not valid UTF-8 JSON"):
        review(None, b"{ nope")
    with pytest.raises(LockfileError, match="not a JSON object"):
        review(None, b"[1]")
    with pytest.raises(LockfileError, match="packages"):
        review(None, b'{"lockfileVersion": 3, "packages": []}')
    head = lock({"node_modules/x": {"version": "1.0.0", "hasInstallScript": True}})
    assert [f.rule for f in review(b"garbage", head)] == ["lockfile-install-script"]  # base unreadable = empty


def test_deleted_and_other_lockfiles() -> None:
    [deleted] = review(lock({}), None)
    assert deleted.rule == "lockfile-changed" and "deleted" in deleted.message
    for name in ("yarn.lock", "pnpm-lock.yaml", "bun.lock"):
        [f] = review_lockfile(f"web/{name}", b"a", b"b", registry_url=PUBLIC, approvals=NONE)
        assert f.rule == "lockfile-changed" and f.file == f"web/{name}" and "modified" in f.message
    [added] = review_lockfile("yarn.lock", None, b"x", registry_url=PUBLIC, approvals=NONE)
    assert "added" in added.message


def test_helpers() -> None:
    assert package_name_of("node_modules/a/node_modules/@s/b") == "@s/b"
    text = '{\n  "packages": {\n    "node_modules/a": {\n      "hasInstallScript": true\n    }\n  }\n}\n'
    assert json_key_line(text, ["packages", "node_modules/a", "hasInstallScript"]) == 4
    assert json_key_line(text, ["nope"]) is None
