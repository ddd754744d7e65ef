"""The npm CLI: pack once, publish that same file. The token only ever lives in a
temp userconfig outside the workspace (mode 0600), deleted right after.

npm leaves nothing behind: every npm child gets a private cache, TMPDIR and logs dir inside the
temp dir of its step (deleted with it), with log files off (`logs-max=0`), so nothing lands in
`$HOME/.npm` (npm writes the registry's error bodies, which may echo the token, into its debug log).
The tarball is re-hashed just before the upload and must match what the gates saw; the bytes that
npm uploads are that verified copy."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gatekeeper._internal import hostenv, proc
from gatekeeper._internal.proc import child_env, run
from gatekeeper._internal.route import Route
from gatekeeper.errors import GatekeeperError, NpmError, PublishUncertain
from gatekeeper.secret import Secret


@dataclass(frozen=True)
class Packed:
    path: Path
    integrity: str
    shasum: str
    size: int
    name: str
    version: str
    manager: str = "npm"  # the package manager that packed it (gatekeeper._internal.packers)
    manager_version: str = ""  # its version ("" when not read)


@dataclass(frozen=True)
class Published:
    ok: bool
    conflict: bool  # the version already exists on the registry
    message: str
    output: dict[str, object]
    stage_id: str = ""  # `npm stage publish`: the id a maintainer approves or rejects


def integrity_of(data: bytes) -> tuple[str, str]:
    """(sha512 SRI, sha1 hex) of tarball bytes, as npm computes them."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(), hashlib.sha1(data).hexdigest()


def private_tempdir(workspace: Path | None, prefix: str) -> Path:
    """A temp dir that is not inside the workspace, mode 0700."""
    candidates = [tempfile.gettempdir(), "/tmp"]
    for base in candidates:
        base_path = Path(base).resolve()
        if workspace is not None:
            ws = workspace.resolve()
            if base_path == ws or ws in base_path.parents:
                continue
        if base_path.is_dir():
            return Path(tempfile.mkdtemp(prefix=prefix, dir=base_path))
    raise NpmError(
        "No temp directory outside the workspace is available", "Set TMPDIR to a directory outside the workspace"
    )


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file `path` that only this user may read or write (an existing file is an error)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def npm_env(tmp: Path, extra: dict[str, str] | None = None, keep_oidc: bool = False) -> dict[str, str]:
    """The child env of an npm command: no credentials; cache, TMPDIR and logs inside `tmp`; no log files;
    the global and user config files are ones the gate wrote (empty; `publish` writes its own userconfig),
    so no npmrc of the job's (`$HOME/.npmrc`, `$PREFIX/etc/npmrc`) is read."""
    home = tmp / ".npm-private"
    for sub in ("cache", "tmp", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    for rc in ("globalconfig", "userconfig"):
        if not (home / rc).exists():
            write_private(home / rc, b"")
    env = child_env(
        {
            "NPM_CONFIG_CACHE": str(home / "cache"),
            "NPM_CONFIG_LOGS_DIR": str(home / "logs"),
            "NPM_CONFIG_LOGS_MAX": "0",
            "NPM_CONFIG_GLOBALCONFIG": str(home / "globalconfig"),
            "NPM_CONFIG_USERCONFIG": str(home / "userconfig"),
            "TMPDIR": str(home / "tmp"),
            **(extra or {}),
        },
        keep_oidc=keep_oidc,
    )
    return env


def _pack_failed(package_dir: Path, stderr: str) -> NpmError:
    """The error of an `npm pack` that exited non-zero: the last lines npm printed."""
    tail = " ".join(stderr.strip().splitlines()[-3:])
    return NpmError(f"`npm pack` failed in {package_dir}: {tail[:500]}", "Fix package.json so that `npm pack` works")


def npm_bin() -> str:
    """npm's absolute path (on the image's PATH in the image): never a name a child's PATH resolves."""
    return hostenv.tool("npm")


def pack(package_dir: Path, dest: Path, timeout: float = 300) -> Packed:
    """`npm pack --ignore-scripts` into `dest`; returns the file and its integrity."""
    return start_pack(package_dir, dest, timeout).finish()


class PackJob:
    """`npm pack` started (`start_pack`) and not yet waited for: the run prepares its context meanwhile.

    `finish()` waits for it (within the timeout counted from the start) and returns what `pack` returns;
    `stop()` ends it (its process group) when the run fails before it gets there."""

    def __init__(self, package_dir: Path, dest: Path, timeout: float) -> None:
        self.package_dir, self.dest, self.timeout = package_dir, dest, timeout
        self._started = time.monotonic()
        self._proc: subprocess.Popen[str] | None = None
        self._error: OSError | None = None
        try:
            self._proc = proc.start(
                [npm_bin(), "pack", "--ignore-scripts", "--json", "--pack-destination", str(dest)],
                cwd=package_dir,
                env=npm_env(dest),
            )
        except OSError as exc:
            self._error = exc

    def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            proc.stop_group(self._proc)
            with contextlib.suppress(Exception):
                self._proc.communicate(timeout=2)

    def finish(self) -> Packed:
        package_dir, dest, timeout = self.package_dir, self.dest, self.timeout
        try:
            if self._proc is None:
                raise self._error or OSError("npm did not start")
            res = proc.finish(self._proc, timeout - (time.monotonic() - self._started))
        except subprocess.TimeoutExpired as exc:
            raise NpmError(
                f"`npm pack` did not finish within {timeout:.0f} s in {package_dir} (the run's deadline)",
                "Raise the `timeout` input, then re-run the job",
            ) from exc
        except OSError as exc:
            raise NpmError(f"`npm pack` could not run in {package_dir} ({exc})", "Make sure npm is installed") from exc
        if res.returncode != 0:
            raise _pack_failed(package_dir, res.stderr)
        try:
            info = json.loads(res.stdout)[0]
            path = dest / Path(str(info["filename"])).name
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise NpmError(
                "`npm pack --json` printed no usable result", "Check the npm version (npm >= 9 needed)"
            ) from exc
        if not path.is_file():
            files = [f for f in dest.glob("*.tgz") if f.is_file()]
            if len(files) != 1:
                raise NpmError(f"`npm pack` did not leave exactly one tarball in {dest}")
            path = files[0]
        data = path.read_bytes()
        integrity, shasum = integrity_of(data)
        if info.get("integrity") and info["integrity"] != integrity:
            raise NpmError("The packed tarball's integrity differs from what npm reported", "Re-run the job")
        return Packed(path, integrity, shasum, len(data), str(info.get("name", "")), str(info.get("version", "")))


def start_pack(package_dir: Path, dest: Path, timeout: float = 300) -> PackJob:
    """Start `npm pack --ignore-scripts` into `dest`; `.finish()` waits and returns the file and its integrity."""
    return PackJob(package_dir, dest, timeout)


def npmrc_auth_key(registry: str) -> str:
    """`https://host/path/` -> `//host/path/` (the nerf-dart npm keys auth by)."""
    parts = urlsplit(registry)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"//{parts.netloc}{path}"


def publish(
    tarball: Path,
    *,
    registry: str,
    token: Secret | None,
    workspace: Path | None,
    tag: str = "",
    access: str = "",
    dry_run: bool = False,
    timeout: float = 600,
    expected_integrity: str | None = None,
    started: list[int] | None = None,
    provenance: bool = False,
    stage: bool = False,
    route: Route | None = None,
) -> Published:
    """`npm publish <tarball> --ignore-scripts` (or `npm stage publish`) with a temp userconfig (0600)
    deleted afterwards.

    With `expected_integrity`, the tarball is re-hashed first and must match; npm then uploads that
    verified copy (in the private temp dir), not a file someone could swap afterwards. `started` gets
    npm's pid once it runs (so a cancelled run can tell "possibly published" from "nothing").
    `provenance` adds `--provenance`; only then does npm get the job's ID-token request variables
    (sigstore signs with them)."""
    tmp = private_tempdir(workspace, "gatekeeper-publish-")
    try:
        if expected_integrity is not None:
            data = tarball.read_bytes()
            actual, _ = integrity_of(data)
            if actual != expected_integrity:
                raise NpmError(
                    f"The tarball changed after the gates checked it (now {actual[:24]}..., checked "
                    f"{expected_integrity[:24]}...)",
                    "Something rewrote the packed file during the run; re-run the job on a clean runner",
                )
            copy = tmp / tarball.name
            write_private(copy, data)
            tarball = copy
        npmrc = tmp / "npmrc"
        lines = [f"registry={registry}"]
        if route is not None:
            if token and route.proxy_for(registry) and urlsplit(registry).scheme != "https":
                raise NpmError(
                    f"Refusing to publish to {registry} through the proxy `network.https-proxy` over plain http "
                    "(the proxy would read the token)",
                    "Publish to an https:// registry (tunnelled with CONNECT), or list its host in `network.no-proxy`",
                )
            lines += route.npmrc_lines(tmp)  # the policy's proxy and CA bundle, nothing from the environment
        if token:
            lines.append(f"{npmrc_auth_key(registry)}:_authToken={token.reveal()}")
        write_private(npmrc, ("\n".join(lines) + "\n").encode("utf-8"))
        argv = [
            npm_bin(),
            *(["stage", "publish"] if stage else ["publish"]),
            str(tarball),
            "--ignore-scripts",
            "--json",
            "--registry",
            registry,
            "--userconfig",
            str(npmrc),
        ]
        if tag:
            argv += ["--tag", tag]
        if access:
            argv += ["--access", access]
        if dry_run:
            argv.append("--dry-run")
        if provenance:
            argv.append("--provenance")
        env = npm_env(tmp, {"NPM_CONFIG_USERCONFIG": str(npmrc)}, keep_oidc=provenance)
        try:
            res = run(argv, cwd=tmp, env=env, timeout=timeout, started=started)
        except subprocess.TimeoutExpired as exc:
            raise PublishUncertain(
                f"`npm publish` did not complete within {timeout:.0f} s (the run's deadline) and was stopped",
                "Check the registry (`npm view <name>@<version>`) before re-running; raise the `timeout` input if the "
                "upload needs longer",
            ) from exc
        except OSError as exc:
            raise NpmError(f"`npm publish` could not run ({type(exc).__name__})", "Check that npm is on PATH") from exc
        out = token.redact(res.stdout) if token else res.stdout
        err = token.redact(res.stderr) if token else res.stderr
        parsed: dict[str, object] = {}
        try:
            loaded = json.loads(out) if out.strip() else {}
            parsed = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            parsed = {}
        if res.returncode == 0:
            done = "staged" if stage else "published"
            stage_id = find_stage_id(parsed, out) if stage and not dry_run else ""
            if stage and not dry_run and not stage_id:
                return Published(False, False, "`npm stage publish` reported no stage id", parsed)
            return Published(True, False, done if not dry_run else "dry run: not uploaded", parsed, stage_id)
        text = out + "\n" + err
        conflict = "EPUBLISHCONFLICT" in text or "previously published" in text or "cannot publish over" in text.lower()
        summary = _error_summary(parsed, err)
        return Published(False, conflict, summary, parsed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


STAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
STAGED_LINE = re.compile(r"\(staged with id ([0-9A-Fa-f-]{36})\)")


def find_stage_id(parsed: dict[str, object], stdout: str) -> str:
    """The stage id `npm stage publish --json` printed (`{name: {..., stageId}}`), if it is a UUID."""
    candidates: list[object] = [parsed.get("stageId")]
    candidates += [v.get("stageId") for v in parsed.values() if isinstance(v, dict)]
    m = STAGED_LINE.search(stdout)
    if m:
        candidates.append(m.group(1))
    for value in candidates:
        if isinstance(value, str) and STAGE_ID.match(value):
            return value.lower()
    return ""


def _error_summary(parsed: dict[str, object], stderr: str) -> str:
    error = parsed.get("error")
    if isinstance(error, dict):
        return " ".join(str(error.get(k, "")) for k in ("code", "summary")).strip()[:800]
    lines = [ln.strip() for ln in stderr.splitlines() if "npm error" in ln or "npm ERR!" in ln]
    return " ".join(lines[:4])[:800] or stderr.strip()[-800:]


def pack_as_version(
    package_dir: Path, version: str, dest: Path, *, workspace: Path | None, timeout: float = 300
) -> Packed:
    """Pack `package_dir` as if its package.json said `version`, leaving the folder untouched.

    semantic-release knows the next version before anything is written (projects often keep
    `0.0.0-development` in package.json). The files `npm pack` would include are copied into a
    private staging folder outside the workspace, `npm version <v> --no-git-tag-version
    --allow-same-version --ignore-scripts` writes the version there exactly as the plugin's
    `prepare` later writes it into the workspace, and that copy is packed: the same bytes a re-pack
    after `prepare` gives (the plugin checks that)."""
    from gatekeeper._internal import semver

    if semver.parse(version) is None:
        raise NpmError(f"The version to pack, {version[:100]!r}, is not a semantic version", "Pass e.g. 1.2.3")
    stage = private_tempdir(workspace, "gatekeeper-stage-")
    try:
        env = npm_env(stage)
        try:
            res = run(
                [npm_bin(), "pack", "--dry-run", "--json", "--ignore-scripts"],
                cwd=package_dir,
                env=env,
                timeout=timeout,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NpmError(f"`npm pack` could not run in {package_dir} ({exc})", "Make sure npm is installed") from exc
        if res.returncode != 0:
            raise _pack_failed(package_dir, res.stderr)
        try:
            listed = [str(f["path"]) for f in json.loads(res.stdout)[0]["files"]]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise NpmError("`npm pack --dry-run --json` printed no usable file list", "Check the npm version") from exc
        root = stage / "package"
        base = package_dir.resolve()
        for rel in listed:
            src = (package_dir / rel).resolve()
            if Path(rel).is_absolute() or ".." in Path(rel).parts or not src.is_relative_to(base) or not src.is_file():
                raise NpmError(f"`npm pack` listed {rel!r}, which is not a file inside {package_dir}")
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        if not (root / "package.json").is_file():
            raise NpmError("`npm pack` did not list package.json")
        argv = [npm_bin(), "version", version, "--no-git-tag-version", "--allow-same-version", "--ignore-scripts"]
        try:
            ver = run(argv, cwd=root, env=env, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NpmError(f"`npm version {version}` could not run ({exc})") from exc
        if ver.returncode != 0:
            tail = " ".join(ver.stderr.strip().splitlines()[-3:])
            raise NpmError(f"`npm version {version}` failed: {tail[:500]}", "Check the version and package.json")
        return pack(root, dest, timeout=timeout)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def tool_versions(timeout: float = 30) -> dict[str, str | None]:
    """The versions of the `node` and `npm` this gate runs (`22.23.2`, `11.21.2`; None: not found/unreadable).

    npm runs with a private cache and logs dir (deleted here), like every npm child."""
    out: dict[str, str | None] = {}
    tmp = private_tempdir(None, "gatekeeper-versions-")
    try:
        env = npm_env(tmp)
        for tool in ("node", "npm"):
            try:  # by absolute path, never a name a child's PATH resolves (issue 21)
                done = subprocess.run(
                    [hostenv.tool(tool), "--version"],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    env=env,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired, GatekeeperError):
                out[tool] = None
                continue
            text = done.stdout.strip().removeprefix("v")
            out[tool] = text if done.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\S*", text) else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
