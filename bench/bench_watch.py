"""Benchmark: `gatekeeper watch` over 200 packages against a local registry, beside the bare-GET floor.

    python bench/bench_watch.py [--packages 200] [--versions 3] [--repeat 5] [--serve SECONDS]

Sets up (not timed) a real Verdaccio (the tests' session helper, fresh storage) holding
`--packages` packages of `--versions` versions each, published through the registry's publish API,
and the local GitHub stand-in holding one Release with a gate record per version (tag format
`{name}@{version}`, so `--packages x --versions` Releases: several pages). Then, in one run,
interleaved round by round, best of `--repeat` (median too):

- floor:   a Python process that GETs the 200 packuments one after the other (requests, one session)
           and lists the Releases (paginated): the least any watch must fetch;
- watch:   `python -m gatekeeper watch` as a whole process: every packument, every Release, every
           version matched, the report written (exit 0: every version has its record);
- watch+1: the same after one version was published without a record: that version is downloaded,
           diffed against the one before and one issue is opened (first round; later rounds find it);
- verify:  the provenance verification watch does for every watched version that carries attestations
           (issue 23), for `--packages` documents: the REAL attestations of sigstore@2.3.1 (two Sigstore
           bundles: SLSA provenance + npm's publish attestation; tests/fixtures/provenance/) verified by the
           pinned @sigstore/verify against the shipped trust root and bound to their tarball, through
           `trust.provenance.verify_many` — one verifier run for all packages, as watch calls it. (Real bundles
           exist only for their own package names, so a watch over 200 attested packages cannot be staged
           end to end; the figure of a watch over 200 attested packages is watch + verify.)
           `--per-package N` also times N documents verified one verifier run each (the former way).

`--serve N` keeps the servers up for N seconds after the figures and prints the env and commands,
so a whole-process timer can run them from outside. It is not a timed test: nothing here asserts a
figure; it exits 1 only when watch's exit code is not the expected one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.steps.record import Record  # noqa: E402
from tests._support.github_server import GitHubServer  # noqa: E402
from tests._support.tarballs import Entry, gz, tar_bytes  # noqa: E402
from tests._support.verdaccio import Verdaccio, verdaccio_session  # noqa: E402

REPO = "acme/monorepo"
FLOOR = """
import json, os, sys, requests
reg, api, token, names = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(open(sys.argv[4]).read())
s = requests.Session()
for n in names:
    r = s.get(reg + n.replace("/", "%2f"), headers={"Accept": "application/json"}); r.raise_for_status(); r.json()
page = 1
while True:
    r = s.get(api + "/repos/acme/monorepo/releases", params={"per_page": 100, "page": page},
              headers={"Authorization": "token " + token}); r.raise_for_status()
    if len(r.json()) < 100: break
    page += 1
"""


def tarball(name: str, version: str) -> bytes:
    manifest = {"name": name, "version": version, "main": "index.js", "license": "MIT"}
    files = {
        "package/package.json": json.dumps(manifest, indent=2).encode(),
        "package/index.js": f"module.exports = () => '{name}@{version}';\n".encode(),
        "package/README.md": f"# {name}\n".encode(),
    }
    return gz(tar_bytes(Entry(p, d) for p, d in files.items()))


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def publish(reg: Verdaccio, token: str, name: str, version: str) -> str:
    """`npm publish`'s own request (PUT /<name> with the tarball attached); returns the integrity."""
    data = tarball(name, version)
    sri = integrity(data)
    filename = f"{name.split('/')[-1]}-{version}.tgz"
    doc = {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {
            version: {
                "name": name,
                "version": version,
                "main": "index.js",
                "_id": f"{name}@{version}",
                "dist": {
                    "integrity": sri,
                    "shasum": hashlib.sha1(data).hexdigest(),
                    "tarball": f"{reg.url}{name}/-/{filename}",
                },
            }
        },
        "_attachments": {
            filename: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }
    reg.call("PUT", "/" + name.replace("/", "%2f"), token=token, body=doc)
    return sri


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc.returncode


def _real_document() -> tuple[dict, dict, dict[str, str]]:
    from tests._support import verifier

    fix = ROOT / "tests" / "fixtures" / "provenance"
    doc = json.loads((fix / "sigstore-2.3.1.attestations.json").read_text())
    dist = {"integrity": integrity((fix / "sigstore-2.3.1.tgz").read_bytes())}
    env = {"PATH": os.environ["PATH"], verifier.ENV: str(verifier.ensure_installed())}
    return doc, dist, env


def verify_rows(n: int, repeat: int) -> tuple[list[float], bool]:
    """`n` documents verified as watch verifies them (one `verify_many`), `repeat` times."""
    from gatekeeper.trust import provenance

    doc, dist, env = _real_document()
    entries = [("sigstore", "2.3.1", dist, doc)] * n
    times, ok = [], True
    for _ in range(repeat):
        start = time.perf_counter()
        out = provenance.verify_many(entries, env)
        times.append(time.perf_counter() - start)
        ok = ok and len(out) == n
        ok = ok and all(not o.problems and o.evidence is not None and o.evidence.publish_attestation for o in out)
    return times, ok


def verify_per_package(n: int) -> float:
    """`n` documents verified with one verifier run each (how watch verified before: one run per package)."""
    from gatekeeper.trust import provenance

    doc, dist, env = _real_document()
    start = time.perf_counter()
    for _ in range(n):
        provenance.verify_many([("sigstore", "2.3.1", dist, doc)], env)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", type=int, default=200)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--serve", type=float, default=0)
    ap.add_argument("--per-package", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("GATEKEEPER_CACHE", str(ROOT / ".cache"))
    verify_times, verified_ok = verify_rows(args.packages, args.repeat)
    per = verify_per_package(args.per_package) if args.per_package else 0.0
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp_s, GitHubServer() as gh:
        tmp = Path(tmp_s)
        with verdaccio_session(tmp / "verdaccio") as reg:
            t0 = time.perf_counter()
            token = reg.add_user("bench", "bench-Secret-1")
            repo = gh.repo(REPO)
            repo.add_commit("b" * 40, "main")
            names = [f"@bench/pkg-{i:03d}" for i in range(args.packages)]
            for name in names:
                for v in range(args.versions):
                    version = f"1.0.{v}"
                    sri = publish(reg, token, name, version)
                    rec = Record(name, version, sri, "b" * 40, "https://github.test/run/1")
                    repo.add_release(f"{name}@{version}", f"Released.\n\n{rec.line()}\n", target_commitish="b" * 40)
            setup = time.perf_counter() - t0
            ws = tmp / "ws"
            (ws / ".github").mkdir(parents=True)
            policy = {"notify": {"tag-format": "{name}@{version}"}, "watch": {"packages": names}}
            (ws / ".github/npm-gatekeeper.yml").write_text(json.dumps(policy))  # JSON is YAML
            (tmp / "names.json").write_text(json.dumps(names))
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))},
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_API_URL": gh.url,
                "GITHUB_SERVER_URL": gh.web_url,
                "GITHUB_TOKEN": gh.token or "",
                "GITHUB_WORKSPACE": str(ws),
                "GITHUB_SHA": "b" * 40,
            }
            watch = [
                sys.executable,
                "-m",
                "gatekeeper",
                "watch",
                "--registry",
                reg.url,
                "--report",
                str(tmp / "r.json"),
            ]
            floor = [sys.executable, "-c", FLOOR, reg.url, gh.url, gh.token or "", str(tmp / "names.json")]
            print(
                f"set up {args.packages} packages x {args.versions} versions, {len(repo.releases)} Releases "
                f"in {setup:.1f} s"
            )
            rows: dict[str, list[float]] = {"floor (200 GETs + releases)": [], "watch (all recorded)": []}
            codes: set[int] = set()
            for _ in range(args.repeat):
                rows["floor (200 GETs + releases)"].append(timed(floor, env)[0])
                t, code = timed(watch, env)
                rows["watch (all recorded)"].append(t)
                codes.add(code)
            report = json.loads((tmp / "r.json").read_text())
            gets = [r for r in reg.requests if r.method == "GET"]
            publish(reg, token, names[-1], f"1.0.{args.versions}")  # the attacker's version: no record
            rows["watch (1 unexpected)"] = []
            unexpected_codes: set[int] = set()
            for _ in range(args.repeat):
                t, code = timed(watch, env)
                rows["watch (1 unexpected)"].append(t)
                unexpected_codes.add(code)
            report2 = json.loads((tmp / "r.json").read_text())
            rows[f"verify {args.packages} documents"] = verify_times
            if args.per_package:
                rows[f"verify, 1 run per doc, x{args.packages // args.per_package} of {args.per_package}"] = [
                    per * (args.packages / args.per_package)
                ]
            print(f"best of {args.repeat} (median), whole processes (verify: in-process, the verifier child timed):")
            for label, ts in rows.items():
                print(f"  {label:30s} {min(ts) * 1000:8.1f} ms  ({statistics.median(ts) * 1000:.1f} ms)")
            ratio = min(rows["watch (all recorded)"]) / min(rows["floor (200 GETs + releases)"])
            print(f"  watch / floor = {ratio:.2f}x")
            with_verify = min(rows["watch (all recorded)"]) + min(rows[f"verify {args.packages} documents"])
            print(
                f"  watch + verify = {with_verify * 1000:.1f} ms = "
                f"{with_verify / min(rows['floor (200 GETs + releases)']):.2f}x the floor; verified: {verified_ok}"
            )
            print(f"  watch exit codes: all recorded {sorted(codes)}, with one unexpected {sorted(unexpected_codes)}")
            print(f"  unexpected found: {report2['unexpected']}; issues opened: {len(repo.issues)}")
            print(f"  registry GETs per watch run: {len(gets) / (2 * args.repeat):.0f} (packuments, one per package)")
            ok = (
                codes == {0}
                and unexpected_codes == {1}
                and report2["unexpected"] == [f"{names[-1]}@1.0.{args.versions}"]
            )
            ok = ok and len(repo.issues) == 1 and not report["unexpected"] and verified_ok
            if args.serve:
                print("\nservers up; run from outside, e.g.:")
                print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("GITHUB_")))
                print(" ".join(shlex.quote(c) for c in watch))
                print(" ".join(shlex.quote(c) for c in floor))
                sys.stdout.flush()
                time.sleep(args.serve)
            return 0 if ok else 1


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
