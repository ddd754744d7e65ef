"""Packing with the repository's own package manager (issue 24, item 2): npm, pnpm, yarn (berry) or bun.

pnpm, yarn and bun rewrite what `npm pack` leaves alone (`workspace:`/`catalog:` ranges, `publishConfig` field
overrides, pnpm also strips the publish scripts): the gate must diff and publish the tarball the maintainer's own
tool makes. Publishing stays `npm publish <tarball>`.

Where the tools come from (no download at run time of anything not pinned):
- npm: the image's own (`npm.pack`, unchanged).
- pnpm, yarn berry, bun: `gatekeeper/packers/package.json` pins exact versions and its `package-lock.json` their
  integrity; the image installs them with `npm ci --ignore-scripts` into `/opt/packers/node_modules`. Outside the
  image (tests, a checkout) the folder `GATEKEEPER_PACKERS_MODULES` names, read only where the image's copy is
  absent (a step before the gate must never swap the tool). The installed tool's version must equal the pin.
- pnpm and yarn run as `node <their JS entry>` (the image's node, by absolute path), bun as its binary; never
  through corepack, never through a name a child's PATH resolves.

The pinned version always packs. A repository's `packageManager` field naming another version (`pnpm@10.0.0`,
`yarn@4.5.0`) is not honoured: pnpm gets `--pm-on-fail=ignore` (else pnpm 11 downloads and runs the named pnpm),
yarn `YARN_IGNORE_PATH=1` (else it runs the repository's `yarnPath` release file), and the report says which
tool and version packed (`Packed.manager`, `Packed.manager_version`).

Nothing of the repository's runs, as with `npm pack --ignore-scripts`:
- pnpm: `--ignore-scripts` and `--ignore-pnpmfile` (a `.pnpmfile.cjs` `beforePacking` hook is not applied), and
  `--config.offline=true`: pnpm 11 installs a workspace's `configDependencies` before any command, from the
  registry the repository names; offline, a pack fetches nothing (one with config dependencies fails closed);
- yarn: `yarn pack` runs the package's `prepack`/`postpack` with no switch to turn them off (Yarn 4.18:
  `maybeExecuteWorkspaceLifecycleScript` only asks whether the script exists), so a package with one is refused
  (build in an earlier step; the gate packs what is there); a `.yarnrc.yml` with `plugins` (JavaScript loaded
  into yarn) is refused; `yarnPath` is ignored;
- bun: `bun pm pack --ignore-scripts`.
Each child gets the allowlisted environment (`npm.npm_env`: no credentials) with HOME, caches and state inside
the step's private temp dir, runs in its own process group under the run's deadline; its output goes to a file
there, of which only the last 64 KiB are read, and only its error lines are shown.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from gatekeeper._internal import hostenv, npm, proc
from gatekeeper.errors import ConfigError, NpmError

SUPPORTED = ("npm", "pnpm", "yarn", "bun")

PACKERS_DIR = Path(__file__).resolve().parents[1] / "packers"
#: Where the image installs them (Dockerfile: `npm ci --ignore-scripts` of gatekeeper/packers/'s lock).
DEFAULT_MODULES = Path("/opt/packers/node_modules")
MODULES_ENV = "GATEKEEPER_PACKERS_MODULES"
#: The installed package that carries each tool, and its entry point inside it.
TOOL_PACKAGES = {
    "pnpm": ("pnpm", "bin/pnpm.mjs"),
    "yarn": ("@yarnpkg/cli-dist", "bin/yarn.js"),
    "bun": ("@oven/bun-linux-x64", "bin/bun"),
}
#: What `auto` looks for when package.json has no `packageManager` field, in this order.
LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lock", "bun"),
    ("bun.lockb", "bun"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
)
MAX_MANIFEST_BYTES = 1024 * 1024
#: Of a tool's output only this much (its end) is ever read.
MAX_OUTPUT_BYTES = 64 * 1024
_PM_FIELD = re.compile(r"^(?P<name>[a-z][a-z0-9-]*)@(?P<version>[0-9][^\s+]*)(\+[\w.:=-]+)?$")


class PackerError(NpmError):
    """The package manager that packs could not be chosen, found or run (nothing is published)."""


def _remedy_input() -> str:
    return "Set the `package-manager` input (auto | " + " | ".join(SUPPORTED) + ")"


def _read_manifest(path: Path) -> dict[str, object] | None:
    """package.json as a dict; None when absent. Malformed or oversized: an error (hostile input)."""
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise PackerError(f"{path} is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackerError(
            f"{path} is not readable JSON ({type(exc).__name__})",
            "Fix package.json, or set the `package-manager` input",
        ) from exc
    if not isinstance(data, dict):
        raise PackerError(f"{path} is not a JSON object", "Fix package.json")
    return data


def _yarn_classic_lock(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return False
    return "__metadata:" not in head and "yarn lockfile v1" in head


def choose_manager(repo_root: Path, requested: str = "auto") -> str:
    """The package manager that packs: `requested`, or for `auto` the repository root's package.json
    `packageManager` field, else its lockfile (pnpm-lock.yaml, yarn.lock (berry), bun.lock/bun.lockb,
    package-lock.json), else npm. Yarn 1 (classic) packs with npm, as before this input existed (its pack has no
    `workspace:` protocol either, and runs scripts). An unknown tool or a malformed field is an error."""
    want = (requested or "auto").strip().lower()
    if want in SUPPORTED:
        return want
    if want != "auto":
        raise ConfigError(
            f"`package-manager: {requested[:40]}` is not one of auto, {', '.join(SUPPORTED)}", _remedy_input()
        )
    manifest = _read_manifest(repo_root / "package.json") or {}
    field = manifest.get("packageManager")
    if field is not None:
        m = _PM_FIELD.match(field) if isinstance(field, str) else None
        if m is None or m.group("name") not in SUPPORTED:
            shown = field[:80] if isinstance(field, str) else type(field).__name__
            raise PackerError(
                f"The repository's package.json names `packageManager: {shown!r}`, which the gate cannot pack with "
                f"(it packs with {', '.join(SUPPORTED)})",
                _remedy_input() + " to the tool to pack with",
            )
        name = m.group("name")
        if name == "yarn" and m.group("version").split(".")[0] in ("0", "1"):
            return "npm"  # yarn 1 (classic) has no workspace: protocol; npm packs it, as the gate always did
        return name
    for filename, name in LOCKFILES:
        if (repo_root / filename).is_file():
            if name == "yarn" and _yarn_classic_lock(repo_root / filename):
                return "npm"
            return name
    return "npm"


def find_repo_root(package_dir: Path) -> Path:
    """The repository root of a package folder for `auto` (`gatekeeper diff <dir>`): the nearest folder, from
    `package_dir` up, with a workspace file, a lockfile or `.git`; else `package_dir` itself."""
    markers = ("pnpm-workspace.yaml", ".git", *(name for name, _ in LOCKFILES))
    for d in (package_dir, *package_dir.parents):
        if any((d / m).exists() for m in markers):
            return d
    return package_dir


def modules_dir() -> Path:
    """The pinned tools' node_modules: the image's; elsewhere (tests, a checkout) the folder MODULES_ENV names."""
    import os

    if (DEFAULT_MODULES / "pnpm" / "package.json").is_file():
        return DEFAULT_MODULES
    given = os.environ.get(MODULES_ENV, "")
    return Path(given).resolve() if given else DEFAULT_MODULES


def pinned_versions() -> dict[str, str]:
    """The versions gatekeeper/packers/package.json pins, by tool name (npm: the image's, not listed)."""
    data = json.loads((PACKERS_DIR / "package.json").read_text(encoding="utf-8"))
    deps = {**data.get("dependencies", {}), **data.get("optionalDependencies", {})}
    return {tool: str(deps[pkg]) for tool, (pkg, _) in TOOL_PACKAGES.items() if pkg in deps}


def tool_entry(manager: str) -> tuple[Path, str]:
    """(the entry point of the pinned `manager`, its version); an error when it is not installed as pinned."""
    pkg, entry = TOOL_PACKAGES[manager]
    remedy = (
        f"Install the pinned package managers: `npm ci --ignore-scripts` with {PACKERS_DIR}/package.json and "
        f"package-lock.json, into the folder `{MODULES_ENV}` names (the image has them in {DEFAULT_MODULES})"
    )
    if manager == "bun" and (platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64")):
        raise PackerError(
            f"bun is pinned for linux-x64 only (the registry package @oven/bun-linux-x64), not {platform.machine()}",
            "Pack with `package-manager: npm`, pnpm or yarn",
        )
    root = modules_dir() / pkg
    want = pinned_versions().get(manager, "")
    try:
        installed = json.loads((root / "package.json").read_text(encoding="utf-8")).get("version", "")
    except (OSError, ValueError, AttributeError):
        raise PackerError(f"The pinned {manager} is not installed in {root.parent}", remedy) from None
    if installed != want or not (root / entry).is_file():
        raise PackerError(f"{root} holds {manager} {str(installed)[:40]}, not the pinned {want}", remedy)
    return root / entry, want


def npm_version() -> str:
    """The image's npm version, read from the package.json next to its CLI (no process); "" when unknown."""
    try:
        cli = Path(npm.npm_bin()).resolve()
        for parent in cli.parents:
            manifest = parent / "package.json"
            if manifest.is_file():
                data = json.loads(manifest.read_text(encoding="utf-8"))
                if data.get("name") == "npm":
                    return str(data.get("version", ""))[:40]
                break
    except (OSError, ValueError, AttributeError, npm.GatekeeperError):
        pass
    return ""


def _env(tmp: Path) -> dict[str, str]:
    """The child env: npm's (allowlist, no credentials, private npm cache/config) with HOME, XDG dirs, yarn's and
    bun's folders inside `tmp`; no corepack download, no telemetry, yarn's network off."""
    home = tmp / ".packer-home"
    dirs = {
        name: home / sub
        for name, sub in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_STATE_HOME", "state"),
        )
    }
    for d in (home, *dirs.values()):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return npm.npm_env(
        tmp,
        {
            "HOME": str(home),
            **{k: str(v) for k, v in dirs.items()},
            "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
            "COREPACK_ENABLE_NETWORK": "0",
            "COREPACK_ENABLE_STRICT": "0",
            "YARN_IGNORE_PATH": "1",
            "YARN_ENABLE_TELEMETRY": "0",
            "YARN_ENABLE_NETWORK": "0",
            "YARN_ENABLE_GLOBAL_CACHE": "0",
            "YARN_GLOBAL_FOLDER": str(home / "yarn-global"),
            "YARN_CACHE_FOLDER": str(home / "yarn-cache"),
            "BUN_INSTALL_CACHE_DIR": str(home / "bun-cache"),
            "DO_NOT_TRACK": "1",
        },
    )


_RC_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _yarnrc_files(package_dir: Path, repo_root: Path) -> list[Path]:
    """The `.yarnrc.yml` files yarn reads for `package_dir`, up to the repository root (HOME is private)."""
    dirs = [package_dir, *package_dir.parents] if package_dir.is_relative_to(repo_root) else [package_dir]
    out: list[Path] = []
    for d in dirs:
        if (d / ".yarnrc.yml").is_file():
            out.append(d / ".yarnrc.yml")
        if d == repo_root:
            break
    return out


def _read_rc(rc: Path) -> str:
    try:
        return rc.read_text(encoding="utf-8", errors="replace")[:MAX_MANIFEST_BYTES]
    except OSError:
        return ""


def yarn_rc_placeholders(package_dir: Path, repo_root: Path) -> dict[str, str]:
    """Empty values for the `${NAME}` variables the repository's .yarnrc.yml files use without a default
    (`npmAuthToken: "${NPM_TOKEN}"`): yarn refuses to start when one is unset, and the child never gets the job's
    credentials. Never a YARN_* name (that would be yarn configuration) nor one the gate distrusts."""
    names = {n for rc in _yarnrc_files(package_dir, repo_root) for n in _RC_VAR.findall(_read_rc(rc))}
    return {n: "" for n in sorted(names) if not n.upper().startswith("YARN_") and not hostenv.is_untrusted(n)}


def _refuse_yarn_code(package_dir: Path, repo_root: Path) -> None:
    """yarn would run repository code that the gate never runs: the package's prepack/postpack, rc plugins."""
    manifest = _read_manifest(package_dir / "package.json") or {}
    scripts = manifest.get("scripts")
    found = [s for s in ("prepack", "postpack") if isinstance(scripts, dict) and s in scripts]
    if found:
        raise PackerError(
            f"`yarn pack` would run the package's {' and '.join(f'`{s}`' for s in found)} script (Yarn 4 has no switch "
            "to skip them) and the gate runs no package script",
            "Build in an earlier step and remove the script from the published package.json (the gate packs the "
            "folder as it is), or set `package-manager: npm` for a package without workspace: ranges",
        )
    for rc in _yarnrc_files(package_dir, repo_root):
        if _rc_loads_plugins(rc):
            raise PackerError(
                f"{rc} loads Yarn plugins (JavaScript of the repository's, run inside yarn), which the gate "
                "does not run",
                "Pack without them: remove `plugins:` from .yarnrc.yml (Yarn 4 has its own plugins built in), or "
                "set `package-manager: npm`",
            )


def _rc_loads_plugins(rc: Path) -> bool:
    """Does this .yarnrc.yml set `plugins`, however the YAML spells the key (quoted, `? plugins`, a flow
    mapping)? It is read by a real YAML parser, not by a pattern; one that is not a YAML mapping of at most
    MAX_MANIFEST_BYTES counts as loading plugins (the gate cannot tell what yarn would load)."""
    import yaml

    try:
        if rc.stat().st_size > MAX_MANIFEST_BYTES:
            return True
        data = yaml.safe_load(rc.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return True
    if data is None:
        return False
    return not isinstance(data, dict) or any(str(key).strip() == "plugins" for key in data)


def _argv(manager: str, entry: Path, dest: Path) -> list[str]:
    if manager == "pnpm":
        node = hostenv.tool("node")
        return [
            node,
            str(entry),
            "pack",
            "--ignore-scripts",
            "--ignore-pnpmfile",
            "--pm-on-fail=ignore",
            "--config.offline=true",
            "--json",
            "--pack-destination",
            str(dest),
        ]
    if manager == "yarn":
        node = hostenv.tool("node")
        return [node, str(entry), "pack", "--json", "--out", str(dest / "package.tgz")]
    return [str(entry), "pm", "pack", "--ignore-scripts", "--quiet", "--destination", str(dest)]


def pack(package_dir: Path, dest: Path, manager: str, *, repo_root: Path, timeout: float = 300) -> npm.Packed:
    """Pack `package_dir` into the (empty) folder `dest` with `manager`'s own pack, scripts disabled; returns the
    tarball, its integrity, and which tool and version packed it. npm: `npm pack --ignore-scripts` as before."""
    if manager not in SUPPORTED:
        raise ConfigError(f"`package-manager: {manager[:40]}` is not one of {', '.join(SUPPORTED)}", _remedy_input())
    if manager == "npm":
        return replace(npm.pack(package_dir, dest, timeout=timeout), manager="npm", manager_version=npm_version())
    entry, version = tool_entry(manager)
    if manager == "yarn":
        _refuse_yarn_code(package_dir.resolve(), repo_root.resolve())
    before = {p.name for p in dest.glob("*.tgz")}
    tmp = npm.private_tempdir(repo_root, f"gatekeeper-{manager}-")
    shown = f"`{manager} pack`"
    try:
        env = _env(tmp)
        if manager == "yarn":
            env = {**yarn_rc_placeholders(package_dir.resolve(), repo_root.resolve()), **env}
        try:
            returncode, output = _run_bounded(_argv(manager, entry, dest), package_dir, env, timeout, tmp)
        except subprocess.TimeoutExpired as exc:
            raise PackerError(
                f"{shown} did not finish within {timeout:.0f} s in {package_dir} (the run's deadline)",
                "Raise the `timeout` input, then re-run the job",
            ) from exc
        except OSError as exc:
            raise PackerError(f"{shown} could not run in {package_dir} ({exc})", "Check the image's node") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if returncode != 0:
        tail = _failure_text(output)
        raise PackerError(
            f"{shown} ({manager} {version}) failed in {package_dir}: {tail[:500]}",
            f"Fix the package so that `{manager} pack` works (the repository's install must have run for yarn), or "
            "set `package-manager`",
        )
    made = [p for p in dest.glob("*.tgz") if p.name not in before and p.is_file() and not p.is_symlink()]
    if len(made) != 1:
        raise PackerError(f"{shown} did not leave exactly one new tarball in {dest} ({len(made)})")
    return _packed(made[0], manager, version)


def _run_bounded(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, tmp: Path) -> tuple[int, str]:
    """Run the tool in its own process group (stopped whole on a timeout or a cancellation), its output going to a
    file in the private temp dir, of which only the last MAX_OUTPUT_BYTES are read: bounded memory, whatever a
    package makes the tool print (a file list of 50,000 entries)."""
    log = tmp / "pack-output.log"
    with log.open("wb") as fh:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = child.wait(timeout=max(timeout, 0.0))
        except BaseException:
            proc.stop_group(child)
            raise
    return returncode, proc.output_tail(log, MAX_OUTPUT_BYTES)


def _failure_text(output: str) -> str:
    """What a failed pack said: its error lines (yarn prints its usage after the error), else its last lines."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\berror\b|ERR_|YN\d{4}:.*(error|fail)", ln, re.IGNORECASE)]
    return " ".join((errors or lines[-3:])[:3])


def _packed(path: Path, manager: str, version: str) -> npm.Packed:
    from gatekeeper._internal.tarball import read_package
    from gatekeeper.trust.policy import LimitsPolicy

    data = path.read_bytes()
    integrity, shasum = npm.integrity_of(data)
    pkg = read_package(data, LimitsPolicy(), label=path.name)  # never raises; the diff reads it again with the policy
    name, ver = str(pkg.manifest.get("name", "")), str(pkg.manifest.get("version", ""))
    return npm.Packed(path, integrity, shasum, len(data), name, ver, manager=manager, manager_version=version)
