"""The gate record: one line of a GitHub Release body that says the gate published this version.

    <!-- npm-gatekeeper:record:v1 <base64url of canonical JSON> -->

The notify step writes it; watch matches registry versions against it. Parsing is strict so a hostile
body cannot forge one: the marker word must occur exactly once in the whole body (a second copy anywhere
makes the record invalid, not "the first one wins"), on a line of its own, the JSON must have exactly the
known keys (`install_scripts` optional) with the right types, and its name and version must give the Release's
own tag. Text we did not write goes through `defuse` before it lands in a body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatekeeper._internal.github import GitHubClient, Release

RECORD_VERSION = 1
MARKER_WORD = "npm-gatekeeper:record"
MARKER_ANY = re.compile(re.escape(MARKER_WORD), re.IGNORECASE)
_RECORD_LINE = re.compile(r"^<!-- npm-gatekeeper:record:v1 ([A-Za-z0-9_-]{16,65536}) -->$")
INTEGRITY = re.compile(r"^sha512-[A-Za-z0-9+/]{86}==$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Record:
    """The machine-readable record of one gated release."""

    name: str
    version: str
    integrity: str
    commit: str
    run: str
    maintainers: tuple[str, ...] = ()
    #: The packages of the consumer-resolved tree that run install scripts (`name@version`, sorted), when the gate
    #: resolved it (issue 23, item 7: watch reports a dependency that gains one); None in records without it.
    install_scripts: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["maintainers"] = list(self.maintainers)
        if self.install_scripts is None:
            del data["install_scripts"]
        else:
            data["install_scripts"] = list(self.install_scripts)
        return {"v": RECORD_VERSION, **data}

    def line(self) -> str:
        raw = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return f"<!-- {MARKER_WORD}:v1 {base64.urlsafe_b64encode(raw.encode()).decode().rstrip('=')} -->"


_KEYS = {"v", "name", "version", "integrity", "commit", "run", "maintainers"}
_OPTIONAL = {"install_scripts"}
_SPEC = re.compile(r"^(@[a-z0-9][\w.~-]*/)?[a-z0-9][\w.~-]*@[0-9A-Za-z.+-]{1,256}$", re.IGNORECASE)
MAX_INSTALL_SCRIPTS = 1000


def parse_record(body: str) -> tuple[Record | None, str]:
    """(record, "") or (None, why not) for one Release body."""
    count = len(MARKER_ANY.findall(body))
    if count == 0:
        return None, "no record"
    if count > 1:
        return None, f"the marker occurs {count} times (a record must be unique)"
    line = next(ln.strip() for ln in body.splitlines() if MARKER_ANY.search(ln))
    m = _RECORD_LINE.match(line)
    if not m:
        return None, "the record line is malformed"
    encoded = m.group(1)
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return None, "the record is not base64 JSON"
    if not isinstance(data, dict) or not _KEYS <= set(data) <= _KEYS | _OPTIONAL or data.get("v") != RECORD_VERSION:
        return None, "the record has unknown or missing keys"
    strs = ("name", "version", "integrity", "commit", "run")
    if not all(isinstance(data[k], str) for k in strs):
        return None, "the record has a field of the wrong type"
    people = data["maintainers"]
    if not isinstance(people, list) or not all(isinstance(p, str) for p in people):
        return None, "the record's maintainers are not a list of names"
    if not INTEGRITY.match(data["integrity"]):
        return None, "the record's integrity is not a sha512 SRI string"
    if data["commit"] and not _SHA.match(data["commit"]):
        return None, "the record's commit is not a full sha"
    scripts = data.get("install_scripts")
    if scripts is not None and (
        not isinstance(scripts, list)
        or len(scripts) > MAX_INSTALL_SCRIPTS
        or not all(isinstance(x, str) and _SPEC.match(x) for x in scripts)
    ):
        return None, "the record's install_scripts is not a list of name@version"
    installs = tuple(scripts) if scripts is not None else None
    return Record(*(data[k] for k in strs), maintainers=tuple(people), install_scripts=installs), ""


#: The gate record's tag in a release of several packages when the policy's `notify.tag-format` has no `{name}`.
PLAN_TAG_FORMAT = "{name}@{version}"


def tag_for(fmt: str, name: str, version: str) -> str:
    return fmt.replace("{name}", name).replace("{version}", version)


def record_of(release: Release, fmt: str) -> tuple[Record | None, str]:
    """The record of a Release, valid only when its name/version give the Release's own tag."""
    if release.draft:
        return None, "a draft release"
    record, why = parse_record(release.body)
    if record is None:
        return None, why
    # A release of several packages tags each `{name}@{version}` whatever the format (modes/publish.py
    # record_tag_format): either tag binds the record to its own name and version.
    tags = {tag_for(fmt, record.name, record.version), tag_for(PLAN_TAG_FORMAT, record.name, record.version)}
    if release.tag not in tags:
        return None, f"the record names {record.name}@{record.version}, not the release's tag {release.tag}"
    return record, ""


def defuse(text: str) -> str:
    """Break the marker word in text we did not write ourselves."""
    return MARKER_ANY.sub("npm-gatekeeper: record", text).replace("<!--", "&lt;!--")


#: Who writes gate records: the job's token (`github-actions[bot]`), the default of `watch.trusted-authors`.
RECORD_AUTHORS = ("github-actions[bot]",)


def gate_record(github: GitHubClient, name: str, version: str, tag_format: str, integrity: object) -> Record | None:
    """The gate's own record of `name@version` (its Release, by tag), valid and written by the job's bot, for the
    tarball the registry serves (`integrity`); None when there is none. A GitHub fault raises (fail closed).
    The publish path's second anchor for the last release's commit (issue 23, item 4): a Release is only as
    strong as push access, so it ranks after verified provenance and must agree with every other evidence."""
    release = github.release_by_tag(tag_for(tag_format, name, version))
    if release is None or release.author not in RECORD_AUTHORS:
        return None
    record, _ = record_of(release, tag_format)
    if record is None or (record.name, record.version) != (name, version) or record.integrity != integrity:
        return None
    return record


def install_script_set(manifest: dict[str, Any], resolve: Any) -> tuple[str, ...]:
    """The packages a consumer's fresh install of a package with `manifest` would run install scripts of, as
    `name@version` (sorted), from the tree `resolve` (a `diffing.Resolver`: npm's own resolution, nothing run)
    gives for its consumer manifest. The package itself is left out. A resolution fault raises."""
    from gatekeeper.diffing.lockfile import LockfileError, parse_npm_lockfile
    from gatekeeper.diffing.lockfile_checks import consumer_manifest
    from gatekeeper.errors import NpmError

    try:
        lock = parse_npm_lockfile(resolve(consumer_manifest(manifest)))
    except LockfileError as exc:
        raise NpmError(f"The resolved dependency tree is not a readable lockfile ({exc})") from None
    own = manifest.get("name")
    specs = {e.spec for e in lock.entries.values() if e.has_install_script and e.version and e.name != own}
    return tuple(sorted(s for s in specs if _SPEC.match(s)))
