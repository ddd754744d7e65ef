"""Errors that carry a user-facing diagnostic.

Any `GatekeeperError` means "could not decide": nothing is published and the
process exits 2. `str(err)` is the one-paragraph message shown to the user.
"""

from __future__ import annotations


class GatekeeperError(Exception):
    """A fault that stops the run before a decision (fail closed)."""

    def __init__(self, what: str, remedy: str = "") -> None:
        self.what = what
        self.remedy = remedy
        super().__init__(self.diagnostic())

    def diagnostic(self) -> str:
        text = self.what.rstrip(".") + ". Nothing was published."
        if self.remedy:
            text += " " + self.remedy.rstrip(".") + "."
        return text

    def plain(self) -> str:
        """The diagnostic without "Nothing was published.": for the commands that never publish (diff,
        pull-request, watch, notify), where saying so would suggest something was to be published."""
        return self.what.rstrip(".") + "." + (" " + self.remedy.rstrip(".") + "." if self.remedy else "")


class ConfigError(GatekeeperError):
    """Bad inputs or environment."""


class PolicyError(GatekeeperError):
    """The policy file is malformed or has unknown keys."""


class GitHubError(GatekeeperError):
    """The GitHub API failed (down, rate limited past retries, malformed data)."""


class RegistryError(GatekeeperError):
    """The npm registry failed or answered with malformed data."""


class NpmError(GatekeeperError):
    """The npm CLI failed."""


class PublishUncertain(NpmError):
    """`npm publish` was stopped while it ran: the upload may have happened (never "nothing published")."""

    def diagnostic(self) -> str:
        text = self.what.rstrip(".") + ". The package was possibly published: check the registry."
        if self.remedy:
            text += " " + self.remedy.rstrip(".") + "."
        return text


class OidcError(GatekeeperError):
    """The runner's OIDC ID-token endpoint failed, or its token is malformed."""
