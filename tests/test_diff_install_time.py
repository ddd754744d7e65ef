"""Release diff, second generation (issue 9): binaries changed vs added, the install-code closure,
code vs data, runtime injection. Each bypass named in the issue is a test here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import DiffResult, diff_packages
from gatekeeper.policy import Policy, parse_policy
from tests._support.tarballs import make_tgz

ELF_X64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(100)
ELF_ARM64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(100)


def manifest(**fields: Any) -> str:
    return json.dumps({"name": "demo", "version": "1.0.0", **fields}, indent=2) + "\n"


def pair(
    tmp: Path, base: dict[str, str | bytes], changes: dict[str, str | bytes | None], policy: Policy | str | None = None
) -> DiffResult:
    """Diff `base` files against them with `changes` applied (None removes) and the version bumped."""
    cand = {**base}
    for k, v in changes.items():
        if v is None:
            cand.pop(k, None)
        else:
            cand[k] = v
    if "package.json" not in changes:
        cand["package.json"] = str(base["package.json"]).replace('"1.0.0"', '"1.0.1"', 1)
    b = make_tgz(base, tmp / "base.tgz")
    c = make_tgz(cand, tmp / "cand.tgz")
    pol = parse_policy(policy) if isinstance(policy, str) else policy or Policy()
    limits = pol.diff.limits
    return diff_packages(read_package(b, limits), read_package(c, limits), pol)


def rules(result: DiffResult) -> list[str]:
    return [f.rule for f in result.findings]


# ------------------------------------------------------------------ item 5: binaries


def test_binary_rebuilt_at_the_same_path_is_changed_not_added(tmp_path: Path) -> None:
    """The bypass of meaning: a prebuilt binary rebuilt in place was reported as a new binary dropped in."""
    base = {"package.json": manifest(), "prebuilds/linux-x64/addon.node": ELF_X64}
    [f] = pair(tmp_path, base, {"prebuilds/linux-x64/addon.node": ELF_X64 + b"rebuilt"}).findings
    assert f.rule == "executable-binary-changed" and f.blocks and "same path" in f.message
    assert f.file == "prebuilds/linux-x64/addon.node"


def test_binary_of_another_architecture_or_over_a_non_binary_is_added(tmp_path: Path) -> None:
    base = {"package.json": manifest(), "bin/tool": ELF_X64, "lib/data.bin": b"\0\1\2"}
    result = pair(tmp_path, base, {"bin/tool": ELF_ARM64, "lib/data.bin": ELF_X64})
    assert rules(result) == ["executable-binary-added", "executable-binary-added"]
    assert "replacing ELF machine 62" in result.findings[0].message


def test_binary_changed_is_approvable_by_path(tmp_path: Path) -> None:
    base = {"package.json": manifest(), "addon.node": ELF_X64}
    result = pair(tmp_path, base, {"addon.node": ELF_X64 + b"x"}, "approve: {files: [addon.node]}")
    assert rules(result) == ["approved-change"]
