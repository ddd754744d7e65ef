"""`gatekeeper diff CANDIDATE [--against BASELINE]`: the release diff for maintainers.

CANDIDATE and BASELINE are each a package directory (packed with `npm pack
--ignore-scripts` into a temp dir outside it), a `.tgz` file, or `name@version`
(`name` alone: its `latest`) fetched from the registry and verified (integrity,
registry signature). Without `--against`, the baseline is the candidate's last
release on the registry, chosen as the diff gate does. The registry is `--registry`,
else npm's own config (`_internal/npmrc.py`: env, project and user `.npmrc`,
`@scope:registry`). Exit codes: 0 allow, 1 block, 2 error (a file that is not a
readable npm tarball is an error, said in one paragraph naming the file). Formats:
text, markdown, json (the action's report shape, docs/schema/report.schema.json: the delta under `delta`,
plus `compared`), sarif (2.1.0).

Start-up matters here (a maintainer runs it by hand, CI runs it per package): modules
are imported where they are needed, so two local tarballs never load the registry
client, npm, YAML, cryptography or PyGithub.
Entry point: `run_diff`; `add_diff_arguments` declares the flags.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper._internal import terminal
from gatekeeper.errors import ConfigError, GatekeeperError, RegistryError
from gatekeeper.findings import Finding, Severity

if TYPE_CHECKING:
    from typing import Any, TextIO

    from gatekeeper._internal.npmrc import Registry, RegistryAuth
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper._internal.tarball import Package
    from gatekeeper.decision import Decision
    from gatekeeper.diffing import DiffResult
    from gatekeeper.gates.diff import Baseline
    from gatekeeper.trust.policy import Policy

FORMATS = ("text", "json", "markdown", "sarif")
#: Findings about the network path to the registry, not about the package: a mirror or proxy that answers
#: for registry.npmjs.org and strips its signatures (many companies' mirrors do). They still block (the
#: registry's copy is unverified), but the verdict says so and shows the content's own verdict beside it.
NETWORK_RULES = frozenset({"registry-signatures-missing"})
#: Their fix for `gatekeeper diff`, which publishes nothing (the rule's own fix speaks of publishing).
DIFF_FIXES = {
    "registry-signatures-missing": "The registry's copies could not be verified on this network path (a mirror "
    "or proxy answers for registry.npmjs.org without its signatures). The content verdict is shown apart. To "
    "diff without the registry, pack both versions where you trust the path (`npm pack name@1.2.3`, or your "
    "own release build) and diff the files: `gatekeeper diff name-1.2.4.tgz --against name-1.2.3.tgz` (only "
    "the content is judged then: no registry signature is checked).",
}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SPEC = re.compile(r"^(?P<name>(?:@[a-z0-9][\w.~-]*/)?[a-z0-9][\w.~-]*)(?:@(?P<version>[^@/\s]+))?$", re.I)
_TARBALL_SUFFIXES = (".tgz", ".tar.gz", ".tar")
_REMEDY_FILE = "Give a .tgz made by `npm pack`, a package directory, or name@version from the registry"

REGISTRY_HELP = (
    "registry URL. Default: npm's own config, as npm reads it: the environment (npm_config_registry), the "
    "project .npmrc (nearest folder up from here with package.json or node_modules, or its workspace root: "
    "npm prefix), the user .npmrc "
    "(npm_config_userconfig, else ~/.npmrc), the global config (npm_config_globalconfig, else "
    "$PREFIX/etc/npmrc: npm_config_prefix, else PREFIX, else derived from the node on PATH), npm's builtin "
    "npmrc; for a scoped name @scope/x its @scope:registry key wins; else "
    "https://registry.npmjs.org/. The registry used and where it came from are printed in the header. "
    "Its credential (never from this flag, never printed, sent only to that registry's origin): npm's "
    "//host[:port]/path/:_authToken (or :_auth, :username + :_password) entry for that URL in the same "
    "config files and npm_config_ variables, else NODE_AUTH_TOKEN, else NPM_TOKEN (these two only for a "
    "registry given by this flag, npm_config_registry or the default: never for one named by a config file)"
)


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `diff` subcommand's arguments on `parser`."""
    parser.add_argument(
        "candidate", help="what you would publish: a package directory, a .tgz file, or name@version on the registry"
    )
    parser.add_argument(
        "--against",
        metavar="BASELINE",
        default=None,
        help="what to compare with: a directory, a .tgz file or name@version (default: the candidate's last "
        "release on the registry, chosen as the action does: the dist-tag `latest`, or for a backport the "
        "highest version below the candidate)",
    )
    parser.add_argument("--registry", default=None, help=REGISTRY_HELP)
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="policy YAML file (default: none, the safe defaults; unlike the action, .github/npm-gatekeeper.yml "
        "is not read unless named here)",
    )
    parser.add_argument(
        "--package-manager",
        choices=("auto", "npm", "pnpm", "yarn", "bun"),
        default="auto",
        help="which tool packs a directory (as the action's `package-manager` input): auto (default: the "
        "repository root's packageManager field, else its lockfile, else npm), npm, pnpm, yarn (4.x) or bun; "
        "the pinned versions, no package script run",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default: for a terminal), markdown, json (report + delta) or sarif (2.1.0, code scanning)",
    )


@dataclass
class _Side:
    """One side of the comparison: what was asked for, what it is, and how it was checked."""

    spec: str
    kind: str  # directory | file | registry
    package: Package | None  # None: fetched, but its bytes failed the integrity check
    fetched: Baseline | None = None
    base_dir: Path | None = None
    registry: Registry | None = None
    packed_by: str = ""  # a directory packed by another tool than npm: "pnpm 11.29.0"

    @property
    def local(self) -> bool:
        return self.kind != "registry"

    def describe(self, note: str = "") -> str:
        """e.g. `ms-2.1.2.tgz (a local file, --against)`, `ms@2.1.2 from URL (integrity ok; signature verified)`."""
        extra = f", {note}" if note else ""
        if self.kind == "directory" and self.packed_by:
            return f"{self.spec} (a directory, packed by {self.packed_by}, scripts off{extra})"
        if self.kind == "directory":
            return f"{self.spec} (a directory, packed with npm pack --ignore-scripts{extra})"
        if self.kind == "file":
            return f"{self.spec} (a local file{extra})"
        info = self.fetched.info if self.fetched else {}
        shown = self.registry.shown if self.registry else "the registry"
        return f"{info.get('name')}@{info.get('version')} from {shown}{_verification(info, note)}"


@dataclass
class _Registries:
    """Registry clients by URL, resolved per package name as npm does; remembers which were used."""

    flag: str | None
    env: Mapping[str, str]
    used: list[Registry] = field(default_factory=list)
    #: Registry URL -> where its credential came from ("" none); never a value.
    auth_sources: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, RegistryClient] = field(default_factory=dict)

    def resolve(self, name: str, *, record: bool = True) -> Registry:
        """The registry for `name`; `record`: it is used (and shown in the header)."""
        from gatekeeper._internal.npmrc import resolve_registry

        reg = resolve_registry(self.flag, name, env=self.env)
        if record and reg not in self.used:
            self.used.append(reg)
        return reg

    def tree_resolver(self, name: str, policy: Policy) -> Any:
        """The consumer's dependency-tree resolution against `name`'s registry, recorded only when it runs."""
        return _LazyResolver(self, name, policy)

    def dependencies(self, name: str, policy: Policy) -> Any:
        """The engine's `DependencyRegistry` over `name`'s registry (the one its consumer tree resolves against);
        the client is made (and the registry shown) only when a dependency is looked up."""
        from gatekeeper.gates import diff as diff_gate

        return diff_gate.RegistryDependencies(lambda: self.client(name)[0], policy)

    def client(self, name: str) -> tuple[RegistryClient, Registry]:
        reg = self.resolve(name)
        if reg.url not in self._clients:
            from gatekeeper._internal.registry import PUBLIC_ALIASES_ENV, RegistryClient

            auth = self.auth(reg)
            self._clients[reg.url] = RegistryClient(
                reg.url,
                auth.secret if auth else None,
                retries=int(self.env.get("GATEKEEPER_REGISTRY_RETRIES", "3")),
                backoff=float(self.env.get("GATEKEEPER_REGISTRY_BACKOFF", "1.0")),
                auth_scheme=auth.scheme if auth else "Bearer",
                public_aliases=self.env.get(PUBLIC_ALIASES_ENV, "").split(","),
            )
            self.auth_sources[reg.url] = auth.source if auth else ""
        return self._clients[reg.url], reg

    def auth(self, reg: Registry) -> RegistryAuth | None:
        """The credential for exactly `reg`'s URL: its npm-config entry (`//host/path/:_authToken`, `_auth`),
        else NODE_AUTH_TOKEN / NPM_TOKEN. Sent only to that registry's origin (RegistryClient pins it)."""
        from gatekeeper._internal.npmrc import RegistryAuth, registry_auth
        from gatekeeper.secret import Secret

        found = registry_auth(reg.url, env=self.env)
        if found is not None:
            return found
        if not _chosen_by_maintainer(reg):
            return None  # a project .npmrc (a cloned repo's content) can name any host: no generic token there
        for var in ("NODE_AUTH_TOKEN", "NPM_TOKEN"):
            if self.env.get(var):
                return RegistryAuth("Bearer", Secret(self.env[var]), f"env {var}")
        return None


@dataclass
class _LazyResolver:
    """A `diffing.Resolver` against `name`'s registry, chosen (and recorded as used) only when it runs."""

    registries: _Registries
    name: str
    policy: Policy

    def _bound(self) -> Any:
        from gatekeeper.gates import diff as diff_gate

        return diff_gate.tree_resolver(self.registries.resolve(self.name).url, self.policy, None)

    def __call__(self, manifest: dict[str, Any]) -> bytes:
        return bytes(self._bound()(manifest))

    def many(self, manifests: Sequence[dict[str, Any]]) -> list[bytes]:
        return list(self._bound().many(manifests))


def _chosen_by_maintainer(reg: Registry) -> bool:
    """The registry came from --registry, npm_config_registry or the default, not from a config file's text."""
    return reg.source in ("--registry", "default") or reg.source.startswith("env npm_config_")


@dataclass
class _Compared:
    """The result and what was compared with what (for every format's header)."""

    result: DiffResult
    candidate: _Side
    baseline: _Side | None
    registries: list[Registry]
    #: Registry URL -> where the credential sent to it came from ("": none). Never a value.
    auth_sources: Mapping[str, str] = field(default_factory=dict)


def run_diff(args: argparse.Namespace | Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `gatekeeper diff` (parsed args, or the argv after `diff`); prints the report; 0 allow, 1 block, 2 error."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(prog="gatekeeper diff")
        add_diff_arguments(parser)
        args = parser.parse_args(list(args))
    out = out or sys.stdout
    err = err or sys.stderr
    fmt = getattr(args, "format", "text") or "text"
    from gatekeeper.decision import (
        EXIT_ALLOW,
        EXIT_BLOCK,
        EXIT_ERROR,
        Decision,
        GateResult,
        apply_overrides,
        gate_status,
    )

    compared: _Compared | None = None
    findings: list[Finding] = []
    try:
        from gatekeeper.trust.policy import Policy, load_policy

        policy = load_policy(args.policy, required=True) if args.policy else Policy()
        registries = _Registries(args.registry, os.environ)
        compared = _diff(args.candidate, args.against, registries, policy, getattr(args, "package_manager", "auto"))
        compared.auth_sources = registries.auth_sources
        findings = apply_overrides(compared.result.findings, policy)
        status = gate_status(findings)
        gate = GateResult("diff", status, findings)
        decision = (
            Decision(False, EXIT_BLOCK, "blocked by diff")
            if status == "fail"
            else Decision(True, EXIT_ALLOW, "no blocking finding")
        )
        if compared.result.error is not None:
            # A check could not run (the consumer tree's resolution): exit 2, the other findings still shown.
            message = compared.result.error.plain()
            gate, decision = GateResult("diff", "error", findings, message), Decision(False, EXIT_ERROR, message)
    except GatekeeperError as exc:
        message = exc.plain()
        gate, decision, compared = GateResult("diff", "error", [], message), Decision(False, EXIT_ERROR, message), None
    except Exception as exc:  # a bug must not look like a verdict: could not decide (exit 2)
        message = f"Internal error ({type(exc).__name__}: {exc}). Please report this"
        gate, decision, compared = GateResult("diff", "error", [], message), Decision(False, EXIT_ERROR, message), None
    if compared is None and fmt != "json":
        # One paragraph on stderr; stdout gets nothing (no empty report, no SARIF that looks clean).
        err.write(f"npm-gatekeeper diff: {terminal.safe(gate.error or '')}\n")
    elif compared is not None and gate.error and fmt == "sarif":
        err.write(f"npm-gatekeeper diff: {terminal.safe(gate.error)}\n")  # no SARIF that looks complete
    elif fmt == "json":
        out.write(_json(compared, gate, decision))
    elif fmt == "sarif" and compared is not None:
        import json

        log = to_sarif(findings, compared.candidate.base_dir)
        out.write(json.dumps(log, indent=2, ensure_ascii=False) + "\n")
    elif compared is not None:
        if gate.error:  # the paragraph on stderr too, for a caller that reads only stderr on exit 2
            err.write(f"npm-gatekeeper diff: {terminal.safe(gate.error)}\n")
        out.write(_markdown(compared, findings, decision) if fmt == "markdown" else _text(compared, findings, decision))
    out.flush()
    return decision.exit_code


def _diff(
    candidate_spec: str, against: str | None, registries: _Registries, policy: Policy, package_manager: str = "auto"
) -> _Compared:
    from gatekeeper.diffing import DiffResult, diff_packages

    candidate = _load(candidate_spec, registries, policy, "candidate", package_manager)
    cand = candidate.package
    pre = list(candidate.fetched.findings) if candidate.fetched else []
    if cand is None:  # fetched from the registry and failed its integrity check: nothing to diff
        info = candidate.fetched.info if candidate.fetched else {}
        result = DiffResult(str(info.get("name", "")), str(info.get("version", "")), None, findings=pre)
        return _Compared(result, candidate, None, registries.used)
    if cand.unsafe:  # readable, but entries npm must never get (links, `..`, devices, limits): block
        result = diff_packages(None, cand, policy)
        result.findings[:0] = pre
        return _Compared(result, candidate, None, registries.used)
    if against is None:
        from gatekeeper.gates import diff as diff_gate

        client, _ = registries.client(cand.name)
        resolver = registries.tree_resolver(cand.name, policy)
        result = diff_gate.diff_against_registry(
            client,
            cand,
            policy,
            name=cand.name,
            check_exists=candidate.local,
            resolver=resolver,
            dependencies=registries.dependencies(cand.name, policy),
        )
        result.findings[:0] = pre
        return _Compared(result, candidate, None, registries.used)
    baseline = _load(against, registries, policy, "baseline", package_manager)
    from gatekeeper.gates import diff as diff_gate

    fetched = baseline.fetched or diff_gate.Baseline(baseline.package, [], {})
    url = registries.resolve(cand.name, record=False).url  # what lockfile sources are judged against
    resolver = registries.tree_resolver(cand.name, policy)
    deps = registries.dependencies(cand.name, policy)
    result = diff_gate.combine(fetched, cand, policy, pre, registry_url=url, resolver=resolver, dependencies=deps)
    if baseline.fetched is None and baseline.package is not None:
        result.baseline = {"name": baseline.package.name, "version": baseline.package.version, "source": against}
    result.baseline = {**(result.baseline or {}), "reason": "--against"}
    return _Compared(result, candidate, baseline, registries.used)


def _load(spec: str, registries: _Registries, policy: Policy, role: str, package_manager: str = "auto") -> _Side:
    """A package directory, a tarball file, or name[@version] from the registry; unreadable input is an error."""
    from gatekeeper._internal.tarball import read_package

    path = Path(spec).expanduser()
    limits = policy.diff.limits
    if path.is_dir():
        if not (path / "package.json").is_file():
            raise ConfigError(
                f"The {role} {spec} is a directory without a package.json", "Point at the package's folder"
            )
        import shutil

        from gatekeeper._internal import npm as npm_cli
        from gatekeeper._internal import packers

        root = packers.find_repo_root(path.resolve())
        manager = packers.choose_manager(root, package_manager)
        tmp = npm_cli.private_tempdir(root, "gatekeeper-diff-")
        try:
            packed = packers.pack(path.resolve(), tmp, manager, repo_root=root)
            pkg = read_package(packed.path, limits, label=f"{spec} (packed)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        by = f"{packed.manager} {packed.manager_version}".strip() if manager != "npm" else ""
        return _readable(_Side(spec, "directory", pkg, base_dir=path, packed_by=by), role)
    if path.is_file():
        return _readable(_Side(spec, "file", read_package(path, limits, label=path.name)), role)
    if path.exists():
        raise ConfigError(f"The {role} {spec} is neither a file nor a directory", _REMEDY_FILE)
    m = _SPEC.match(spec)
    looks_like_path = spec.endswith(_TARBALL_SUFFIXES) or "/" in spec.lstrip("@").split("/", 1)[-1] or m is None
    if looks_like_path:
        raise ConfigError(f"No such file or directory: {spec} (the {role})", _did_you_mean(path) + _REMEDY_FILE)
    assert m is not None
    name, version = m.group("name"), m.group("version")
    client, reg = registries.client(name)
    packument = client.packument(name)
    if packument is None:
        local = f"; and there is no file or directory {spec} here" if version is None else ""
        raise ConfigError(
            f"The {role} {name} is not on the registry {reg.shown} (from {reg.source}){local}",
            "Check the name and the registry (--registry, or npm's config)",
        )
    tags = packument.get("dist-tags") or {}
    if version is None or version in tags:
        tag = version or "latest"
        version = tags.get(tag)
        if not isinstance(version, str):
            raise ConfigError(f"{name} has no dist-tag {tag!r} on {reg.shown}", "Name a version: name@1.2.3")
    if version not in (packument.get("versions") or {}):
        raise ConfigError(f"{name}@{version} is not published on {reg.shown}", "Name a published version")
    from gatekeeper.gates import diff as diff_gate

    fetched = diff_gate.fetch_release(client, packument, name, version, policy, side=role)
    return _readable(_Side(spec, "registry", fetched.package, fetched, registry=reg), role)


def _readable(side: _Side, role: str) -> _Side:
    """The side, if its bytes are an npm tarball with a readable package.json; else exit 2 naming the file."""
    pkg = side.package
    if pkg is None:
        return side
    problem = pkg.unreadable or pkg.manifest_error
    if problem is None:
        return side
    if side.kind == "registry":
        info = side.fetched.info if side.fetched else {}
        raise RegistryError(
            f"The {role} {info.get('name')}@{info.get('version')} from {side.registry.shown if side.registry else ''} "
            f"passed its integrity check, but its tarball {_problem(problem)}",
            "The release itself is broken on the registry; compare with another version (--against name@version)",
        )
    what = f"The {role} {side.spec}" + (" (packed)" if side.kind == "directory" else "")
    raise ConfigError(f"{what} is not a readable npm package: it {_problem(problem)}", _REMEDY_FILE)


def _problem(text: str) -> str:
    """A reader problem ("is not ...", "has ...") or a manifest error ("package.json is ...") as a phrase."""
    if text.startswith(("is ", "has ", "cannot ")):
        return text
    if text.startswith("the tarball has no package.json"):
        return "has no package.json at the package root (package/package.json)"
    return "has a broken " + text.removeprefix("package.json ").replace("is not ", "package.json: not ", 1)


def _did_you_mean(path: Path) -> str:
    import difflib

    folder = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return f"Did you mean {folder / close[0] if str(path.parent) != '.' else close[0]}? " if close else ""


def _verification(info: Mapping[str, object], note: str = "") -> str:
    """The "(dist-tag `latest`; integrity ok; signature verified)" of a release fetched from the registry."""
    parts = [note] if note else []
    if info.get("reason") and info.get("reason") != "--against":
        parts.append(str(info["reason"]))
    if "integrity_ok" in info:
        parts.append("integrity " + ("ok" if info["integrity_ok"] else "MISMATCH"))
    if info.get("signature"):
        parts.append(f"signature {info['signature']}")
    return f" ({'; '.join(parts)})" if parts else ""


# ---------------------------------------------------------------- output


def _header(c: _Compared) -> list[str]:
    """Who was compared with whom, and the registry used (if any): the same lines in every format."""
    r = c.result
    lines = [f"candidate: {c.candidate.describe()}"]
    if c.baseline is not None:
        lines.append(f"baseline:  {c.baseline.describe('--against')}")
    elif r.baseline:
        shown = c.registries[0].shown if c.registries else "the registry"
        lines.append(
            f"baseline:  {r.baseline.get('name')}@{r.baseline.get('version')} from {shown}{_verification(r.baseline)}"
        )
    elif c.candidate.package is not None and not c.candidate.package.unsafe:
        lines.append("baseline:  (nothing: first release) - no earlier version on the registry")
    for reg in c.registries:
        cred = c.auth_sources.get(reg.url)
        lines.append(f"registry:  {reg.shown} (from {reg.source}" + (f"; credential from {cred})" if cred else ")"))
    return [terminal.safe(line) for line in lines]


def content_verdict(findings: list[Finding]) -> str:
    """`allow` or `block` over the findings about the package itself (not about the network path)."""
    return "block" if any(f.blocks for f in findings if f.rule not in NETWORK_RULES) else "allow"


def network_block(findings: list[Finding]) -> bool:
    return any(f.blocks and f.rule in NETWORK_RULES for f in findings)


def _verdict_lines(findings: list[Finding], decision: Decision) -> list[str]:
    """The verdict; when the network path blocks, it says so and gives the content's verdict too."""
    head = "ALLOW" if decision.allow else "BLOCK"
    if not network_block(findings):
        return [f"npm-gatekeeper diff: {head} (exit {decision.exit_code})"]
    content = content_verdict(findings)
    blocking = sum(1 for f in findings if f.blocks and f.rule not in NETWORK_RULES)
    return [
        f"npm-gatekeeper diff: BLOCK (exit {decision.exit_code}) because of the network path: the registry's "
        "copies could not be verified (no registry signatures), see registry-signatures-missing",
        "content verdict: "
        + (
            "ALLOW (no blocking finding in the package itself)"
            if content == "allow"
            else f"BLOCK ({blocking} blocking finding{'s' if blocking != 1 else ''} in the package itself)"
        ),
    ]


def _text(c: _Compared, findings: list[Finding], decision: Decision) -> str:
    from gatekeeper.report.text import finding_lines

    lines = [*_verdict_lines(findings, decision), *_error_lines(c), ""]
    text = c.result.to_text()
    first, _, delta = text.partition("\n")
    lines += [first, *_header(c), delta.rstrip("\n")]
    lines += ["", f"findings ({len(findings)}):" if findings else "findings: none"]
    lines += finding_lines(findings, fix_overrides=DIFF_FIXES)
    return "\n".join(lines) + "\n"


def _error_lines(c: _Compared) -> list[str]:
    """What could not be checked (exit 2), above the findings of everything that was."""
    if c.result.error is None:
        return []
    return [f"could not decide: {terminal.safe(c.result.error.plain())} The findings below are still complete "
            "for every other check."]


def _markdown(c: _Compared, findings: list[Finding], decision: Decision) -> str:
    from gatekeeper import report
    from gatekeeper._internal import markdown

    icon = "✅ allow" if decision.allow else "🛑 block"
    lines = [f"## npm-gatekeeper diff: {icon}", ""]
    if c.result.error is not None:
        lines += [f"> **Could not decide:** {markdown.text(c.result.error.plain())}", ""]
    if network_block(findings):
        verdict = _verdict_lines(findings, decision)
        lines += [f"**{markdown.text(verdict[0].split(': ', 1)[1])}**", "", markdown.text(verdict[1]), ""]
        lines += [f"How to get past it: {DIFF_FIXES['registry-signatures-missing']}", ""]
    for line in _header(c):  # a code span: a copied name@version works in npm (no zero-width space, no mention)
        label, _, rest = line.partition(":")
        lines.append(f"- {label}: {markdown.code(rest.strip())}")
    lines += ["", c.result.to_markdown()]
    if findings:
        lines += report.findings_table(findings, {s: s.value for s in Severity})
    else:
        lines += ["No findings.", ""]
    return "\n".join(lines)


def _json(c: _Compared | None, gate: Any, decision: Decision) -> str:
    import json

    from gatekeeper import report

    result = c.result if c else None
    outcome = report.Outcome(
        mode="diff",
        decision=decision,
        gates=[gate],
        package={"name": result.name, "version": result.version} if result else None,
        previous=result.baseline if result else None,
        error=gate.error,
        delta=result.to_json() if result else None,
    )
    data: dict[str, Any] = report.to_json(outcome)
    if result is not None:  # the package's own verdict, apart from the network path's findings
        data["content_verdict"] = content_verdict(gate.findings)
    if c is not None:
        data["compared"] = {
            "candidate": c.candidate.describe(),
            "baseline": c.baseline.describe("--against") if c.baseline else None,
            "registries": [
                {"url": r.shown, "source": r.source, "credential": c.auth_sources.get(r.url) or None}
                for r in c.registries
            ],
        }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_LEVEL = {Severity.BLOCK: "error", Severity.WARN: "warning", Severity.INFO: "note"}


def to_sarif(findings: list[Finding], base_dir: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the findings (locations relative to the cwd when the candidate is a directory)."""
    from gatekeeper import __version__
    from gatekeeper.rules import all_rules

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
