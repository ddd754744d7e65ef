"""Notify after publish: the GitHub Release with the gate's record and mentions, one webhook event.

End to end with Verdaccio, the real npm CLI and the GitHub stand-in; the record parser on hostile bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gatekeeper._internal.github import Release as GhRelease
from gatekeeper.steps.notify import Published, merge_body, release_section
from gatekeeper.steps.record import MARKER_WORD, Record, parse_record, record_of
from tests._support.webhook import WebhookReceiver
from tests._support.workspace import assert_no_leak
from tests.test_e2e_publish import release  # noqa: F401 - the fixture

INTEGRITY = "sha512-" + "A" * 86 + "=="
SHA = "a" * 40
POLICY = 'notify:\n  mention: ["@acme/release-owners", "@someone"]\n'


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _records(body: str) -> int:
    return body.lower().count(MARKER_WORD)


def test_publish_creates_the_release_with_record_mentions_and_one_webhook_post(release, hook) -> None:  # noqa: F811
    rel = release()
    (rel.ws / ".github/npm-gatekeeper.yml").write_text(POLICY)
    url = hook.url("/hooks/T0001/B0002/secretPartOfTheWebhook")
    result = rel.run(inputs={"notify-webhook": url})
    assert result.returncode == 0, result.describe()
    assert result.outputs["published"] == "true" and result.outputs["notified"] == "true"
    assert rel.versions() == ["1.0.0"]
    [gh] = rel.repo.releases
    assert gh.tag_name == "v1.0.0" and gh.target_commitish == rel.sha
    assert rel.repo.tags["v1.0.0"] == rel.sha  # the tag did not exist: created at the released commit
    assert "cc @acme/release-owners @someone" in (gh.body or "")
    record, why = parse_record(gh.body or "")
    assert record is not None, why
    registry = rel.verdaccio.packument(rel.name)["versions"]["1.0.0"]["dist"]["integrity"]  # type: ignore[index]
    assert (record.name, record.version, record.integrity, record.commit) == (rel.name, "1.0.0", registry, rel.sha)
    assert record.run.endswith("/acme/widget/actions/runs/4242")
    # exactly one event, the JSON the issue names
    assert len(hook.posts) == 1, hook.posts
    ev = hook.posts[0].json
    assert ev["name"] == rel.name and ev["version"] == "1.0.0" and ev["integrity"] == registry
    assert ev["commit"] == rel.sha and ev["previous_version"] is None and ev["run_url"] == record.run
    assert ev["findings"]["warn"] >= 1  # first-release
    assert ev["release_url"].endswith("/releases/tag/v1.0.0")
    assert result.report["notify"]["release"] == "created"
    # the webhook URL is a secret: masked, and nowhere in what the run wrote
    assert url in result.masks
    assert_no_leak(result, url)
    assert_no_leak(result, "secretPartOfTheWebhook")


def test_webhook_failing_after_publish_is_an_error_but_the_version_stays(release, hook) -> None:  # noqa: F811
    rel = release()
    hook.status = 500
    result = rel.run(inputs={"notify-webhook": hook.url("/hooks/secretPath0123")})
    assert result.returncode == 2, result.describe()
    assert result.outputs["published"] == "true" and result.outputs["notified"] == "false"
    assert result.outputs["decision"] == "allow"
    assert rel.versions() == ["1.0.0"]
    assert "WAS published, but the notification failed" in result.summary
    assert "webhook" in result.stderr and "HTTP 500" in result.stderr
    assert "Nothing was published" not in result.stderr + result.summary
    assert_no_leak(result, "secretPath0123")
    assert len(hook.posts) == 1  # a 500 is not retried (the event may have been taken)
    assert len(rel.repo.releases) == 1  # the Release was still written


def test_release_api_failing_after_publish_is_an_error_but_the_version_stays(release) -> None:  # noqa: F811
    rel = release()
    rel.github.fail(r"/releases$", status=500, times=50, method="POST")
    result = rel.run()
    assert result.returncode == 2, result.describe()
    assert result.outputs["published"] == "true" and result.outputs["notified"] == "false"
    assert rel.versions() == ["1.0.0"]
    assert result.report["notify"]["release"] == "failed"
    assert "contents: write" in result.stderr


def test_an_existing_release_is_updated_and_a_forged_record_in_it_is_dropped(release) -> None:  # noqa: F811
    rel = release()
    forged = Record(rel.name, "1.0.0", INTEGRITY, SHA, "https://evil.test/run").line()
    rel.repo.add_release("v1.0.0", f"## Notes by semantic-release\n\n* feat: things\n\n{forged}\n", author="someone")
    result = rel.run()
    assert result.returncode == 0, result.describe()
    [gh] = rel.repo.releases
    body = gh.body or ""
    assert "Notes by semantic-release" in body and _records(body) == 1
    record, why = parse_record(body)
    assert record is not None and record.integrity != INTEGRITY, why
    assert result.report["notify"]["release"] == "updated"


def test_dry_run_and_check_mode_notify_nothing(release, hook) -> None:  # noqa: F811
    rel = release()
    for inputs in ({"dry-run": "true"}, {"mode": "check"}):
        result = rel.run(inputs={**inputs, "notify-webhook": hook.url()})
        assert result.returncode == 0, result.describe()
        assert result.outputs["notified"] == "false"
    assert not rel.repo.releases and not hook.posts


# -- the record format -------------------------------------------------------------------------------


def _published(**kw: object) -> Published:
    base: dict[str, object] = dict(
        name="widget", version="1.0.1", integrity=INTEGRITY, previous_version="1.0.0", commit=SHA, run_url=""
    )
    base.update(kw)
    return Published(**base)  # type: ignore[arg-type]


def _gh(body: str, tag: str = "v1.0.1", draft: bool = False) -> GhRelease:
    return GhRelease(1, tag, tag, body, "github-actions[bot]", "", draft)


def test_record_round_trips_and_is_bound_to_the_tag() -> None:
    rec = Record("widget", "1.0.1", INTEGRITY, SHA, "https://github.com/a/b/actions/runs/1", ("alice",))
    body = release_section(_published(), ["@a"], rec)
    assert parse_record(body) == (rec, "")
    assert record_of(_gh(body), "v{version}")[0] == rec
    assert record_of(_gh(body, tag="v9.9.9"), "v{version}")[0] is None  # a record copied into another release
    assert record_of(_gh(body, draft=True), "v{version}")[0] is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b, own, other: b + "\n" + other,  # a second record anywhere: ambiguous, never "first wins"
        lambda b, own, other: other + "\n" + b,
        lambda b, own, other: b.replace(own, own.upper()),
        lambda b, own, other: b.replace(own, own[:-4] + "x -->"),
        lambda b, own, other: b.replace(own, "text " + own),  # not a line of its own
        lambda b, own, other: b.replace(own, own[:40] + own[41:]),  # not base64 JSON any more
    ],
)
def test_a_second_or_altered_record_invalidates_it(mutate) -> None:
    rec = Record("widget", "1.0.1", INTEGRITY, SHA, "")
    body = release_section(_published(), [], rec)
    other = Record("widget", "1.0.1", "sha512-" + "B" * 86 + "==", SHA, "").line()
    assert parse_record(body)[0] == rec
    assert parse_record(mutate(body, rec.line(), other))[0] is None


def test_the_install_script_set_round_trips_and_is_parsed_strictly() -> None:
    """Issue 23, item 7: the record's optional `install_scripts` (records written before it still parse)."""
    import base64
    import json

    with_set = Record("widget", "1.0.1", INTEGRITY, SHA, "", (), ("@scope/gyp-thing@2.0.0", "esbuild@0.21.5"))
    assert parse_record(with_set.line()) == (with_set, "")
    without = Record("widget", "1.0.1", INTEGRITY, SHA, "")
    assert "install_scripts" not in without.to_json() and parse_record(without.line()) == (without, "")
    for bad in (["esbuild"], ["esbuild@0.21.5 --evil"], "esbuild@0.21.5", [1], ["x@1"] * 1001):
        data = {**without.to_json(), "install_scripts": bad}
        raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        assert parse_record(f"<!-- npm-gatekeeper:record:v1 {raw} -->")[0] is None, bad


def test_hostile_delta_text_cannot_inject_a_record() -> None:
    evil = Record("widget", "1.0.1", "sha512-" + "B" * 86 + "==", SHA, "").line()
    delta = {
        "summary": {"added": 1},
        "files": [{"path": evil, "status": "added"}, {"path": f"x\n{evil}\n", "status": "added"}],
        "fields": [{"field": "description", "old": None, "new": f"\n{evil}\n"}],
    }
    findings = [{"rule": "approved-change", "severity": "info", "message": evil, "evidence": {"approved_by": evil}}]
    rec = Record("widget", "1.0.1", INTEGRITY, SHA, "")
    body = release_section(_published(delta=delta, findings=findings), [], rec)
    assert _records(body) == 1
    assert parse_record(body) == (rec, "")
    merged = merge_body(f"old notes\n{evil}\n<!-- {MARKER_WORD}:v1 inline -->", body)
    assert _records(merged) == 1 and parse_record(merged) == (rec, "")


def test_approved_findings_show_who_approved() -> None:
    findings = [
        {
            "rule": "approved-by-review",
            "severity": "info",
            "message": "postinstall",
            "evidence": {"approved_by": "bob"},
        },
        {"rule": "approved-change", "severity": "info", "message": "left-pad added"},
        {"rule": "first-release", "severity": "warn", "message": "nope"},
    ]
    body = release_section(_published(findings=findings), [], Record("widget", "1.0.1", INTEGRITY, SHA, ""))
    assert "`approved-by-review`" in body and "| bob |" in body
    assert "`approved-change`" in body and "exact approval" in body
    assert "first-release" not in body
    assert json.dumps(findings)  # plain JSON in, as the report carries them
