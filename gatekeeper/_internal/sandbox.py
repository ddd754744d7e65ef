"""The install sandbox (issue 25): install one tarball the way a consumer would, and watch what it does.

Two phases in a fresh temp project outside the workspace:

1. **Fetch** (this process's user, network on, scripts off): `npm install --ignore-scripts` of the tarball
   (`file:`) into an empty root project, npm's cache and config in a private dir, an empty userconfig (no
   credential), the registry given. Nothing of the package runs.
2. **Run** (scripts on, network refused): `npm rebuild --offline` of that tree -- npm runs every
   preinstall/install/postinstall (and node-gyp's default) in dependency order, as it does on install --
   under `strace -f`, as a dedicated unprivileged uid (when this process is root: `setpriv` drops to it
   after strace attached, so the install can neither signal the tracer nor read its trace), with a HOME of
   its own holding canary credentials, a seccomp filter (libseccomp, `pyseccomp`) that refuses `connect`,
   `sendto` to an address, `sendmsg`/`sendmmsg`, `listen` and io_uring (so every network attempt is
   recorded by strace and none succeeds) and openat2/open_by_handle_at (every file is opened by a traced
   call), RLIMIT_NPROC/FSIZE/CORE, a deadline, and a cap on the trace size.

At the end (or the deadline, or the cap) every process of the sandbox uid is killed (`kill(-1, SIGKILL)` from
a child that became that uid: no process of it escapes by leaving the process group) and the temp dir goes.

Not root (a developer's machine): the install runs as this user (it could read this user's files: only HOME
is replaced) and only the process group is killed; `Observation.lost` says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gatekeeper._internal import hostenv
from gatekeeper._internal.npm import npm_bin, npm_env, private_tempdir
from gatekeeper._internal.proc import output_tail, run, stop_group
from gatekeeper.errors import NpmError

#: The system calls strace records (`-e trace=`): programs run, files opened/made/removed/renamed/chmod-ed,
#: network attempts, and the cwd changes and forks that attribute a process to a package.
TRACED = (
    "execve,execveat,open,openat,creat,connect,sendto,sendmsg,sendmmsg,unlink,unlinkat,rename,renameat,"
    "renameat2,chmod,fchmod,fchmodat,mkdir,mkdirat,mknod,mknodat,rmdir,symlink,symlinkat,link,linkat,truncate,"
    "chdir,fchdir,"
    "clone,clone3,fork,vfork"
)
#: The first uid tried for the sandbox (one with no passwd entry and no process is taken).
UID_BASE = 61_400
UID_COUNT = 2_000  # below 65536: a user namespace of a rootless container maps no more

#: Fake credentials in the sandbox HOME. None is valid anywhere; a read of one is the finding.
CANARY_TOKEN = "npm_GKCANARY0dynamic0sandbox0not0a0real0token0"
CANARIES: dict[str, str] = {
    ".npmrc": f"//registry.npmjs.org/:_authToken={CANARY_TOKEN}\n",
    ".ssh/id_ed25519": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nZ2F0ZWtlZXBlci1jYW5hcnktbm90LWEta2V5\n-----END OPENSSH PRIVATE KEY-----\n"
    ),
    ".aws/credentials": (
        "[default]\naws_access_key_id = AKIAGKCANARY00000000\n"
        "aws_secret_access_key = gatekeeperCanaryNotASecret0000000\n"
    ),
    ".config/gh/hosts.yml": "github.com:\n    oauth_token: gho_GKCANARY000000000000000000000000\n    user: canary\n",
}


@dataclass(frozen=True)
class Limits:
    """Bounds of one sandboxed install."""

    seconds: float = 300.0  # the run phase's deadline (the fetch phase has its own timeout)
    fetch_seconds: float = 300.0
    processes: int = 256  # RLIMIT_NPROC of the sandbox uid
    trace_bytes: int = 32 * 1024 * 1024  # strace's output; past it: stopped, marked truncated
    output_bytes: int = 16 * 1024  # the tail of npm's output kept
    file_bytes: int = 1024 * 1024 * 1024  # RLIMIT_FSIZE: no single file larger


@dataclass(frozen=True)
class Observation:
    """What one sandboxed install recorded. Paths in `trace` are raw; `diffing.install_behaviour` reads it."""

    trace: str
    truncated: bool  # the trace hit its cap: behaviour past it was not observed
    exit_code: int | None  # npm rebuild's exit code (None: killed)
    timed_out: bool
    project: str  # the temp project (node_modules is under it)
    home: str
    tmp: str
    output: str  # the tail of npm's output
    seconds: float
    left_running: int  # processes of the sandbox uid still alive after the reaper (must be 0)
    uid: int  # the uid the install ran as
    lost: tuple[str, ...] = field(default_factory=tuple)  # what this sandbox could not provide
    canaries: tuple[str, ...] = field(default_factory=tuple)


class Unavailable(Exception):
    """The sandbox cannot run here (no strace, ptrace or seccomp refused): the install is NOT run unobserved."""


def _seccomp_filter() -> Callable[[], None]:
    """The network filter, built now, loaded in the child (`preexec_fn`). Raises Unavailable without libseccomp."""
    try:
        import errno

        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError) as exc:  # pyseccomp loads libseccomp.so at import
        raise Unavailable(f"libseccomp is not usable here ({exc})") from None
    f = sc.SyscallFilter(sc.ALLOW)
    refuse = sc.ERRNO(errno.EACCES)
    f.add_rule(refuse, "connect")  # every family: AF_INET/AF_INET6 and also AF_UNIX (docker.sock, dbus, nscd)
    f.add_rule(refuse, "sendto", sc.Arg(4, sc.NE, 0))  # a datagram to an address (sendto on a connected fd is ok)
    f.add_rule(refuse, "sendmsg")  # msg_name cannot be inspected by a filter
    f.add_rule(refuse, "sendmmsg")
    f.add_rule(refuse, "listen")  # no server reachable from outside while the install runs
    # io_uring bypasses seccomp (and strace); openat2 and open_by_handle_at open files that `trace=` (openat) does
    # not show: refused as a kernel without them would (libc and libuv fall back to the traced openat)
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register", "openat2", "open_by_handle_at"):
        try:
            f.add_rule(sc.ERRNO(errno.ENOSYS), name)
        except Exception as exc:  # a libseccomp that does not know it: the install would be unobserved
            raise Unavailable(f"libseccomp cannot refuse {name} ({exc})") from None
    return f.load


def _claim_uid() -> tuple[int, socket.socket]:
    """A uid with no passwd entry and no running process, claimed for this run: an abstract unix socket named
    after it is bound (atomic, gone when this process exits), so two sandboxes on one machine (parallel tests,
    two jobs on a self-hosted runner) never share a uid -- and never reap each other's processes."""
    busy = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                busy.add(os.stat(f"/proc/{entry}").st_uid)
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if uid in busy:
            continue
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0npm-gatekeeper-sandbox-uid-{uid}")
        except OSError:
            claim.close()
            continue
        if pids_of(uid):  # processes of the uid without a claim: leftovers of a run that died before its reaper
            claim.close()
            continue
        return uid, claim
    raise Unavailable("no free uid for the sandbox")


def pids_of(uid: int) -> list[int]:
    """The live processes (not zombies) whose real uid is `uid`."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/status").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("State", "").strip().startswith("Z"):
            continue
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            out.append(int(entry))
    return out


def reap(uid: int) -> int:
    """Kill every process of `uid` (a child becomes that uid and calls kill(-1, SIGKILL)); returns how many are
    still alive after (0 unless something is stuck in the kernel)."""
    for _ in range(100):
        if not pids_of(uid):
            return 0
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.05)
    return len(pids_of(uid))


def _traversable(base: Path) -> bool:
    """Can another uid reach into `base` (every ancestor searchable by others)?"""
    for part in [base, *base.parents]:
        try:
            if not os.stat(part).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _sandbox_root(workspace: Path | None, as_other_uid: bool) -> Path:
    """A new temp dir outside the workspace; for another uid, under a base every uid can traverse."""
    if not as_other_uid:
        return private_tempdir(workspace, "gatekeeper-sandbox-")
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(base).resolve()
        if workspace is not None and (path == workspace.resolve() or workspace.resolve() in path.parents):
            continue
        if path.is_dir() and _traversable(path):
            root = Path(tempfile.mkdtemp(prefix="gatekeeper-sandbox-", dir=path))
            root.chmod(0o711)  # others may traverse to the box, not list or read it
            return root
    raise Unavailable("no temp directory that the sandbox user can reach (outside the workspace)")


def _chown_tree(top: Path, uid: int) -> None:
    os.lchown(top, uid, uid)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)


def _write_canaries(home: Path) -> tuple[str, ...]:
    made = []
    for rel, text in CANARIES.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        made.append(str(path))
    return tuple(made)


def probe() -> str | None:
    """Why the sandbox cannot run here, or None: strace, setpriv (as root) and libseccomp must work, and
    ptrace must be allowed (a container's seccomp profile or Yama may refuse it)."""
    try:
        strace = hostenv.tool("strace")
    except Exception:
        return "strace is not installed"
    try:
        load = _seccomp_filter()
    except Unavailable as exc:
        return str(exc)
    true = shutil.which("true") or "/bin/true"
    try:
        res = subprocess.run(
            [strace, "-f", "-qq", "-e", "trace=execve", "-o", "/dev/null", "--", true],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=load,  # the filter is loaded in the child, before exec
            env={"PATH": os.environ.get("PATH", os.defpath)},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"strace could not run ({exc})"
    if res.returncode != 0:
        tail = " ".join(res.stderr.strip().splitlines()[-2:])[:300]
        return f"strace cannot trace here (ptrace refused?): {tail or 'exit ' + str(res.returncode)}"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed: the install cannot be dropped to an unprivileged uid"
    return None


def _fetch(label: str, project: Path, cache_root: Path, registry: str, timeout: float, cafile: str | None) -> None:
    """Phase 1: the tree of a consumer's install of `tarball`, fetched with scripts off."""
    extra = f"cafile={cafile}\n" if cafile else ""
    (cache_root / "npmrc").write_text(f"registry={registry}\n{extra}", encoding="utf-8")
    argv = [
        npm_bin(),
        "install",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--include=optional",
        "--include=peer",
        "--no-package-lock",
        "--registry",
        registry,
        "--userconfig",
        str(cache_root / "npmrc"),
        "--loglevel=error",
    ]
    env = npm_env(cache_root, {"HOME": str(cache_root), "NPM_CONFIG_USERCONFIG": str(cache_root / "npmrc")})
    try:
        res = run(argv, cwd=project, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise NpmError(
            f"Fetching the install tree of {label} took longer than {timeout:.0f} s",
            "Check that the registry answers; nothing was decided",
        ) from None
    if res.returncode != 0:
        tail = " ".join(ln.strip() for ln in res.stderr.splitlines()[-4:] if ln.strip())[:600]
        raise NpmError(
            f"The install tree of {label} could not be fetched (scripts off): {tail or res.returncode}",
            "Every dependency must be installable from the registry being published to",
        )


def observe_install(
    source: Path | str,
    name: str,
    *,
    registry: str,
    limits: Limits | None = None,
    workspace: Path | None = None,
    cafile: str | None = None,
) -> Observation:
    """Install `source` (a tarball's path, or a version of `name` on the registry) of package `name` as a
    consumer would (see the module doc) and return what strace recorded.

    Raises Unavailable (not run), NpmError (the fetch phase failed: exit 2)."""
    limits = limits or Limits()
    reason = probe()
    if reason is not None:
        raise Unavailable(reason)
    strace = hostenv.tool("strace")
    is_root = os.geteuid() == 0
    claim: socket.socket | None = None
    if is_root:
        uid, claim = _claim_uid()
    else:
        uid = os.getuid()
    try:
        root = _sandbox_root(workspace, is_root)
    except BaseException:
        if claim is not None:
            claim.close()
        raise
    started = time.monotonic()
    try:
        private = root / "private"  # this process's: npm's fetch cache, the trace, npm's output
        private.mkdir(mode=0o700)
        box = root / "box"  # the sandbox user's
        project, home, tmp = box / "project", box / "home", box / "tmp"
        for d in (project, home, tmp):
            d.mkdir(parents=True, mode=0o700)
        if isinstance(source, Path):
            (private / "pkg.tgz").write_bytes(source.read_bytes())
            spec = f"file:{private / 'pkg.tgz'}"
        else:
            spec = source
        label = f"{name}@{source if isinstance(source, str) else source.name}"
        manifest = {"name": "gatekeeper-sandbox-consumer", "version": "1.0.0", "private": True}
        manifest["dependencies"] = {name: spec}
        (project / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
        _fetch(label, project, private, registry, limits.fetch_seconds, cafile)
        canaries = _write_canaries(home)
        if is_root:
            box.chmod(0o700)
            _chown_tree(box, uid)
        trace = private / "trace.txt"
        out = private / "output.txt"
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "LANG": "C.UTF-8",
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "CI": "true",
            "NPM_CONFIG_CACHE": str(home / ".npm"),
            "NPM_CONFIG_OFFLINE": "true",
            "NPM_CONFIG_UPDATE_NOTIFIER": "false",
            "NPM_CONFIG_FUND": "false",
            "NPM_CONFIG_AUDIT": "false",
            "NPM_CONFIG_LOGS_MAX": "0",
        }
        argv = [
            strace,
            "-f",
            "-qq",
            "-y",
            "-s",
            "256",
            "-e",
            f"trace={TRACED}",
            "-e",
            "signal=none",
            "-o",
            str(trace),
            "--",
        ]
        if is_root:
            setpriv = shutil.which("setpriv") or "setpriv"
            argv += [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        argv += [npm_bin(), "rebuild", "--offline", "--foreground-scripts", "--loglevel=info"]
        load = _seccomp_filter()

        def preexec() -> None:  # in the child, before exec: limits, then the filter (inherited by all)
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            load()

        timed_out = truncated = False
        with open(out, "wb") as out_fh:
            proc = subprocess.Popen(
                argv,
                cwd=project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_fh,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,  # rlimits and seccomp are set in the child
                start_new_session=True,
            )
            deadline = time.monotonic() + limits.seconds
            try:
                while proc.poll() is None:
                    if time.monotonic() > deadline:
                        timed_out = True
                    elif trace.exists() and trace.stat().st_size > limits.trace_bytes:
                        truncated = True
                    if timed_out or truncated:
                        break
                    time.sleep(0.1)
            finally:
                # Every process of the sandbox first (strace then sees its tracees go and exits), then the group.
                if is_root:
                    reap(uid)
                if proc.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5)
                if proc.poll() is None:
                    stop_group(proc)
        left = len(pids_of(uid)) if is_root else 0
        if is_root and left:
            left = reap(uid)
        exit_code = proc.returncode if not (timed_out or truncated) else None
        text = _read_capped(trace, limits.trace_bytes)
        if len(text.encode("utf-8", "replace")) >= limits.trace_bytes:
            truncated = True
        lost: list[str] = []
        if not is_root:
            lost.append(
                "not root: the install ran as this user (only HOME was replaced: it could read this user's files), "
                "and only its process group was stopped"
            )
        return Observation(
            trace=text,
            truncated=truncated,
            exit_code=exit_code,
            timed_out=timed_out,
            project=str(project),
            home=str(home),
            tmp=str(tmp),
            output=_tail(out, limits.output_bytes),
            seconds=round(time.monotonic() - started, 2),
            left_running=left,
            uid=uid,
            lost=tuple(lost),
            canaries=canaries,
        )
    finally:
        if is_root:
            reap(uid)
        shutil.rmtree(root, ignore_errors=True)
        if claim is not None:
            claim.close()


def _read_capped(path: Path, cap: int) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(cap).decode("utf-8", "replace")
    except OSError:
        return ""


def _tail(path: Path, cap: int) -> str:
    try:
        return output_tail(path, cap)
    except OSError:
        return ""
