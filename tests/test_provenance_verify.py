"""Provenance verified as npm verifies it (issue 23, items 1-2), with REAL bundles (tests/fixtures/provenance/).

The verifier is the pinned `@sigstore/verify` (gatekeeper/verifier/), run offline against the shipped trust
root. Unit level: both real documents verify and name their source; one byte changed in the DSSE payload,
the signature, the certificate, the log entry's body, its inclusion proof or its integrated time fails; a
valid document of another package does not bind to this tarball; the identity comes from the certificate.
End to end: the real `sigstore@2.3.1` tarball is published to Verdaccio (once per session; the name is
fixed by the signed subject), its registry packument gets `dist.attestations`, and the npm front serves the
real (or a tampered) attestations document; the workspace is `sigstore@2.3.2` in `sigstore/sigstore-js`
(id 495574555, the id the certificate carries) and the gate runs in the action's real pipeline (dry run).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal import sigstore
from gatekeeper.trust import provenance as verified
from tests._support.github_server import GitHubServer
from tests._support.npm_front import NpmFront
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import ActionResult, head_sha, run_action

FIX = Path(__file__).parent / "fixtures" / "provenance"
SIGSTORE_COMMIT = "46e7056ff9912ebfee5298d94024895a9fea76c0"
SIGSTORE_REPO = "sigstore/sigstore-js"
SIGSTORE_REPO_ID = "495574555"


def _doc(stem: str) -> dict[str, Any]:
    return json.loads((FIX / f"{stem}.attestations.json").read_text())


def _dist(stem: str) -> dict[str, Any]:
    data = (FIX / f"{stem}.tgz").read_bytes()
    return {"integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()}


def _env(modules: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], sigstore.MODULES_ENV: str(modules)}


def _flip(b64: str, find: bytes | None = None, at: int = 0) -> str:
    """base64 of the decoded bytes with one byte changed (at `find`'s first byte, or at offset `at`)."""
    raw = bytearray(base64.b64decode(b64))
    i = raw.find(find) if find is not None else at
    assert i >= 0
    raw[i] = raw[i] ^ 0x01 if find is None else (ord("5") if raw[i] != ord("5") else ord("6"))
    return base64.b64encode(bytes(raw)).decode()


def _tamper(doc: dict[str, Any], part: str) -> dict[str, Any]:
    """The document with ONE byte of the SLSA bundle's `part` changed."""
    out = copy.deepcopy(doc)
    [slsa] = [a for a in out["attestations"] if a["predicateType"].startswith("https://slsa.dev/")]
    bundle = slsa["bundle"]
    vm = bundle["verificationMaterial"]
    tlog = vm["tlogEntries"][0]
    if part == "envelope payload":  # the commit's first digit: 46e7... -> 56e7...
        bundle["dsseEnvelope"]["payload"] = _flip(bundle["dsseEnvelope"]["payload"], find=SIGSTORE_COMMIT.encode())
    elif part == "envelope signature":
        sig = bundle["dsseEnvelope"]["signatures"][0]
        sig["sig"] = _flip(sig["sig"], at=len(base64.b64decode(sig["sig"])) - 1)
    elif part == "certificate":
        cert = vm["x509CertificateChain"]["certificates"][0]
        cert["rawBytes"] = _flip(cert["rawBytes"], at=400)
    elif part == "log entry body":
        tlog["canonicalizedBody"] = _flip(tlog["canonicalizedBody"], at=50)
    elif part == "log inclusion proof":
        proof = tlog["inclusionProof"]
        proof["hashes"][0] = _flip(proof["hashes"][0], at=0)
    elif part == "log integrated time":
        tlog["integratedTime"] = str(int(tlog["integratedTime"]) + 1)
    else:
        raise AssertionError(part)
    return out


TAMPERED = [
    "envelope payload",
    "envelope signature",
    "certificate",
    "log entry body",
    "log inclusion proof",
    "log integrated time",
]


# ---- the verifier on real bundles (no registry) ---------------------------------------------------------


def test_real_bundles_verify_offline_and_name_their_source(verifier_modules: Path) -> None:
    out = verified.verify_version(
        "sigstore", "2.3.1", _dist("sigstore-2.3.1"), _doc("sigstore-2.3.1"), _env(verifier_modules)
    )
    assert out.problems == []
    ev = out.evidence
    assert ev is not None and ev.publish_attestation
    c = ev.claims
    assert c.issuer == "https://token.actions.githubusercontent.com"
    assert (c.source_repository_uri, c.source_repository_id) == (
        f"https://github.com/{SIGSTORE_REPO}",
        SIGSTORE_REPO_ID,
    )
    assert c.workflow_path == ".github/workflows/release.yml" and c.source_repository_ref == "refs/heads/main"
    assert ev.commit == SIGSTORE_COMMIT and ev.run_id == "9116405766"
    assert c.runner_environment == "github-hosted"
    gundam = verified.verify_version(
        "gundam-visor", "1.0.1", _dist("gundam-visor-1.0.1"), _doc("gundam-visor-1.0.1"), _env(verifier_modules)
    )
    assert gundam.problems == [] and gundam.evidence is not None
    assert gundam.evidence.claims.source_repository_id == "810002373"
    assert gundam.evidence.claims.workflow_path == ".github/workflows/npm-publish.yml"


@pytest.mark.parametrize("part", TAMPERED)
def test_one_byte_changed_fails_verification(verifier_modules: Path, part: str) -> None:
    doc = _tamper(_doc("sigstore-2.3.1"), part)
    out = verified.verify_version("sigstore", "2.3.1", _dist("sigstore-2.3.1"), doc, _env(verifier_modules))
    assert out.evidence is None
    [problem] = out.problems
    assert "https://slsa.dev/provenance/v1" in problem and "fails Sigstore verification" in problem, problem


def test_a_valid_bundle_of_another_package_does_not_bind_to_this_tarball(verifier_modules: Path) -> None:
    out = verified.verify_version(
        "sigstore", "2.3.1", _dist("sigstore-2.3.1"), _doc("gundam-visor-1.0.1"), _env(verifier_modules)
    )
    assert out.evidence is None and len(out.problems) == 2  # publish attestation and provenance: another subject
    assert all("not this version" in p for p in out.problems)
    other_tarball = verified.verify_version(
        "sigstore", "2.3.1", _dist("gundam-visor-1.0.1"), _doc("sigstore-2.3.1"), _env(verifier_modules)
    )
    assert other_tarball.evidence is None and all("dist.integrity" in p for p in other_tarball.problems)


def test_identity_is_read_from_the_certificate_by_repository_id(verifier_modules: Path) -> None:
    out = verified.verify_version(
        "sigstore", "2.3.1", _dist("sigstore-2.3.1"), _doc("sigstore-2.3.1"), _env(verifier_modules)
    )
    assert out.evidence is not None
    claims = out.evidence.claims

    def want(repo: str = SIGSTORE_REPO, repo_id: str = SIGSTORE_REPO_ID, workflow: str = "release.yml") -> Any:
        return verified.expected(
            "",
            0,
            "",
            run_repository=repo,
            run_repository_id=repo_id,
            run_workflow=workflow,
            server="https://github.com",
        )

    assert verified.identity_problems(claims, want()) == []
    [renamed] = verified.identity_problems(claims, want(repo_id="999"))  # same name, another repository
    assert "repository id `495574555`, not `999`" in renamed
    assert len(verified.identity_problems(claims, want(repo="acme/widget", repo_id="1"))) == 2
    [wf] = verified.identity_problems(claims, want(workflow=".github/workflows/nightly.yml"))
    assert "nightly.yml" in wf
    [unknown] = verified.identity_problems(claims, want(repo_id=""))
    assert "provenance.repository-id" in unknown
    # a policy naming another repository needs its id; with it, this release matches it
    policy = verified.expected(
        SIGSTORE_REPO, int(SIGSTORE_REPO_ID), "release.yml",
        run_repository="acme/widget", run_repository_id="1", run_workflow="", server="https://github.com",
    )  # fmt: skip
    assert verified.identity_problems(claims, policy) == []


def test_the_verifier_child_gets_no_credentials_and_a_missing_verifier_fails_closed(
    verifier_modules: Path, tmp_path: Path
) -> None:
    env = {**_env(verifier_modules), "NODE_AUTH_TOKEN": "npm_SECRETSECRET", "GITHUB_TOKEN": "ghs_SECRET"}
    spy = tmp_path / "bin"
    spy.mkdir()
    seen = tmp_path / "env.txt"
    real = next(Path(p) / "node" for p in os.environ["PATH"].split(":") if (Path(p) / "node").is_file())
    (spy / "node").write_text(f'#!/bin/sh\nenv > "{seen}"\nexec "{real}" "$@"\n')
    (spy / "node").chmod(0o755)
    env["PATH"] = f"{spy}:{env['PATH']}"
    [first, *_] = sigstore.verify(_doc("sigstore-2.3.1")["attestations"], env)
    assert first.verified
    child = seen.read_text()
    assert "SECRET" not in child and "NODE_AUTH_TOKEN" not in child and "GITHUB_TOKEN" not in child
    relative = {**_env(verifier_modules), sigstore.MODULES_ENV: os.path.relpath(verifier_modules)}
    assert all(v.verified for v in sigstore.verify(_doc("sigstore-2.3.1")["attestations"], relative))
    with pytest.raises(sigstore.VerifierError, match="not installed"):
        sigstore.verify([], {**env, sigstore.MODULES_ENV: str(tmp_path / "nothing")})


def test_trust_root_age_is_reported() -> None:
    root = sigstore.trust_root()
    assert root.sigstore_tuf and root.tuf_root_version >= 1
    text = root.describe()
    assert "trust root taken" in text and "days ago" in text and root.age_days() is not None


# ---- end to end: Verdaccio + the npm front + the action's pipeline ----------------------------------------

_PUBLISHED = threading.Lock()
FAST_RETRIES = {"GATEKEEPER_GITHUB_RETRIES": "2", "GATEKEEPER_GITHUB_BACKOFF": "0.05"}


@pytest.fixture(scope="session")
def real_sigstore(verdaccio: Verdaccio, verifier_modules: Path) -> str:
    """The real `sigstore@2.3.1` tarball on the session's Verdaccio (once), its packument naming attestations.

    The xdist workers share one Verdaccio: the first to get the lock publishes; each worker's own proxy
    gets the patch that names the attestations (the patches are per process)."""
    with _PUBLISHED, verdaccio.exclusive("sigstore"):
        if verdaccio.packument("sigstore") is None:
            user = verdaccio.unique("sigstore-owner")
            password = f"pw-{user}-Secret1"
            token = verdaccio.create_token(verdaccio.add_user(user, password), password)
            tgz = FIX / "sigstore-2.3.1.tgz"
            # the tarball's publishConfig asks for provenance, which only a CI job can sign: off for this upload
            verdaccio.publish(tgz.parent, token, args=(str(tgz), "--provenance=false"))

    def attest(doc: dict[str, Any]) -> None:
        doc["versions"]["2.3.1"]["dist"]["attestations"] = {
            "url": "https://registry.npmjs.org/-/npm/v1/attestations/sigstore@2.3.1",
            "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
        }

    verdaccio.patch_packument("sigstore", attest)
    doc = verdaccio.packument("sigstore")
    assert doc is not None and doc["versions"]["2.3.1"]["dist"]["integrity"] == _dist("sigstore-2.3.1")["integrity"]
    return "sigstore"


@pytest.fixture
def front(verdaccio: Verdaccio, github_server: GitHubServer) -> Iterator[NpmFront]:
    def token_for(name: str) -> str:  # no exchange happens here (a token publishes)
        raise AssertionError(f"unexpected token exchange for {name}")

    port = int(verdaccio.proxy.server_address[1])
    server = NpmFront(upstream_port=port, jwks=github_server.oidc.jwks, token_for=token_for).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def next_release(
    real_sigstore: str,
    verdaccio: Verdaccio,
    github_server: GitHubServer,
    package_repo: Callable[..., Path],
    tmp_path: Path,
    front: NpmFront,
) -> Callable[..., ActionResult]:
    """`run(document, repository=..., repository_id=...)`: the gate over `sigstore@2.3.2` (dry run), with the
    front serving `document` as the attestations of `sigstore@2.3.1`."""
    user = verdaccio.unique("maintainer")
    password = f"pw-{user}-Secret1"
    token = verdaccio.create_token(verdaccio.add_user(user, password), password)
    # the same dependencies as 2.3.1: nothing to resolve (the registry here does not hold sigstore's tree)
    deps = {
        "@sigstore/bundle": "^2.3.2",
        "@sigstore/core": "^1.0.0",
        "@sigstore/protobuf-specs": "^0.3.2",
        "@sigstore/sign": "^2.3.2",
        "@sigstore/tuf": "^2.3.4",
        "@sigstore/verify": "^1.2.1",
    }
    ws = package_repo(name=real_sigstore, version="2.3.2", manifest={"dependencies": deps})
    sha = head_sha(ws)

    def run(
        document: dict[str, Any], repository: str = SIGSTORE_REPO, repository_id: str = SIGSTORE_REPO_ID
    ) -> ActionResult:
        repo = github_server.repo(repository, default_branch="main", id=int(repository_id))
        repo.add_commit(sha, "main")
        repo.add_check_run(sha, "test", "success")
        repo.add_workflow_run(sha, run_id=4242).add_job("release", status="in_progress", runner_name="GitHub Actions 2")
        front.set_attestations(real_sigstore, "2.3.1", document)
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = {
            **github_server.env(),
            "GITHUB_SERVER_URL": "https://github.com",  # what the certificates name
            "GITHUB_REPOSITORY": repository,
            "GITHUB_REPOSITORY_ID": repository_id,
            "GITHUB_SHA": sha,
            **FAST_RETRIES,
        }
        inputs = {
            "npm-token": token,
            "github-token": github_server.token or "",
            "registry": front.url,
            "dry-run": "true",
        }
        event = {"ref": "refs/heads/main", "after": sha, "repository": {"fork": False, "visibility": "public"}}
        return run_action(ws, env, event, home=home, inputs=inputs, timeout=180)

    return run


def _findings(result: ActionResult, rule: str) -> list[dict[str, Any]]:
    assert result.report is not None, result.describe()
    return [f for f in result.report["findings"] if f["rule"] == rule]


def test_e2e_a_real_bundle_verifies_and_names_its_commit_and_run(next_release: Callable[..., ActionResult]) -> None:
    result = next_release(_doc("sigstore-2.3.1"))
    [ok] = _findings(result, "provenance-verified")
    assert SIGSTORE_COMMIT in ok["message"] and "actions/runs/9116405766" in ok["message"], ok
    assert "trust root taken" in ok["message"]
    assert _findings(result, "provenance-invalid") == [] and _findings(result, "provenance-source-mismatch") == []
    # what still blocks here is this publish's own plan: a token, so no provenance after a release with it
    assert [f["rule"] for f in _findings(result, "provenance-dropped")] == ["provenance-dropped"]


@pytest.mark.parametrize("part", ["envelope payload", "certificate", "log entry body"])
def test_e2e_one_byte_changed_blocks(next_release: Callable[..., ActionResult], part: str) -> None:
    result = next_release(_tamper(_doc("sigstore-2.3.1"), part))
    assert result.returncode == 1, result.describe()
    [bad] = _findings(result, "provenance-invalid")
    assert bad["severity"] == "block" and "fails Sigstore verification" in bad["message"]
    assert _findings(result, "provenance-verified") == []


def test_e2e_a_real_bundle_from_another_repository_fails_the_identity_policy(
    next_release: Callable[..., ActionResult],
) -> None:
    # the same real, valid bundle; the run (and so the default trusted identity) is another repository
    result = next_release(_doc("sigstore-2.3.1"), repository="acme/widget", repository_id="7")
    assert result.returncode == 1, result.describe()
    [mismatch] = _findings(result, "provenance-source-mismatch")
    assert (
        "https://github.com/sigstore/sigstore-js" in mismatch["message"]
        and "`495574555`, not `7`" in mismatch["message"]
    )


def test_e2e_same_name_but_a_re_created_repository_fails_the_identity_policy(
    next_release: Callable[..., ActionResult],
) -> None:
    result = next_release(_doc("sigstore-2.3.1"), repository_id="123")  # sigstore/sigstore-js, another id
    assert result.returncode == 1, result.describe()
    [mismatch] = _findings(result, "provenance-source-mismatch")
    assert "repository id `495574555`, not `123`" in mismatch["message"]


# ---- watch verifies the attestations of the versions it watches ------------------------------------------


@pytest.fixture
def watch_sigstore(
    real_sigstore: str, github_server: GitHubServer, front: NpmFront, tmp_path: Path
) -> Callable[..., ActionResult]:
    """`run(document)`: watch over `sigstore` since 2.3.1 in `sigstore/sigstore-js` (id 495574555), the front
    serving `document` as the attestations of 2.3.1 (2.3.1 has no gate record here: it is unexpected anyway)."""
    ws = tmp_path / "watch-ws"
    (ws / ".github").mkdir(parents=True)
    (ws / ".github/npm-gatekeeper.yml").write_text("watch:\n  packages: [sigstore]\n  since: '2.3.1'\n")
    github_server.repo(SIGSTORE_REPO, default_branch="main", id=int(SIGSTORE_REPO_ID))

    def run(document: dict[str, Any]) -> ActionResult:
        front.set_attestations(real_sigstore, "2.3.1", document)
        env = {
            **github_server.env(),
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": SIGSTORE_REPO,
            "GITHUB_REPOSITORY_ID": SIGSTORE_REPO_ID,
            "GITHUB_EVENT_NAME": "schedule",
            **FAST_RETRIES,
        }
        inputs = {"mode": "watch", "github-token": github_server.token or "", "registry": front.url}
        home = tmp_path / "home-watch"
        home.mkdir(exist_ok=True)
        return run_action(ws, env, {"schedule": "17 * * * *"}, home=home, inputs=inputs, timeout=120)

    return run


def test_watch_verifies_the_attestations_of_the_versions_it_watches(
    watch_sigstore: Callable[..., ActionResult],
) -> None:
    real = watch_sigstore(_doc("sigstore-2.3.1"))
    assert real.report is not None, real.describe()
    assert real.outputs["unexpected"] == "sigstore@2.3.1"  # no gate record: unexpected either way
    assert _findings(real, "watch-provenance-invalid") == [], real.describe()
    tampered = watch_sigstore(_tamper(_doc("sigstore-2.3.1"), "envelope payload"))
    [bad] = _findings(tampered, "watch-provenance-invalid")
    assert bad["severity"] == "block" and "fails Sigstore verification" in bad["message"]


def test_the_images_verifier_cannot_be_swapped_by_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the image's pinned verifier exists, GATEKEEPER_VERIFIER_MODULES (which a step before the gate could
    write into $GITHUB_ENV, pointing at modules that 'verify' anything) is not read."""
    from gatekeeper._internal import sigstore

    image = tmp_path / "opt-verifier" / "node_modules"
    (image / "@sigstore" / "verify").mkdir(parents=True)
    (image / "@sigstore" / "verify" / "package.json").write_text("{}")
    evil = tmp_path / "evil"
    monkeypatch.setattr(sigstore, "DEFAULT_MODULES", image)
    assert sigstore.modules_dir({sigstore.MODULES_ENV: str(evil)}) == image
    monkeypatch.setattr(sigstore, "DEFAULT_MODULES", tmp_path / "not-installed")
    assert sigstore.modules_dir({sigstore.MODULES_ENV: str(evil)}) == evil.resolve()  # outside the image: tests


# ---- records bound to the verified provenance (issue 23, item 3) --------------------------------------------

SIGSTORE_RUN = "https://github.com/sigstore/sigstore-js/actions/runs/9116405766"  # the certificate's run (attempt 1)


def _record_release(github_server: GitHubServer, *, commit: str = SIGSTORE_COMMIT, run: str = SIGSTORE_RUN) -> None:
    """A gate record for sigstore@2.3.1 (the registry's integrity) in a Release of the bot, as notify writes it."""
    from gatekeeper.steps.record import Record

    record = Record("sigstore", "2.3.1", _dist("sigstore-2.3.1")["integrity"], commit, run)
    github_server.repo(SIGSTORE_REPO).add_release("v2.3.1", f"notes\n\n{record.line()}\n")


def test_watch_counts_a_record_that_names_the_provenances_commit_and_run(
    watch_sigstore: Callable[..., ActionResult], github_server: GitHubServer
) -> None:
    _record_release(github_server)
    result = watch_sigstore(_doc("sigstore-2.3.1"))
    assert result.returncode == 0, result.describe()
    assert result.outputs["unexpected"] == ""
    assert _findings(result, "record-not-bound") == [] and _findings(result, "watch-provenance-invalid") == []


@pytest.mark.parametrize(
    "commit,run",
    [
        ("0" * 40, SIGSTORE_RUN),  # another commit
        (SIGSTORE_COMMIT, "https://github.com/sigstore/sigstore-js/actions/runs/9116405767"),  # another run
        (SIGSTORE_COMMIT, SIGSTORE_RUN + "/attempts/2"),  # another attempt of the run
    ],
)
def test_watch_a_record_whose_commit_or_run_differs_from_the_provenance_is_an_unexpected_release(
    watch_sigstore: Callable[..., ActionResult], github_server: GitHubServer, commit: str, run: str
) -> None:
    _record_release(github_server, commit=commit, run=run)
    result = watch_sigstore(_doc("sigstore-2.3.1"))
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == "sigstore@2.3.1"
    [unbound] = _findings(result, "record-not-bound")
    assert unbound["severity"] == "block"
    assert (commit if commit != SIGSTORE_COMMIT else run) in unbound["message"], unbound
    [issue] = [i for i in github_server.repo(SIGSTORE_REPO).issues if "sigstore@2.3.1" in i.title]
    assert "`record-not-bound`" in (issue.body or "")


def test_watch_a_record_for_a_version_whose_attestations_fail_does_not_count(
    watch_sigstore: Callable[..., ActionResult], github_server: GitHubServer
) -> None:
    _record_release(github_server)
    result = watch_sigstore(_tamper(_doc("sigstore-2.3.1"), "certificate"))
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == "sigstore@2.3.1"
    assert {"record-not-bound", "watch-provenance-invalid"} <= {f["rule"] for f in result.report["findings"]}


def test_watch_a_bot_record_for_a_version_without_provenance_after_versions_with_it_is_unexpected(
    watch_sigstore: Callable[..., ActionResult], github_server: GitHubServer, verdaccio: Verdaccio
) -> None:
    """2.3.1 has verified provenance and its bound record; 2.3.2 was published without provenance (a token), and a
    Release with a well-formed record by the bot names it (any workflow with `contents: write` can write one):
    the record counts for nothing, 2.3.2 is an unexpected release."""
    from gatekeeper.steps.record import Record

    forged = "sha512-" + base64.b64encode(hashlib.sha512(b"sigstore@2.3.2 by a token").digest()).decode()

    def token_release(doc: dict[str, Any]) -> None:
        meta = copy.deepcopy(doc["versions"]["2.3.1"])
        meta["version"] = "2.3.2"
        meta["dist"] = {"integrity": forged, "tarball": meta["dist"]["tarball"]}
        doc["versions"]["2.3.2"] = meta
        doc.setdefault("time", {})["2.3.2"] = "2099-01-01T00:00:00.000Z"

    _record_release(github_server)
    record = Record("sigstore", "2.3.2", forged, "1" * 40, "https://github.com/sigstore/sigstore-js/actions/runs/1")
    github_server.repo(SIGSTORE_REPO).add_release("v2.3.2", f"notes\n\n{record.line()}\n")
    verdaccio.patch_packument("sigstore", token_release)
    try:
        result = watch_sigstore(_doc("sigstore-2.3.1"))
    finally:
        with verdaccio._lock:
            verdaccio.patches["sigstore"].remove(token_release)
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == "sigstore@2.3.2"  # 2.3.1's record is bound to its provenance
    [unbound] = _findings(result, "record-not-bound")
    assert "sigstore@2.3.2 has no provenance, though sigstore@2.3.1 was published with it" in unbound["message"]
