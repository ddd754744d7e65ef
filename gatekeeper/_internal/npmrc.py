"""npm's own config, read as npm reads it, for the registry of a package (local CLI only).

Precedence, highest first (as `@npmcli/config`): the `--registry` flag; the environment
(`npm_config_*`, any case, empty values ignored); the project `.npmrc` (in the nearest
folder up from the cwd holding a `package.json` or `node_modules`, or the workspace root that folder
belongs to, as `npm prefix` says); the user `.npmrc`
(`userconfig`: env/project/builtin, else `~/.npmrc`); the global config (`globalconfig`:
env/project/user/builtin, else `$PREFIX/etc/npmrc`, PREFIX being the `prefix` setting, else
env `PREFIX`, else two folders up from the real path of the `node` on PATH, with `DESTDIR`);
npm's builtin config (`npmrc` in the npm package found on PATH). For a scoped name `@scope/x`, a
`@scope:registry` key at any level wins over `registry` (as npm-registry-fetch does).
`${VAR}` in values is replaced from the environment (`${VAR?}`: empty when unset); path values
(`userconfig`, `globalconfig`, `prefix`) expand `~/` and are made absolute like npm's.

Files are read in memory with a size cap and parsed as ini; only the keys asked for
are kept, so no other value (tokens: `//host/:_authToken`, `_auth`, `_password`) is
ever held, shown or logged. Entry points: `resolve_registry`, `config_layers`.

`registry_auth(url)` reads the one credential npm-registry-fetch would send to that registry
URL: `//host[:port]/path/:_authToken` (Bearer), `:_auth` or `:username` + `:_password` (Basic),
matched scheme-less from the longest path down to `//host[:port]`, as its `getAuth` does. Only
the keys of that URL's own nerf-darts are read, so a token for another host is never held; the
value is a `Secret` at once, and only where it came from is ever shown. An entry whose `${VAR}`
is not set is skipped (npm would send the literal text).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gatekeeper.errors import ConfigError
from gatekeeper.secret import Secret

PUBLIC_REGISTRY = "https://registry.npmjs.org/"
#: Largest .npmrc read (npm has no limit; a real one is a few hundred bytes).
MAX_NPMRC_BYTES = 256 * 1024
_ENV_PREFIX = "npm_config_"
_ENV_REF = re.compile(r"(?<!\\)(\\*)\$\{([^${}?]+)(\?)?\}")


@dataclass(frozen=True)
class Registry:
    """The registry URL for a package and where that setting came from."""

    url: str
    #: e.g. "--registry", "env npm_config_registry", "/repo/.npmrc (@acme:registry)", "default".
    source: str

    @property
    def shown(self) -> str:
        """The URL without any user:password@ part or query (safe to print)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


def resolve_registry(
    flag: str | None, name: str | None = None, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Registry:
    """The registry `npm` would use for package `name` (None: unscoped) from here."""
    if flag:
        return Registry(_check_url(flag, "--registry"), "--registry")
    env = os.environ if env is None else env
    keys = ["registry"]
    scope = name.split("/", 1)[0] if name and name.startswith("@") and "/" in name else None
    if scope:
        keys.insert(0, f"{scope}:registry")
    levels = config_layers(keys, env=env, cwd=cwd or Path.cwd())
    for key in keys:  # the scoped key wins at any level, then the plain one
        for layer in levels:
            if key in layer.values:
                source = f"env npm_config_{key}" if layer.where == "env" else f"{layer.where} ({key})"
                return Registry(_check_url(layer.values[key], source), source)
    return Registry(PUBLIC_REGISTRY, "default")


@dataclass(frozen=True)
class Layer:
    """One level of npm's config: `env` or the file it came from, and the asked keys it sets."""

    where: str
    values: dict[str, str]
    #: project | user | global | builtin (env: "env").
    kind: str = "env"


#: Keys that locate the other config files (read at every level along with the asked keys).
_LOCATORS = ("userconfig", "globalconfig", "prefix")


def config_layers(keys: list[str], *, env: Mapping[str, str], cwd: Path) -> list[Layer]:
    """npm's config levels holding `keys`, highest precedence first: env, project, user, global, builtin.

    Files are located as `@npmcli/config` does (builtin, then env, then project: userconfig; then user:
    globalconfig/prefix); only `keys` (and the three locator keys) are ever read from them."""
    wanted = [*keys, *(k for k in _LOCATORS if k not in keys)]
    home = Path(env.get("HOME") or Path.home())
    builtin_rc = builtin_npmrc(env)
    builtin = Layer(str(builtin_rc), read_npmrc(builtin_rc, wanted, env), "builtin") if builtin_rc else None
    env_layer = Layer("env", _env_config(env, wanted))
    early = [env_layer, *([builtin] if builtin else [])]
    user = _path_setting("userconfig", early, home, cwd) or home / ".npmrc"
    layers = [env_layer]
    project = project_npmrc(cwd)
    # npm skips the project config when it is the user config (a project in the home folder).
    if project is not None and project.resolve() != user.resolve():
        layers.append(Layer(str(project), read_npmrc(project, wanted, env), "project"))
        user = _path_setting("userconfig", [*layers, *early[1:]], home, cwd) or user
    if user.is_file():
        layers.append(Layer(str(user), read_npmrc(user, wanted, env), "user"))
    located = [*layers, *([builtin] if builtin else [])]
    global_rc = _path_setting("globalconfig", located, home, cwd)
    if global_rc is None:
        prefix = _path_setting("prefix", located, home, cwd) or global_prefix(env)
        global_rc = prefix / "etc" / "npmrc" if prefix is not None else None
    if global_rc is not None and global_rc.is_file():
        layers.append(Layer(str(global_rc), read_npmrc(global_rc, wanted, env), "global"))
    if builtin is not None:
        layers.append(builtin)
    return [Layer(layer.where, {k: v for k, v in layer.values.items() if k in keys}, layer.kind) for layer in layers]


def _path_setting(key: str, layers: list[Layer], home: Path, cwd: Path) -> Path | None:
    """A path-typed setting from the first layer that has it: `~/` is the home folder, else relative to cwd."""
    for layer in layers:
        value = layer.values.get(key)
        if value:
            if value.startswith("~/"):
                return home / value[2:]
            return Path(value) if Path(value).is_absolute() else cwd / value
    return None


def global_prefix(env: Mapping[str, str]) -> Path | None:
    """npm's default global prefix: env PREFIX, else two folders up from the real `node` on PATH (+ DESTDIR)."""
    if env.get("PREFIX"):
        return Path(env["PREFIX"])
    node = _on_path("node", env)
    if node is None:
        return None
    prefix = node.parent.parent
    if env.get("DESTDIR"):
        prefix = Path(env["DESTDIR"]) / prefix.relative_to(prefix.anchor)
    return prefix


def builtin_npmrc(env: Mapping[str, str]) -> Path | None:
    """`npmrc` in the root of the npm package that `npm` on PATH runs (npm's builtin config), if any."""
    npm = _on_path("npm", env)
    if npm is None:
        return None
    for folder in npm.parents:
        manifest = folder / "package.json"
        if manifest.is_file():
            rc = folder / "npmrc"
            if not rc.is_file():  # the common case: no builtin config, and no package.json to parse
                return None
            try:
                is_npm = json.loads(manifest.read_bytes()[:MAX_MANIFEST_BYTES]).get("name") == "npm"
            except (OSError, ValueError, AttributeError):
                is_npm = False
            return rc if is_npm else None
    return None


def _on_path(program: str, env: Mapping[str, str]) -> Path | None:
    """The real path of `program` on the env's PATH (an env without PATH finds nothing)."""
    path = env.get("PATH")
    if not path:
        return None
    # shutil.which's POSIX walk, written out: importing shutil (and with it bz2 and lzma) cost ~6 ms
    # of every `gatekeeper diff`, which reads npm's builtin config to judge lockfile sources
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return Path(os.path.realpath(candidate))
    return None


@dataclass(frozen=True)
class RegistryAuth:
    """The credential npm would send to one registry: `Authorization: <scheme> <secret>`."""

    scheme: str  # "Bearer" (_authToken) | "Basic" (_auth, username + _password)
    secret: Secret
    #: Where it came from, never the value: e.g. "/home/me/.npmrc (//npm.acme.test/:_authToken)".
    source: str


_AUTH_KINDS = ("_authToken", "_auth", "username", "_password")


def nerf_darts(url: str) -> list[str]:
    """npm's auth keys for `url`, longest first: `//host[:port]/a/b/`, `//host[:port]/a/b`, … `//host[:port]`.

    Scheme-less (an http and an https registry on one host share them); the default port is dropped
    and the host lower-cased, as WHATWG's URL.host gives it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and (parts.scheme, port) not in (("http", 80), ("https", 443)):
        host += f":{port}"
    key = f"//{host}{parts.path or '/'}"
    out: list[str] = []
    while len(key) > 2:
        out.append(key)
        key = re.sub(r"([^/]+|/)$", "", key)
    return out


def registry_auth(url: str, *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> RegistryAuth | None:
    """The credential npm-registry-fetch's `getAuth` finds for registry `url` in npm's config, or None."""
    import base64  # here, not at module level: start-up (docs/DESIGN.md)
    import binascii

    env = os.environ if env is None else env
    darts = nerf_darts(url)
    keys = [f"{dart}:{kind}" for dart in darts for kind in _AUTH_KINDS]
    merged: dict[str, tuple[str, str]] = {}
    for layer in config_layers(keys, env=env, cwd=cwd or Path.cwd()):
        for key, value in layer.values.items():
            if key not in merged and value and not _ENV_REF.search(value):  # unset ${VAR}: not a credential
                where = f"env npm_config_{key}" if layer.where == "env" else f"{layer.where} ({key})"
                merged[key] = (value, where)
    for dart in darts:
        if f"{dart}:_authToken" in merged:
            value, where = merged[f"{dart}:_authToken"]
            return RegistryAuth("Bearer", Secret(value), where)
        if f"{dart}:_auth" in merged:
            value, where = merged[f"{dart}:_auth"]
            return RegistryAuth("Basic", Secret(value), where)
        if f"{dart}:username" in merged and f"{dart}:_password" in merged:
            user, _ = merged[f"{dart}:username"]
            encoded, where = merged[f"{dart}:_password"]
            try:  # npm keeps _password base64-encoded
                password = base64.b64decode(encoded, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ConfigError(
                    f"The npm setting {where} is not base64 (npm stores `_password` base64-encoded)",
                    "Set it with `npm login`, or write the base64 of the password",
                ) from None
            return RegistryAuth("Basic", Secret(base64.b64encode(f"{user}:{password}".encode()).decode()), where)
    return None


def project_npmrc(cwd: Path) -> Path | None:
    """`.npmrc` in npm's local prefix (`local_prefix`), if there is one."""
    rc = local_prefix(cwd) / ".npmrc"
    return rc if rc.is_file() else None


#: Largest package.json read while looking for a workspace root.
MAX_MANIFEST_BYTES = 1024 * 1024


def local_prefix(cwd: Path) -> Path:
    """npm's local prefix (what `npm prefix` prints), as `@npmcli/config` finds it: the nearest folder up
    from `cwd` with a package.json or node_modules; when that folder is a workspace of a folder further up
    (its package.json `workspaces` globs match it), that workspace root. Else `cwd` itself."""
    start = cwd.resolve()
    found: Path | None = None
    for folder in (start, *start.parents):
        has_manifest = (folder / "package.json").is_file()
        if found is None:
            if has_manifest or (folder / "node_modules").is_dir():
                found = folder
            continue
        if has_manifest and (found / "package.json").is_file():
            patterns = _workspace_patterns(folder / "package.json")
            if patterns and _is_workspace(found.relative_to(folder).as_posix(), patterns):
                return folder
    return found or start


def _workspace_patterns(manifest: Path) -> list[str]:
    try:
        with manifest.open("rb") as fh:
            doc = json.loads(fh.read(MAX_MANIFEST_BYTES))
    except (OSError, ValueError):
        return []  # npm moves on when a package.json up the tree cannot be read
    spaces = doc.get("workspaces") if isinstance(doc, dict) else None
    if isinstance(spaces, dict):
        spaces = spaces.get("packages")
    return [p for p in spaces if isinstance(p, str)] if isinstance(spaces, list) else []


def _is_workspace(rel: str, patterns: list[str]) -> bool:
    """`rel` (posix, relative to the root) is matched by a workspace glob and by no negated one
    (`!x`), outside node_modules, as @npmcli/map-workspaces globs them (minimatch: `*`, `?`, `[..]`,
    `**`, `{a,b}`; wildcards skip dot folders)."""
    parts = rel.split("/")
    if "node_modules" in parts:
        return False
    included = excluded = False
    for raw in patterns:
        bangs = len(raw) - len(raw.lstrip("!"))
        pattern = re.sub(r"^\.?/+", "", raw[bangs:].replace("\\", "/")).rstrip("/")
        if any(_glob_match(parts, alt.split("/")) for alt in _braces(pattern)):
            if bangs % 2:
                excluded = True
            else:
                included = True
    return included and not excluded


def _braces(pattern: str, depth: int = 0) -> list[str]:
    m = re.search(r"\{([^{}]*,[^{}]*)\}", pattern)
    if m is None or depth > 8:
        return [pattern]
    out: list[str] = []
    for choice in m.group(1).split(","):
        out += _braces(pattern[: m.start()] + choice + pattern[m.end() :], depth + 1)
    return out[:256]


def _glob_match(parts: list[str], pattern: list[str]) -> bool:
    from fnmatch import fnmatchcase

    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(
            _glob_match(parts[i:], rest) for i in range(len(parts) + 1) if not any(p.startswith(".") for p in parts[:i])
        )
    if not parts:
        return False
    name = parts[0]
    if name.startswith(".") and not head.startswith("."):
        return False
    return fnmatchcase(name, head) and _glob_match(parts[1:], rest)


def _env_config(env: Mapping[str, str], keys: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for env_key, value in env.items():
        if len(env_key) <= len(_ENV_PREFIX) or env_key[: len(_ENV_PREFIX)].lower() != _ENV_PREFIX or not value:
            continue
        key = env_key[len(_ENV_PREFIX) :]
        if not key.startswith("//"):
            key = key[:1] + key[1:].replace("_", "-")
            key = key.lower()
        if key in keys:
            out[key] = value
    return out


def read_npmrc(path: Path, keys: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """The values of `keys` in an npmrc file (ini), env references replaced; nothing else is kept."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_NPMRC_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"npm's config file {path} cannot be read ({exc.strerror or type(exc).__name__})",
            "Fix its permissions, or pass --registry",
        ) from None
    if len(data) > MAX_NPMRC_BYTES:
        raise ConfigError(f"npm's config file {path} is larger than {MAX_NPMRC_BYTES} bytes", "Check the file")
    out: dict[str, str] = {}
    section = ""
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        key = _unquote(key.strip())
        if section:
            key = f"{section}.{key}"
        if not sep or key not in keys:
            continue  # never hold a value we do not need (auth lines included)
        out[key] = _replace_env(_unquote(value.strip()), env)
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            loaded = json.loads(value)
        except ValueError:
            return value[1:-1]
        return loaded if isinstance(loaded, str) else value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _replace_env(value: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        esc, name, optional = m.group(1), m.group(2), m.group(3)
        if len(esc) % 2:
            return m.group(0)[(len(esc) + 1) // 2 :]
        val = env.get(name)
        if val is None:
            val = "" if optional else "${" + name + "}"
        return esc[: len(esc) // 2] + val

    return _ENV_REF.sub(sub, value)


def _check_url(url: str, source: str) -> str:
    if not url.startswith(("http://", "https://")):
        # The value is not shown: after ${VAR} replacement it may hold anything, a token included.
        raise ConfigError(
            f"The registry setting from {source} is not an http(s) URL",
            "Give the registry's full URL, e.g. https://registry.npmjs.org/",
        )
    return url if url.endswith("/") else url + "/"
