"""Gate 3 — the credential is CI-scoped.

The token comes from the `npm-token` input (or NODE_AUTH_TOKEN / NPM_TOKEN), i.e. from a
secret; no committed `.npmrc` carries a token and the token is in no tracked file; no token
sits in `~/.npmrc` or NPM_CONFIG_USERCONFIG's file (a developer-machine setup); the registry
knows the token (`/-/whoami`), its user maintains the package, it is not read-only; and the
workflow passes it from `secrets.*`. Under OIDC trusted publishing (`credential.mode`, see
`gatekeeper.trust.trusted_publishing`) the job's ID token and its claims are checked instead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from gatekeeper._internal import git
from gatekeeper.context import Context
from gatekeeper.findings import Finding, Severity
from gatekeeper.rules.credential import (
    CREDENTIAL_MISSING,
    CREDENTIAL_TOKEN,
    MAINTAINERS_UNKNOWN,
    NOT_A_MAINTAINER,
    NPMRC_COMMITTED_TOKEN,
    TOKEN_IN_REPOSITORY,
    TOKEN_IN_USER_NPMRC,
    TOKEN_NOT_FROM_SECRET,
    TOKEN_READ_ONLY,
    TOKEN_REJECTED,
    TOKEN_RESTRICTIONS,
    TOKEN_TYPE_UNKNOWN,
    WORKFLOW_NOT_VERIFIED,
)
from gatekeeper.trust import trusted_publishing

NAME = "credential"

AUTH_KEYS = re.compile(r"^\s*(?:(//[^\s=]*):)?(_authToken|_auth|_password)\s*=\s*(.*?)\s*$", re.IGNORECASE)
PLACEHOLDER = re.compile(r"^[\"']?\$\{[A-Za-z_][A-Za-z0-9_]*\}[\"']?$")
SECRET_EXPR = re.compile(r"^\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}$")
TOKEN_VARS = ("NODE_AUTH_TOKEN", "NPM_TOKEN")
MAX_SCAN_BYTES = 32 * 1024 * 1024


def check(ctx: Context) -> list[Finding]:
    """Findings about the npm credential."""
    findings: list[Finding] = []
    token = ctx.inputs.npm_token
    tracked = git.tracked_files(ctx.workspace) if git.is_repo(ctx.workspace) else []
    findings += _committed_npmrc(ctx.workspace, tracked)
    findings += _user_npmrc(ctx)
    placeholder = trusted_publishing.placeholder_tokens(ctx)
    if placeholder:
        return findings + placeholder  # a dummy value is no credential: never sent to whoami or npm
    if trusted_publishing.choose(ctx).kind == "oidc":
        return findings + trusted_publishing.check(ctx)
    if token is None:
        findings.append(
            CREDENTIAL_MISSING("No `npm-token` input, NODE_AUTH_TOKEN or NPM_TOKEN, and no OIDC token request URL.")
        )
        return findings

    findings += _token_in_files(ctx.workspace, tracked, token.reveal())
    findings += _workflow(ctx)

    user = ctx.registry.whoami()
    if user is None:
        findings.append(TOKEN_REJECTED(f"{ctx.inputs.registry}-/whoami rejected the token."))
        return findings
    findings += _maintainer(ctx, user)
    findings += _token_type(ctx, token.reveal())
    sources = ", ".join(trusted_publishing.token_sources(ctx)) or "the inputs"
    findings.append(
        CREDENTIAL_TOKEN(
            f"A token publishes: {trusted_publishing.token_kind(token)} of `{user}`, from {sources}.",
            token_type=trusted_publishing.token_kind(token),
            user=user,
        )
    )
    return findings


def literal_auth_lines(npmrc_text: str) -> list[tuple[int, str]]:
    """(line, key) of each `_authToken`/`_auth`/`_password` set to a literal, not a `${VAR}` placeholder."""
    out: list[tuple[int, str]] = []
    for n, line in enumerate(npmrc_text.splitlines(), 1):
        m = AUTH_KEYS.match(line)
        if m and m.group(3) and not PLACEHOLDER.match(m.group(3)):
            out.append((n, m.group(2)))
    return out


def _committed_npmrc(workspace: Path, tracked: list[str]) -> list[Finding]:
    out: list[Finding] = []
    for rel in tracked:
        if Path(rel).name != ".npmrc":
            continue
        try:
            text = (workspace / rel).read_text("utf-8", errors="replace")
        except OSError:
            continue
        for n, key in literal_auth_lines(text):
            out.append(
                NPMRC_COMMITTED_TOKEN(
                    f"`{rel}` line {n} sets `{key}` to a literal value (not a ${{VAR}} placeholder).",
                    file=rel,
                    line=n,
                )
            )
    return out


def _user_npmrc(ctx: Context) -> list[Finding]:
    paths: list[Path] = [ctx.home / ".npmrc"]
    for key, value in ctx.env.items():
        if key.lower() == "npm_config_userconfig" and value:
            paths.append(Path(value).expanduser())
    out: list[Finding] = []
    for path in dict.fromkeys(paths):
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue
        for n, key in literal_auth_lines(text)[:1]:
            out.append(
                TOKEN_IN_USER_NPMRC(f"`{path}` line {n} holds a literal `{key}`: a developer-machine credential.")
            )
    return out


def _token_in_files(workspace: Path, tracked: list[str], token: str) -> list[Finding]:
    needle = token.encode()
    out: list[Finding] = []
    for rel in tracked:
        path = workspace / rel
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        pos = data.find(needle)
        if pos >= 0:
            line = data.count(b"\n", 0, pos) + 1
            out.append(
                TOKEN_IN_REPOSITORY(
                    f"The token's value appears in tracked file `{rel}` (line {line}).", file=rel, line=line
                )
            )
    return out


def _maintainer(ctx: Context, user: str) -> list[Finding]:
    assert ctx.package is not None
    packument = ctx.packument(ctx.package.name)
    if packument is None or not packument.get("versions"):
        return []  # first release: no maintainers to check yet
    if not ctx.policy.credential.require_maintainer:
        return []
    raw = packument.get("maintainers")
    names = {m.get("name") for m in raw if isinstance(m, dict)} if isinstance(raw, list) else set()
    names.discard(None)
    if not names:
        severity = Severity.BLOCK if ctx.policy.credential.unknown_maintainers == "block" else Severity.WARN
        return [
            MAINTAINERS_UNKNOWN(
                f"The registry lists no maintainers of {ctx.package.name}; `{user}` is unverified.", severity=severity
            )
        ]
    if user not in names:
        listed = ", ".join(sorted(str(n) for n in names))
        return [
            NOT_A_MAINTAINER(
                f"The token belongs to `{user}`, who is not a maintainer of {ctx.package.name} ({listed}).", user=user
            )
        ]
    return []


def _token_type(ctx: Context, token: str) -> list[Finding]:
    entries = ctx.registry.tokens()
    if entries is None:
        return [TOKEN_TYPE_UNKNOWN("The registry did not let this token list tokens.")]
    digest = hashlib.sha512(token.encode()).hexdigest()
    mine = [e for e in entries if e.get("key") == digest or _mask_matches(e.get("token"), token)]
    if len(mine) != 1:
        return [TOKEN_TYPE_UNKNOWN("The token is not (uniquely) among the tokens the registry lists.")]
    entry = mine[0]
    out: list[Finding] = []
    if entry.get("readonly") is True or entry.get("permissions") in ("read-only", "read"):
        out.append(TOKEN_READ_ONLY("The registry lists this token as read-only."))
    cidr = entry.get("cidr_whitelist") or entry.get("cidr") or []
    expiry = entry.get("expiry") or entry.get("expires")
    if cidr or expiry:
        parts = []
        if cidr:
            parts.append("CIDR " + ", ".join(str(c) for c in cidr))
        if expiry:
            parts.append(f"expires {expiry}")
        out.append(TOKEN_RESTRICTIONS("Token restrictions: " + "; ".join(parts) + ".", cidr=list(cidr), expiry=expiry))
    return out


def _mask_matches(masked: Any, token: str) -> bool:
    """`npm_abcd...wxyz` (public: 8+4; Verdaccio: 5+5) matches the token's ends."""
    if not isinstance(masked, str) or "..." not in masked:
        return False
    prefix, _, suffix = masked.partition("...")
    if len(prefix) < 4 or len(suffix) < 4:
        return False
    return token.startswith(prefix) and token.endswith(suffix) and len(token) >= len(prefix) + len(suffix)


def _workflow(ctx: Context) -> list[Finding]:
    """The workflow must pass the token from `secrets.*`, never a literal or a plain variable."""
    rel = ctx.run.workflow_path
    if not ctx.run.in_actions:
        return []
    if rel is None:
        return [WORKFLOW_NOT_VERIFIED("GITHUB_WORKFLOW_REF does not name a workflow file of this repository.")]
    path = ctx.workspace / rel
    try:
        root = yaml.compose(path.read_text("utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [WORKFLOW_NOT_VERIFIED(f"Could not read `{rel}` ({type(exc).__name__}).", file=rel)]
    if not isinstance(root, yaml.MappingNode):
        return [WORKFLOW_NOT_VERIFIED(f"`{rel}` is not a workflow mapping.", file=rel)]

    out: list[Finding] = []
    uses_ours = False
    for where, node in _token_values(root):
        if where == "with.npm-token":
            uses_ours = True
        value = node.value if isinstance(node, yaml.ScalarNode) else ""
        if not isinstance(node, yaml.ScalarNode) or not SECRET_EXPR.match(str(value).strip()):
            shown = "a literal value" if "${{" not in str(value) else f"`{value}`"
            out.append(
                TOKEN_NOT_FROM_SECRET(
                    f"`{rel}` line {node.start_mark.line + 1}: `{where}` is {shown}, not `${{{{ secrets.NAME }}}}`.",
                    file=rel,
                    line=node.start_mark.line + 1,
                )
            )
    if not uses_ours and not out:
        sources = [w for w, _ in _token_values(root)]
        if not sources:
            out.append(WORKFLOW_NOT_VERIFIED(f"`{rel}` passes no `npm-token`, NODE_AUTH_TOKEN or NPM_TOKEN.", file=rel))
    return out


def _token_values(root: yaml.MappingNode) -> list[tuple[str, yaml.Node]]:
    """Every place the workflow assigns the npm token: `with.npm-token` of our step and token env vars."""
    found: list[tuple[str, yaml.Node]] = []

    def mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            return {}
        return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}

    def env_of(node: yaml.Node | None) -> None:
        for name, value in mapping(mapping(node).get("env")).items():
            if name in TOKEN_VARS:
                found.append((f"env.{name}", value))

    top = mapping(root)
    env_of(root)
    for job in mapping(top.get("jobs")).values():
        env_of(job)
        steps = mapping(job).get("steps")
        for step in steps.value if isinstance(steps, yaml.SequenceNode) else []:
            fields = mapping(step)
            env_of(step)
            uses = fields.get("uses")
            if isinstance(uses, yaml.ScalarNode) and "npm-gatekeeper" in str(uses.value):
                npm_token = mapping(fields.get("with")).get("npm-token")
                if npm_token is not None:
                    found.append(("with.npm-token", npm_token))
    return found
