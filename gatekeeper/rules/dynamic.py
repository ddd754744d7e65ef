"""Gate `dynamic` (issue 25): what `npm install` of the release does, observed in a sandbox, against the last
release's install. Opt-in: `dynamic: warn | block` in the policy (default off)."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

_REVIEW = (
    "The trace excerpt shows the system call. If the release means to do this at install time, say so in the "
    "release notes and publish once with `dynamic: warn` (or `rules: {RULE: warn}`) in the policy through a "
    "reviewed release; if it does not, find which dependency or file does it (`gatekeeper diff`) before publishing."
)

INSTALL_NETWORK_ATTEMPT = Rule(
    "install-network-attempt",
    Severity.BLOCK,
    "Installing this release tries to reach the network, and the last release's install did not",
    _REVIEW.replace("RULE", "install-network-attempt"),
)
INSTALL_READS_CREDENTIALS = Rule(
    "install-reads-credentials",
    Severity.BLOCK,
    "Installing this release opens a credential file (the sandbox's canary `.npmrc`, SSH key, AWS or gh "
    "credentials), and the last release's install did not",
    "Nothing at install time needs to read a consumer's credentials: treat it as a compromise of the release "
    "(a dependency or an install script) until you know which code does it.",
)
INSTALL_WRITES_OUTSIDE = Rule(
    "install-writes-outside",
    Severity.BLOCK,
    "Installing this release writes, deletes or makes executable a file outside its own folder and the temp "
    "dir (`~/.bashrc`, another package, the project), and the last release's install did not",
    _REVIEW.replace("RULE", "install-writes-outside"),
)
INSTALL_NEW_PROCESS = Rule(
    "install-new-process",
    Severity.BLOCK,
    "Installing this release runs a program the last release's install did not run",
    _REVIEW.replace("RULE", "install-new-process"),
)
INSTALL_NOT_OBSERVED = Rule(
    "install-not-observed",
    Severity.BLOCK,
    "The install could not be observed (no strace/ptrace/seccomp here, the deadline or the trace cap was hit): "
    "it was not run unobserved, and nothing is known about what it does",
    "Run the check job where the sandbox works (the Action's container on a GitHub-hosted Linux runner: strace, "
    "ptrace of its own children and seccomp are allowed without `--privileged`), or raise `dynamic.timeout`. "
    "`dynamic: warn` reports this without blocking.",
)
INSTALL_OBSERVATION_REFUSED = Rule(
    "install-observation-refused",
    Severity.BLOCK,
    "The install sandbox refuses to run in a job that holds a credential (an npm token, NODE_AUTH_TOKEN/NPM_TOKEN, "
    "or `id-token: write`)",
    "Run the dynamic check in a job without the npm token and without `id-token: write` (`mode: check`, the reviewed "
    "release's check job): the install runs the release's code, and a job holding a credential must never do that.",
    floor=True,
)
