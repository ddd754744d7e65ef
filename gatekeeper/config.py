"""Inputs: the action's `with:` values, read from `INPUT_*` env vars or CLI flags.

GitHub passes an input `npm-token` to a container as `INPUT_NPM-TOKEN` (name
upper-cased, spaces to `_`, hyphens kept). Every declared input arrives, empty
when unset, so an empty string means "use the default".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from gatekeeper.errors import ConfigError
from gatekeeper.secret import Secret

PUBLIC_REGISTRY = "https://registry.npmjs.org/"
#: A sha512 Subresource Integrity string, as npm records `dist.integrity`.
_SRI = re.compile(r"sha512-[A-Za-z0-9+/]{86}==")
PUBLISH_WITH = ("publish", "stage")
#: A dist-tag as `npm publish --tag` takes it: no leading `-` (it would be read as another option), no `/`,
#: whitespace or URL-special characters; npm also refuses a valid semver range (`_RANGE_LIKE` below).
_DIST_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,213}")
_PART = r"(?:0|[1-9]\d*|[xX*])"
_RANGE_LIKE = re.compile(
    rf"[v=]?{_PART}(?:\.{_PART}(?:\.{_PART}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)?)?"
)  # node-semver's XRANGEPLAIN: a prerelease/build only after three parts


def valid_dist_tag(tag: str) -> bool:
    """Is `tag` a dist-tag npm accepts (and never an option or a version/range)?"""
    return bool(_DIST_TAG.fullmatch(tag)) and not _RANGE_LIKE.fullmatch(tag)


MODES = ("publish", "check", "pull-request", "watch")
#: The `package-manager` input (gatekeeper._internal.packers.SUPPORTED, plus auto).
PACKAGE_MANAGERS = ("auto", "npm", "pnpm", "yarn", "bun")

#: Input name -> default, exactly as in action.yml (a test keeps them in step).
INPUT_DEFAULTS: dict[str, str] = {
    "mode": "publish",
    "package-path": ".",
    # issue 24: a release of several packages (steps/plan.py)
    "packages": "",
    "changesets-plan": "publish-plan.json",
    "registry": PUBLIC_REGISTRY,
    "npm-token": "",
    "github-token": "",
    "policy": ".github/npm-gatekeeper.yml",
    "tag": "",
    "access": "",
    "dry-run": "false",
    "wait-for-checks": "0",
    # issue 8: reviewed two-job releases
    "tarball": "",
    "approved-integrity": "",
    "release-commit": "",
    "timeout": "600",
    "publish-with": "publish",
    "notify-webhook": "",
    # issue 24: pack with the repository's own package manager
    "package-manager": "auto",
}

#: Bounds of the `timeout` input (seconds).
MIN_TIMEOUT, MAX_TIMEOUT = 1, 6 * 3600

#: Inputs holding a secret: masked first thing, shown only as (set)/(unset).
SECRET_INPUTS = ("npm-token", "github-token", "notify-webhook")


def env_name(input_name: str) -> str:
    """`npm-token` -> `INPUT_NPM-TOKEN`, as the runner does."""
    return "INPUT_" + input_name.replace(" ", "_").upper()


@dataclass(frozen=True)
class Inputs:
    """Validated inputs of one run."""

    mode: str
    package_path: str
    registry: str
    npm_token: Secret | None
    github_token: Secret | None
    policy: str
    tag: str
    access: str
    dry_run: bool
    wait_for_checks: int
    #: A `.tgz` in the workspace to gate and publish instead of packing (empty: `npm pack`).
    tarball: str = ""
    #: The sha512 SRI a reviewed deployment approved (`needs.check.outputs.integrity`).
    approved_integrity: str = ""
    #: semantic-release in two jobs: the release commit the release job pushed on top of GITHUB_SHA (its
    #: `release-commit` output); the publish job accepts a moved branch head only when it is exactly this commit.
    release_commit: str = ""
    #: The release plan (steps/plan.py): empty = the single package at `package-path`; `workspaces`;
    #: `changesets`; or newline-separated package folders/globs.
    packages: str = ""
    #: `packages: changesets`: the publish plan file (changesets' `publish-plan --output`), in the workspace.
    changesets_plan: str = "publish-plan.json"
    timeout: int = 600
    publish_with: str = "publish"
    notify_webhook: Secret | None = None
    #: Which tool packs (`auto`: the root package.json's `packageManager`, else the lockfile; npm by default).
    package_manager: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> Inputs:
        """Read inputs from env (`INPUT_*`), then CLI overrides (by input name), then defaults."""
        raw: dict[str, str] = {}
        for name, default in INPUT_DEFAULTS.items():
            value = env.get(env_name(name), "")
            if overrides and overrides.get(name) not in (None, ""):
                value = str(overrides[name])
            raw[name] = value.strip() if value.strip() else default
        mode = raw["mode"]
        if mode not in MODES:
            raise ConfigError(f"Input `mode` is {mode!r}", f"Use one of: {', '.join(MODES)}")
        npm_token = raw["npm-token"] or env.get("NODE_AUTH_TOKEN", "") or env.get("NPM_TOKEN", "")
        github_token = raw["github-token"] or env.get("GITHUB_TOKEN", "")
        try:
            wait = int(raw["wait-for-checks"])
            if wait < 0:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"Input `wait-for-checks` is {raw['wait-for-checks']!r}", "Give a whole number of seconds (0 or more)"
            ) from None
        try:
            timeout = int(raw["timeout"])
            if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"Input `timeout` is {raw['timeout']!r}",
                f"Give the run's deadline as a whole number of seconds ({MIN_TIMEOUT}..{MAX_TIMEOUT}; default 600)",
            ) from None
        dry = raw["dry-run"].lower()
        if dry not in ("true", "false"):
            raise ConfigError(f"Input `dry-run` is {raw['dry-run']!r}", "Use true or false")
        access = raw["access"]
        if access not in ("", "public", "restricted"):
            raise ConfigError(f"Input `access` is {access!r}", "Use public or restricted, or leave it empty")
        publish_with = raw["publish-with"]
        if publish_with not in PUBLISH_WITH:
            raise ConfigError(f"Input `publish-with` is {publish_with!r}", f"Use one of: {', '.join(PUBLISH_WITH)}")
        registry = raw["registry"]
        if not registry.startswith(("https://", "http://")):
            raise ConfigError(
                f"Input `registry` is {registry!r}", "Give the registry's full URL, e.g. https://registry.npmjs.org/"
            )
        if "@" in registry.split("://", 1)[1].split("/", 1)[0]:
            # The registry URL is printed (report, summary, watch issues): credentials in it would leak.
            raise ConfigError(
                "Input `registry` carries credentials in its URL (user:password@host)",
                "Remove them from the URL and pass the token as `npm-token` from a secret",
            )
        if not registry.endswith("/"):
            registry += "/"
        tag = raw["tag"]
        if tag and not valid_dist_tag(tag):
            raise ConfigError(
                f"Input `tag` is {tag[:100]!r}, not a dist-tag",
                "Give a dist-tag name such as `next` or `beta`: letters, digits, `.`, `_`, `-` (not first), at most "
                "214 characters, and not a version or range (npm refuses `1.x`, `v2`, `1.2.3`)",
            )
        tarball = raw["tarball"]
        if tarball and not tarball.endswith(".tgz"):
            raise ConfigError(f"Input `tarball` is {tarball!r}", "Give the path of a `.tgz` file in the workspace")
        approved = raw["approved-integrity"]
        if approved and not _SRI.fullmatch(approved):
            raise ConfigError(
                f"Input `approved-integrity` is {approved[:100]!r}",
                "Pass the check job's `integrity` output (`sha512-` and 88 base64 characters)",
            )
        release_commit = raw["release-commit"].strip().lower()
        if release_commit and not re.fullmatch(r"[0-9a-f]{40}", release_commit):
            raise ConfigError(
                f"Input `release-commit` is {release_commit[:100]!r}, not a full commit SHA",
                "Pass the release job's `release-commit` output (40 hex digits), or leave it empty",
            )
        webhook = raw["notify-webhook"]
        if webhook and not webhook.startswith(("https://", "http://")):
            raise ConfigError(
                "Input `notify-webhook` is not an http(s) URL", "Pass the webhook's full URL from a secret"
            )
        package_manager = raw["package-manager"].lower()
        if package_manager not in PACKAGE_MANAGERS:
            raise ConfigError(
                f"Input `package-manager` is {raw['package-manager'][:40]!r}",
                f"Use one of: {', '.join(PACKAGE_MANAGERS)}",
            )
        return cls(
            mode=mode,
            package_path=raw["package-path"],
            registry=registry,
            npm_token=Secret(npm_token.strip()) if npm_token.strip() else None,
            github_token=Secret(github_token.strip()) if github_token.strip() else None,
            policy=raw["policy"],
            tag=tag,
            access=access,
            dry_run=dry == "true",
            wait_for_checks=wait,
            tarball=tarball,
            approved_integrity=approved,
            release_commit=release_commit,
            packages=_packages(raw["packages"], tarball, approved),
            changesets_plan=raw["changesets-plan"],
            timeout=timeout,
            publish_with=publish_with,
            notify_webhook=Secret(webhook) if webhook else None,
            package_manager=package_manager,
        )

    @property
    def multi(self) -> bool:
        """A release plan of several packages (input `packages`), not the single package at `package-path`."""
        return bool(self.packages)

    def secrets(self) -> list[Secret]:
        """Every secret input that is set (to mask and redact)."""
        return [s for s in (self.npm_token, self.github_token, self.notify_webhook) if s]

    def describe(self) -> dict[str, object]:
        """The inputs for the report, secrets shown only as set/unset."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            name = f.name.replace("_", "-")
            out[name] = ("(set)" if value else "(unset)") if name in SECRET_INPUTS else value
        return out


def _packages(value: str, tarball: str, approved: str) -> str:
    """Input `packages`: a release plan excludes the single-tarball inputs (they name one package's bytes)."""
    if value and (tarball or approved):
        raise ConfigError(
            "Input `packages` (a release of several packages) cannot be combined with `tarball` or "
            "`approved-integrity` (one package's tarball)",
            "Leave `tarball` and `approved-integrity` empty: the gate packs every planned package itself",
        )
    if len(value) > 64 * 1024:
        raise ConfigError("Input `packages` is longer than 64 KiB", "List fewer folders, or use globs")
    return value
