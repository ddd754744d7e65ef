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
APPROVED_INTEGRITY_MISMATCH = Rule(
    "approved-integrity-mismatch",
    Severity.BLOCK,
    "The tarball is not the one the earlier job approved (`approved-integrity` input)",
    "Publish exactly the artifact the release/check job uploaded: pass its `integrity` output as "
    "`approved-integrity` and its tarball as `tarball`, from the same run. A mismatch means the bytes changed "
    "between the jobs: investigate before publishing.",
    floor=True,
)
PUBLISHED_OTHER_BYTES = Rule(
    "published-integrity-mismatch",
    Severity.BLOCK,
    "INCIDENT: after the upload, the registry serves other bytes for the version than the tarball the gates checked",
    "Treat it as a compromise of the release job: do not announce or install the version; deprecate it at once "
    "(`npm deprecate <name>@<version> \"compromised release\"`) and unpublish it if the registry still allows it; "
    "revoke the npm token (or the trusted-publisher entry) the job used; read the job's log for the steps that ran "
    "before the gate (a step that put another `npm` on PATH or changed the job's environment) and run the gate in "
    "a job of its own; then publish a new version from a clean run.",
    floor=True,
)
PLAN_VERSION_OTHER_BYTES = Rule(
    "plan-version-other-bytes",
    Severity.BLOCK,
    "A planned package's version is already on the registry with other bytes than the gate packs from this commit",
    "A re-run skips a package only when the registry serves exactly the tarball this commit packs. Other bytes "
    "mean the version was published from elsewhere (another commit, another tool, or not by the gate): find out "
    "who published it (`mode: watch` flags it) before releasing the packages that depend on it; bump the version "
    "to release this commit's bytes.",
    floor=True,
)
PLAN_INTEGRITY_MISMATCH = Rule(
    "plan-integrity-mismatch",
    Severity.BLOCK,
    "The tarball the gate packs is not the one the publish plan recorded (changesets `tarball.integrity`)",
    "Make the plan and the tarballs from the released commit with the same package manager as the gate "
    "(`changeset pack` in the job before), hand them over as one artifact, and re-run; a mismatch means the bytes "
    "changed between the jobs: investigate before publishing.",
    floor=True,
)
