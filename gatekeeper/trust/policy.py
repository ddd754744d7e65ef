"""The policy file (`.github/npm-gatekeeper.yml`): every key optional, safe defaults.

The schema *is* the record classes below: a YAML key `release-branches` maps to the
field `release_branches`. Unknown keys, wrong types and bad values are errors that
name the key and its line. Validation is strict so a typo never loosens a gate.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
import types
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.errors import PolicyError

if TYPE_CHECKING:  # PyYAML is imported only when a policy file is parsed (start-up time)
    from typing import Any, Literal

    import yaml

MAX_POLICY_BYTES = 256 * 1024


@dataclass
class BranchPolicy:
    """Where a release may come from."""

    #: Events allowed to publish. `push` only by default; `workflow_dispatch` and
    #: `release` may be added.
    events: list[str] = field(default_factory=lambda: ["push"])
    #: Extra branches (glob patterns, e.g. `1.x`, `release/*`) besides the default branch.
    release_branches: list[str] = field(default_factory=list)
    #: Allow publishing from a repository that is a fork.
    allow_forks: bool = False


#: What a release commit (`@semantic-release/git`'s `chore(release): …`) may change by default.
DEFAULT_RELEASE_FILES = ["package.json", "package-lock.json", "npm-shrinkwrap.json", "CHANGELOG.md"]


@dataclass
class CommitPolicy:
    """The released commit and the branch head (the `commit` gate)."""

    #: Files (exact paths from the repository root, no wildcards) a release commit may add or modify: the one
    #: commit a two-job semantic-release run pushes on top of GITHUB_SHA before its publish job runs
    #: (e.g. `@semantic-release/git`). Empty: the branch head must be GITHUB_SHA itself.
    release_files: list[str] = field(default_factory=lambda: list(DEFAULT_RELEASE_FILES))


@dataclass
class ChecksPolicy:
    """What counts as a green build."""

    #: A commit with no check runs and no statuses at all blocks unless this is false.
    require_checks: bool = True
    #: Check-run names / status contexts to ignore (glob patterns).
    ignore: list[str] = field(default_factory=list)
    #: Check names that must be present and green, in addition to ruleset-required ones.
    required: list[str] = field(default_factory=list)
    #: Seconds between polls while checks are pending (`wait-for-checks` sets the total).
    poll_interval: int = 10


@dataclass
class CredentialPolicy:
    """What makes a credential CI-scoped."""

    #: The token's user must be listed in the packument's `maintainers`.
    require_maintainer: bool = True
    #: When the registry records no maintainers at all (Verdaccio, some private
    #: registries): `warn` (default) reports it, `block` refuses to publish.
    unknown_maintainers: Literal["warn", "block"] = "warn"
    #: `auto`: OIDC trusted publishing when the job may request an ID token and no npm token is given,
    #: else a token. `oidc`: require OIDC (any npm token in the inputs or env blocks). `token`: never OIDC.
    mode: Literal["auto", "oidc", "token"] = "auto"
    #: The release workflow file the ID token's `workflow_ref` must name (e.g. `release.yml`); empty: any.
    oidc_workflow: str = ""
    #: The ID token's `runner_environment` (npm trusted publishing accepts GitHub-hosted runners only).
    runner_environment: Literal["github-hosted", "self-hosted", "any"] = "github-hosted"
    #: `npm publish --provenance`: `auto` (on under OIDC for a public repository, npm's default), `always`, `never`.
    provenance: Literal["auto", "always", "never"] = "auto"


@dataclass
class LimitsPolicy:
    """Limits of the safe tarball reader."""

    max_unpacked_bytes: int = 512 * 1024 * 1024
    max_entries: int = 50_000
    max_file_bytes: int = 128 * 1024 * 1024
    max_path_depth: int = 32
    max_compressed_bytes: int = 256 * 1024 * 1024


@dataclass
class LargeChangePolicy:
    """Thresholds of the `large-change` warning."""

    added_files: int = 200
    added_bytes: int = 5 * 1024 * 1024


@dataclass
class DiffPolicy:
    """The release diff."""

    #: Dist-tag naming the last release.
    baseline_tag: str = "latest"
    #: What a first release (nothing on the registry yet) does: allow with a warning, or block.
    first_release: Literal["allow", "block"] = "allow"
    limits: LimitsPolicy = field(default_factory=LimitsPolicy)
    large_change: LargeChangePolicy = field(default_factory=LargeChangePolicy)
    #: Seconds allowed to resolve each dependency tree (`npm install --package-lock-only`) when dependencies changed.
    resolve_timeout: int = 180


@dataclass
class NetworkPolicy:
    """Byte budgets (decoded size) of what is read from the network; a larger answer is a fault (exit 2).

    Tarballs are bounded by `diff.limits.max-compressed-bytes`."""

    #: A packument (the full document of a package, all versions).
    max_packument_bytes: int = 64 * 1024 * 1024
    #: Any other registry answer (whoami, tokens, signing keys).
    max_registry_json_bytes: int = 4 * 1024 * 1024
    #: One GitHub API answer (a page of check runs, a repository, ...).
    max_github_bytes: int = 8 * 1024 * 1024
    #: Self-hosted runners behind a corporate proxy (issue 21): the proxy every request goes through
    #: (`http://host:port`; https:// hosts are reached through it with CONNECT, so it never sees a credential),
    #: the hosts reached without it, and a CA bundle (a PEM file as the job sees it: absolute, or relative to the
    #: workspace) pinned by its sha256. Only the trusted policy's settings count in publish mode; HTTPS_PROXY,
    #: NO_PROXY and SSL_CERT_FILE/NODE_EXTRA_CA_CERTS/REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE are accepted in the job's
    #: environment only when they say exactly this.
    https_proxy: str = ""
    no_proxy: list[str] = field(default_factory=list)
    ca_bundle: str = ""
    ca_bundle_sha256: str = ""


@dataclass
class FileApproval:
    """One `approve.files` entry: a path bound to the sha256/sha512 (hex) of its bytes, or a native-binary glob."""

    path: str = ""
    sha256: str = ""
    sha512: str = ""
    #: `path` is a glob over native binaries (`*.node`, `prebuilds/**`): any bytes of a binary there.
    native: bool = False

    def matches(self, path: str, data: bytes) -> bool:
        """Does this entry approve `data` at `path`?"""
        if self.native:
            from gatekeeper.diffing.content import _executable_kind  # (lazy: diffing imports this module)

            # A real native binary (ELF, Mach-O, PE: what a `.node` addon is), not any file with a NUL byte:
            # Node runs JavaScript holding a NUL in a comment just as well.
            return _executable_kind(data) is not None and fnmatchcase(path, self.path)
        if path != self.path:
            return False
        import hashlib  # on use: loading OpenSSL is a measurable share of start-up

        if self.sha512:
            return hashlib.sha512(data).hexdigest() == self.sha512
        return bool(self.sha256) and hashlib.sha256(data).hexdigest() == self.sha256


@dataclass
class Approvals:
    """Exact approvals of intended install-time changes: any other text still blocks."""

    #: Lifecycle script name -> exact command text approved.
    scripts: dict[str, str] = field(default_factory=dict)
    #: Dependency names approved to be added.
    dependencies: list[str] = field(default_factory=list)
    #: Dependency name -> exact specifier approved as a non-registry source.
    sources: dict[str, str] = field(default_factory=dict)
    #: bin name -> exact target approved.
    bin: dict[str, str] = field(default_factory=dict)
    #: Files approved by content: `{path, sha256 | sha512}` approves exactly those bytes at that path;
    #: `{path: <glob>, native: true}` approves native binaries (`*.node`, prebuilds) by glob.
    files: list[FileApproval] = field(default_factory=list)
    #: Exact `name@version` of packages in the resolved dependency tree (or the shrinkwrap) approved to run
    #: install scripts.
    install_scripts: list[str] = field(default_factory=list)


@dataclass
class PullRequestPolicy:
    """Pull-request mode."""

    #: A label that approves install-time changes when applied by a user with write access.
    approval_label: str = ""
    #: Lockfile packages approved to run install scripts: `name` (any version) or exact `name@version`.
    install_scripts: list[str] = field(default_factory=list)
    #: Lockfile package name -> exact `resolved` value approved from outside the registry.
    lockfile_sources: dict[str, str] = field(default_factory=dict)


@dataclass
class ReviewPolicy:
    """Reviewed two-job releases: the approval the released commit cannot write (a protected environment)."""

    #: The deployment environment (with required reviewers) whose approval in this run clears the
    #: clearable blocking findings of the publish job; empty: no reviewed releases.
    environment: str = ""
    #: The approver must be someone other than the user who pushed the released commit.
    require_other_reviewer: bool = False


@dataclass
class NotifyPolicy:
    """What happens after a successful publish (issue 13)."""

    #: Create or update the GitHub Release of the version's tag, with the delta and the gate's record.
    release: bool = True
    #: The release tag; `{version}` (required) and `{name}` are replaced.
    tag_format: str = "v{version}"
    #: People and teams mentioned in the Release (and in watch issues): `@user`, `@org/team`.
    mention: list[str] = field(default_factory=list)


@dataclass
class WatchPolicy:
    """`mode: watch`: catch releases that bypassed the gate."""

    #: Packages to watch (default: the one in `package-path`).
    packages: list[str] = field(default_factory=list)
    #: Where the watch begins: a version or an ISO date (default: the oldest gate record).
    since: str = ""
    #: Logins whose Releases carry trusted records and whose issues count for deduplication.
    trusted_authors: list[str] = field(default_factory=lambda: ["github-actions[bot]"])


@dataclass
class ProvenancePolicy:
    """Where a release's verified provenance must say it was built (its Fulcio certificate, not its statement)."""

    #: `owner/name` of the repository that builds releases (default: the repository running the gate).
    repository: str = ""
    #: That repository's numeric id (GitHub's `repository.id`): a renamed or re-created repository has another.
    #: Default: this run's (`GITHUB_REPOSITORY_ID`); required when `repository` names another repository.
    repository_id: int = 0
    #: The workflow file that builds releases: `release.yml` or `.github/workflows/release.yml`
    #: (default: the workflow running the gate).
    workflow: str = ""


@dataclass
class DynamicPolicy:
    """The sandboxed install-behaviour diff (issue 25). `dynamic: off | warn | block` is short for `level`."""

    #: off: not run; warn: new install behaviour is reported; block: it blocks (and so does an unobserved install).
    level: Literal["off", "warn", "block"] = "off"
    #: Seconds each of the two sandboxed installs (baseline, candidate) may run its scripts.
    timeout: int = 300
    #: Also in pull-request mode (this key is read from the BASE's policy): the PR's package, packed from the
    #: head, is installed against the merge base's, in the same sandbox (never in a job holding a credential).
    pull_request: bool = False


@dataclass
class PackagePolicy:
    """A section of `packages:`, keyed by package name: what is that package's own in a release of several
    packages of one repository (input `packages`). Its `approve:` replaces the top-level `approve:` for that
    package (an approval is exact to one package's files and scripts: another package's never applies); its
    `rules:` are applied over the top-level `rules:` (floors are never lowered)."""

    approve: Approvals = field(default_factory=Approvals)
    rules: dict[str, Literal["block", "warn", "off"]] = field(default_factory=dict)


@dataclass
class Policy:
    """The whole policy. Every key optional."""

    branch: BranchPolicy = field(default_factory=BranchPolicy)
    commit: CommitPolicy = field(default_factory=CommitPolicy)
    checks: ChecksPolicy = field(default_factory=ChecksPolicy)
    credential: CredentialPolicy = field(default_factory=CredentialPolicy)
    diff: DiffPolicy = field(default_factory=DiffPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    approve: Approvals = field(default_factory=Approvals)
    pull_request: PullRequestPolicy = field(default_factory=PullRequestPolicy)
    review: ReviewPolicy = field(default_factory=ReviewPolicy)
    notify: NotifyPolicy = field(default_factory=NotifyPolicy)
    watch: WatchPolicy = field(default_factory=WatchPolicy)
    provenance: ProvenancePolicy = field(default_factory=ProvenancePolicy)
    dynamic: DynamicPolicy = field(default_factory=DynamicPolicy)
    #: Per-rule severity overrides: rule id -> block | warn | off.
    rules: dict[str, Literal["block", "warn", "off"]] = field(default_factory=dict)
    #: Per-package sections (monorepos): package name -> its own approvals and rule overrides.
    packages: dict[str, PackagePolicy] = field(default_factory=dict)
    #: Where the policy came from (not a YAML key).
    source: str = field(default="(defaults)", metadata={"yaml": False})

    def for_package(self, name: str) -> Policy:
        """The policy that decides for package `name`: its `packages:` section applied (approvals replaced,
        rules over the top-level ones), without the other packages' sections."""
        section = self.packages.get(name)
        if section is None:
            return self if not self.packages else dataclasses.replace(self, packages={})
        return dataclasses.replace(
            self,
            approve=section.approve,
            rules={**self.rules, **section.rules},
            packages={},
            source=f"{self.source} (section packages.{name})",
        )


def load_policy(path: Path, *, required: bool = False) -> Policy:
    """Load and validate a policy file; a missing file gives the defaults."""
    if not path.is_file():
        if required:
            raise PolicyError(f"Policy file {path} does not exist", "Create it or fix the `policy` input")
        return Policy()
    data = path.read_bytes()
    return parse_policy(data, source=str(path))


def parse_policy(data: bytes | str, *, source: str = "policy", check_floors: bool = True) -> Policy:
    """Parse policy YAML text; raises PolicyError naming the key and line.

    `check_floors=False` reads a policy from history (the trusted policy of an earlier release):
    an override lowering a floor is then ignored (`decision.apply_overrides` never applies one)."""
    import yaml

    if isinstance(data, bytes):
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError(f"{source}: the policy file is larger than {MAX_POLICY_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"{source}: the policy file is not UTF-8 ({exc})", "Save it as UTF-8") from exc
    else:
        text = data
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}: invalid YAML{where}: {problem}", "Fix the YAML syntax") from exc
    policy = Policy()
    if node is None:
        policy.source = source
        return policy
    token = _HISTORICAL.set(not check_floors)
    try:
        _fill(policy, node, source, "")
    finally:
        _HISTORICAL.reset(token)
    _check_rule_ids(policy, node, source, check_floors)
    _check_notify_watch(policy, node, source)
    policy.source = source
    return policy


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _fail(source: str, node: yaml.Node, key: str, problem: str) -> PolicyError:
    where = f"`{key}`" if key else "the top level"
    return PolicyError(
        f"{source}, line {_line(node)}: {where}: {problem}", "Fix the policy file (see the README's policy reference)"
    )


def _fill(obj: Any, node: yaml.Node, source: str, prefix: str) -> None:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise _fail(source, node, prefix, "expected a mapping")
    import typing

    # the annotations are strings (PEP 563) naming typing's Any/Literal, imported only for type checkers
    hints = typing.get_type_hints(type(obj), {**globals(), "Any": typing.Any, "Literal": typing.Literal})
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(obj) if f.metadata.get("yaml", True)}
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _fail(source, key_node, path, f"unknown key (known keys here: {known})")
        if key in seen:
            raise _fail(source, key_node, path, "duplicate key")
        seen.add(key)
        f = fields[key]
        hint = hints[f.name]
        if hint is DynamicPolicy and isinstance(value_node, yaml.ScalarNode):
            setattr(obj, f.name, _dynamic_level(value_node, source, path))
        elif dataclasses.is_dataclass(hint):
            _fill(getattr(obj, f.name), value_node, source, path)
        else:
            setattr(obj, f.name, _convert(hint, value_node, source, path))


def _convert(hint: Any, node: yaml.Node, source: str, path: str) -> Any:
    import typing
    from typing import Literal

    import yaml

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        value = _scalar(node, source, path)
        if value is False and "off" in args:
            value = "off"  # YAML 1.1 reads a bare `off` as false: where the key is a level, that is `off`
        if value not in args:
            allowed = " | ".join(str(a) for a in args)
            raise _fail(source, node, path, f"must be one of {allowed}, not {value!r}")
        return value
    if origin is list:
        if not isinstance(node, yaml.SequenceNode):
            raise _fail(source, node, path, "expected a list")
        return [_convert(args[0], item, source, f"{path}[{i}]") for i, item in enumerate(node.value)]
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise _fail(source, node, path, "expected a mapping")
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _convert(args[0], k, source, path)
            if key in out:
                raise _fail(source, k, f"{path}.{key}", "duplicate key")
            out[key] = _convert(args[1], v, source, f"{path}.{key}")
        return out
    if hint is FileApproval:
        return _file_approval(node, source, path)
    if hint is PackagePolicy:
        section = PackagePolicy()
        _fill(section, node, source, path)
        return section
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported policy type {hint}")
    value = _scalar(node, source, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(source, node, path, f"expected true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(source, node, path, f"expected a whole number >= 0, not {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str) or (isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:str"):
            raise _fail(source, node, path, f"expected a string, not {value!r} (quote it)")
        return value
    raise TypeError(f"unsupported policy type {hint}")


def _scalar(node: yaml.Node, source: str, path: str) -> Any:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise _fail(source, node, path, "expected a single value")
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _check_rule_ids(policy: Policy, node: yaml.MappingNode, source: str, check_floors: bool = True) -> None:
    import yaml

    from gatekeeper.rules import all_rules
    from gatekeeper.trust import floors

    known = all_rules()
    sections: list[tuple[str, yaml.Node, dict[str, str]]] = []
    for key_node, value_node in node.value:
        if key_node.value == "rules":
            sections.append(("rules", value_node, policy.rules))
        if key_node.value == "packages" and isinstance(value_node, yaml.MappingNode):
            for name_node, section_node in value_node.value:
                name = name_node.value
                if not _PACKAGE.match(str(name)) or len(str(name)) > 214:
                    raise _fail(source, name_node, f"packages.{name}", "expected an npm package name")
                rules_node = _node_at(section_node, "rules")
                if rules_node is not section_node:
                    sections.append((f"packages.{name}.rules", rules_node, policy.packages[name].rules))
    for prefix, value_node, values in sections:
        if not isinstance(value_node, yaml.MappingNode):
            continue
        for k, _ in value_node.value:
            if k.value not in known:
                raise _fail(source, k, f"{prefix}.{k.value}", "unknown rule id (see the README's rule reference)")
            value = values.get(k.value)
            if check_floors and value is not None and floors.lowers(k.value, value):
                raise PolicyError(
                    f"{source}, line {_line(k)}: `{prefix}.{k.value}: {value}` would lower a safety floor "
                    f"(`{k.value}` stays at least {known[k.value].severity.value})",
                    f"Remove it from `{prefix}:`; use {floors.knob(k.value)}",
                )


_MENTION = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$")
_PACKAGE = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_WORKFLOW = re.compile(r"^(?:\.github/workflows/)?[A-Za-z0-9._-]+\.ya?ml$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")


def _node_at(node: yaml.Node, *keys: str) -> yaml.Node:
    """The YAML node at a key path (for error lines); the parent when a key is absent."""
    import yaml

    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return node
        found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        if found is None:
            return node
        node = found
    return node


def _check_network(policy: Policy, node: yaml.MappingNode, source: str) -> None:
    """`network.https-proxy` is http://host:port; `ca-bundle` and `ca-bundle-sha256` come together."""
    from gatekeeper._internal.route import check_proxy_url

    net = policy.network
    if net.https_proxy and (problem := check_proxy_url(net.https_proxy)):
        raise _fail(source, _node_at(node, "network", "https-proxy"), "network.https-proxy", problem)
    for i, host in enumerate(net.no_proxy):
        if not re.fullmatch(r"\*?\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?", host):
            raise _fail(
                source,
                _node_at(node, "network", "no-proxy"),
                f"network.no-proxy[{i}]",
                f"expected a host name, not {host!r}",
            )
    if net.no_proxy and not net.https_proxy:
        raise _fail(source, _node_at(node, "network", "no-proxy"), "network.no-proxy", "needs `https-proxy`")
    if bool(net.ca_bundle) != bool(net.ca_bundle_sha256):
        raise _fail(
            source,
            _node_at(node, "network"),
            "network.ca-bundle",
            "`ca-bundle` and `ca-bundle-sha256` (the sha256 of the file, hex) are given together",
        )
    if net.ca_bundle_sha256 and not re.fullmatch(r"[0-9a-f]{64}", net.ca_bundle_sha256):
        raise _fail(
            source, _node_at(node, "network", "ca-bundle-sha256"), "network.ca-bundle-sha256", "expected 64 hex digits"
        )


def _check_notify_watch(policy: Policy, node: yaml.MappingNode, source: str) -> None:
    """Values whose type is right but whose content must be too (a typo must never loosen a watch)."""
    from gatekeeper._internal import semver

    for i, rel in enumerate(policy.commit.release_files):
        bad_part = any(p in ("", ".", "..") for p in rel.split("/"))
        if not rel or rel.startswith("/") or bad_part or re.search(r"[*?\[\]\\\s]", rel):
            raise _fail(
                source,
                _node_at(node, "commit", "release-files"),
                f"commit.release-files[{i}]",
                f"expected an exact path from the repository root (no wildcards, `..` or spaces), not {rel!r}",
            )
    _check_network(policy, node, source)
    fmt = policy.notify.tag_format
    placeholders = set(re.findall(r"{([^{}]*)}", fmt))
    if "version" not in placeholders or placeholders - {"name", "version"} or re.search(r"\s", fmt):
        raise _fail(
            source,
            _node_at(node, "notify", "tag-format"),
            "notify.tag-format",
            f"must contain {{version}}, may contain {{name}}, and no spaces, not {fmt!r}",
        )
    for i, mention in enumerate(policy.notify.mention):
        if not _MENTION.match(mention):
            raise _fail(
                source,
                _node_at(node, "notify", "mention"),
                f"notify.mention[{i}]",
                f"expected @user or @org/team, not {mention!r}",
            )
    for i, name in enumerate(policy.watch.packages):
        if not _PACKAGE.match(name) or len(name) > 214:
            raise _fail(
                source,
                _node_at(node, "watch", "packages"),
                f"watch.packages[{i}]",
                f"not an npm package name: {name!r}",
            )
    prov = policy.provenance
    if prov.repository and not _REPOSITORY.match(prov.repository):
        raise _fail(
            source,
            _node_at(node, "provenance", "repository"),
            "provenance.repository",
            f"expected `owner/name`, not {prov.repository!r}",
        )
    if prov.workflow and not _WORKFLOW.match(prov.workflow):
        raise _fail(
            source,
            _node_at(node, "provenance", "workflow"),
            "provenance.workflow",
            f"expected a workflow file (`release.yml` or `.github/workflows/release.yml`), not {prov.workflow!r}",
        )
    since = policy.watch.since
    if since and semver.parse(since) is None and not _ISO_DATE.match(since):
        raise _fail(
            source,
            _node_at(node, "watch", "since"),
            "watch.since",
            f"expected a version (1.2.3) or an ISO date (2026-01-31), not {since!r}",
        )


#: Parsing a policy from history (the trusted policy): its path-only file approvals approve nothing.
_HISTORICAL: contextvars.ContextVar[bool] = contextvars.ContextVar("historical_policy", default=False)
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "sha512": re.compile(r"[0-9a-f]{128}")}


def _dynamic_level(node: yaml.Node, source: str, path: str) -> DynamicPolicy:
    """`dynamic: off | warn | block` (YAML 1.1 reads a bare `off` as false: that is `off` too)."""
    value = _scalar(node, source, path)
    if value is False:
        value = "off"
    if value not in ("off", "warn", "block"):
        raise _fail(source, node, path, f"must be one of off | warn | block (or a mapping with `level`), not {value!r}")
    return DynamicPolicy(level=value)


def _file_approval(node: yaml.Node, source: str, path: str) -> FileApproval:
    """`{path, sha256|sha512}` or `{path: <native glob>, native: true}`; a bare path is an error."""
    import yaml

    if isinstance(node, yaml.ScalarNode) and _HISTORICAL.get() and isinstance(node.value, str):
        return FileApproval(path=node.value)  # an old path-only entry in history: it approves nothing
    if isinstance(node, yaml.ScalarNode):
        raise _fail(
            source,
            node,
            path,
            f"a path-only approval ({node.value!r}) would approve any later bytes at that path; bind it to its "
            f"content: `- {{path: {node.value}, sha256: <hex>}}` (the blocking finding prints the exact entry), or "
            f"for native binaries by glob `- {{path: '*.node', native: true}}`",
        )
    entry = FileApproval()
    _fill(entry, node, source, path)
    if not entry.path:
        raise _fail(source, node, path, "needs a `path`")
    if entry.native:
        if entry.sha256 or entry.sha512:
            raise _fail(source, node, path, "a `native: true` glob takes no digest")
        if not (entry.path.endswith(".node") or entry.path.startswith("prebuilds/")):
            raise _fail(
                source,
                node,
                path,
                f"`native: true` is only for native binaries (`*.node`, `prebuilds/...`), not {entry.path!r}",
            )
        return entry
    digests = [k for k in ("sha256", "sha512") if getattr(entry, k)]
    if len(digests) != 1:
        raise _fail(source, node, path, "give exactly one of `sha256` or `sha512` (hex) for the approved bytes")
    value = getattr(entry, digests[0])
    if not _HEX[digests[0]].fullmatch(value):
        raise _fail(source, node, f"{path}.{digests[0]}", f"expected {digests[0]} in lower-case hex, not {value!r}")
    return entry
