"""npm's own config, read as npm reads it, for the registry of a package (local CLI only).

Precedence, highest first (as `@npmcli/config`): the `--registry` flag; the environment
(`npm_config_*`, any case, empty values ignored); the project `.npmrc` (in the nearest
folder up from the cwd holding a `package.json` or `node_modules`); the user `.npmrc`
(`npm_config_userconfig`, else `~/.npmrc`). For a scoped name `@scope/x`, a
`@scope:registry` key at any level wins over `registry` (as npm-registry-fetch does).
`${VAR}` in values is replaced from the environment (`${VAR?}`: empty when unset).

Files are read in memory with a size cap and parsed as ini; only the keys asked for
are kept, so no other value (tokens: `//host/:_authToken`, `_auth`, `_password`) is
ever held, shown or logged. Entry point: `resolve_registry`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError

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
    levels = [("env", _env_config(env, keys))]
    project = project_npmrc(cwd or Path.cwd())
    user = user_npmrc(env)
    # npm skips the project config when it is the user config (a project in the home folder).
    if project is not None and (user is None or project.resolve() != user.resolve()):
        levels.append((str(project), read_npmrc(project, keys, env)))
    if user is not None:
        levels.append((str(user), read_npmrc(user, keys, env)))
    for key in keys:  # the scoped key wins at any level, then the plain one
        for where, values in levels:
            if key in values:
                source = f"env npm_config_{key}" if where == "env" else f"{where} ({key})"
                return Registry(_check_url(values[key], source), source)
    return Registry(PUBLIC_REGISTRY, "default")


def project_npmrc(cwd: Path) -> Path | None:
    """`.npmrc` in npm's local prefix: the nearest folder up from `cwd` with package.json or node_modules."""
    start = cwd.resolve()
    for folder in (start, *start.parents):
        if (folder / "package.json").exists() or (folder / "node_modules").is_dir():
            rc = folder / ".npmrc"
            return rc if rc.is_file() else None
    rc = start / ".npmrc"
    return rc if rc.is_file() else None


def user_npmrc(env: Mapping[str, str]) -> Path | None:
    configured = _env_config(env, ["userconfig"]).get("userconfig")
    path = Path(configured).expanduser() if configured else Path(env.get("HOME") or Path.home()) / ".npmrc"
    return path if path.is_file() else None


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
