"""What the suite must leave alone on the machine: a snapshot before the run, compared after it.

The places the suite used to touch (issue 20): `/var/lib/containers` (buildah's blob-info cache when
the folder was missing), the machine's temp dir (the plugin's `node --test` files, `gk-*` folders),
`~/.npm/_logs` (debug logs of npm children), and the installed Debian packages (installing podman
upgraded `login` and `passwd`). `snapshot()` records them; `compare(before, after)` lists every
change the suite must not make. Newly installed packages are the announced install of
`scripts/container/setup.sh` and are reported, not refused; a CHANGED or REMOVED package is refused.

The snapshot is taken once per run, before anything runs: by `scripts/test.sh` before its set-up
step (GATEKEEPER_HOST_BEFORE names the file), else by `tests/conftest.py`'s `pytest_configure`.
`python -m tests._support.hostcheck snapshot FILE` writes one. Standard library only: scripts/test.sh
runs it with the machine's python3 before the .venv exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Names the suite and the programs it runs give their temp files and folders.
TMP_PREFIXES = (
    "gk-",  # gk-tests-*, gk-suite-*, gk-plugin-test-*, gk-npmrc-*, gk-ctr-*, ...
    "fake-log-",  # the plugin's node --test suite
    "summary-",
    "stage-",
    "real-gk-",
    "node-compile-cache",  # Node 22's (npm, semantic-release) in os.tmpdir()
    "gatekeeper-",
    "npm-gatekeeper",
    "verdaccio",
)
RUN_DIRS = ("gk-tests-", "gk-suite-")
VAR_LIB_CONTAINERS = Path("/var/lib/containers")
ROOT = Path(__file__).resolve().parents[2]


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


def snapshot(tmp_dir: Path | None = None) -> dict[str, Any]:
    tmp = tmp_dir or machine_tmp()
    return {
        "var_lib_containers": VAR_LIB_CONTAINERS.exists(),
        "tmp_dir": str(tmp),
        "tmp": _listing(tmp),
        "npm_logs_dir": str(npm_logs_dir()),
        "npm_logs": _listing(npm_logs_dir()),
        "packages": packages(),
    }


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


def compare(before: dict[str, Any], after: dict[str, Any], own: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(problems, notes): what the suite changed that it must not, and the announced changes.

    `own`: this run's temp dir(s). On a shared machine other runs write to the same places: npm debug
    logs count when they name this checkout or `own` (npm logs its cwd and argv); in the temp dir,
    other runs' private dirs (gk-tests-*, gk-suite-*) are not counted, the rest of our prefixes are."""
    problems: list[str] = []
    notes: list[str] = []
    if not before["var_lib_containers"] and after["var_lib_containers"]:
        problems.append(f"{VAR_LIB_CONTAINERS} was created (it did not exist before the run)")
    tmp = Path(before["tmp_dir"])
    new_tmp = sorted(set(after["tmp"]) - set(before["tmp"]))
    # A test run's own private dir (gk-tests-*: pytest_configure, gk-suite-*: scripts/test.sh) lives as
    # long as that run and goes with it: another run's on a shared machine is not a leftover of this one.
    ours = [n for n in new_tmp if n.startswith(TMP_PREFIXES) and not n.startswith(RUN_DIRS)]
    if ours:
        problems.append(
            f"{len(ours)} new files/folders in {tmp} with the suite's prefixes (another test run on this"
            f" machine at the same time makes them too): {', '.join(ours[:20])}{' ...' if len(ours) > 20 else ''}"
        )
    logs_dir = Path(before["npm_logs_dir"])
    new_logs = sorted(set(after["npm_logs"]) - set(before["npm_logs"]))
    mine = [n for n in new_logs if _mentions(logs_dir / n, (str(ROOT), *own))]
    if mine:
        problems.append(
            f"{len(mine)} new npm debug logs in {logs_dir} from this run (npm children must log into the"
            f" run's temp dir): {', '.join(mine[:20])}{' ...' if len(mine) > 20 else ''}"
        )
    if len(new_logs) > len(mine):
        notes.append(f"{len(new_logs) - len(mine)} new npm debug logs in {logs_dir} from other npm runs on the machine")
    pkgs_before, pkgs_after = before.get("packages"), after.get("packages")
    if pkgs_before is not None and pkgs_after is not None:
        changed = [
            f"{name} {ver} -> {pkgs_after[name]}"
            for name, ver in sorted(pkgs_before.items())
            if name in pkgs_after and pkgs_after[name] != ver
        ]
        removed = sorted(set(pkgs_before) - set(pkgs_after))
        added = sorted(set(pkgs_after) - set(pkgs_before))
        if changed:
            problems.append(f"{len(changed)} installed packages were upgraded or downgraded: {'; '.join(changed)}")
        if removed:
            problems.append(f"{len(removed)} installed packages were removed: {', '.join(removed)}")
        if added:
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
    print("usage: python -m tests._support.hostcheck snapshot FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
