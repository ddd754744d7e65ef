"""Benchmark: what a job pays before the gate says anything, side by side in one run.

    sudo python3 bench/bench_container_startup.py [--repeat 5] [--skip-build]

1. build:  `scripts/container-test.sh --build-only --no-cache` -- every layer after FROM rebuilt, as
           GitHub does for `image: Dockerfile` on every run (the base already present; a runner
           additionally pulls it). Once: it takes minutes.
2. load:   `podman load` of the image saved with `podman save` (docker-archive) into an EMPTY
           store each time -- the closest offline stand-in for pulling the prebuilt image from GHCR
           (no registry is reachable here; a pull adds the download of the compressed layers).
3. run:    `podman run --rm --network none` of the loaded image, from the command to the gate's
           first byte of output, and to its exit (no inputs: it fails closed at once, exit 2).

Every podman call goes through scripts/container/private.sh (this checkout's private store); the
load stores are temp dirs under .cache/podman/tmp, removed after each run. Medians are shown, with
min-max: the machine is shared, quote ratios rather than absolute times. Needs root, like the
container test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = ["bash", str(ROOT / "scripts" / "container" / "private.sh")]
IMAGE = "localhost/npm-gatekeeper:test"
TMP = ROOT / ".cache" / "podman" / "tmp"
RUN = ["run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=20000:20000"]


def timed(argv: list[str], **kw: object) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def first_output(image: str) -> tuple[float, float]:
    """Seconds from `podman run` to the container's first output byte, and to its exit."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*PRIVATE, "podman", *RUN, image], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    proc.stdout.read(1)
    first = time.perf_counter() - t0
    proc.stdout.read()
    proc.wait()
    return first, time.perf_counter() - t0


def load_into_empty_store(archive: Path) -> float:
    """`podman load` into a brand-new private store (its own state dir), removed afterwards."""
    store = Path(tempfile.mkdtemp(prefix="bench-store-", dir=TMP))
    try:
        env = {**os.environ, "GATEKEEPER_PODMAN_STATE": str(store)}
        env.pop("GATEKEEPER_PRIVATE_NS", None)
        return timed([*PRIVATE, "podman", "load", "-q", "-i", str(archive)], env=env)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def show(name: str, values: list[float]) -> None:
    med = statistics.median(values)
    print(f"{name:<34} median {med:7.2f} s   (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-build", action="store_true", help="only load and run (the image must exist)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_container_startup: needs root (rootful podman), like the container test", file=sys.stderr)
        return 3
    TMP.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[float]] = {}
    if not args.skip_build:
        script = ["bash", str(ROOT / "scripts" / "container-test.sh"), "--build-only", "--no-cache"]
        results["build (Dockerfile, --no-cache)"] = [timed(script, cwd=ROOT)]
    work = Path(tempfile.mkdtemp(prefix="bench-save-", dir=TMP))
    try:
        archive = work / "image.tar"
        timed([*PRIVATE, "podman", "save", "-q", "--format", "docker-archive", "-o", str(archive), IMAGE])
        print(f"saved image: {archive.stat().st_size / 1e6:.0f} MB (uncompressed docker-archive)")
        results["load (podman load, empty store)"] = [load_into_empty_store(archive) for _ in range(args.repeat)]
        runs = [first_output(IMAGE) for _ in range(args.repeat)]
        results["run: to the gate's first output"] = [r[0] for r in runs]
        results["run: to exit"] = [r[1] for r in runs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, values in results.items():
        show(name, values)
    build = results.get("build (Dockerfile, --no-cache)")
    if build:
        load = statistics.median(results["load (podman load, empty store)"])
        print(f"build / load: {build[0] / load:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
