"""The gate record: one line of a GitHub Release body that says the gate published this version.

    <!-- npm-gatekeeper:record:v1 <base64url of canonical JSON> -->

The notify step writes it; watch matches registry versions against it. Parsing is strict so a hostile
body cannot forge one: the marker word must occur exactly once in the whole body (a second copy anywhere
makes the record invalid, not "the first one wins"), on a line of its own, the JSON must have exactly the
known keys with the right types, and its name and version must give the Release's own tag. Text we did not
write goes through `defuse` before it lands in a body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatekeeper._internal.github import Release

RECORD_VERSION = 1
MARKER_WORD = "npm-gatekeeper:record"
MARKER_ANY = re.compile(re.escape(MARKER_WORD), re.IGNORECASE)
_RECORD_LINE = re.compile(r"^<!-- npm-gatekeeper:record:v1 ([A-Za-z0-9_-]{16,8192}) -->$")
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["maintainers"] = list(self.maintainers)
        return {"v": RECORD_VERSION, **data}

    def line(self) -> str:
        raw = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return f"<!-- {MARKER_WORD}:v1 {base64.urlsafe_b64encode(raw.encode()).decode().rstrip('=')} -->"


_KEYS = {"v", "name", "version", "integrity", "commit", "run", "maintainers"}


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
    if not isinstance(data, dict) or set(data) != _KEYS or data.get("v") != RECORD_VERSION:
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
    return Record(*(data[k] for k in strs), maintainers=tuple(people)), ""


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
