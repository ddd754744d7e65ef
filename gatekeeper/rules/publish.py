"""The publish step: what the registry said to the upload."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

PUBLISH_REJECTED = Rule(
    "publish-rejected",
    Severity.BLOCK,
    "The registry refused the upload because the version already exists",
    "Bump the version in package.json; a published version can never be replaced.",
    floor=True,
)
