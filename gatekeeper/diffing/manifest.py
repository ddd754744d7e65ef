"""Helpers on package.json: scripts, dependencies and their specifiers, bundled, bins, entry points."""

from __future__ import annotations

import json
import posixpath
import re
from typing import TYPE_CHECKING

from gatekeeper._internal.tarball import Package

if TYPE_CHECKING:
    from typing import Any

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")
#: Run only for git/directory installs of the package: reported, not blocking.
GIT_SCRIPTS = ("preprepare", "prepare", "postprepare")
#: Run by a local `npm install` (no arguments) of the project itself, besides the above.
LOCAL_ONLY_SCRIPTS = ("prepublish", "dependencies")
DEP_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
ENTRY_FIELDS = ("main", "module", "browser", "exports")


def _scripts(pkg: Package | None) -> dict[str, str]:
    raw = pkg.manifest.get("scripts") if pkg else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def _native_build(pkg: Package | None) -> bool:
    """npm runs `node-gyp rebuild` when binding.gyp exists, gypfile is not false and no (pre)install script."""
    if pkg is None or "binding.gyp" not in pkg.files or pkg.manifest.get("gypfile") is False:
        return False
    # As arborist and @npmcli/run-script decide: only a *truthy* install/preinstall replaces the build
    # (`install: ""`, null or false still builds).
    raw = pkg.manifest.get("scripts")
    scripts = raw if isinstance(raw, dict) else {}
    return not _js_truthy(scripts.get("install")) and not _js_truthy(scripts.get("preinstall"))


def _js_truthy(value: object) -> bool:
    return value not in (None, False, "", 0) and value == value  # NaN never comes from JSON


def _deps(pkg: Package | None, *, dev: bool = False) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name in DEP_FIELDS + (("devDependencies",) if dev else ()):
        raw = pkg.manifest.get(name) if pkg else None
        if isinstance(raw, dict):
            out[name] = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return out


_GIT_PREFIXES = ("git+", "git:", "git://", "github:", "gitlab:", "bitbucket:", "gist:")
_SHORTHAND = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?:#.*)?$")


def spec_kind(spec: str) -> str:
    """Classify a dependency specifier like npm-package-arg: registry | git | url | file | alias | workspace."""
    s = spec.strip()
    low = s.lower()
    if low.startswith("npm:"):
        return "alias"
    if low.startswith("workspace:"):
        return "workspace"
    if low.startswith(("file:", "link:")) or s.startswith((".", "/", "~/")) or re.match(r"^[A-Za-z]:[/\\]", s):
        return "file"
    if low.startswith(("http://", "https://")):
        return "git" if low.split("#")[0].endswith(".git") else "url"
    if low.startswith(_GIT_PREFIXES):
        return "git"
    if _SHORTHAND.match(s):
        return "git"  # user/repo: GitHub shorthand
    if low.endswith((".tgz", ".tar.gz", ".tar")):
        return "file"
    return "registry"


def _bundled(pkg: Package | None) -> set[str]:
    if pkg is None:
        return set()
    # As npm normalises it (@npmcli/package-json): `bundledDependencies` only when `bundleDependencies` is
    # absent; `true` means every dependency; an object means its keys.
    raw = pkg.manifest.get("bundleDependencies", pkg.manifest.get("bundledDependencies"))
    if raw is True:
        deps = pkg.manifest.get("dependencies")
        return set(deps) if isinstance(deps, dict) else set()
    if isinstance(raw, dict):
        return {str(x) for x in raw}
    return {str(x) for x in raw} if isinstance(raw, list) else set()


def _norm(path: str) -> str:
    """`./lib/x.js` -> `lib/x.js` (package-relative)."""
    path = path.replace("\\", "/").strip()
    norm = posixpath.normpath(path) if path else ""
    return "" if norm in (".", "") else norm.lstrip("/")


def _bins(pkg: Package | None) -> dict[str, str]:
    if pkg is None:
        return {}
    raw = pkg.manifest.get("bin")
    out: dict[str, str] = {}
    if isinstance(raw, str):
        out[pkg.name.split("/")[-1]] = _norm(raw)
    elif isinstance(raw, dict):
        out.update({str(k): _norm(v) for k, v in raw.items() if isinstance(v, str)})
    directories = pkg.manifest.get("directories")
    if not raw and isinstance(directories, dict) and isinstance(directories.get("bin"), str):
        prefix = _norm(directories["bin"]) + "/"
        out.update({posixpath.basename(p): p for p in pkg.files if p.startswith(prefix)})
    return out


def _entry_targets(pkg: Package | None) -> dict[str, str]:
    """Entry target path -> where it is declared, e.g. {"lib/x.js": 'exports["."].require'}."""
    out: dict[str, str] = {}
    if pkg is None:
        return out

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            out.setdefault(_norm(value), where)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}[{json.dumps(k)}]")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    manifest = pkg.manifest
    walk(manifest.get("main", "index.js"), "main")
    for name in ENTRY_FIELDS[1:]:
        if name in manifest:
            walk(manifest[name], name)
    return out


def _overrides(pkg: Package | None) -> dict[str, str]:
    """npm `overrides`, yarn `resolutions`, `pnpm.overrides`, flattened: "field:path" -> specifier."""
    out: dict[str, str] = {}
    if pkg is None:
        return out

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            out[where] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where} > {k}" if where else str(k))

    manifest = pkg.manifest
    for fld, value in (
        ("overrides", manifest.get("overrides")),
        ("resolutions", manifest.get("resolutions")),
        (
            "pnpm.overrides",
            (manifest.get("pnpm") or {}).get("overrides") if isinstance(manifest.get("pnpm"), dict) else None,
        ),
    ):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{fld}:{k}")
    return out
