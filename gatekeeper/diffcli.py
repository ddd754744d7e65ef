"""`gatekeeper diff CANDIDATE [--against BASELINE]`: the release diff for maintainers.

CANDIDATE and BASELINE are each a package directory (packed with `npm pack
--ignore-scripts` into a temp dir outside it), a `.tgz` file, or `name@version`
(`name` alone: its `latest`) fetched from the registry and verified (integrity,
registry signature). Without `--against`, the baseline is the candidate's last
release on the registry, chosen as the diff gate does. Exit codes: 0 allow,
1 block, 2 error. Formats: text, markdown, json (the action's report shape plus
a `diff` delta), sarif (2.1.0, for GitHub code scanning).
Entry point: `run_diff`; `add_diff_arguments` declares the flags.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__, report
from ._internal import npm as npm_cli
from ._internal.tarball import Package, read_package
from .config import PUBLIC_REGISTRY
from .decision import EXIT_ALLOW, EXIT_BLOCK, EXIT_ERROR, Decision, GateResult, apply_overrides, gate_status
from .diffing import DiffResult, diff_packages
from .errors import ConfigError, GatekeeperError
from .findings import Finding, Severity
from .gates import diff as diff_gate
from .policy import Policy, load_policy
from .rules import all_rules
from .secret import Secret

if TYPE_CHECKING:
    from ._internal.registry import RegistryClient

FORMATS = ("text", "json", "markdown", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SPEC = re.compile(r"^(?P<name>(?:@[a-z0-9][\w.~-]*/)?[a-z0-9][\w.~-]*)(?:@(?P<version>[^@/\s]+))?$", re.I)


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `diff` subcommand's arguments on `parser`."""
    parser.add_argument("candidate", help="package directory, .tgz file, or name@version on the registry")
    parser.add_argument("--against", metavar="BASELINE", default=None, help="baseline (default: the last release)")
    parser.add_argument(
        "--registry",
        default=None,
        help="registry URL (default: $NPM_CONFIG_REGISTRY or the public registry); "
        "a token is read from NODE_AUTH_TOKEN/NPM_TOKEN",
    )
    parser.add_argument("--policy", type=Path, default=None, help="policy file (default: none, safe defaults)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")


@dataclass
class _Loaded:
    """A package read from a dir/.tgz/registry spec, with the registry verification of it if fetched."""

    package: Package | None  # None: fetched, but its bytes failed the integrity check
    local: bool
    fetched: diff_gate.Baseline | None = None
    base_dir: Path | None = None


def run_diff(args: argparse.Namespace | Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `gatekeeper diff` (parsed args, or the argv after `diff`); prints the report; 0 allow, 1 block, 2 error."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(prog="gatekeeper diff")
        add_diff_arguments(parser)
        args = parser.parse_args(list(args))
    out = out or sys.stdout
    err = err or sys.stderr
    fmt = getattr(args, "format", "text") or "text"
    result: DiffResult | None = None
    findings: list[Finding] = []
    base_dir: Path | None = None
    try:
        policy = load_policy(args.policy, required=True) if args.policy else Policy()
        registry = _registry(args.registry)
        result, base_dir = _diff(args.candidate, args.against, registry, policy)
        findings = apply_overrides(result.findings, policy)
        gate = GateResult(diff_gate.NAME, gate_status(findings), findings)
        decision = (
            Decision(False, EXIT_BLOCK, "blocked by diff")
            if gate.status == "fail"
            else Decision(True, EXIT_ALLOW, "no blocking finding")
        )
    except GatekeeperError as exc:
        gate = GateResult(diff_gate.NAME, "error", [], exc.diagnostic().replace(" Nothing was published.", ""))
        decision = Decision(False, EXIT_ERROR, gate.error or "")
        if fmt in ("text", "markdown"):
            err.write(f"npm-gatekeeper diff: {gate.error}\n")
    outcome = report.Outcome(
        mode="diff",
        decision=decision,
        gates=[gate],
        package={"name": result.name, "version": result.version} if result else None,
        previous=result.baseline if result else None,
        error=gate.error,
    )
    if fmt == "json":
        data = report.to_json(outcome)
        data["diff"] = result.to_json() if result else None
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "sarif":
        out.write(json.dumps(to_sarif(findings, base_dir), indent=2, ensure_ascii=False) + "\n")
    elif result is not None:
        out.write(_markdown(result, findings, decision) if fmt == "markdown" else _text(result, findings, decision))
    out.flush()
    return decision.exit_code


class _LazyRegistry:
    """The registry client, made on first use (two local tarballs need no network, nor `requests`)."""

    def __init__(self, url: str | None) -> None:
        url = url or os.environ.get("NPM_CONFIG_REGISTRY") or PUBLIC_REGISTRY
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--registry {url!r} is not a URL", "Give the registry's full URL")
        self.url = url
        self._client: RegistryClient | None = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            from ._internal.registry import RegistryClient

            token = os.environ.get("NODE_AUTH_TOKEN") or os.environ.get("NPM_TOKEN") or ""
            self._client = RegistryClient(self.url, Secret(token) if token else None)
        return getattr(self._client, name)


def _registry_url(registry: RegistryClient) -> str:
    """The registry URL without making the client (a lazy one knows it already)."""
    return registry.url if isinstance(registry, _LazyRegistry) else diff_gate.registry_url_of(registry)


def _registry(url: str | None) -> RegistryClient:
    return _LazyRegistry(url)  # type: ignore[return-value]


def _diff(
    candidate_spec: str, against: str | None, registry: RegistryClient, policy: Policy
) -> tuple[DiffResult, Path | None]:
    candidate = _load(candidate_spec, registry, policy, side="candidate")
    cand = candidate.package
    pre = list(candidate.fetched.findings) if candidate.fetched else []
    if cand is None:  # fetched from the registry and failed its integrity check: nothing to diff
        info = candidate.fetched.info if candidate.fetched else {}
        result = DiffResult(str(info.get("name", "")), str(info.get("version", "")), None, findings=pre)
        return result, None
    if cand.unsafe or cand.manifest_error:
        result = diff_packages(None, cand, policy)
        result.findings[:0] = pre
        return result, candidate.base_dir
    if against is None:
        resolve = diff_gate.tree_resolver(_registry_url(registry), policy, None)
        result = diff_gate.diff_against_registry(
            registry, cand, policy, name=cand.name, check_exists=candidate.local, resolver=resolve
        )
        result.findings[:0] = pre
        return result, candidate.base_dir
    baseline = _load(against, registry, policy)
    fetched = baseline.fetched or diff_gate.Baseline(baseline.package, [], {})
    url = _registry_url(registry)
    resolve = diff_gate.tree_resolver(url, policy, None)
    result = diff_gate.combine(fetched, cand, policy, pre, registry_url=url, resolver=resolve)
    if baseline.fetched is None and baseline.package is not None:
        result.baseline = {"name": baseline.package.name, "version": baseline.package.version, "source": against}
    result.baseline = {**(result.baseline or {}), "reason": "--against"}
    return result, candidate.base_dir


def _load(spec: str, registry: RegistryClient, policy: Policy, side: str = "baseline") -> _Loaded:
    """A package directory, a tarball file, or name[@version] from the registry."""
    path = Path(spec).expanduser()
    limits = policy.diff.limits
    if path.is_dir():
        if not (path / "package.json").is_file():
            raise ConfigError(f"{spec} is a directory without package.json", "Point at the package's folder")
        tmp = npm_cli.private_tempdir(path.resolve(), "gatekeeper-diff-")
        try:
            packed = npm_cli.pack(path.resolve(), tmp)
            pkg = read_package(packed.path, limits, label=f"{spec} (packed)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return _Loaded(pkg, True, base_dir=path)
    if path.is_file():
        return _Loaded(read_package(path, limits, label=path.name), True)
    if spec.endswith((".tgz", ".tar.gz", ".tar")) or "/" in spec.lstrip("@").split("/", 1)[-1]:
        raise ConfigError(f"{spec} does not exist", "Give a package directory, a .tgz file or name@version")
    m = _SPEC.match(spec)
    if m is None:
        raise ConfigError(f"{spec!r} is neither a path nor name@version", "Give a directory, a .tgz, or name@version")
    name, version = m.group("name"), m.group("version")
    packument = registry.packument(name)
    if packument is None:
        raise ConfigError(f"{name} is not on the registry {registry.base_url}", "Check the name and --registry")
    if version is None or version in (packument.get("dist-tags") or {}):
        tag = version or "latest"
        version = (packument.get("dist-tags") or {}).get(tag)
        if not isinstance(version, str):
            raise ConfigError(f"{name} has no dist-tag {tag!r}", "Name a version: name@1.2.3")
    if version not in (packument.get("versions") or {}):
        raise ConfigError(f"{name}@{version} is not published on {registry.base_url}", "Name a published version")
    fetched = diff_gate.fetch_release(registry, packument, name, version, policy, side=side)
    return _Loaded(fetched.package, False, fetched)


# ---------------------------------------------------------------- output


def _findings_text(findings: list[Finding]) -> list[str]:
    order = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
    lines = []
    for f in sorted(findings, key=lambda f: order[f.severity]):
        where = f" {f.file}" + (f":{f.line}" if f.line else "") if f.file else ""
        lines.append(f"  [{f.severity.value}] {f.rule}{where}: {f.message}")
    return lines


def _text(result: DiffResult, findings: list[Finding], decision: Decision) -> str:
    head = "ALLOW" if decision.allow else "BLOCK"
    lines = [f"npm-gatekeeper diff: {head} (exit {decision.exit_code})", "", result.to_text().rstrip("\n")]
    if result.baseline:
        b = result.baseline
        lines.append(
            f"baseline: {b.get('name')}@{b.get('version')} ({b.get('reason', '')}; integrity "
            f"{'ok' if b.get('integrity_ok', True) else 'MISMATCH'}; signature {b.get('signature', 'n/a')})"
        )
    lines += ["", f"findings ({len(findings)}):" if findings else "findings: none"]
    lines += _findings_text(findings)
    return "\n".join(lines) + "\n"


def _markdown(result: DiffResult, findings: list[Finding], decision: Decision) -> str:
    icon = "✅ allow" if decision.allow else "🛑 block"
    lines = [f"## npm-gatekeeper diff: {icon}", "", result.to_markdown()]
    if findings:
        lines += ["### Findings", "", "| Severity | Rule | Where | Message |", "| --- | --- | --- | --- |"]
        order = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}
        for f in sorted(findings, key=lambda f: order[f.severity]):
            where = f"`{f.file}`" + (f":{f.line}" if f.line else "") if f.file else ""
            message = f.message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {f.severity.value} | `{f.rule}` | {where} | {message} |")
        lines.append("")
    else:
        lines += ["No findings.", ""]
    return "\n".join(lines)


_LEVEL = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "note"}


def to_sarif(findings: list[Finding], base_dir: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the findings (locations relative to the cwd when the candidate is a directory)."""
    registry = all_rules()
    used = sorted({f.rule for f in findings})
    rules = []
    for rid in used:
        r = registry.get(rid)
        entry: dict[str, Any] = {"id": rid, "name": rid.replace("-", " ").title().replace(" ", "")}
        if r is not None:
            entry["shortDescription"] = {"text": r.title}
            entry["help"] = {"text": r.fix}
            entry["defaultConfiguration"] = {"level": _LEVEL[r.severity]}
        rules.append(entry)
    prefix = ""
    if base_dir is not None:
        try:
            rel = base_dir.resolve().relative_to(Path.cwd().resolve())
            prefix = "" if str(rel) == "." else rel.as_posix() + "/"
        except ValueError:
            prefix = ""
    results = []
    for f in findings:
        region = {"startLine": f.line} if f.line else {"startLine": 1}
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": used.index(f.rule),
                "level": _LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": prefix + (f.file or "package.json")},
                            "region": region,
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "npm-gatekeeper",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
