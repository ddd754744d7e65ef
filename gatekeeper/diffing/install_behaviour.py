"""What an install did, read from strace's output (issue 25): a normalised behaviour profile per package,
and the diff of two profiles (pure: no process, no file access).

The trace is `strace -f -qq -y -s 256 -e trace=...` of `npm rebuild` in the sandbox (`_internal/sandbox.py`).
Each process is attributed to the package npm ran its script for: npm's script runner `chdir`s into
`node_modules/<name>` between fork and exec of the script's shell, and every process forked from there
(clone, fork, vfork) belongs to that package; a process keeps its first package (a script cannot move its
behaviour to another package by `cd`), and a chdir of npm's own running process claims none. npm's own
processes (no package) are not profiled.

Per package, after normalising the sandbox's temp paths (`~` = the sandbox HOME, `$TMPDIR`, `<project>`,
`node_modules/<name>`), pids and random temp names:
- processes: the argv of every program executed (successfully),
- network: every connect/sendto/sendmsg to an internet address (family, address, port; a DNS query to the
  resolver is `dns`) and to a unix socket (all refused by the sandbox),
- writes: files created/written/linked/renamed-to outside the package's own folder and `$TMPDIR`,
- canaries: the fake credentials of the sandbox HOME opened,
- deleted: files removed or renamed away outside the package's own folder and `$TMPDIR`,
- executable: files chmod-ed executable outside `$TMPDIR`.
Each item keeps the first trace line that showed it (normalised, bounded) as evidence.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

#: The categories of a profile, in report order.
KINDS = ("processes", "network", "canaries", "writes", "deleted", "executable")
#: Items kept per package and kind (the rest are counted); evidence line length.
MAX_ITEMS = 200
MAX_EVIDENCE = 300
MAX_LINE = 64 * 1024

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^([a-z_0-9]+)\((.*)\)\s+=\s+(.*)$", re.S)
_UNFINISHED = re.compile(r"^([a-z_0-9]+)\((.*) <unfinished \.\.\.>$", re.S)
_RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)\)\s+=\s+(.*)$", re.S)
_RESULT = re.compile(r"^(-?\d+|\?)")
_FD_PATH = re.compile(r"^(?:-?\d+|AT_FDCWD)<(.*)>$", re.S)
_INET = re.compile(
    r"sa_family=(AF_INET6?), sin6?_port=htons\((\d+)\),.*?"
    r"(?:inet_addr\(\"([^\"]*)\"\)|inet_pton\(AF_INET6, \"([^\"]*)\")"
)
_UNIX = re.compile(r"sa_family=AF_UNIX, sun_path=(@?\"(?:[^\"\\]|\\.)*\")")
_RANDOM = re.compile(r"[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*")
_ENV_PTR = re.compile(r"0x[0-9a-f]+ /\* \d+ vars \*/")
_SOCKET = re.compile(r"socket:\[\d+\]")
_OCT = re.compile(r"^0[0-7]*$")
#: Unix sockets glibc itself tries (name service cache): not the package's doing.
_IGNORED_SOCKETS = ("/var/run/nscd/socket", "/run/nscd/socket")
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
_HARMLESS_WRITES = ("/dev/null", "/dev/tty", "/dev/stdout", "/dev/stderr", "/dev/urandom", "/dev/random")


@dataclass(frozen=True)
class Layout:
    """The sandbox's paths, to normalise and classify what the trace names."""

    project: str
    home: str
    tmp: str
    canaries: tuple[str, ...] = ()


@dataclass
class PackageBehaviour:
    """What one package's install scripts did: kind -> item -> evidence (the first trace line)."""

    items: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    more: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})

    def add(self, kind: str, item: str, evidence: str) -> None:
        held = self.items[kind]
        if item in held:
            return
        if len(held) >= MAX_ITEMS:
            self.more[kind] += 1
            return
        held[item] = evidence[:MAX_EVIDENCE]

    def empty(self) -> bool:
        return not any(self.items.values())

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {k: sorted(v) for k, v in self.items.items() if v}
        more = {k: n for k, n in self.more.items() if n}
        if more:
            out["more"] = more
        return out


@dataclass
class Profile:
    """The behaviour of one install, per package name (`node_modules` path: `a`, `@s/b`, `a/node_modules/b`)."""

    packages: dict[str, PackageBehaviour] = field(default_factory=dict)
    lines: int = 0  # trace lines read
    truncated: bool = False

    def of(self, name: str) -> PackageBehaviour:
        return self.packages.setdefault(name, PackageBehaviour())

    def to_json(self) -> dict[str, object]:
        return {name: b.to_json() for name, b in sorted(self.packages.items()) if not b.empty()}


@dataclass(frozen=True)
class Change:
    """One behaviour of the candidate's install that the baseline's did not show."""

    package: str
    kind: str
    item: str
    evidence: str


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a strace call (strings, [], {} kept whole)."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    in_str = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            cur.append(c)
            if c == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            cur.append(c)
        elif c in "[{(":
            depth += 1
            cur.append(c)
        elif c in "]})":
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if cur or out:
        out.append("".join(cur).strip())
    return out


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "\\": "\\", '"': '"'}


def _unquote(token: str) -> str | None:
    """A strace C string literal ("..." possibly followed by `...` when cut) -> text; None if not a string."""
    token = token.strip()
    if token.startswith("@"):
        token = token[1:]
    if not token.startswith('"'):
        return None
    out = bytearray()
    i = 1
    while i < len(token):
        c = token[i]
        if c == '"':
            break
        if c == "\\" and i + 1 < len(token):
            n = token[i + 1]
            if n == "x" and i + 3 < len(token):
                try:
                    out.append(int(token[i + 2 : i + 4], 16))
                    i += 4
                    continue
                except ValueError:
                    pass
            if n.isdigit():
                j = i + 1
                while j < len(token) and j < i + 4 and token[j] in "01234567":
                    j += 1
                out.append(int(token[i + 1 : j], 8) & 0xFF)
                i = j
                continue
            out.extend(_ESCAPES.get(n, n).encode())
            i += 2
            continue
        out.extend(c.encode())
        i += 1
    return out.decode("utf-8", "replace")


def _array(token: str) -> list[str]:
    token = token.strip()
    if not token.startswith("["):
        return []
    inner = token[1:].rsplit("]", 1)[0]
    return [s for s in (_unquote(a) for a in _split_args(inner)) if s is not None]


def _join(base: str, path: str) -> str:
    full = path if path.startswith("/") or not base else base.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in full.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _package_of(path: str, modules: str) -> tuple[str, str] | None:
    """(package, rest) for a path under `<project>/node_modules/` (nested and scoped names kept)."""
    if not path.startswith(modules + "/"):
        return None
    parts = path[len(modules) + 1 :].split("/")
    name: list[str] = []
    i = 0
    while i < len(parts):
        if parts[i].startswith("@") and i + 1 < len(parts):
            name.append(parts[i] + "/" + parts[i + 1])
            i += 2
        elif parts[i] and not parts[i].startswith("."):
            name.append(parts[i])
            i += 1
        else:
            return None
        if i < len(parts) and parts[i] == "node_modules" and i + 1 < len(parts):
            i += 1
            continue
        break
    if not name:
        return None
    return "/node_modules/".join(name), "/".join(parts[i:])


class _Reader:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.modules = _join("", layout.project) + "/node_modules"
        self.parent: dict[int, int] = {}
        self.own: dict[int, str] = {}
        self.cwd: dict[int, str] = {}
        self.execed: set[int] = set()  # pids that ran a program (npm itself): their chdir claims no package
        self.profile = Profile()

    def owner(self, pid: int) -> str | None:
        seen = set()
        while pid not in self.own and pid in self.parent and pid not in seen:
            seen.add(pid)
            pid = self.parent[pid]
        return self.own.get(pid)

    def cwd_of(self, pid: int) -> str:
        seen = set()
        while pid not in self.cwd and pid in self.parent and pid not in seen:
            seen.add(pid)
            pid = self.parent[pid]
        return self.cwd.get(pid, self.layout.project)

    def norm(self, path: str) -> str:
        """A path as the report shows it: sandbox prefixes replaced, random temp names starred."""
        lay = self.layout
        in_pkg = _package_of(path, self.modules)
        if in_pkg is not None:
            return f"node_modules/{in_pkg[0]}/{in_pkg[1]}".rstrip("/")
        for prefix, token in ((lay.home, "~"), (lay.tmp, "$TMPDIR"), (lay.project, "<project>")):
            prefix = _join("", prefix)
            if path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix) :]
                if token == "$TMPDIR":
                    rest = "/".join(_RANDOM.sub("*", p) for p in rest.split("/"))
                return token + rest
        if path.startswith(("/tmp/", "/var/tmp/", "/dev/shm/")):
            head, _, rest = path.partition("/")[2].partition("/")
            return "/" + head + "/" + "/".join(_RANDOM.sub("*", p) for p in rest.split("/"))
        return re.sub(r"^/proc/\d+/", "/proc/<pid>/", path)

    def text(self, s: str) -> str:
        """Free text (argv, evidence) with the sandbox's paths, env pointers and socket inodes normalised."""
        lay = self.layout
        s = _ENV_PTR.sub("/* env */", s)
        s = _SOCKET.sub("socket:[]", s)
        for prefix, token in (
            (self.modules + "/", "node_modules/"),
            (_join("", lay.home), "~"),
            (_join("", lay.tmp), "$TMPDIR"),
            (_join("", lay.project), "<project>"),
        ):
            s = s.replace(prefix, token)
        return s

    def outside(self, pkg: str, path: str) -> bool:
        """Is `path` outside the package's own folder and the temp dir?"""
        own = self.modules + "/" + pkg
        if path == own or path.startswith(own + "/"):
            return False
        tmp = _join("", self.layout.tmp)
        return not (path == tmp or path.startswith(tmp + "/"))

    def path_arg(self, pid: int, dirfd: str | None, token: str) -> str | None:
        raw = _unquote(token)
        if raw is None:
            return None
        base = self.cwd_of(pid)
        if dirfd is not None and raw and not raw.startswith("/"):
            m = _FD_PATH.match(dirfd.strip())
            if m and not dirfd.strip().startswith("AT_FDCWD"):
                base = m.group(1)
        return _join(base, raw)

    def canaries_under(self, path: str) -> list[str]:
        """The canary files at `path` or below it (a folder holding one)."""
        return sorted(c for c in (_join("", c) for c in self.layout.canaries) if c == path or c.startswith(path + "/"))

    def link_sources(self, pid: int, call: str, argv: list[str]) -> list[str]:
        """What a link, symlink or rename gives a new name to (a symlink's target is relative to its folder)."""
        source: str | None = None
        if call in ("link", "rename") and argv:
            source = self.path_arg(pid, None, argv[0])
        elif call in ("linkat", "renameat", "renameat2") and len(argv) >= 2:
            source = self.path_arg(pid, argv[0], argv[1])
        elif call in ("symlink", "symlinkat") and len(argv) >= 2:
            link = self.path_arg(pid, argv[1] if call == "symlinkat" else None, argv[-1])
            target = _unquote(argv[0])
            if link is not None and target is not None:
                source = _join(link.rsplit("/", 1)[0], target)
        return [source] if source is not None else []

    def event(self, pid: int, call: str, args: str, result: str, line: str) -> None:
        res = _RESULT.match(result.strip())
        ok = bool(res) and res.group(1) != "?" and not res.group(1).startswith("-")
        argv = _split_args(args)
        if call in ("clone", "clone3", "fork", "vfork"):
            if ok and int(res.group(1)) > 0:  # type: ignore[union-attr]
                self.parent[int(res.group(1))] = pid  # type: ignore[union-attr]
            return
        if call in ("chdir", "fchdir"):
            if not ok or not argv:
                return
            if call == "chdir":
                target = self.path_arg(pid, None, argv[0])
            else:
                m = _FD_PATH.match(argv[0])
                target = m.group(1) if m else None
            if target is None:
                return
            self.cwd[pid] = target
            if self.owner(pid) is None and pid not in self.execed:  # npm's spawn: chdir between fork and exec
                found = _package_of(target, self.modules)
                if found is not None:
                    self.own[pid] = found[0]
            return
        pkg = self.owner(pid)
        if pkg is None:
            if call in ("execve", "execveat") and ok:
                self.execed.add(pid)
            return  # npm itself
        prof = self.profile.of(pkg)
        evidence = self.text(line)
        if call in ("execve", "execveat"):
            if ok:
                args_list = _array(argv[1] if call == "execve" else argv[2]) if len(argv) > 2 else []
                if args_list:
                    prof.add("processes", shlex.join(self.text(a) for a in args_list), evidence)
            return
        if call in ("connect", "sendto", "sendmsg", "sendmmsg"):
            m = _INET.search(args)
            if m:
                fam, port = m.group(1), int(m.group(2))
                addr = m.group(3) or m.group(4) or "?"
                item = f"dns query ({fam}, resolver port 53)" if port == 53 else f"{fam} {addr} port {port}"
                prof.add("network", item, evidence)
                return
            u = _UNIX.search(args)
            if u:
                sock = _unquote(u.group(1)) or ""
                if sock not in _IGNORED_SOCKETS:
                    prof.add("network", f"AF_UNIX {self.norm(sock)}", evidence)
            return
        if call in ("open", "openat", "creat"):
            if call == "openat":
                if len(argv) < 3:
                    return
                path, flags = self.path_arg(pid, argv[0], argv[1]), argv[2]
            else:
                if not argv:
                    return
                path, flags = self.path_arg(pid, None, argv[0]), (argv[1] if len(argv) > 1 else "")
                if call == "creat":
                    flags = "O_CREAT|O_WRONLY|O_TRUNC"
            if path is None:
                return
            canaries = {_join("", c) for c in self.layout.canaries}
            opened = _FD_PATH.match(result.strip())  # `-y`: the file the fd is, whatever name (a symlink) reached it
            names = [path, *((_join("", opened.group(1)),) if opened else ())]
            for seen in set(names):
                if seen in canaries:
                    prof.add("canaries", self.norm(seen), evidence)
            if (
                any(f in flags for f in _WRITE_FLAGS)
                and path not in _HARMLESS_WRITES
                and not path.startswith(("/proc/self/", "/dev/fd/", "/dev/pts/"))
            ):
                # the name opened, or the file it is (a symlink in TMPDIR to ~/.bashrc): either outside is a write
                outside = [p for p in dict.fromkeys(names) if p.startswith("/") and self.outside(pkg, p)]
                if outside:
                    prof.add("writes", self.norm(outside[0]), evidence)
            return
        for source in self.link_sources(pid, call, argv):  # a canary (or its folder) given another name
            for canary in self.canaries_under(source):
                prof.add("canaries", self.norm(canary), evidence)
            if call in ("link", "linkat") and self.outside(pkg, source):  # a hard link writes where its source is
                prof.add("writes", self.norm(source), evidence)
        targets: list[tuple[str, str | None, str]] = []  # (kind, dirfd, path token)
        if call in ("mkdir", "truncate", "mknod"):
            targets = [("writes", None, argv[0])] if argv else []
        elif call in ("mkdirat", "mknodat") and len(argv) >= 2:
            targets = [("writes", argv[0], argv[1])]
        elif call == "rmdir" and argv:
            targets = [("deleted", None, argv[0])]
        elif call == "symlink" and len(argv) >= 2:
            targets = [("writes", None, argv[1])]
        elif call == "symlinkat" and len(argv) >= 3:
            targets = [("writes", argv[1], argv[2])]
        elif call == "link" and len(argv) >= 2:
            targets = [("writes", None, argv[1])]
        elif call == "linkat" and len(argv) >= 4:
            targets = [("writes", argv[2], argv[3])]
        elif call == "unlink" and argv:
            targets = [("deleted", None, argv[0])]
        elif call == "unlinkat" and len(argv) >= 2:
            targets = [("deleted", argv[0], argv[1])]
        elif call == "rename" and len(argv) >= 2:
            targets = [("deleted", None, argv[0]), ("writes", None, argv[1])]
        elif call in ("renameat", "renameat2") and len(argv) >= 4:
            targets = [("deleted", argv[0], argv[1]), ("writes", argv[2], argv[3])]
        elif call in ("chmod", "fchmodat", "fchmod"):
            mode_tok = argv[-1] if call != "fchmodat" else (argv[2] if len(argv) > 2 else "")
            try:
                mode = int(mode_tok, 8) if _OCT.match(mode_tok.strip()) else 0
            except ValueError:
                mode = 0
            if mode & 0o111:
                if call == "fchmod":
                    m = _FD_PATH.match(argv[0]) if argv else None
                    path = m.group(1) if m else None
                elif call == "chmod":
                    path = self.path_arg(pid, None, argv[0]) if argv else None
                else:
                    path = self.path_arg(pid, argv[0], argv[1]) if len(argv) > 1 else None
                tmp = _join("", self.layout.tmp)
                if path and not (path == tmp or path.startswith(tmp + "/")):
                    prof.add("executable", self.norm(path), evidence)
            return
        for kind, dirfd, tok in targets:
            path = self.path_arg(pid, dirfd, tok)
            if path is not None and self.outside(pkg, path):
                prof.add(kind, self.norm(path), evidence)


def _events(trace: str) -> Iterable[tuple[int, str, str, str, str]]:
    """(pid, call, args, result, line) per finished call; `<unfinished ...>` halves joined with their resumption."""
    pending: dict[tuple[int, str], str] = {}
    for raw in trace.splitlines():
        if len(raw) > MAX_LINE:
            raw = raw[:MAX_LINE]
        m = _LINE.match(raw)
        if not m:
            continue
        pid, body = int(m.group(1)), m.group(2)
        call = _CALL.match(body)
        if call and not body.startswith("<..."):
            yield pid, call.group(1), call.group(2), call.group(3), body
            continue
        unf = _UNFINISHED.match(body)
        if unf:
            pending[(pid, unf.group(1))] = unf.group(2)
            continue
        res = _RESUMED.match(body)
        if res:
            head = pending.pop((pid, res.group(1)), "")
            args = head + res.group(2)
            yield pid, res.group(1), args, res.group(3), f"{res.group(1)}({args}) = {res.group(3)}"


def read_trace(trace: str, layout: Layout, *, truncated: bool = False) -> Profile:
    """The behaviour profile of one sandboxed install."""
    reader = _Reader(layout)
    n = 0
    for pid, call, args, result, line in _events(trace):
        n += 1
        reader.event(pid, call, args, result, line)
    reader.profile.lines = n
    reader.profile.truncated = truncated
    return reader.profile


def diff(baseline: Profile | None, candidate: Profile) -> list[Change]:
    """Behaviour the candidate's install shows that the baseline's did not (per package name and kind)."""
    out: list[Change] = []
    for name in sorted(candidate.packages):
        cand = candidate.packages[name]
        base = baseline.packages.get(name) if baseline is not None else None
        for kind in KINDS:
            before = base.items[kind] if base is not None else {}
            for item, evidence in cand.items[kind].items():
                if item not in before:
                    out.append(Change(name, kind, item, evidence))
    return out


def summary_lines(profile: Profile) -> list[str]:
    """Plain lines: what the install of this release does, per package (for text and Markdown reporters)."""
    lines: list[str] = []
    for name, beh in sorted(profile.packages.items()):
        if beh.empty():
            continue
        lines.append(name)
        for kind in KINDS:
            for item in sorted(beh.items[kind]):
                lines.append(f"  {kind}: {item}")
            if beh.more[kind]:
                lines.append(f"  {kind}: ... and {beh.more[kind]} more")
    return lines


def to_json(profile: Profile) -> str:
    return json.dumps(profile.to_json(), sort_keys=True)
