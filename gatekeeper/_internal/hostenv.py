"""The environment the gate inherits is not trusted (issue 21).

A build step before the gate can write any variable into `$GITHUB_ENV` (and a directory into
`$GITHUB_PATH`); the runner hands them to the gate's container. Variables that change how python,
node, npm, git, glibc or the network behave would run that step's code inside the gate or next to
the credential (a `sitecustomize.py` on `PYTHONPATH`, `LD_PRELOAD`, `NODE_OPTIONS=--require`, a git
filter through `GIT_CONFIG_*`, a proxy that sees the token). So:

- `untrusted(env)` names every such variable; the Action (entrypoint.py, the image) refuses to start
  publish mode when there is one (exit 2, each named), and `PATH` counts there when it is not the
  image's (`IMAGE_PATH`, the Dockerfile's `ENV PATH`). The CLI's `publish` (semantic-release's single
  job) is not refused here: item 3 of issue 21 retires it (the plugin refuses to hold a credential).
  The one exception: a proxy or CA variable that says exactly what the trusted policy's `network:` says
  (`route.Route.excused`, checked in `modes/publish.py`).
- `scrub()` removes them from the process's own environment (check mode goes on without them).
- every child gets `proc.child_env()`, built from an allowlist, never a copy of this environment.
- the loader variables (`LOADER_NAMES`) act before any of this code runs; in the image a static busybox removes
  them first (the Dockerfile's ENTRYPOINT), outside it only the isolated publishing job keeps them out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, MutableMapping

from gatekeeper.errors import GatekeeperError

#: The image's PATH (the Dockerfile's final `ENV PATH`; tests/test_action_image.py keeps them equal).
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Name prefixes (compared upper-cased) of variables that change how a program behaves.
UNTRUSTED_PREFIXES = ("LD_", "PYTHON", "GIT_", "SSL_CERT_", "NPM_CONFIG_", "OPENSSL_")
#: Exact names (compared upper-cased).
UNTRUSTED_NAMES = frozenset(
    {
        "NODE_OPTIONS",
        "NODE_PATH",
        "NODE_EXTRA_CA_CERTS",
        "NODE_TLS_REJECT_UNAUTHORIZED",
        "NODE_USE_ENV_PROXY",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PREFIX",
        "DESTDIR",
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "LOCPATH",
        "BASH_ENV",
    }
)
#: What glibc's dynamic loader and libc act on before a program's first line runs (glibc 2.36: rtld's
#: process_envvars, iconv, locales, tunables): the image's ENTRYPOINT, a STATICALLY linked busybox `env -u` each
#: of these, removes them before the gate's Python (dynamically linked) starts, so a library a build step named in
#: LD_PRELOAD/LD_AUDIT never loads. They are gone by then: the gate cannot name them (tests/test_action_image.py
#: keeps the Dockerfile's list equal to this one). Any other LD_* that reaches the gate is refused as usual.
LOADER_NAMES = (
    "LD_PRELOAD",
    "LD_AUDIT",
    "LD_LIBRARY_PATH",
    "LD_ORIGIN_PATH",
    "LD_BIND_NOW",
    "LD_BIND_NOT",
    "LD_DEBUG",
    "LD_DEBUG_OUTPUT",
    "LD_DYNAMIC_WEAK",
    "LD_HWCAP_MASK",
    "LD_PROFILE",
    "LD_PROFILE_OUTPUT",
    "LD_SHOW_AUXV",
    "LD_TRACE_LOADED_OBJECTS",
    "LD_TRACE_PRELINKING",
    "LD_USE_LOAD_BIAS",
    "LD_VERBOSE",
    "LD_WARN",
    "LD_ASSUME_KERNEL",
    "LD_PREFER_MAP_32BIT_EXEC",
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "LOCPATH",
)


def is_untrusted(name: str) -> bool:
    """Does this variable change how python, node, npm, git, glibc or the network behave?"""
    upper = name.upper()
    return upper.endswith("_PROXY") or upper in UNTRUSTED_NAMES or upper.startswith(UNTRUSTED_PREFIXES)


def untrusted(env: Mapping[str, str], *, image_path: str | None = None) -> list[str]:
    """The variables of `env` the gate does not accept (sorted), `PATH` last when it is not `image_path`."""
    names = sorted(k for k in env if is_untrusted(k))
    if image_path is not None and env.get("PATH") != image_path:
        names.append("PATH")
    return names


def refusal(names: list[str]) -> GatekeeperError:
    """The publish-mode refusal (exit 2) naming each variable."""
    shown = ", ".join(f"`{n}`" for n in names)
    return GatekeeperError(
        f"Refusing to publish: the job's environment sets {shown}, which change how python, node, npm, git or the "
        "network behave (a step before the gate wrote them into $GITHUB_ENV or $GITHUB_PATH, or the workflow set "
        "them)",
        "Run the gate in a job of its own that sets none of these (checkout, download-artifact and the gate only); "
        "remove them from the job's and workflow's `env:` (a self-hosted runner's proxy or CA bundle: name it in the "
        "policy's `network:` of a trusted release; the variables may then say exactly that)",
    )


def scrub(environ: MutableMapping[str, str], *, image_path: str | None = None) -> list[str]:
    """Remove every untrusted variable from `environ` (and pin PATH to `image_path`); returns the names."""
    names = untrusted(environ, image_path=image_path)
    for name in names:
        if name != "PATH":
            environ.pop(name, None)
    if image_path is not None:
        environ["PATH"] = image_path
    return names


def tool(name: str, path: str | None = None) -> str:
    """The absolute path of program `name` on `path` (default: this process's PATH, the image's in the image)."""
    found = shutil.which(name, path=path if path is not None else os.environ.get("PATH", os.defpath))
    if not found:
        raise GatekeeperError(f"`{name}` is not installed (not on PATH)", f"Install {name}")
    return os.path.abspath(found)
