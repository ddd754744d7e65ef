"""The host check (tests/_support/hostcheck.py) counts exactly what THIS run made, on a shared machine.

Files are made by real child processes under a group of their own (`setpriv --regid`), the way
`scripts/test.sh` runs the whole suite: one gid stands for this run, another for "another process on
the machine" (another engineer's `node --test`, another checkout's suite, an `apt-get upgrade`, a
`podman` without the private store). The places are stand-ins under tmp_path (the same code looks at
/tmp, ~/.npm/_logs, /var/lib/containers and /var/lib/dpkg in a real run), except in the last test,
which provokes the regression for real: the plugin's own `node --test` run without the suite's
TMPDIR leaves its files in the machine's /tmp, and tests/test_host_untouched.py (run as the suite
runs it) fails and names them, while other processes' files in /tmp at the same time do not count.

Root only (the run's group needs it; scripts/test.sh and conftest take one only as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._support import hostcheck
from tests._support.semrel import ensure_installed

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="the run's own group needs root and setpriv (without them the host check goes by names)",
)


def as_group(gid: int, *cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run `cmd` in a real child process whose files get group `gid` (as every child of a run does)."""
    subprocess.run(
        ["setpriv", "--regid", str(gid), "--keep-groups", *cmd],
        check=True,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


class Host:
    """Stand-ins for the places the suite used to touch."""

    def __init__(self, base: Path) -> None:
        self.tmp = base / "tmp"
        self.logs = base / "home" / ".npm" / "_logs"
        self.containers = base / "var-lib-containers"
        self.dpkg_info = base / "dpkg" / "info"
        for d in (self.tmp, self.logs, self.dpkg_info):
            d.mkdir(parents=True)

    def snapshot(self, packages: dict[str, str]) -> dict[str, Any]:
        snap = hostcheck.snapshot(
            self.tmp, npm_logs=self.logs, containers=self.containers, dpkg_info=self.dpkg_info, with_packages=False
        )
        snap["packages"] = dict(packages)
        return snap


@pytest.fixture
def gids() -> tuple[int, int]:
    """(this run's group, another process's group): two free gids."""
    run = hostcheck.free_gid()
    other = hostcheck.free_gid()
    while other == run:
        other = hostcheck.free_gid()
    return run, other


def leave_everything(host: Host, gid: int, tag: str) -> None:
    """What the suite left on the host before issue 20, made by a process of group `gid`."""
    as_group(gid, "mkdir", str(host.tmp / f"gk-plugin-test-{tag}"))
    as_group(gid, "touch", str(host.tmp / f"fake-log-{tag}.jsonl"), str(host.tmp / f"summary-{tag}.md"))
    log = host.logs / f"2026-12-07T03_22_38_897Z-{tag}-debug-0.log"
    # npm logs its cwd: a log of an npm run in this checkout (the old rule counted it whoever ran it)
    as_group(gid, "sh", "-c", f'echo "0 verbose cwd {ROOT}" > "{log}"')
    as_group(gid, "mkdir", "-p", str(host.containers / "cache"))
    as_group(gid, "touch", str(host.containers / "cache" / "blob-info-cache-v1.boltdb"))
    as_group(gid, "touch", str(host.dpkg_info / "login.list"), str(host.dpkg_info / "passwd.list"))
    as_group(gid, "touch", str(host.dpkg_info.parent / "status"))


BEFORE_PKGS = {"login": "1:4.13+dfsg1-1+b1", "passwd": "1:4.13+dfsg1-1+b1", "cowsay": "3.03+dfsg2-8"}
AFTER_PKGS = {"login": "1:4.13+dfsg1-1+deb12u1", "passwd": "1:4.13+dfsg1-1+deb12u1", "podman": "4.3.1+ds1-8+b1"}


def test_another_processes_files_never_count(tmp_path: Path, gids: tuple[int, int]) -> None:
    """Everything the suite used to leave, made by ANOTHER process during the run: no problem, notes only.

    Before the run's group existed this failed: the names (gk-plugin-test-*, fake-log-*, summary-*), the
    npm log naming this checkout, the created /var/lib/containers and the upgrades all counted."""
    run, other = gids
    host = Host(tmp_path)
    before = host.snapshot(BEFORE_PKGS)
    leave_everything(host, other, "other")
    after = host.snapshot(AFTER_PKGS)
    problems, notes = hostcheck.compare(before, after, gid=run)
    assert problems == []
    text = "\n".join(notes)
    assert "3 new files/folders in" in text and "from other processes" in text, text
    assert "1 new npm debug logs" in text and "from other npm runs" in text, text
    assert "created during the run, by another process" in text, text
    assert "3 package changes by another process" in text and "cowsay" in text, text


def test_this_runs_leftovers_count_whatever_their_names(tmp_path: Path, gids: tuple[int, int]) -> None:
    """The same leftovers made by THIS run's group fail the check, each place named; so does a file of
    any name in the temp dir, and a write into a /var/lib/containers that existed before the run."""
    run, other = gids
    host = Host(tmp_path)
    as_group(other, "mkdir", str(host.containers))  # there before the run, someone else's
    before = host.snapshot(BEFORE_PKGS)
    leave_everything(host, run, "ours")
    as_group(run, "touch", str(host.tmp / "a-name-nobody-listed"))
    after = host.snapshot(AFTER_PKGS)
    problems, _ = hostcheck.compare(before, after, gid=run)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert f"4 new files/folders in {host.tmp} made by this run (its group {run}" in text, text
    for name in ("gk-plugin-test-ours", "fake-log-ours.jsonl", "summary-ours.md", "a-name-nobody-listed"):
        assert name in text
    assert f"1 new npm debug logs in {host.logs} from this run" in text, text
    assert f"entries under {host.containers} were made by this run" in text and "blob-info-cache-v1.boltdb" in text
    assert "2 installed packages were upgraded or downgraded: login 1:4.13+dfsg1-1+b1 -> 1:4.13+dfsg1-1+deb12u1" in text
    assert "1 installed packages were removed: cowsay" in text, text


def test_the_runs_own_temp_dir_does_not_count(tmp_path: Path, gids: tuple[int, int]) -> None:
    """The run's own temp dir (gk-suite-*/gk-tests-*, removed at its end) is not a leftover."""
    run, _ = gids
    host = Host(tmp_path)
    before = host.snapshot({})
    own = host.tmp / "gk-suite-abc123"
    as_group(run, "mkdir", str(own))
    problems, notes = hostcheck.compare(before, host.snapshot({}), (str(own),), gid=run)
    assert problems == [] and not any("new files" in n for n in notes), (problems, notes)


def test_without_a_run_group_the_names_decide(tmp_path: Path, gids: tuple[int, int]) -> None:
    """Not root / no setpriv: the suite's names count (whoever made them), and the check says it cannot tell."""
    _, other = gids
    host = Host(tmp_path)
    before = host.snapshot({})
    as_group(other, "mkdir", str(host.tmp / "gk-plugin-test-x"))
    as_group(other, "touch", str(host.tmp / "unrelated.txt"))
    before["run_gid"] = None
    problems, notes = hostcheck.compare(before, host.snapshot({}))
    assert problems == [
        f"1 new files/folders in {host.tmp} with the suite's prefixes (another test run on this"
        f" machine at the same time makes them too): gk-plugin-test-x"
    ], problems
    assert any("no group of its own" in n for n in notes), notes


def test_provoked_the_plugin_tests_writing_to_the_machines_tmp_fail_the_host_check(
    tmp_path: Path, gids: tuple[int, int]
) -> None:
    """The regression issue 20 found, provoked for real: the plugin's `node --test` run without the
    suite's TMPDIR (as before test.sh gave it one) leaves gk-plugin-test-*, summary-* (and more) in the
    machine's /tmp. tests/test_host_untouched.py, run as scripts/test.sh runs it (under the run's group,
    against the snapshot taken before), fails and names them; a file another process makes in /tmp
    at the same time is only a note. Then the provoked files (exactly those of the run's group) go."""
    run, other = gids
    machine_tmp = Path("/tmp")
    host = Host(tmp_path)
    before = hostcheck.snapshot(machine_tmp, npm_logs=host.logs, containers=host.containers, with_packages=False)
    before["run_gid"] = run
    before_file = tmp_path / "host-before.json"
    before_file.write_text(json.dumps(before), encoding="utf-8")
    node = ensure_installed().node
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}  # the regression: TMPDIR not passed on
    env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
    plugin = ROOT / "integrations" / "semantic-release"
    others_file = machine_tmp / f"gk-plugin-test-another-process-{os.getpid()}"
    try:
        # one of the plugin's tests (its makeContext: gk-plugin-test-*/, summary-*.md), not all 22 (14 s)
        only = "--test-name-pattern=refuses to run without a verified tarball"
        as_group(run, str(node), "--test", only, "test/plugin.test.js", env=env, cwd=plugin)
        as_group(other, "mkdir", str(others_file))
        check = subprocess.run(
            [
                "setpriv",
                "--regid",
                str(run),
                "--keep-groups",
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                "tests/test_host_untouched.py",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "GATEKEEPER_HOST_BEFORE": str(before_file),
                hostcheck.RUN_GID_ENV: str(run),
                "GATEKEEPER_SUITE_TMP": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        left = [n for n in hostcheck._listing(machine_tmp) if hostcheck._gid(machine_tmp / n) == run]
        for name in left:
            path = machine_tmp / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        shutil.rmtree(others_file, ignore_errors=True)
    out = check.stdout + check.stderr
    assert check.returncode == 1, out
    assert "the suite changed the host" in out and f"made by this run (its group {run}" in out, out
    assert "gk-plugin-test-" in out and "summary-" in out, out
    assert others_file.name not in out.split("the suite changed the host")[1], out
    assert {n.split("-", 1)[0] for n in left} >= {"gk", "summary"}, left
    assert not [n for n in hostcheck._listing(machine_tmp) if hostcheck._gid(machine_tmp / n) == run]
