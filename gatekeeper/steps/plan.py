"""The release plan as data (issue 24): which packages of the repository one run gates and publishes, in
which order, with which dist-tag and access — computed before anything is packed or uploaded.

Input `packages`:
- empty (default): None — the single package at `package-path`, exactly as before;
- `workspaces`: every package of the repository's workspaces (package.json `workspaces`, as npm and yarn
  read it, or `pnpm-workspace.yaml`'s `packages`), `private: true` left out;
- `changesets`: the `kind: publish` entries of changesets' publish plan (`changeset publish-plan --output`,
  or the `publish-plan.json` that `changeset pack` writes next to the tarballs), with their tag, access and
  `tarball.integrity` (which the gated tarball must equal);
- anything else: newline-separated package folders or globs (relative to the repository root).

Everything read here is hostile input (a PR may have written it): files are read bounded, YAML through the
safe loader, globs and folders never leave the repository root (`..`, absolute paths and symlinks out are
refused), names are checked. The plan is ordered by the dependencies between planned packages (a package
after those it depends on). Whether a version is already on the registry is decided later, against the
packed bytes (modes/publish.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gatekeeper.errors import ConfigError

#: The most bytes read of a package.json, pnpm-workspace.yaml or publish plan.
MAX_FILE_BYTES = 1024 * 1024
#: The most packages one plan may hold (and folders a glob may match).
MAX_PACKAGES = 500
#: How deep a `**` glob walks below the repository root.
MAX_GLOB_DEPTH = 8
#: Folders a glob never walks into.
SKIP_DIRS = frozenset({"node_modules", ".git"})
#: An npm package name (scoped or not), as the registry takes it.
_NAME = re.compile(r"(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
#: The dependency fields that order a release (a consumer installs them); devDependencies do not.
ORDER_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
#: A tarball integrity of the plan: changesets' `pack` writes `sha256-<base64>` (packages/cli/src/commands/pack);
#: npm's `dist.integrity` is `sha512-<base64>`.
_SRI = re.compile(r"sha256-[A-Za-z0-9+/]{43}=|sha512-[A-Za-z0-9+/]{86}==")
#: changesets' CURRENT_PUBLISH_PLAN_VERSION (packages/cli/src/commands/publish-plan/getPublishPlan.ts).
CHANGESETS_PLAN_VERSION = 1


@dataclass(frozen=True)
class PlannedPackage:
    """One package of the plan: its folder (relative to the workspace, posix), name and version as its
    package.json says, and what the plan asks of its publish."""

    folder: str
    name: str
    version: str
    tag: str = ""
    access: str = ""
    #: The integrity the plan recorded for its tarball (changesets `tarball.integrity`, `sha256-` or `sha512-`
    #: SRI); the gated tarball's digest by the same algorithm must equal it. Empty: none recorded.
    integrity: str = ""
    #: Names of planned packages it depends on (ORDER_FIELDS).
    depends_on: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class ReleasePlan:
    """The ordered packages of one run, and what was left out and why (shown in the report)."""

    source: str  # workspaces | list | changesets
    packages: list[PlannedPackage]
    left_out: list[dict[str, str]] = field(default_factory=list)
    #: changesets: the git tags of `kind: tag-only` entries (nothing to publish).
    tag_only: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "order": [
                {"name": p.name, "version": p.version, "folder": p.folder, "tag": p.tag, "access": p.access}
                for p in self.packages
            ],
            "left_out": self.left_out,
        }


def read_plan(spec: str, root: Path, *, workspace: Path, changesets_plan: str = "") -> ReleasePlan | None:
    """The plan the `packages` input asks for; None for the single-package default (input empty)."""
    spec = spec.strip()
    if not spec:
        return None
    root = root.resolve()
    if spec == "workspaces":
        plan = _from_folders("workspaces", root, workspace, workspace_globs(root))
    elif spec == "changesets":
        plan = _from_changesets(root, workspace, changesets_plan or "publish-plan.json")
    else:
        globs = [line.strip() for line in spec.splitlines() if line.strip() and not line.strip().startswith("#")]
        plan = _from_folders("list", root, workspace, globs)
    if not plan.packages:
        raise ConfigError(
            f"The release plan (`packages: {spec.splitlines()[0][:60]}`) has no package to publish"
            + (f" ({len(plan.left_out)} left out: " + _left_out_words(plan.left_out) + ")" if plan.left_out else ""),
            "Check the `packages` input and the workspaces of the repository",
        )
    return plan


def _left_out_words(left_out: list[dict[str, str]]) -> str:
    return "; ".join(f"{e.get('name') or e.get('folder')}: {e.get('why')}" for e in left_out[:5])


# --------------------------------------------------------------------------------------------------
# reading files safely


def read_bounded(path: Path, root: Path, what: str) -> bytes:
    """The bytes of `path` (inside `root` once symlinks are resolved), at most MAX_FILE_BYTES."""
    real = path.resolve()
    if not real.is_relative_to(root):
        raise ConfigError(f"{what} ({path}) resolves outside the repository", "Remove the symlink")
    try:
        with real.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} ({exc.strerror or exc})", "Check the file") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{what} is larger than {MAX_FILE_BYTES} bytes", "A workspace file this large is refused")
    return data


def read_manifest(folder: Path, root: Path) -> dict[str, Any]:
    """package.json of `folder` as a JSON object (hostile input: bounded, strict JSON, an object)."""
    label = f"{_rel(folder, root) or '.'}/package.json"
    data = read_bounded(folder / "package.json", root, label)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{label} is not valid JSON ({exc})", "Fix the file") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{label} is not a JSON object", "Fix the file")
    return doc


def _rel(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root).as_posix() if path.resolve() != root else ""


# --------------------------------------------------------------------------------------------------
# workspaces


def workspace_globs(root: Path) -> list[str]:
    """The workspace globs of the repository at `root`: `pnpm-workspace.yaml`'s `packages` if that file exists,
    else package.json's `workspaces` (a list, or yarn's `{packages: [...]}`)."""
    pnpm = root / "pnpm-workspace.yaml"
    if pnpm.is_file() or pnpm.is_symlink():
        import yaml

        data = read_bounded(pnpm, root, "pnpm-workspace.yaml")
        try:
            doc = yaml.safe_load(data.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"pnpm-workspace.yaml is not valid YAML ({exc})", "Fix the file") from None
        globs = doc.get("packages") if isinstance(doc, dict) else None
        where = "pnpm-workspace.yaml `packages`"
    else:
        manifest = read_manifest(root, root)
        globs = manifest.get("workspaces")
        if isinstance(globs, dict):
            globs = globs.get("packages")
        where = "package.json `workspaces`"
    if not isinstance(globs, list) or not globs or not all(isinstance(g, str) for g in globs):
        raise ConfigError(
            f"`packages: workspaces`, but the repository has no {where} list of folders",
            "Declare the workspaces (package.json `workspaces` or pnpm-workspace.yaml `packages`), or list the "
            "package folders in the `packages` input",
        )
    return globs


def expand(globs: list[str], root: Path) -> list[Path]:
    """The folders (holding a package.json) that `globs` name under `root`, in glob order; `!glob` removes.
    A glob with `..`, an absolute path or a backslash is refused; nothing outside `root` is returned."""
    chosen: list[Path] = []
    for raw in globs:
        neg = raw.startswith("!")
        pattern = raw[1:] if neg else raw
        pattern = pattern.strip().removeprefix("./").rstrip("/")
        if not pattern or "\\" in pattern or pattern.startswith("/") or ".." in PurePosixPath(pattern).parts:
            raise ConfigError(
                f"Workspace glob {raw[:100]!r} is not a folder pattern inside the repository",
                "Use a relative glob such as `packages/*` (no `..`, no absolute path)",
            )
        if neg:
            chosen = [
                p for p in chosen if not _matches(PurePosixPath(_rel(p, root)).parts, PurePosixPath(pattern).parts)
            ]
            continue
        matched = _match(pattern, root)
        for p in matched:
            if p not in chosen:
                chosen.append(p)
        if len(chosen) > MAX_PACKAGES:
            raise ConfigError(f"The workspaces name more than {MAX_PACKAGES} packages", "Release fewer at once")
    return chosen


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Does the relative folder `path` match the glob `pattern` (parts; `**` any number of folders)?"""
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_matches(path[i:], pattern[1:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], pattern[0]) and _matches(path[1:], pattern[1:])


def _match(pattern: str, root: Path) -> list[Path]:
    parts = PurePosixPath(pattern).parts
    found: list[Path] = []

    def walk(folder: Path, i: int, depth: int) -> None:
        if len(found) > MAX_PACKAGES or depth > MAX_GLOB_DEPTH:
            return
        if i == len(parts):
            real = folder.resolve()
            if real.is_relative_to(root) and (folder / "package.json").is_file() and folder not in found:
                found.append(folder)
            return
        part = parts[i]
        if part == "**":
            walk(folder, i + 1, depth)
            for child in _children(folder, root):
                walk(child, i, depth + 1)
        elif any(c in part for c in "*?["):
            for child in _children(folder, root):
                if fnmatch.fnmatchcase(child.name, part):
                    walk(child, i + 1, depth + 1)
        else:
            child = folder / part
            if child.is_dir() and child.resolve().is_relative_to(root):
                walk(child, i + 1, depth + 1)

    walk(root, 0, 0)
    return found


def _children(folder: Path, root: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for e in entries:
        if e.name in SKIP_DIRS or e.name.startswith("."):
            continue
        if e.is_symlink():  # a symlinked folder could lead out of the repository, or loop
            continue
        if e.is_dir():
            out.append(Path(e.path))
    return out


def _from_folders(source: str, root: Path, workspace: Path, globs: list[str]) -> ReleasePlan:
    folders = expand(globs, root)
    if not folders:
        raise ConfigError(
            f"The package folders ({', '.join(g[:60] for g in globs[:5])}) match no folder with a package.json",
            "Check the globs (relative to `package-path`)",
        )
    packages: list[PlannedPackage] = []
    manifests: dict[str, dict[str, Any]] = {}
    left_out: list[dict[str, str]] = []
    for folder in folders:
        manifest = read_manifest(folder, root)
        folder_rel = folder.resolve().relative_to(workspace.resolve()).as_posix() or "."
        name, version = manifest.get("name"), manifest.get("version")
        if manifest.get("private") is True:
            left_out.append({"folder": folder_rel, "name": str(name or "")[:214], "why": "private: true"})
            continue
        _check_name_version(name, version, f"{folder_rel}/package.json")
        assert isinstance(name, str) and isinstance(version, str)
        if name in manifests:
            raise ConfigError(f"Two workspace packages are named {name}", "Give every package its own name")
        manifests[name] = manifest
        packages.append(PlannedPackage(folder_rel, name, version))
    return ReleasePlan(source, order(packages, manifests), left_out)


def _check_name_version(name: object, version: object, where: str) -> None:
    if not isinstance(name, str) or len(name) > 214 or not _NAME.fullmatch(name):
        raise ConfigError(f"{where} has no valid package name ({str(name)[:100]!r})", "Fix the `name` field")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ConfigError(f"{where} has no valid version ({str(version)[:100]!r})", "Fix the `version` field")


def order(packages: list[PlannedPackage], manifests: dict[str, dict[str, Any]]) -> list[PlannedPackage]:
    """The packages, each after the planned packages it depends on (stable: otherwise in the given order).
    Members of a dependency cycle keep their given order after everything else (npm allows cycles; no order
    satisfies them)."""
    planned = {p.name for p in packages}
    deps: dict[str, tuple[str, ...]] = {}
    for p in packages:
        m = manifests.get(p.name) or {}
        names: list[str] = []
        for fld in ORDER_FIELDS:
            section = m.get(fld)
            if isinstance(section, dict):
                names += [d for d in section if isinstance(d, str) and d in planned and d != p.name]
        deps[p.name] = tuple(dict.fromkeys(names))
    done: list[PlannedPackage] = []
    placed: set[str] = set()
    remaining = list(packages)
    while remaining:
        ready = [p for p in remaining if all(d in placed for d in deps[p.name])]
        if not ready:  # a cycle: keep the given order
            ready = remaining[:1]
        for p in ready:
            done.append(PlannedPackage(p.folder, p.name, p.version, p.tag, p.access, p.integrity, deps[p.name]))
            placed.add(p.name)
        remaining = [p for p in remaining if p.name not in placed]
    return done


# --------------------------------------------------------------------------------------------------
# changesets


def _from_changesets(root: Path, workspace: Path, plan_path: str) -> ReleasePlan:
    """changesets' publish plan (`{"version": 1, "plan": [[entry, ...], ...]}`, entries `{kind: "publish", name,
    version, access, tag, tarball?: {path, integrity}}` or `{kind: "tag-only", name, version}`), mapped to the
    workspace folders by name. The plan's chunks are changesets' own dependency order; the gate orders again
    from the manifests (same result for a well-formed plan, and a hostile plan cannot reorder)."""
    ws = workspace.resolve()
    path = (ws / plan_path).resolve()
    if not path.is_relative_to(ws):
        raise ConfigError(f"Input `changesets-plan` ({plan_path}) is outside the workspace", "Give a path inside it")
    if not path.is_file():
        raise ConfigError(
            f"`packages: changesets`, but there is no publish plan at {plan_path}",
            "Run `changeset publish-plan --output <file>` (or `changeset pack`) in an earlier job, hand the file to "
            "this job as an artifact and name it in `changesets-plan`",
        )
    data = read_bounded(path, ws, f"the publish plan {plan_path}")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"The publish plan {plan_path} is not valid JSON ({exc})", "Give changesets' file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("plan"), list):
        raise ConfigError(f"The publish plan {plan_path} has no `plan` list", "Give changesets' publish plan file")
    if doc.get("version") != CHANGESETS_PLAN_VERSION:
        raise ConfigError(
            f"The publish plan {plan_path} has version {str(doc.get('version'))[:20]!r}, not {CHANGESETS_PLAN_VERSION}",
            "Use a changesets version whose publish plan this gate reads (plan version 1)",
        )
    entries: list[dict[str, Any]] = []
    for chunk in doc["plan"]:
        if not isinstance(chunk, list):
            raise ConfigError(f"The publish plan {plan_path}: a chunk is not a list", "Give changesets' file")
        entries += chunk
    if len(entries) > MAX_PACKAGES:
        raise ConfigError(f"The publish plan holds more than {MAX_PACKAGES} entries", "Release fewer at once")
    folders: dict[str, tuple[str, dict[str, Any]]] = {}
    for folder in expand(workspace_globs(root), root):
        manifest = read_manifest(folder, root)
        if isinstance(manifest.get("name"), str):
            folders[manifest["name"]] = (folder.resolve().relative_to(ws).as_posix(), manifest)
    packages: list[PlannedPackage] = []
    manifests: dict[str, dict[str, Any]] = {}
    tag_only: list[dict[str, str]] = []
    for e in entries:
        if not isinstance(e, dict):
            raise ConfigError(f"The publish plan {plan_path}: an entry is not an object", "Give changesets' file")
        kind, name, version = e.get("kind"), e.get("name"), e.get("version")
        _check_name_version(name, version, f"the publish plan's entry {str(name)[:100]!r}")
        assert isinstance(name, str) and isinstance(version, str)
        if kind == "tag-only":
            tag_only.append({"name": name, "version": version})
            continue
        if kind != "publish":
            raise ConfigError(f"The publish plan's entry {name} has kind {str(kind)[:40]!r}", "Give changesets' file")
        if name not in folders:
            raise ConfigError(f"The publish plan names {name}, which is no workspace package", "Re-run publish-plan")
        folder, manifest = folders[name]
        if manifest.get("version") != version:
            raise ConfigError(
                f"The publish plan says {name}@{version}, but {folder}/package.json says "
                f"{str(manifest.get('version'))[:40]}",
                "Make the plan from the released commit (run `changeset publish-plan` after `changeset version`)",
            )
        if manifest.get("private") is True:
            raise ConfigError(f"The publish plan names {name}, which is private: true", "Re-run publish-plan")
        if name in manifests:
            raise ConfigError(f"The publish plan names {name} twice", "Give changesets' file")
        tag, access = e.get("tag", ""), e.get("access", "")
        from gatekeeper.config import valid_dist_tag

        if not isinstance(tag, str) or (tag and not valid_dist_tag(tag)):
            raise ConfigError(f"The publish plan's tag for {name} is not a dist-tag", "Give changesets' file")
        if access not in ("", "public", "restricted"):
            raise ConfigError(f"The publish plan's access for {name} is {str(access)[:30]!r}", "public or restricted")
        tarball = e.get("tarball")
        integrity = tarball.get("integrity", "") if isinstance(tarball, dict) else ""
        if not isinstance(integrity, str) or (integrity and not _SRI.fullmatch(integrity)):
            raise ConfigError(
                f"The publish plan's tarball integrity for {name} is not a sha256/sha512 SRI", "Re-run pack"
            )
        manifests[name] = manifest
        packages.append(PlannedPackage(folder, name, version, tag, access, integrity))
    return ReleasePlan("changesets", order(packages, manifests), [], tag_only)


def sri_matches(expected: str, path: Path) -> bool:
    """Does the file at `path` have the SRI `expected` (`sha256-` or `sha512-`, as the plan names it)?"""
    import base64
    import hashlib

    algo, _, want = expected.partition("-")
    if algo not in ("sha256", "sha512"):
        return False
    digest = hashlib.new(algo)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode() == want
