"""Building the action's image for tests/test_container.py, and checking that the build is reproducible.

- `build_image(say, *extra, image=..., state=...)`: `scripts/container-test.sh --build-only [extra]` with
  its progress lines echoed as they come.
- `podman(*args, state=...)`: podman through `scripts/container/private.sh` (the checkout's private store;
  `state` picks another private store, e.g. the scratch store of the reproducibility rebuild).
- `build_and_verify(say)`: the set-up step, the build, and on a cold store the fresh rebuild at the same
  time, then the verdict (below).
- `verify_reproducible(say, image, session_cached_steps)`: the check "two builds of the same commit
  give the same image", done ONCE PER BUILD: the verdict is recorded under the image id in
  `.cache/podman/reproducible.json`, so a later session with the very same image (same id = same bytes
  of every layer, config and history) reads the verdict instead of rebuilding for minutes. The fresh
  rebuild goes to a SCRATCH store of its own (`.cache/podman-rebuild/`, wiped before and after), so it
  shares no layer with the image it is compared with and can run at the same time as the main build.

`python -m tests._support.container_build prebuild` is what scripts/test.sh starts in the background
at the beginning of the whole suite: the main build and, on a cold store, the fresh rebuild at the
same time; then the comparison, recorded. The tests then find the image built and the verdict
recorded (file locks make them wait for a build or a verification in progress, never repeat it).
The prebuild writes its result, under the lock, to the file GATEKEEPER_PREBUILD_RESULT names (in the
run's temp dir): `prebuilt_image()` waits for it, and a test session of the same run then uses that
image instead of building again (the tree cannot change during the run; a warm build is ~20 s).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("GATEKEEPER_IMAGE", "localhost/npm-gatekeeper:test")
PODMAN_STATE = ROOT / ".cache" / "podman"
#: The fresh rebuild's own store: no layer shared with the image it is compared with.
REBUILD_STATE = ROOT / ".cache" / "podman-rebuild"
REBUILD_IMAGE = "localhost/npm-gatekeeper:rebuild"
RECORD = PODMAN_STATE / "reproducible.json"
# Every podman call: a private store and state, in a private mount namespace.
PRIVATE = ["bash", str(ROOT / "scripts" / "container" / "private.sh")]
CANNOT_RUN = 3  # scripts/container-test.sh: "cannot run here" (the reason is on its stderr)

Say = Callable[[str], None]


def podman_env(state: Path = PODMAN_STATE) -> dict[str, str]:
    """The caller's environment minus any container settings of its own (private.sh sets them)."""
    drop = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "GATEKEEPER_PRIVATE_NS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["GATEKEEPER_PODMAN_STATE"] = str(state)
    return env


def build_image(
    say: Say, *extra: str, image: str = IMAGE, state: Path = PODMAN_STATE, timeout: float = 1800
) -> tuple[int, str, str]:
    """Run `scripts/container-test.sh --build-only [extra]`, echoing its progress lines as they come."""
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "container-test.sh"), "--build-only", *extra],
        cwd=ROOT,
        env={**podman_env(state), "GATEKEEPER_IMAGE": image},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    lines = []
    for line in proc.stdout:  # the script prints a line per step and a heartbeat every 15 s
        lines.append(line)
        say(line.rstrip("\n"))
    rc = proc.wait(timeout=timeout)
    reader.join()
    return rc, "".join(lines), "".join(err)


def cached_steps(out: str) -> int:
    m = re.search(r"(\d+) steps from the layer cache", out)
    assert m, f"no cache figure in the build output:\n{out[-2000:]}"
    return int(m.group(1))


def podman(
    *args: str, timeout: float = 300, env: Mapping[str, str] | None = None, state: Path = PODMAN_STATE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRIVATE, "podman", *args],
        env={**podman_env(state), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def image_ids(name: str, state: Path = PODMAN_STATE) -> dict[str, Any]:
    proc = podman("image", "inspect", name, state=state)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)[0]
    return {"id": data["Id"], "layers": data["RootFS"]["Layers"], "created": data["Created"]}


@contextmanager
def _locked(name: str) -> Iterator[None]:
    PODMAN_STATE.mkdir(parents=True, exist_ok=True)
    with open(PODMAN_STATE / name, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _records() -> dict[str, Any]:
    try:
        data = json.loads(RECORD.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    return {"verified": data.get("verified", {}), "failed": data.get("failed", {})}


def _save(records: dict[str, Any]) -> None:
    tmp = RECORD.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(RECORD)


def _wipe_scratch() -> None:
    # Overlay mounts live only in private.sh's mount namespaces, gone with them: plain files here.
    shutil.rmtree(REBUILD_STATE, ignore_errors=True)


@dataclass
class Verdict:
    ok: bool
    message: str
    how: str  # "recorded" (verified by an earlier build of this image id) or "rebuilt" (this session)


def _fresh_build(say: Say, tag: str) -> tuple[dict[str, Any] | None, str]:
    """One build of every layer after FROM, in the scratch store; (its ids, "") or (None, why it failed)."""
    rc, out, err = build_image(say, "--no-cache", image=tag, state=REBUILD_STATE)
    if rc != 0:
        return None, f"the fresh rebuild failed (exit {rc}):\n{out[-4000:]}\n{err[-8000:]}"
    if cached_steps(out) != 0:
        return None, "a --no-cache build must not use the layer cache:\n" + out[-2000:]
    return image_ids(tag, state=REBUILD_STATE), ""


def verify_reproducible(say: Say, image: str = IMAGE, session_cached_steps: int | None = None) -> Verdict:
    """See `_verify` (this takes the lock that `prebuild` holds for its whole run: wait, never repeat it)."""
    with _locked("reproducible.lock"):
        return _verify(say, image, session_cached_steps)


def _verify(
    say: Say, image: str = IMAGE, session_cached_steps: int | None = None, *, pending: threading.Thread | None = None
) -> Verdict:
    """Reproducible: a rebuild of every layer after FROM (--no-cache, in a scratch store) gives the very same id.

    The image id is the digest of the image config, which names every layer by the digest of its
    content (diff_ids), so equal ids mean byte-identical layers, config and history. Once per image id:
    a verdict recorded for this id is returned as is ("recorded"); a failure is recorded too, returned
    ONCE (the next session tries again). If the image came (partly) from an older layer cache
    (`session_cached_steps` > 0 or unknown), a difference may just be the Debian archive having moved on
    since that cache was made: then a second fresh build decides (two fresh builds must be equal).

    `pending`: a fresh rebuild already running in a thread (prebuild starts it with the main build)."""
    reference = image_ids(image)
    records = _records()
    if reference["id"] in records["verified"]:
        if pending is not None:
            pending.join()
        return Verdict(True, _describe(reference["id"], records["verified"][reference["id"]]), "recorded")
    if reference["id"] in records["failed"]:
        message = records["failed"].pop(reference["id"])
        _save(records)
        if pending is not None:
            pending.join()
        return Verdict(False, message, "recorded")
    session_was_fresh = session_cached_steps == 0
    say(f"test_container: reproducibility of {reference['id'][:12]}: every layer after FROM, in a scratch store")
    t0 = time.monotonic()
    verdict = Verdict(False, "", "rebuilt")
    kept = False
    for attempt in (1, 2):
        tag = f"{REBUILD_IMAGE}-{attempt}"
        if attempt == 1 and pending is not None:
            pending.join()
            again, why = PENDING.get("result", (None, "the background rebuild did not finish"))
        else:
            if attempt == 1:
                _wipe_scratch()
            again, why = _fresh_build(say, tag)
        if again is None:
            verdict.message = why
            kept = True
            break
        if again == reference:
            verdict.ok = True
            when = "started with the main build" if attempt == 1 and pending is not None else "after it"
            verdict.message = (
                f"{reference['id'][:12]}: a build of every layer after FROM gave the same id"
                f" ({'first' if attempt == 1 else 'second'} fresh build, {when}; {time.monotonic() - t0:.0f} s here)"
            )
            break
        pairs = zip(reference["layers"], again["layers"], strict=False)
        differing = [i for i, (a, b) in enumerate(pairs) if a != b]
        message = f"layers {differing} differ: {reference['id'][:12]} (reference) != {again['id'][:12]} (fresh)"
        if session_was_fresh or attempt == 2:
            verdict.message = f"two fresh builds of the same commit differ: {message}\n{reference}\n{again}"
            kept = True
            break
        say(f"test_container: the session's (cached) image differs from a fresh build, {message}; one more")
        reference = again
    records = _records()
    key = image_ids(image)["id"]
    if verdict.ok:
        records["verified"][key] = {
            "fresh_id": reference["id"],  # == the key; or two fresh builds were equal (the session's came from a cache)
            "layers": reference["layers"],
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _wipe_scratch()
    else:
        records["failed"][key] = time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + verdict.message
        if kept:
            say(f"test_container: kept the scratch store {REBUILD_STATE} for inspection (GATEKEEPER_PODMAN_STATE=...)")
    _save(records)
    return verdict


def _describe(image_id: str, record: Mapping[str, Any]) -> str:
    return f"{image_id[:12]}: verified reproducible by a fresh build at {record.get('verified_at')}"


PENDING: dict[str, Any] = {}


PREBUILD_RESULT = "GATEKEEPER_PREBUILD_RESULT"


def prebuilt_image() -> dict[str, Any] | None:
    """The result of this run's background prebuild (waiting for it), or None (none, or it failed).

    {"rc": 0, "cached_steps": N, "image_id": ...} as the prebuild recorded it under the verification
    lock; the image must still be the one it built."""
    path = os.environ.get(PREBUILD_RESULT)
    if not path:
        return None
    with _locked("reproducible.lock"):  # held by the prebuild for its whole run
        try:
            result = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if result.get("rc") != 0 or podman("image", "exists", IMAGE).returncode != 0:
            return None
        if image_ids(IMAGE)["id"] != result.get("image_id"):
            return None
        return dict(result)


def build_and_verify(say: Say, *, verify_when_warm: bool = True, record: Path | None = None) -> tuple[int, str, str]:
    """Set up, build the image and verify it; on a cold store the fresh rebuild runs alongside the build.

    (returncode, stdout, stderr) of the build (or of the set-up step when that fails: 3 = cannot run
    here). Holds the verification lock from the start, so a test that wants the verdict waits for it
    instead of starting a rebuild of its own (only a holder of that lock touches the scratch store).
    `verify_when_warm=False` (the test fixture): with the image already in the store, build only and
    leave the verification to the test, which reads a recorded verdict or rebuilds. `record`: where
    the prebuild writes its result for `prebuilt_image()`, before it lets go of the lock."""
    t0 = time.monotonic()
    setup = subprocess.run(
        ["bash", str(ROOT / "scripts" / "container" / "setup.sh")], capture_output=True, text=True, check=False
    )
    for line in setup.stdout.splitlines():
        say(line)
    if setup.returncode != 0:
        return setup.returncode, setup.stdout, setup.stderr
    with _locked("reproducible.lock"):
        cold = podman("image", "exists", IMAGE).returncode != 0
        pending = None
        if cold:  # nothing to reuse: the fresh rebuild runs at the same time as the main build
            _wipe_scratch()
            say(f"container build: cold store: building {IMAGE} and, at the same time, the fresh rebuild")

            def rebuild() -> None:
                PENDING["result"] = _fresh_build(lambda line: say("[rebuild] " + line), f"{REBUILD_IMAGE}-1")

            pending = threading.Thread(target=rebuild, daemon=True)
            pending.start()
        rc, out, err = build_image(say)
        if rc != 0:
            if pending is not None:
                pending.join()
            return rc, out, err
        if cold or verify_when_warm:
            verdict = _verify(say, IMAGE, cached_steps(out), pending=pending)
            first = (verdict.message.splitlines() or [""])[0]
            say(f"container build: {'reproducible' if verdict.ok else 'NOT reproducible'} ({verdict.how}): {first}")
        if record is not None:
            result = {"rc": 0, "cached_steps": cached_steps(out), "image_id": image_ids(IMAGE)["id"]}
            record.write_text(json.dumps(result) + "\n", encoding="utf-8")
    say(f"container build: done in {time.monotonic() - t0:.0f} s")
    return rc, out, err


def main(argv: list[str]) -> int:
    if argv == ["prebuild"]:  # scripts/test.sh, in the background
        record = os.environ.get(PREBUILD_RESULT)
        rc, _, err = build_and_verify(lambda line: print(line, flush=True), record=Path(record) if record else None)
        if rc != 0:
            print(f"container build: failed (exit {rc}); the container tests will say why\n{err[-4000:]}", flush=True)
        return rc
    print("usage: python -m tests._support.container_build prebuild", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
