"""Gate `credential`: where the npm credential comes from and what it may do (token or OIDC)."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

CREDENTIAL_MISSING = Rule(
    "credential-missing",
    Severity.BLOCK,
    "No npm credential was given and OIDC trusted publishing is not available",
    "Pass `npm-token: ${{ secrets.NPM_TOKEN }}`, or configure npm trusted publishing for this workflow and grant "
    "`permissions: id-token: write`.",
    floor=True,
)
NPMRC_COMMITTED_TOKEN = Rule(
    "npmrc-committed-token",
    Severity.BLOCK,
    "A committed .npmrc carries an auth token",
    "Remove the `_authToken`/`_auth`/`_password` line from the committed .npmrc (a `${NPM_TOKEN}` placeholder is "
    "fine), revoke the token on npmjs.com, and purge it from git history.",
    floor=True,
)
TOKEN_IN_REPOSITORY = Rule(
    "token-in-repository",
    Severity.BLOCK,
    "The npm token's value appears in a tracked file",
    "Revoke the token now (it is public to anyone who can read the repository), remove it from the file and from "
    "git history, and store the new token only as an Actions secret.",
    floor=True,
)
TOKEN_IN_USER_NPMRC = Rule(
    "token-in-user-npmrc",
    Severity.BLOCK,
    "An auth token sits in the user's npmrc (~/.npmrc or NPM_CONFIG_USERCONFIG)",
    "That is a developer-machine setup, readable by any code that runs there. Remove the token from the npmrc and "
    "pass a CI-scoped token via `npm-token: ${{ secrets.NPM_TOKEN }}`.",
    floor=True,
)
TOKEN_REJECTED = Rule(
    "token-rejected",
    Severity.BLOCK,
    "The registry does not accept the token (`/-/whoami` failed)",
    "The token is revoked, expired or for another registry. Create a new granular publish token and update the secret.",
    floor=True,
)
NOT_A_MAINTAINER = Rule(
    "not-a-maintainer",
    Severity.BLOCK,
    "The token's user is not a maintainer of the package",
    "Publish with a token of a listed maintainer (`npm owner ls <pkg>`), or add the user with `npm owner add`.",
    floor=True,
    knob="`credential.require-maintainer: false`",
)
MAINTAINERS_UNKNOWN = Rule(
    "maintainers-unknown",
    Severity.WARN,
    "The registry records no maintainers for the package, so the token's user cannot be checked",
    "Expected on Verdaccio and some private registries. To refuse publishing then, set "
    "`credential.unknown-maintainers: block`.",
    floor=True,
    knob="`credential.unknown-maintainers` (warn | block)",
)
TOKEN_READ_ONLY = Rule(
    "token-read-only",
    Severity.BLOCK,
    "The token is read-only",
    "Create a granular access token with read and write permission on the package, limited to it, and update the "
    "secret.",
    floor=True,
)
TOKEN_TYPE_UNKNOWN = Rule(
    "token-type-unknown",
    Severity.INFO,
    "The token's type (read-only, CIDR, expiry) could not be read from the registry",
    "Nothing to fix: the registry does not let this token list tokens. The publish itself will fail if the token "
    "cannot publish.",
    floor=True,
)
TOKEN_RESTRICTIONS = Rule(
    "token-restrictions",
    Severity.INFO,
    "The token's CIDR limits and expiry",
    "Informational. Prefer short-lived granular tokens limited to this package.",
    floor=True,
)
TOKEN_NOT_FROM_SECRET = Rule(
    "token-not-from-secret",
    Severity.BLOCK,
    "The workflow passes the npm token from something other than `secrets.*`",
    "Pass the token as `${{ secrets.NPM_TOKEN }}`. A literal token in a workflow file is public; `vars.*` and `env` "
    "values are not masked and not protected like secrets. Revoke a token that was ever written in a workflow.",
    floor=True,
)
WORKFLOW_NOT_VERIFIED = Rule(
    "workflow-not-verified",
    Severity.WARN,
    "The workflow file that runs this step could not be checked",
    "Keep the workflow in `.github/workflows/` of the checked-out repository and check out the commit being "
    "released (actions/checkout).",
    floor=True,
)
OIDC_TRUSTED_PUBLISHING = Rule(
    "oidc-trusted-publishing",
    Severity.INFO,
    "OIDC trusted publishing: this job's ID token had the expected claims and is exchanged at publish time",
    "Informational. The package's trusted publisher on npmjs.com (repository, workflow file, environment) must "
    "match these claims for the exchange to succeed.",
    floor=True,
)
OIDC_CLAIM_MISMATCH = Rule(
    "oidc-claim-mismatch",
    Severity.BLOCK,
    "A claim of this job's OIDC ID token does not match this run or the policy (checked before any exchange)",
    "Publish from the release workflow the policy names (`credential.oidc-workflow`), on the default branch (or a "
    "`branch.release-branches` branch), in the reviewed-release environment (`review.environment`), on the runner "
    "kind `credential.runner-environment` allows.",
    floor=True,
    knob="`credential.oidc-workflow`, `credential.runner-environment`, `branch.release-branches` or "
    "`review.environment` (what the ID token must say)",
)
OIDC_UNAVAILABLE = Rule(
    "oidc-unavailable",
    Severity.BLOCK,
    "`credential.mode: oidc` requires OIDC, but this job cannot request an ID token",
    "Grant the release job `permissions: id-token: write` and configure the package's trusted publisher on "
    "npmjs.com (package settings → Trusted publishing).",
    floor=True,
    knob="`credential.mode: auto` or `token`",
)
OIDC_TOKEN_PRESENT = Rule(
    "oidc-token-present",
    Severity.BLOCK,
    "`credential.mode: oidc` forbids npm tokens, but one is present in the inputs or the environment",
    "Remove `npm-token` and any NODE_AUTH_TOKEN / NPM_TOKEN / npm_config_*_authToken from the workflow (and "
    "revoke the token on npmjs.com): trusted publishing needs no long-lived secret.",
    floor=True,
    knob="`credential.mode: auto` (OIDC when no token is given)",
)
OIDC_EXCHANGE_FAILED = Rule(
    "oidc-exchange-failed",
    Severity.BLOCK,
    "The registry refused to exchange this job's OIDC ID token for a publish token",
    "On npmjs.com, open the package's settings → Trusted publishing and check that the GitHub Actions trusted "
    "publisher names this repository (owner and name, exact case), this workflow's file name (e.g. `release.yml`, "
    "not its path or name), and the environment (exactly as in the job, or empty if the job has none). The package "
    "must already exist on npmjs.com.",
    floor=True,
)
CREDENTIAL_TOKEN = Rule(
    "credential-token",
    Severity.INFO,
    "An npm access token authenticates the publish (not OIDC trusted publishing)",
    "Consider npm trusted publishing (OIDC): no long-lived secret to steal. Set `credential.mode: oidc` once it works.",
    floor=True,
)
OIDC_PREFLIGHT_FAILED = Rule(
    "oidc-preflight-failed",
    Severity.BLOCK,
    "OIDC trusted publishing cannot work in this job as it is set up (checked before any exchange)",
    "Fix what the finding names: npm >= 11.5.1 and Node >= 22.14 in the gate's image (a released gate ships them); "
    "no placeholder NODE_AUTH_TOKEN (actions/setup-node's `registry-url` writes `_authToken=${NODE_AUTH_TOKEN}` "
    "and a dummy value that wins over OIDC: drop `registry-url` and that env from the publishing job); the gate in "
    "a job of the workflow file itself, which npmjs.com's trusted publisher names (the caller, never a reusable "
    "workflow it calls).",
    floor=True,
)
