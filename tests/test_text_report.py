"""`--format text` of check/publish carries the same facts as the Markdown summary (issue 11 follow-up).

Field by field: the headline's cases (staged, check mode, stopped during the upload, waiting for
review, watch), the publish step's credential (OIDC claims / token type), provenance, a staged
release's id and approve/reject commands, the notify result, an error the gate lines do not say, the
policy diff and the approval snippets. Readable in a terminal: no Markdown artefacts, hostile text
made visible. The real runs go through `gatekeeper check|publish|watch --format text` against the
session Verdaccio (and the npm front for staging).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gatekeeper import report
from gatekeeper.decision import Decision, GateResult
from gatekeeper.findings import Finding, Severity
from tests._support.npm_front import STAGE_PREFIX, NpmFront
from tests._support.workspace import ActionResult, assert_no_leak, run_action
from tests.test_e2e_oidc import _bump, front  # noqa: F401  (registers the `front` fixture)
from tests.test_e2e_publish import FAST_RETRIES, REPO, Release
from tests.test_e2e_trust import (
    APPROVE_POSTINSTALL,
    POLICY,
    POSTINSTALL,
    _commit,
    _manifest,
    _released,
    release,  # noqa: F401  (registers the `release` fixture)
)
from tests.test_terminal_output import MARKDOWN_ARTIFACTS

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "\x1b[2J\u202eevil\u200b"


def _outcome(**kw: Any) -> report.Outcome:
    base: dict[str, Any] = {
        "mode": "publish",
        "decision": Decision(True, 0, "ok"),
        "gates": [GateResult("branch", "pass"), GateResult("publish", "pass")],
        "package": {"name": "widget", "version": "1.0.1"},
        "publish": {"integrity": "sha512-abc"},
    }
    base.update(kw)
    return report.Outcome(**base)


def _text(outcome: report.Outcome) -> str:
    text = report.render(outcome, "text", report.to_markdown(outcome))
    assert not any(a in text for a in MARKDOWN_ARTIFACTS), text
    assert "\x1b" not in text and "\u202e" not in text and "\u200b" not in text
    return text


# ------------------------------------------------------------------ the publish step's facts


def test_oidc_credential_and_its_matched_claims_are_in_the_text() -> None:
    claims = {"repository": "acme/widget", "workflow": "release.yml", "ref": "refs/heads/main"}
    publish = {
        "integrity": "sha512-abc",
        "credential": {"type": "oidc", "claims": claims},
        "provenance": True,
        "provenance_reason": "auto: OIDC trusted publishing from a public repository",
    }
    text = _text(_outcome(published=True, publish=publish))
    assert (
        "  credential: OIDC trusted publishing (short-lived token; claims matched: repository acme/widget, "
        "workflow release.yml, ref refs/heads/main)\n"
    ) in text
    assert "  provenance: on (--provenance) - auto: OIDC trusted publishing from a public repository\n" in text


def test_token_credential_and_provenance_off_are_in_the_text() -> None:
    publish = {
        "credential": {"type": "token", "token_type": "legacy npm token (UUID format)", "source": ["npm-token"]},
        "provenance": False,
        "provenance_reason": "a private repository",
    }
    text = _text(_outcome(published=True, publish=publish))
    assert "  credential: legacy npm token (UUID format)\n" in text
    assert "  provenance: off - a private repository\n" in text


def test_a_staged_release_says_staged_with_its_id_and_the_commands_to_approve_or_reject() -> None:
    publish = {
        "staged": True,
        "stage_id": "st-42",
        "approve": "npm stage approve st-42",
        "reject": "npm stage reject st-42",
        "approve_url": "https://www.npmjs.com/package/widget",
    }
    text = _text(_outcome(publish=publish))
    first = text.splitlines()[0]
    assert "staged" in first and "approval" in first and "allowed (not published)" not in first
    assert "  staged with id st-42: nothing is public until a maintainer approves it with 2FA\n" in text
    assert "    approve: npm stage approve st-42\n    reject:  npm stage reject st-42\n" in text
    assert "    or on npmjs.com: https://www.npmjs.com/package/widget\n" in text


def test_hostile_registry_and_claim_text_is_made_visible() -> None:
    publish = {
        "credential": {"type": "oidc", "claims": {"repository": HOSTILE}},
        "stage_id": HOSTILE,
        "approve": f"npm stage approve {HOSTILE}",
        "reject": "x",
    }
    text = _text(_outcome(publish=publish))
    assert "\\e[2J\\u{202E}evil\\u{200B}" in text


def test_the_notify_result_is_in_the_text_and_a_failure_is_said() -> None:
    ok = {"ok": True, "release": "created", "release_url": "http://gh/r/1", "webhook": "sent", "errors": []}
    text = _text(_outcome(published=True, notify=ok, notified=True))
    assert "  notified: ok - Release created (http://gh/r/1); webhook sent\n" in text
    bad = {"ok": False, "release": "failed", "release_url": None, "webhook": "not configured", "errors": ["x"]}
    error = "widget@1.0.1 WAS published, but the notification failed: x."
    text = _text(_outcome(published=True, notify=bad, notified=False, error=error, decision=Decision(True, 2, "x")))
    assert "  notified: FAILED - Release failed; webhook not configured\n" in text
    assert f"  error: {error}\n" in text  # no gate line says it


def test_a_gate_error_is_not_repeated_but_an_error_beyond_the_gates_is_said() -> None:
    gates = [GateResult("branch", "pass"), GateResult("diff", "error", [], "registry down")]
    text = _text(_outcome(gates=gates, error="[diff] registry down", decision=Decision(False, 2, "x")))
    assert text.count("registry down") == 1
    gates = [GateResult("branch", "pass"), GateResult("publish", "error", [], "`npm publish` failed: E500")]
    error = "`npm publish` failed: E500. Check the registry and the token, then re-run."
    text = _text(_outcome(gates=gates, error=error, decision=Decision(False, 2, "x")))
    assert f"  error: {error}\n" in text


# ------------------------------------------------------------------ the headline, case by case


def test_headline_cases_match_the_markdown_heading() -> None:
    cases = [
        (_outcome(mode="check"), "allowed (not published: check mode)"),
        (_outcome(publish_uncertain=True, decision=Decision(False, 2, "x")), "possibly published, check the registry"),
        (
            _outcome(mode="check", decision=Decision(False, 0, "r", pending_review=True), needs_review=True),
            "waits for review",
        ),
        (_outcome(mode="watch", decision=Decision(False, 1, "x")), "watch: releases the gate did not publish"),
        (_outcome(mode="watch", decision=Decision(True, 0, "x")), "watch: every release went through the gate"),
        (_outcome(mode="watch", decision=Decision(False, 2, "x")), "watch: could not check every release"),
    ]
    for outcome, says in cases:
        first = _text(outcome).splitlines()[0]
        md_first = report.to_markdown(outcome).splitlines()[0]
        assert says in first, (first, md_first)
        assert "NOT published" not in first or "NOT published" in md_first, (first, md_first)


def test_every_fact_of_the_markdown_summary_is_in_the_text() -> None:
    """A fully populated publish outcome: each value the Markdown shows is in the text too."""
    f = Finding("lifecycle-script-added", Severity.WARN, "postinstall added", file="package.json", line=3)
    publish = {
        "integrity": "sha512-abc",
        "credential": {"type": "oidc", "claims": {"repository": "acme/widget", "workflow_ref": "w@refs/heads/main"}},
        "provenance": True,
        "provenance_reason": "auto: public repository",
        "staged": True,
        "stage_id": "st-7",
        "approve": "npm stage approve st-7",
        "reject": "npm stage reject st-7",
    }
    notify = {"ok": True, "release": "updated", "release_url": "http://gh/r/9", "webhook": "sent", "errors": []}
    outcome = _outcome(
        gates=[GateResult("diff", "pass", [f]), GateResult("publish", "pass")],
        previous={"name": "widget", "version": "1.0.0"},
        publish=publish,
        notify=notify,
        notified=True,
        extra_markdown=["### Release diff"],
        extra_text=["release diff: 1 file"],
    )
    text = _text(outcome)
    facts = [
        "widget@1.0.0",
        "sha512-abc",
        "acme/widget",
        "w@refs/heads/main",
        "auto: public repository",
        "st-7",
        "npm stage approve st-7",
        "npm stage reject st-7",
        "http://gh/r/9",
        "updated",
        "sent",
        "postinstall added",
    ]
    md = report.to_markdown(outcome)
    assert all(fact in md for fact in facts), md
    missing = [fact for fact in [*facts, "gate diff: pass (1 warn)", "release diff: 1 file"] if fact not in text]
    assert not missing, text


# ------------------------------------------------------------------ policy diff and approval snippets


def test_policy_diff_and_approval_snippets_as_text() -> None:
    from gatekeeper.report import snippets as approval_snippets
    from gatekeeper.trust.policy import Policy
    from gatekeeper.trust.trusted_policy import PolicyTrust

    trust = PolicyTrust(
        Policy(), Policy(), loosened=(f"approve.scripts adds postinstall {HOSTILE}",), diff="--- a\n+++ b\n+x: 1\n"
    )
    text = trust.text()
    assert text.startswith("policy diff (last release -> this commit):\n  loosens:\n    - approve.scripts")
    assert "  +x: 1\n" in text and "```" not in text and "\\e[2J" in text
    f = Finding(
        "lifecycle-script-added",
        Severity.BLOCK,
        "m",
        evidence={"approve": 'approve:\n  scripts:\n    postinstall: "node \\e x"\n'},
    )
    snip = approval_snippets.text([f])
    assert snip.startswith("to approve in the policy")
    assert "  lifecycle-script-added:\n    approve:\n      scripts:\n        postinstall:" in snip
    assert approval_snippets.text([Finding("x", Severity.BLOCK, "m")]) == ""


# ------------------------------------------------------------------ real runs: gatekeeper check|publish --format text

PROG = "import sys; from gatekeeper.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(rel: Release, *argv: str, inputs: dict[str, str] | None = None, env: dict[str, str] | None = None):
    """`gatekeeper <argv>` run as the action runs (the runner's env, the GitHub stand-in), text on stdout."""
    all_inputs = {"npm-token": rel.token, "github-token": rel.github.token or "", "registry": rel.verdaccio.url}
    all_inputs.update(inputs or {})
    full_env = {**rel.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": rel.sha, **FAST_RETRIES}
    full_env.update({**getattr(rel, "run_env", {}), **(env or {}), "PYTHONPATH": str(ROOT)})
    result: ActionResult = run_action(
        rel.ws, full_env, {"ref": "refs/heads/main", "after": rel.sha, "repository": {"fork": False}},
        home=rel.home, inputs=all_inputs, timeout=180, argv=[sys.executable, "-c", PROG, *argv],
    )  # fmt: skip
    text = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("::"))
    assert not any(a in text for a in MARKDOWN_ARTIFACTS), text
    assert_no_leak(result, rel.token)
    return result, text


def test_check_text_shows_the_policy_diff_and_the_snippet_to_approve(release) -> None:  # noqa: F811
    rel: Release = release()
    _released(rel)
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL), POLICY: APPROVE_POSTINSTALL}, "x")
    result, text = _cli(rel, "check", "--format", "text")
    assert result.returncode == 1, result.describe()
    assert text.startswith(f"npm-gatekeeper: {rel.name}@1.0.1 blocked - NOT published\n"), text
    assert "BLOCK policy-changed" in text and "BLOCK lifecycle-script-added" in text
    assert "policy diff (last release -> this commit):\n  loosens:\n" in text
    assert "  +  scripts:" in text  # the unified diff of the policy, indented
    assert "to approve in the policy" in text and "  lifecycle-script-added:\n    approve:\n" in text
    assert "Policy diff" in result.summary  # the job summary stays Markdown


def test_publish_text_of_a_staged_release_says_how_to_approve_it(release, front: NpmFront) -> None:  # noqa: F811
    rel: Release = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    _bump(rel, "1.0.1")
    result, text = _cli(rel, "publish", "--format", "text", inputs={"registry": front.url, "publish-with": "stage"})
    assert result.returncode == 0, result.describe()
    [stage_id] = front.staged
    assert front.requests_to("POST", STAGE_PREFIX)
    first = text.splitlines()[0]
    assert first == f"npm-gatekeeper: {rel.name}@1.0.1 staged - waiting for a maintainer's approval (not public yet)"
    assert f"  staged with id {stage_id}: nothing is public until a maintainer approves it with 2FA\n" in text
    assert f"    approve: npm stage approve {stage_id} --registry {front.url}\n" in text
    assert "  credential: " in text and "  provenance: " in text
    assert result.report is not None and result.report["publish"]["stage_id"] == stage_id


def test_watch_text_names_each_unexpected_release_with_its_delta(release) -> None:  # noqa: F811
    """`gatekeeper watch --format text` was Markdown whatever the flag said; now the same facts as text."""
    from tests.test_watch import _attacker_publishes

    rel: Release = release()
    (rel.ws / POLICY).write_text("watch:\n  since: 1.0.0\n")
    _attacker_publishes(rel, "1.0.0")  # straight to the registry: no Release record of the gate
    inputs = {"mode": "watch", "github-token": rel.github.token or "", "registry": rel.verdaccio.url}
    result, text = _cli(rel, "watch", "--format", "text", inputs=inputs, env={"GITHUB_EVENT_NAME": "schedule"})
    assert result.returncode == 1, result.describe()
    assert text.startswith("npm-gatekeeper watch: releases the gate did not publish\n"), text
    assert f"\n{rel.name}@1.0.0: " in text and "; issue #" in text
    assert "postinstall" in text and "BLOCK unexpected-release" in text
    assert result.summary.startswith("## ")  # the job summary stays Markdown
