"""The policy loader: defaults, strict validation with key and line, overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatekeeper.decision import apply_overrides
from gatekeeper.errors import PolicyError
from gatekeeper.findings import Finding, Severity
from gatekeeper.trust.policy import Policy, load_policy, parse_policy

FULL = """
branch:
  events: [push, workflow_dispatch]
  release-branches: ["1.x", "release/*"]
  allow-forks: false
checks:
  require-checks: true
  ignore: ["codecov/*"]
  required: [test]
  poll-interval: 5
credential:
  require-maintainer: true
  unknown-maintainers: block
diff:
  baseline-tag: latest
  first-release: block
  limits: {max-entries: 1000}
  large-change: {added-files: 10}
approve:
  scripts: {postinstall: "node install.js"}
  dependencies: [left-pad]
pull-request:
  approval-label: install-scripts-approved
rules:
  large-change: block
  check-failed: block
"""


def test_missing_file_gives_safe_defaults(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "nope.yml")
    assert policy == Policy()
    assert policy.branch.events == ["push"]
    assert policy.checks.require_checks is True
    assert policy.diff.first_release == "allow"


def test_missing_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.yml", required=True)


def test_full_example_parses() -> None:
    p = parse_policy(FULL)
    assert p.branch.events == ["push", "workflow_dispatch"]
    assert p.branch.release_branches == ["1.x", "release/*"]
    assert p.checks.ignore == ["codecov/*"] and p.checks.poll_interval == 5
    assert p.credential.unknown_maintainers == "block"
    assert p.diff.limits.max_entries == 1000
    assert p.diff.limits.max_path_depth == 32  # untouched defaults stay
    assert p.approve.scripts == {"postinstall": "node install.js"}
    assert p.pull_request.approval_label == "install-scripts-approved"
    assert p.rules == {"large-change": "block", "check-failed": "block"}


def test_readme_example_is_valid() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    start = readme.index("<!-- policy-example -->")
    block = readme[start:].split("```yaml", 1)[1].split("```", 1)[0]
    p = parse_policy(block, source="README")
    assert p.rules  # the example shows overrides


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("branch:\n  evnts: [push]\n", "line 2: `branch.evnts`: unknown key"),
        ("nonsense: 1\n", "line 1: `nonsense`: unknown key"),
        ("checks:\n  require-checks: maybe\n", "line 2: `checks.require-checks`: expected true or false"),
        ("diff:\n  first-release: nope\n", "`diff.first-release`: must be one of allow | block"),
        ("checks: {poll-interval: -1}\n", "`checks.poll-interval`: expected a whole number"),
        ("branch: [push]\n", "`branch`: expected a mapping"),
        ("branch:\n  events: push\n", "`branch.events`: expected a list"),
        ("approve:\n  scripts: {postinstall: 5}\n", "expected a string"),
        ("rules:\n  no-such-rule: warn\n", "line 2: `rules.no-such-rule`: unknown rule id"),
        ("rules:\n  no-checks: loud\n", "must be one of block | warn | off"),
        ("branch: {events: [push]\n", "invalid YAML"),
        ("branch: {}\nbranch: {}\n", "duplicate key"),
        ("- a\n- b\n", "expected a mapping"),
        ("notify:\n  tag-format: release\n", "line 2: `notify.tag-format`: must contain {version}"),
        ("notify:\n  tag-format: 'v{version}-{sha}'\n", "`notify.tag-format`: must contain {version}"),
        ("notify:\n  mention: [someone]\n", "line 2: `notify.mention[0]`: expected @user or @org/team"),
        ("notify:\n  mention: ['@a b']\n", "`notify.mention[0]`"),
        ("notify:\n  colour: red\n", "`notify.colour`: unknown key"),
        ("watch:\n  packages: ['Not A Name']\n", "line 2: `watch.packages[0]`: not an npm package name"),
        ("watch:\n  since: yesterday\n", "line 2: `watch.since`: expected a version (1.2.3) or an ISO date"),
        ("watch:\n  since: 2026-01-31\n", "`watch.since`: expected a string"),
        ("watch:\n  trusted-authors: bot\n", "`watch.trusted-authors`: expected a list"),
        ("commit:\n  release-files: ['*.json']\n", "line 2: `commit.release-files[0]`: expected an exact path"),
        ("commit:\n  release-files: [../x]\n", "`commit.release-files[0]`: expected an exact path"),
        ("commit:\n  release-files: [/etc/passwd]\n", "`commit.release-files[0]`: expected an exact path"),
        ("commit:\n  release-files: [package.json]\n  other: 1\n", "`commit.other`: unknown key"),
    ],
)
def test_invalid_policies_name_key_and_line(text: str, needle: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, source="p.yml")
    assert needle in str(exc.value)
    assert "Nothing was published" in str(exc.value)


def test_binary_and_huge_policy_rejected() -> None:
    with pytest.raises(PolicyError, match="not UTF-8"):
        parse_policy(b"\xff\xfe\x00", source="p.yml")
    with pytest.raises(PolicyError, match="larger than"):
        parse_policy(b"#" * (300 * 1024), source="p.yml")


def test_yaml_aliases_cannot_smuggle_types() -> None:
    with pytest.raises(PolicyError):
        parse_policy("x: &a [push]\nbranch: {events: *a, allow-forks: *a}\n")


def test_empty_file_is_defaults() -> None:
    assert parse_policy("", source="p").branch == Policy().branch


def test_severity_overrides() -> None:
    p = parse_policy("rules: {lifecycle-script-added: warn, obfuscated-code: 'off', maintainers-unknown: block}\n")
    findings = [
        Finding("lifecycle-script-added", Severity.BLOCK, "a"),
        Finding("obfuscated-code", Severity.BLOCK, "b"),
        Finding("maintainers-unknown", Severity.WARN, "c"),
        Finding("tag-ref", Severity.BLOCK, "d"),
    ]
    out = apply_overrides(findings, p)
    assert [(f.rule, f.severity) for f in out] == [
        ("lifecycle-script-added", Severity.WARN),
        ("maintainers-unknown", Severity.BLOCK),
        ("tag-ref", Severity.BLOCK),
    ]


def test_dynamic_pull_request_is_off_unless_asked() -> None:
    """`dynamic.pull-request` (issue 25): the install sandbox in pull-request mode only when asked."""
    assert parse_policy("dynamic: block\n").dynamic.pull_request is False
    p = parse_policy("dynamic: {level: block, pull-request: true}\n")
    assert p.dynamic.level == "block" and p.dynamic.pull_request is True
    with pytest.raises(PolicyError, match="pull-request"):
        parse_policy("dynamic: {level: block, pull-request: sometimes}\n")


def test_a_bare_off_is_the_level_off() -> None:
    """YAML 1.1 reads a bare `off` as false: `rules: {x: off}` and `dynamic: {level: off}` mean "off"."""
    p = parse_policy("rules:\n  obfuscated-code: off\n  large-change: false\ndynamic: {level: off, timeout: 60}\n")
    assert p.rules == {"obfuscated-code": "off", "large-change": "off"}
    assert p.dynamic.level == "off" and p.dynamic.timeout == 60
    assert parse_policy("dynamic: off\n").dynamic.level == "off"
    # a floor stays a floor, a bare `off` included
    with pytest.raises(PolicyError, match="safety floor"):
        parse_policy("rules: {check-failed: off}\n")
    # false is `off` only where the key is a level: a yes/no key or a level without `off` still rejects it
    with pytest.raises(PolicyError, match=re.escape("must be one of warn | block, not False")):
        parse_policy("credential: {unknown-maintainers: off}\n")
    with pytest.raises(PolicyError, match=re.escape("must be one of block | warn | off, not True")):
        parse_policy("rules: {obfuscated-code: on}\n")


FLOOR_CASES = [
    ("not-default-branch", "'off'", "branch.release-branches"),
    ("event-not-allowed", "warn", "branch.events"),
    ("check-failed", "'off'", "checks.ignore"),
    ("no-checks", "warn", "checks.require-checks"),
    ("required-check-missing", "'off'", "rulesets"),
    ("token-not-from-secret", "warn", "no policy key loosens it"),
    ("maintainers-unknown", "'off'", "credential.unknown-maintainers"),
    ("tarball-unsafe", "warn", "diff.limits"),
    ("baseline-integrity-mismatch", "'off'", "no policy key"),
    ("baseline-signature-invalid", "warn", "no policy key"),
    ("version-exists", "'off'", "no policy key"),
    ("version-not-increasing", "warn", "no policy key"),
    ("publish-rejected", "'off'", "no policy key"),
]


@pytest.mark.parametrize(("rule_id", "value", "knob"), FLOOR_CASES, ids=[c[0] for c in FLOOR_CASES])
def test_a_floor_cannot_be_lowered(rule_id: str, value: str, knob: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(f"checks:\n  ignore: []\nrules:\n  large-change: warn\n  {rule_id}: {value}\n", source="p.yml")
    text = exc.value.diagnostic()
    assert f"p.yml, line 5: `rules.{rule_id}:" in text and "safety floor" in text, text
    assert knob in text and "Nothing was published" in text, text


def test_a_floor_may_be_kept_or_raised() -> None:
    p = parse_policy("rules: {check-failed: block, maintainers-unknown: block, token-restrictions: warn}\n")
    assert p.rules["maintainers-unknown"] == "block"


def test_overrides_never_lower_a_floor_even_if_built_by_hand() -> None:
    p = Policy(rules={"check-failed": "off", "large-change": "off"})
    out = apply_overrides(
        [Finding("check-failed", Severity.BLOCK, "a"), Finding("large-change", Severity.WARN, "b")], p
    )
    assert [(f.rule, f.severity) for f in out] == [("check-failed", Severity.BLOCK)]


def test_notify_and_watch_keys_parse() -> None:
    p = parse_policy(
        "notify:\n  tag-format: '{name}@{version}'\n  mention: ['@acme/release-owners', '@someone']\n"
        "watch:\n  packages: ['@acme/a', b]\n  since: '2026-01-31'\n  trusted-authors: [release-bot]\n"
    )
    assert p.notify.tag_format == "{name}@{version}" and p.notify.release is True
    assert p.notify.mention == ["@acme/release-owners", "@someone"]
    assert p.watch.packages == ["@acme/a", "b"] and p.watch.since == "2026-01-31"
    assert p.watch.trusted_authors == ["release-bot"]
    assert parse_policy("watch: {since: 1.2.0}\n").watch.since == "1.2.0"
    assert Policy().watch.trusted_authors == ["github-actions[bot]"] and Policy().notify.tag_format == "v{version}"


def test_file_approvals_bind_to_content() -> None:
    import hashlib

    digest = hashlib.sha256(b"x").hexdigest()
    p = parse_policy(f"approve:\n  files:\n    - {{path: install.js, sha256: {digest}}}\n")
    (entry,) = p.approve.files
    assert entry.matches("install.js", b"x") and not entry.matches("install.js", b"y")
    assert not entry.matches("other.js", b"x")
    p512 = parse_policy(f"approve: {{files: [{{path: a.js, sha512: {hashlib.sha512(b'x').hexdigest()}}}]}}\n")
    assert p512.approve.files[0].matches("a.js", b"x")
    native = parse_policy("approve: {files: [{path: 'prebuilds/**', native: true}]}\n").approve.files[0]
    assert native.matches("prebuilds/linux-x64/a.node", b"\x7fELF") and not native.matches("prebuilds/x.js", b"js")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("approve:\n  files: [install.js]\n", "line 2: `approve.files[0]`: a path-only approval"),
        ("approve:\n  files:\n    - {path: install.js}\n", "exactly one of `sha256` or `sha512`"),
        ("approve:\n  files:\n    - {path: a.js, sha256: abc}\n", "expected sha256 in lower-case hex"),
        ("approve:\n  files:\n    - {path: '*.js', native: true}\n", "only for native binaries"),
        ("approve:\n  files:\n    - {sha256: " + "a" * 64 + "}\n", "needs a `path`"),
    ],
)
def test_bad_file_approvals_fail_with_key_and_line(text: str, needle: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(needle)):
        parse_policy(text)


def test_commit_release_files_default_and_exact_paths() -> None:
    assert Policy().commit.release_files == ["package.json", "package-lock.json", "npm-shrinkwrap.json", "CHANGELOG.md"]
    p = parse_policy("commit:\n  release-files: [packages/a/package.json]\n", source="t")
    assert p.commit.release_files == ["packages/a/package.json"]
    assert parse_policy("commit:\n  release-files: []\n", source="t").commit.release_files == []


# -- network.https-proxy / no-proxy / ca-bundle (issue 21: self-hosted runners behind a proxy)


def test_network_route_keys_parse() -> None:
    sha = "ab" * 32
    p = parse_policy(
        "network:\n  https-proxy: http://proxy.corp.example:3128\n  no-proxy: [internal.example, .corp.example]\n"
        f"  ca-bundle: certs/corp.pem\n  ca-bundle-sha256: '{sha}'\n"
    )
    assert p.network.https_proxy == "http://proxy.corp.example:3128"
    assert p.network.no_proxy == ["internal.example", ".corp.example"]
    assert (p.network.ca_bundle, p.network.ca_bundle_sha256) == ("certs/corp.pem", sha)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("network: {https-proxy: 'https://proxy:3128'}\n", "`network.https-proxy`: must be an http:// URL"),
        ("network: {https-proxy: 'http://user:pw@proxy:3128'}\n", "must not carry a user or password"),
        ("network: {https-proxy: 'http://proxy:3128/path'}\n", "must be http://host:port"),
        ("network: {https-proxy: 'http://proxy:99999'}\n", "invalid port"),
        ("network: {no-proxy: [internal]}\n", "`network.no-proxy`: needs `https-proxy`"),
        ("network: {https-proxy: 'http://p:1', no-proxy: ['a b']}\n", "`network.no-proxy[0]`: expected a host name"),
        ("network: {ca-bundle: /etc/corp.pem}\n", "`ca-bundle` and `ca-bundle-sha256`"),
        ("network: {ca-bundle: /x, ca-bundle-sha256: 'abc'}\n", "`network.ca-bundle-sha256`: expected 64 hex"),
    ],
)
def test_network_route_keys_are_strict(text: str, needle: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text)
    assert needle in str(err.value)


def test_a_changed_route_is_a_loosening() -> None:
    from gatekeeper.trust.trusted_policy import compare

    trusted = parse_policy("network: {https-proxy: 'http://proxy.corp.example:3128'}\n")
    for text in ("{}\n", "network: {https-proxy: 'http://evil.example:3128'}\n"):
        loosened, _ = compare(trusted, parse_policy(text))
        assert any("network.https-proxy" in item for item in loosened), loosened
    loosened, _ = compare(
        parse_policy("{}\n"), parse_policy(f"network: {{ca-bundle: /x, ca-bundle-sha256: '{'ab' * 32}'}}\n")
    )
    assert any("network.ca-bundle" in item for item in loosened)
    assert compare(trusted, trusted) == ([], [])
