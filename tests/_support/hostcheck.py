"""What the suite must leave alone on the machine: a snapshot before the run, compared after it.

The places the suite used to touch (issue 20): `/var/lib/containers` (buildah's blob-info cache when
the folder was missing), the machine's temp dir (the plugin's `node --test` files, `gk-*` folders),
`~/.npm/_logs` (debug logs of npm children), and the installed Debian packages (installing podman
upgraded `login` and `passwd`). `snapshot()` records them; `compare(before, after)` lists every
change the suite must not make. Newly installed packages are the announced install of
`scripts/container/setup.sh` and are reported, not refused; a CHANGED or REMOVED package is refused.

Which changes are THIS run's (a shared machine: other engineers, other checkouts, other test runs
write to /tmp and ~/.npm/_logs, install packages and run podman at the same time): where the run is
root, every process of the run creates files with a group of its own, a free gid picked for the run
(`run_gid()`: `scripts/test.sh` re-executes itself under `setpriv --regid`, a plain `pytest` run
calls `adopt_run_gid()` in `tests/conftest.py`). A new file or folder owes its group to the process
that made it, so the comparison counts exactly what this run made: in the machine's temp dir and in
`~/.npm/_logs` ANY new entry of the run's group (whatever its name), under `/var/lib/containers` any
entry of the run's group, and a package whose dpkg file list (`/var/lib/dpkg/info/PKG.list`, rewritten
by every install or upgrade) has the run's group. Other processes' files never count. Without a run
group (not root, no setpriv) the old rules apply: names the suite would create, npm logs naming this
checkout, any package change; those can count another process's work on a shared machine, and the
report says so.

The snapshot is taken once per run, before anything runs: by `scripts/test.sh` before its set-up
step (GATEKEEPER_HOST_BEFORE names the file), else by `tests/conftest.py`'s `pytest_configure`.
`python -m tests._support.hostcheck snapshot FILE` writes one. Standard library only: scripts/test.sh
runs it with the machine's python3 before the .venv exists.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Names the suite and the programs it runs give their temp files and folders (the rule without a run
#: group; with one, any new entry of the run's group counts, whatever its name).
TMP_PREFIXES = (
    "gk-",  # gk-tests-*, gk-suite-*, gk-plugin-test-*, gk-npmrc-*, gk-ctr-*, ...
    "fake-log-",  # the plugin's node --test suite
    "summary-",
    "output-",
    "stage-",
    "real-gk-",
    "node-compile-cache",  # Node 22's (npm, semantic-release) in os.tmpdir()
    "gatekeeper-",
    "npm-gatekeeper",
    "verdaccio",
)
RUN_DIRS = ("gk-tests-", "gk-suite-")
VAR_LIB_CONTAINERS = Path("/var/lib/containers")
DPKG_INFO = Path("/var/lib/dpkg/info")
ROOT = Path(__file__).resolve().parents[2]
#: The run's own group (a decimal gid), set by scripts/test.sh / tests/conftest.py for the whole run.
RUN_GID_ENV = "GATEKEEPER_RUN_GID"
#: Where run gids are picked: far above any system or user group, below 2**31 (ext4 and tmpfs keep them).
GID_RANGE = (1_900_000_000, 2_000_000_000)
#: How many entries under /var/lib/containers are looked at (a machine's image store can be huge).
WALK_LIMIT = 20_000


def free_gid(rng: random.Random | None = None) -> int:
    """A gid no group of this machine has (nor, most likely, another run: 10**8 to pick from)."""
    import grp  # not on every platform; callers only come here on Linux as root

    rng = rng or random.SystemRandom()
    while True:
        gid = rng.randrange(*GID_RANGE)
        try:
            grp.getgrgid(gid)
        except KeyError:
            return gid


def run_gid() -> int | None:
    """The run's own group, if this process runs with it (GATEKEEPER_RUN_GID and the effective gid agree)."""
    raw = os.environ.get(RUN_GID_ENV, "")
    if not raw.isdigit() or not hasattr(os, "getegid"):
        return None
    gid = int(raw)
    return gid if os.getegid() == gid else None


def adopt_run_gid() -> int | None:
    """Give this process (and so every child it starts) a group of its own for the run: root only.

    Returns the gid, or None where it cannot (not root, not POSIX): the host check then falls back to
    names. A gid set before (scripts/test.sh, an outer run) is kept."""
    current = run_gid()
    if current is not None:
        return current
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    gid = free_gid()
    try:
        os.setgid(gid)  # real and effective; the supplementary groups stay (root keeps group 0's access)
    except OSError:
        return None
    os.environ[RUN_GID_ENV] = str(gid)
    return gid


def machine_tmp() -> Path:
    """The machine's temp dir, as the caller sees it before the suite points TMPDIR elsewhere."""
    return Path(tempfile.gettempdir())


def npm_logs_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".npm" / "_logs"


def _listing(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def packages() -> dict[str, str] | None:
    """{package: version} of every installed Debian package (None where there is no dpkg)."""
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None
    proc = subprocess.run(
        [dpkg, "-W", "-f", "${binary:Package} ${Version} ${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "installed":
            out[parts[0]] = parts[1]
    return out


def snapshot(
    tmp_dir: Path | None = None,
    *,
    npm_logs: Path | None = None,
    containers: Path | None = None,
    dpkg_info: Path | None = None,
    with_packages: bool = True,
) -> dict[str, Any]:
    """The host places the suite used to touch, as they are now (each may be pointed elsewhere: tests)."""
    tmp = tmp_dir or machine_tmp()
    logs = npm_logs or npm_logs_dir()
    ctr = containers or VAR_LIB_CONTAINERS
    return {
        "run_gid": run_gid(),
        "containers_dir": str(ctr),
        "var_lib_containers": ctr.exists(),
        "dpkg_info": str(dpkg_info or DPKG_INFO),
        "tmp_dir": str(tmp),
        "tmp": _listing(tmp),
        "npm_logs_dir": str(logs),
        "npm_logs": _listing(logs),
        "packages": packages() if with_packages else None,
    }


def snapshot_again(before: dict[str, Any]) -> dict[str, Any]:
    """The same places as `before` (its recorded paths), now."""
    return snapshot(
        Path(before["tmp_dir"]),
        npm_logs=Path(before["npm_logs_dir"]),
        containers=Path(before.get("containers_dir", VAR_LIB_CONTAINERS)),
        dpkg_info=Path(before.get("dpkg_info", DPKG_INFO)),
        with_packages=before.get("packages") is not None,
    )


def write_snapshot(path: Path, tmp_dir: Path | None = None) -> dict[str, Any]:
    snap = snapshot(tmp_dir)
    path.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return snap


def _mentions(log: Path, paths: tuple[str, ...]) -> bool:
    """An npm debug log names its cwd and argv: does it name this checkout or this run's temp dir?"""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(p and p in text for p in paths)


def _gid(path: Path) -> int | None:
    try:
        return path.lstat().st_gid
    except OSError:
        return None


def _of_group(root: Path, gid: int, limit: int = WALK_LIMIT) -> list[str]:
    """Entries under `root` (itself included, at most `limit` looked at) whose group is `gid`."""
    found: list[str] = []
    seen = 0
    stack = [root]
    while stack and seen < limit:
        path = stack.pop()
        seen += 1
        try:
            st = path.lstat()
        except OSError:
            continue
        if st.st_gid == gid:
            found.append(str(path))
        if stat.S_ISDIR(st.st_mode):
            try:
                stack.extend(sorted(path.iterdir(), reverse=True))
            except OSError:
                continue
    return found


def _dpkg_lists(info: Path, name: str) -> list[Path]:
    """dpkg's file lists for an installed package `name` (`pkg` or `pkg:arch`)."""
    base = name.split(":", 1)[0]
    return [info / f"{n}.list" for n in dict.fromkeys((name, base))]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")


def compare(
    before: dict[str, Any], after: dict[str, Any], own: tuple[str, ...] = (), gid: int | None = None
) -> tuple[list[str], list[str]]:
    """(problems, notes): what the suite changed that it must not, and the announced changes.

    `own`: this run's temp dir(s) (they go at the end of the run). `gid`: the run's own group
    (default: the one recorded in `before`): what another process made never counts. Without it:
    in the temp dir, new entries with the suite's prefixes (but other runs' private dirs, gk-tests-*,
    gk-suite-*); npm debug logs that name this checkout or `own` (npm logs its cwd and argv)."""
    problems: list[str] = []
    notes: list[str] = []
    gid = gid if gid is not None else before.get("run_gid")
    own_names = {Path(p).name for p in own}
    if gid is None:
        notes.append(
            "no group of its own for this run (not root, or no setpriv): files are told apart by their names,"
            " so another process's files with the same names would count too"
        )
    containers = Path(before.get("containers_dir", VAR_LIB_CONTAINERS))
    if gid is not None:
        made = _of_group(containers, gid)
        if made:
            problems.append(
                f"{len(made)} entries under {containers} were made by this run (its group {gid};"
                " container tools must use the checkout's private store, scripts/container/private.sh):"
                f" {_listed(made)}"
            )
        elif not before["var_lib_containers"] and after["var_lib_containers"]:
            notes.append(f"{containers} was created during the run, by another process (not this run's group)")
    elif not before["var_lib_containers"] and after["var_lib_containers"]:
        problems.append(f"{containers} was created (it did not exist before the run)")
    tmp = Path(before["tmp_dir"])
    new_tmp = sorted(set(after["tmp"]) - set(before["tmp"]) - own_names)
    if gid is not None:
        ours = [n for n in new_tmp if _gid(tmp / n) == gid]
        others = len(new_tmp) - len(ours)
        where = f"new files/folders in {tmp} made by this run (its group {gid}; they belong in the run's temp dir)"
    else:
        # A test run's own private dir (gk-tests-*: pytest_configure, gk-suite-*: scripts/test.sh) lives
        # as long as that run and goes with it: another run's on a shared machine is not a leftover of this one.
        ours = [n for n in new_tmp if n.startswith(TMP_PREFIXES) and not n.startswith(RUN_DIRS)]
        others = 0
        where = (
            f"new files/folders in {tmp} with the suite's prefixes (another test run on this machine at the same"
            " time makes them too)"
        )
    if ours:
        problems.append(f"{len(ours)} {where}: {_listed(ours)}")
    if others:
        notes.append(f"{others} new files/folders in {tmp} from other processes on the machine (not this run's group)")
    logs_dir = Path(before["npm_logs_dir"])
    new_logs = sorted(set(after["npm_logs"]) - set(before["npm_logs"]))
    if gid is not None:
        mine = [n for n in new_logs if _gid(logs_dir / n) == gid]
    else:
        mine = [n for n in new_logs if _mentions(logs_dir / n, (str(ROOT), *own))]
    if mine:
        problems.append(
            f"{len(mine)} new npm debug logs in {logs_dir} from this run (npm children must log into the"
            f" run's temp dir): {_listed(mine)}"
        )
    if len(new_logs) > len(mine):
        notes.append(f"{len(new_logs) - len(mine)} new npm debug logs in {logs_dir} from other npm runs on the machine")
    pkgs_before, pkgs_after = before.get("packages"), after.get("packages")
    if pkgs_before is not None and pkgs_after is not None:
        changed = [name for name, ver in sorted(pkgs_before.items()) if name in pkgs_after and pkgs_after[name] != ver]
        removed = sorted(set(pkgs_before) - set(pkgs_after))
        added = sorted(set(pkgs_after) - set(pkgs_before))
        if gid is not None:
            # dpkg rewrites a package's file list on every install/upgrade: its group is that of the dpkg run.
            # A removal leaves no list; dpkg's status file then tells whether this run's dpkg wrote last.
            info = Path(before.get("dpkg_info", DPKG_INFO))
            others_changed = [n for n in changed if gid not in (_gid(p) for p in _dpkg_lists(info, n))]
            status_ours = _gid(info.parent / "status") == gid
            others_removed = [] if status_ours else removed
            if others_changed or others_removed:
                notes.append(
                    f"{len(others_changed) + len(others_removed)} package changes by another process (not this"
                    f" run's group): {_listed(others_changed + others_removed)}"
                )
            changed = [n for n in changed if n not in others_changed]
            removed = [n for n in removed if n not in others_removed]
        if changed:
            problems.append(
                f"{len(changed)} installed packages were upgraded or downgraded: "
                + "; ".join(f"{n} {pkgs_before[n]} -> {pkgs_after[n]}" for n in changed)
            )
        if removed:
            problems.append(f"{len(removed)} installed packages were removed: {', '.join(removed)}")
        if added:  # whoever installed them: the set-up step installs, it never upgrades or removes
            notes.append(
                f"{len(added)} packages newly installed (the announced set-up, scripts/container/setup.sh):"
                f" {', '.join(added)}"
            )
    return problems, notes


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "snapshot":
        snap = write_snapshot(Path(argv[1]))
        pkgs = snap["packages"]
        print(
            f"hostcheck: snapshot of the host before the run: {snap['tmp_dir']} ({len(snap['tmp'])} entries),"
            f" {snap['npm_logs_dir']} ({len(snap['npm_logs'])} logs),"
            f" /var/lib/containers {'present' if snap['var_lib_containers'] else 'absent'},"
            f" {len(pkgs) if pkgs is not None else 'no'} Debian packages"
        )
        return 0
    if argv == ["free-gid"]:  # scripts/test.sh: the group it runs under (setpriv --regid)
        print(free_gid())
        return 0
    print("usage: python -m tests._support.hostcheck snapshot FILE | free-gid", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
