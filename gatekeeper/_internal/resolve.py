"""A consumer's dependency resolution: `npm install --package-lock-only --ignore-scripts` in a private temp dir.

The package under review is written as a tarball holding only the fields of its package.json that
resolution reads (no scripts, no code) and installed as a `file:` dependency of an empty root
project, so npm resolves its dependencies, optional and peer dependencies exactly as a consumer's
fresh install would — against the registry being published to, with a fresh cache, an empty
userconfig and globalconfig (no credentials, no workspace `.npmrc`, no log files), in a temp dir outside the
workspace, bounded by a timeout. Nothing is ever run. A failure raises `NpmError` (exit 2): an
unresolvable tree is not an allow.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gatekeeper._internal.npm import npm_bin, npm_env, private_tempdir
from gatekeeper._internal.proc import run
from gatekeeper.errors import NpmError

MAX_LOCKFILE_BYTES = 64 * 1024 * 1024


def _manifest_tarball(manifest: dict[str, Any]) -> bytes:
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


#: The dependency fields through which a release's packages reach each other (what a consumer installs).
SIBLING_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")


def reachable_siblings(manifest: Mapping[str, Any], siblings: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The names of `siblings` (the other packages of the same release, not yet on the registry) that a consumer
    of `manifest` installs, directly or through each other."""
    seen: list[str] = []
    todo = [manifest]
    while todo:
        m = todo.pop()
        for fld in SIBLING_FIELDS:
            deps = m.get(fld)
            for dep in deps if isinstance(deps, dict) else ():
                if dep in siblings and dep not in seen and dep != manifest.get("name"):
                    seen.append(dep)
                    todo.append(siblings[dep])
    return seen


def resolve_tree(
    manifest: dict[str, Any],
    *,
    registry: str,
    timeout: float,
    workspace: Path | None = None,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """The package-lock.json a consumer's fresh install of a package with `manifest` resolves.

    `siblings`: a release of several packages — name -> packed package.json of the other packages released with
    this one and not yet on the registry; the ones a consumer installs are given to npm as local manifest-only
    tarballs (beside the package, so npm takes them for the ranges that name them), as they will be on the registry."""
    name = str(manifest.get("name") or "package")
    version = str(manifest.get("version") or "0.0.0")
    tmp = private_tempdir(workspace, "gatekeeper-resolve-")
    try:
        (tmp / "pkg.tgz").write_bytes(_manifest_tarball(manifest))
        project = tmp / "project"
        project.mkdir()
        root: dict[str, Any] = {"name": "gatekeeper-consumer", "version": "1.0.0", "private": True}
        root["dependencies"] = {name: f"file:{tmp / 'pkg.tgz'}"}
        for i, sibling in enumerate(reachable_siblings(manifest, siblings or {})):
            (tmp / f"sibling-{i}.tgz").write_bytes(_manifest_tarball(dict(siblings[sibling])))  # type: ignore[index]
            root["dependencies"][sibling] = f"file:{tmp / f'sibling-{i}.tgz'}"
        (project / "package.json").write_text(json.dumps(root), encoding="utf-8")
        (tmp / "npmrc").write_text(f"registry={registry}\n", encoding="utf-8")
        (tmp / "globalnpmrc").write_text("", encoding="utf-8")
        argv = [
            npm_bin(),
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--include=optional",
            "--include=peer",
            "--omit-lockfile-registry-resolved=false",
            "--registry",
            registry,
            "--userconfig",
            str(tmp / "npmrc"),
            "--globalconfig",
            str(tmp / "globalnpmrc"),
            "--loglevel=error",
        ]
        env = npm_env(tmp, {"HOME": str(tmp), "NPM_CONFIG_USERCONFIG": str(tmp / "npmrc")})
        try:
            res = run(argv, cwd=project, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NpmError(
                f"Resolving the dependency tree of {name}@{version} took longer than {timeout:.0f} s",
                "Check that the registry answers, or raise `diff.resolve-timeout` in the policy; nothing was decided",
            ) from None
        except OSError as exc:
            raise NpmError(f"npm could not run to resolve dependencies ({exc})", "Make sure npm is installed") from None
        lock = project / "package-lock.json"
        if res.returncode != 0 or not lock.is_file():
            lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
            tail = " ".join(lines[-4:])[:600] or f"exit {res.returncode}"
            raise NpmError(
                f"The dependency tree of {name}@{version} could not be resolved against {registry}: {tail}",
                "Every dependency must be installable from the registry being published to; fix the dependency "
                "ranges (or publish the missing dependency) and re-run",
            )
        if lock.stat().st_size > MAX_LOCKFILE_BYTES:
            raise NpmError(f"The resolved lockfile of {name}@{version} is over {MAX_LOCKFILE_BYTES} bytes")
        return lock.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolver(
    registry: str,
    timeout: float,
    workspace: Path | None = None,
    *,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
    release: tuple[str, str] | None = None,
) -> Callable[[dict[str, Any]], bytes]:
    """A `diffing.Resolver` bound to one registry. `siblings` (see resolve_tree) apply only to the manifest of the
    release being gated (`release` = its name and version), never to its baseline's tree."""

    def resolve(manifest: dict[str, Any]) -> bytes:
        own = (manifest.get("name"), manifest.get("version")) == release
        return resolve_tree(
            manifest, registry=registry, timeout=timeout, workspace=workspace, siblings=siblings if own else None
        )

    return resolve
