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

import contextlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper._internal.npm import npm_bin, npm_env, private_tempdir
from gatekeeper._internal.proc import finish, run, start, stop_group
from gatekeeper._internal.route import Route
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


@dataclass
class _Job:
    """One resolution started (`npm install --package-lock-only` running in its private temp dir)."""

    name: str
    version: str
    tmp: Path
    project: Path
    proc: subprocess.Popen[str] | None = None


def _start(
    manifest: dict[str, Any],
    registry: str,
    workspace: Path | None,
    cache: Path | None,
    route: Route | None = None,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
) -> _Job:
    """Start one resolution. `siblings`: a release of several packages -- name -> packed package.json of the other
    packages released with this one and not yet on the registry; the ones a consumer installs are given to npm as
    local manifest-only tarballs (beside the package, so npm takes them for the ranges that name them), as they
    will be on the registry."""
    name = str(manifest.get("name") or "package")
    version = str(manifest.get("version") or "0.0.0")
    tmp = private_tempdir(workspace, "gatekeeper-resolve-")
    job = _Job(name, version, tmp, tmp / "project")
    (tmp / "pkg.tgz").write_bytes(_manifest_tarball(manifest))
    job.project.mkdir()
    root: dict[str, Any] = {"name": "gatekeeper-consumer", "version": "1.0.0", "private": True}
    root["dependencies"] = {name: f"file:{tmp / 'pkg.tgz'}"}
    for i, sibling in enumerate(reachable_siblings(manifest, siblings or {})):
        (tmp / f"sibling-{i}.tgz").write_bytes(_manifest_tarball(dict(siblings[sibling])))  # type: ignore[index]
        root["dependencies"][sibling] = f"file:{tmp / f'sibling-{i}.tgz'}"
    (job.project / "package.json").write_text(json.dumps(root), encoding="utf-8")
    lines = [f"registry={registry}", *(route.npmrc_lines(tmp) if route is not None else [])]  # the policy's proxy/CA
    (tmp / "npmrc").write_text("\n".join(lines) + "\n", encoding="utf-8")
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
    extra = {"HOME": str(tmp), "NPM_CONFIG_USERCONFIG": str(tmp / "npmrc")}
    if cache is not None:  # the packument cache the run's resolutions share (packuments only: nothing is run)
        extra["NPM_CONFIG_CACHE"] = str(cache)
    env = npm_env(tmp, extra)
    try:
        job.proc = start(argv, cwd=job.project, env=env)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise NpmError(f"npm could not run to resolve dependencies ({exc})", "Make sure npm is installed") from None
    return job


def _finish(job: _Job, registry: str, timeout: float, left: float) -> bytes:
    assert job.proc is not None
    try:
        res = finish(job.proc, left)
    except subprocess.TimeoutExpired:
        raise NpmError(
            f"Resolving the dependency tree of {job.name}@{job.version} took longer than {timeout:.0f} s",
            "Check that the registry answers, or raise `diff.resolve-timeout` in the policy; nothing was decided",
        ) from None
    lock = job.project / "package-lock.json"
    if res.returncode != 0 or not lock.is_file():
        lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()]
        tail = " ".join(lines[-4:])[:600] or f"exit {res.returncode}"
        raise NpmError(
            f"The dependency tree of {job.name}@{job.version} could not be resolved against {registry}: {tail}",
            "Every dependency must be installable from the registry being published to; fix the dependency "
            "ranges (or publish the missing dependency) and re-run",
        )
    if lock.stat().st_size > MAX_LOCKFILE_BYTES:
        raise NpmError(f"The resolved lockfile of {job.name}@{job.version} is over {MAX_LOCKFILE_BYTES} bytes")
    return lock.read_bytes()


def resolve_trees(
    manifests: Sequence[dict[str, Any]],
    *,
    registry: str,
    timeout: float,
    workspace: Path | None = None,
    route: Route | None = None,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
    release: tuple[str, str] | None = None,
) -> list[bytes]:
    """The package-lock.json of a consumer's fresh install of each manifest, resolved concurrently (one npm
    each, started together) over one packument cache that lives only for this call; all within `timeout`.
    `siblings` (see `_start`) apply only to the manifest of the release being gated (`release` = its name and
    version), never to its baseline's tree."""
    began = time.monotonic()
    shared = private_tempdir(workspace, "gatekeeper-resolve-cache-") if len(manifests) > 1 else None
    jobs: list[_Job] = []
    try:
        for manifest in manifests:
            own = (manifest.get("name"), manifest.get("version")) == release
            jobs.append(_start(manifest, registry, workspace, shared, route, siblings if own else None))
        return [_finish(job, registry, timeout, timeout - (time.monotonic() - began)) for job in jobs]
    finally:
        for job in jobs:
            if job.proc is not None and job.proc.poll() is None:
                stop_group(job.proc)
                with contextlib.suppress(Exception):
                    job.proc.communicate(timeout=2)
            shutil.rmtree(job.tmp, ignore_errors=True)
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def resolve_tree(
    manifest: dict[str, Any],
    *,
    registry: str,
    timeout: float,
    workspace: Path | None = None,
    route: Route | None = None,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """The package-lock.json a consumer's fresh install of a package with `manifest` resolves."""
    release = (manifest.get("name"), manifest.get("version")) if siblings else None
    return resolve_trees(
        [manifest],
        registry=registry,
        timeout=timeout,
        workspace=workspace,
        route=route,
        siblings=siblings,
        release=release,  # type: ignore[arg-type]
    )[0]


class TreeResolver:
    """A `diffing.Resolver` bound to one registry: `resolver(manifest)`, and `resolver.many(manifests)`,
    which resolves them concurrently over one shared packument cache (the release diff's two trees)."""

    def __init__(
        self,
        registry: str,
        timeout: float,
        workspace: Path | None = None,
        route: Route | None = None,
        *,
        siblings: Mapping[str, Mapping[str, Any]] | None = None,
        release: tuple[str, str] | None = None,
    ) -> None:
        self.registry, self.timeout, self.workspace, self.route = registry, timeout, workspace, route
        self.siblings, self.release = siblings, release

    def __call__(self, manifest: dict[str, Any]) -> bytes:
        return self.many([manifest])[0]

    def many(self, manifests: Sequence[dict[str, Any]]) -> list[bytes]:
        return resolve_trees(
            manifests,
            registry=self.registry,
            timeout=self.timeout,
            workspace=self.workspace,
            route=self.route,
            siblings=self.siblings,
            release=self.release,
        )


#: A `diffing.Resolver` bound to one registry (reached through the policy's proxy and CA, `route`); `siblings`
#: (see `_start`) apply only to the manifest of the release being gated (`release`).
resolver = TreeResolver


#: npm's own range matching (node-semver, bundled with npm): which published versions a declared range allows.
_SATISFYING_JS = r"""
const fs = require('fs');
const semver = require(process.argv[1]);
const queries = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = queries.map(({range, versions}) => {
  const r = semver.validRange(range, {loose: true});
  return r === null ? null : versions.filter((v) => semver.satisfies(v, r, {loose: true}));
});
process.stdout.write(JSON.stringify(out));
"""
MAX_RANGE_QUERY_VERSIONS = 200_000


def npm_semver_module() -> Path:
    """node-semver as npm ships it (the module npm's install uses to match ranges)."""
    cli = Path(npm_bin()).resolve()  # .../node_modules/npm/bin/npm-cli.js
    for root in (cli.parent.parent, *cli.parents):
        candidate = root / "node_modules" / "semver" / "package.json"
        if candidate.is_file():
            return candidate.parent
    raise NpmError(f"npm's semver module was not found beside {cli}", "Use the npm the image ships")


def satisfying(queries: list[tuple[str, list[str]]], *, timeout: float = 60) -> list[list[str] | None]:
    """For each (range, versions): the versions the range allows, as npm matches them (None: not a range,
    e.g. a dist-tag). One `node` run with npm's own node-semver; a failure raises `NpmError`."""
    if not queries:
        return []
    if sum(len(v) for _, v in queries) > MAX_RANGE_QUERY_VERSIONS:
        raise NpmError(f"Over {MAX_RANGE_QUERY_VERSIONS} published versions to match against dependency ranges")
    from gatekeeper._internal import hostenv
    from gatekeeper._internal.proc import child_env

    module = npm_semver_module()
    tmp = private_tempdir(None, "gatekeeper-semver-")
    try:
        query = tmp / "query.json"
        query.write_text(json.dumps([{"range": r, "versions": v} for r, v in queries]), encoding="utf-8")
        argv = [hostenv.tool("node"), "-e", _SATISFYING_JS, str(module), str(query)]
        try:
            res = run(argv, cwd=tmp, env=child_env({"HOME": str(tmp)}), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise NpmError(f"Matching dependency ranges took longer than {timeout:.0f} s") from None
        except OSError as exc:
            raise NpmError(f"node could not run to match dependency ranges ({exc})", "Install node") from None
        try:
            answer = json.loads(res.stdout) if res.returncode == 0 else None
        except ValueError:
            answer = None
        if not isinstance(answer, list) or len(answer) != len(queries):
            tail = " ".join(res.stderr.split())[-300:] or f"exit {res.returncode}"
            raise NpmError(f"Matching dependency ranges with npm's semver failed: {tail}")
        return [[str(v) for v in a] if isinstance(a, list) else None for a in answer]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
