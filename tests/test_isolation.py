"""The publishing-job isolation floor (issue 21, item 1), on workflow text: `gates.isolation.analyze`.

The end-to-end cases (through the entrypoint, against Verdaccio and the GitHub stand-in) are in
tests/test_e2e_isolation.py; here each forbidden shape is one small workflow, and every example workflow
in examples/ is run through the floor.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gatekeeper.gates.isolation import analyze
from gatekeeper.trust import floors
from tests._support.workspace import ACTION_REF, CHECKOUT_REF, DEFAULT_WORKFLOW, DOWNLOAD_REF

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.yml"))
REL = ".github/workflows/release.yml"

HEAD = """\
name: Release
on:
  push:
    branches: [main]
permissions: {}
jobs:
  publish:
    runs-on: ubuntu-24.04
    environment: npm
    permissions:
      contents: read
"""
CHECKOUT = f"""\
      - uses: {CHECKOUT_REF} # v5.0.0
        with:
          persist-credentials: false
"""
DOWNLOAD = f"""\
      - uses: {DOWNLOAD_REF} # v5.0.0
        with:
          name: package
"""
GATE = f"""\
      - uses: {ACTION_REF} # v1
        with:
          npm-token: ${{{{ secrets.NPM_TOKEN }}}}
          tarball: package.tgz
"""


def wf(*steps: str, head: str = HEAD, job_extra: str = "", tail: str = "") -> str:
    return head + job_extra + "    steps:\n" + "".join(steps) + tail


def rules(text: str, job: str = "publish", oidc: bool = False, **kw) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = {}
    for f in analyze(text.encode(), REL, job, oidc=oidc, **kw):
        assert f.file == REL
        assert f.severity.value == "block"
        out.setdefault(f.rule, []).append(f.line)
    return out


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_isolated_shape_passes() -> None:
    assert rules(wf(CHECKOUT, DOWNLOAD, GATE)) == {}
    assert rules(wf(CHECKOUT, GATE)) == {}
    local = GATE.replace(ACTION_REF, "./")
    assert rules(wf(CHECKOUT, local)) == {}


def test_default_test_workflow_is_isolated() -> None:
    assert analyze(DEFAULT_WORKFLOW, REL, "release", oidc=False) == []


def test_every_rule_of_the_gate_is_a_floor() -> None:
    from gatekeeper.rules import isolation

    ids = [r.id for r in vars(isolation).values() if isinstance(r, isolation.Rule)]
    assert len(ids) == 7
    for rid in ids:
        assert floors.is_floor(rid) and floors.lowers(rid, "warn") and floors.lowers(rid, "off")


@pytest.mark.parametrize(
    ("step", "rule", "needle"),
    [
        ("      - run: npm ci\n", "publish-job-not-isolated", "run: npm ci"),
        ("      - name: build\n        run: |\n          npm run build\n", "publish-job-not-isolated", "run: |"),
        (
            "      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830 # v4\n        with:\n"
            "          path: ~/.npm\n          key: npm\n",
            "publish-job-cache",
            "actions/cache@",
        ),
        (
            "      - uses: actions/cache/restore@0057852bfaa89a56745cba8c7296529d2fc39830\n",
            "publish-job-cache",
            "actions/cache/restore@",
        ),
        (
            "      - uses: actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444 # v5\n        with:\n"
            "          node-version: 22\n          cache: npm\n",
            "publish-job-cache",
            "actions/setup-node",
        ),
        (
            "      - uses: actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444 # v5\n        with:\n"
            "          node-version: 22\n",
            "publish-job-cache",
            "actions/setup-node",
        ),
        (
            "      - uses: actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c\n",
            "publish-job-not-isolated",
            "setup-python",
        ),
        (
            "      - uses: some/action@0123456789abcdef0123456789abcdef01234567\n",
            "publish-job-not-isolated",
            "some/action",
        ),
        ("      - uses: docker://alpine:3\n", "publish-job-not-isolated", "docker://"),
        ("      - uses: ./.github/actions/build\n", "publish-job-not-isolated", "./.github/actions/build"),
    ],
)
def test_a_step_beside_the_gate_blocks_naming_its_line(step: str, rule: str, needle: str) -> None:
    for text in (wf(CHECKOUT, step, GATE), wf(CHECKOUT, GATE, step)):  # before the gate, and after it
        found = rules(text)
        assert found == {rule: [line_of(text, needle)]}, found


def test_setup_node_with_its_cache_switched_off_is_still_another_action() -> None:
    step = (
        "      - uses: actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444\n        with:\n"
        "          package-manager-cache: false\n"
    )
    assert set(rules(wf(CHECKOUT, step, GATE))) == {"publish-job-not-isolated"}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (ACTION_REF, "OWNER/npm-gatekeeper@v1"),
        (ACTION_REF, "OWNER/npm-gatekeeper@main"),
        (ACTION_REF, "OWNER/npm-gatekeeper@0123456"),
    ],
)
def test_an_unpinned_gate_blocks(old: str, new: str) -> None:
    text = wf(CHECKOUT, GATE.replace(old, new))
    assert rules(text) == {"publish-step-unpinned": [line_of(text, new)]}


def test_unpinned_or_credential_keeping_checkout_and_download_block() -> None:
    text = wf(CHECKOUT.replace(CHECKOUT_REF, "actions/checkout@v5"), DOWNLOAD.replace(DOWNLOAD_REF, "x@v5"), GATE)
    found = rules(text)
    assert found["publish-step-unpinned"] == [line_of(text, "actions/checkout@v5")]
    assert found["publish-job-not-isolated"] == [line_of(text, "x@v5")]  # not download-artifact at all
    text = wf(CHECKOUT.replace("persist-credentials: false", "fetch-depth: 0"), GATE)
    assert rules(text) == {"publish-step-unpinned": [line_of(text, CHECKOUT_REF)]}
    text = wf(DOWNLOAD.replace(DOWNLOAD_REF, "actions/download-artifact@v5"), GATE)
    assert rules(text) == {"publish-step-unpinned": [line_of(text, "download-artifact@v5")]}


@pytest.mark.parametrize("event", ["pull_request_target", "workflow_run", "issue_comment"])
def test_dangerous_triggers_block(event: str) -> None:
    for on in (f"on:\n  push:\n  {event}:\n    types: [created]\n", f"on: [push, {event}]\n", f"on: {event}\n"):
        head = HEAD.replace("on:\n  push:\n    branches: [main]\n", on)
        text = wf(CHECKOUT, GATE, head=head)
        assert rules(text) == {"publish-job-trigger": [line_of(text, event)]}, on


def test_services_container_and_reusable_workflows_block() -> None:
    text = wf(CHECKOUT, GATE, job_extra="    services:\n      db:\n        image: postgres\n")
    assert rules(text) == {"publish-job-not-isolated": [line_of(text, "services:")]}
    text = wf(CHECKOUT, GATE, job_extra="    container: node:22\n")
    assert rules(text) == {"publish-job-not-isolated": [line_of(text, "container:")]}
    text = HEAD + "    uses: ./.github/workflows/publish.yml\n    secrets: inherit\n"
    found = rules(text)
    assert found["publish-job-not-isolated"] == [line_of(text, "uses: ./")]
    assert found["publish-token-exposed"] == [line_of(text, "inherit")]


@pytest.mark.parametrize(
    ("where", "snippet"),
    [
        ("workflow env", "env:\n  NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n"),
        ("job env", "    env:\n      NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n"),
        ("checkout's with", None),
        (
            "another job",
            "  build:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: npm ci\n"
            "        env:\n          TOKEN: ${{ secrets.NPM_TOKEN }}\n",
        ),
        (
            "all secrets",
            "  build:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo\n"
            "        env:\n          ALL: ${{ toJSON(secrets) }}\n",
        ),
    ],
)
def test_the_token_passed_to_anything_but_the_gate_blocks(where: str, snippet: str | None) -> None:
    if where == "workflow env":
        text = wf(CHECKOUT, GATE, head=HEAD.replace("permissions: {}\n", "permissions: {}\n" + snippet))
    elif where == "job env":
        text = wf(CHECKOUT, GATE, job_extra=snippet)
    elif where == "checkout's with":
        text = wf(
            CHECKOUT.replace(
                "persist-credentials: false", "persist-credentials: false\n          token: ${{ secrets.NPM_TOKEN }}"
            ),
            GATE,
        )
    else:
        text = wf(CHECKOUT, GATE, tail=snippet)
    found = rules(text)
    assert "publish-token-exposed" in found, found
    assert set(found) == {"publish-token-exposed"}, found


def test_the_gates_own_secret_name_is_followed() -> None:
    gate = GATE.replace("secrets.NPM_TOKEN", "secrets.RELEASE_KEY")
    tail = (
        "  other:\n    runs-on: x\n    steps:\n      - run: echo\n        env:\n"
        "          K: ${{ secrets.RELEASE_KEY }}\n"
    )
    text = wf(CHECKOUT, gate, tail=tail)
    assert rules(text) == {"publish-token-exposed": [line_of(text, "K: ${{")]}
    # other secrets elsewhere are not the npm token
    assert rules(wf(CHECKOUT, gate, tail=tail.replace("RELEASE_KEY", "SLACK_WEBHOOK"))) == {}


def test_id_token_write_blocks_unless_the_gate_publishes_with_oidc() -> None:
    text = wf(CHECKOUT, GATE, job_extra="      id-token: write\n")
    assert rules(text) == {"publish-job-id-token": [line_of(text, "id-token")]}
    assert rules(text, oidc=True) == {}
    assert rules(text, provenance_always=True) == {}
    text = wf(
        CHECKOUT, GATE, head=HEAD.replace("    permissions:\n      contents: read\n", "    permissions: write-all\n")
    )
    assert rules(text) == {"publish-job-id-token": [line_of(text, "write-all")]}


def test_a_job_or_workflow_that_cannot_be_read_blocks() -> None:
    text = wf(CHECKOUT, GATE)
    assert rules(text, job="release") == {"publish-job-unreadable": [None]}
    assert rules("jobs: [1, 2\n") == {"publish-job-unreadable": [2]}
    assert rules("just text\n") == {"publish-job-unreadable": [None]}
    assert set(rules(HEAD)) == {"publish-job-unreadable"}  # a job without steps
    big = "# " + "x" * (1024 * 1024) + "\n" + text
    assert rules(big) == {"publish-job-unreadable": [None]}
    assert rules(text.encode("utf-16").decode("latin-1")).keys() == {"publish-job-unreadable"}


def test_aliases_are_walked_once() -> None:
    lol = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    text = wf(CHECKOUT, GATE, head=lol + HEAD)
    assert rules(text) == {}


# -- the floor over examples/ ------------------------------------------------------------------------------


def _publishing_jobs(path: Path) -> list[str]:
    """Jobs that run the gate in publish mode, or hold an npm credential."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    jobs = []
    for job_id, job in (doc.get("jobs") or {}).items():
        steps = job.get("steps") or []
        gate_modes = [
            (s.get("with") or {}).get("mode", "publish") for s in steps if "npm-gatekeeper" in str(s.get("uses", ""))
        ]
        text = yaml.safe_dump(job)
        credential = "secrets.NPM_TOKEN" in text or (job.get("permissions") or {}).get("id-token") == "write"
        if "publish" in gate_modes or credential:
            jobs.append(job_id)
    return jobs


CASES = [(p, j) for p in EXAMPLES for j in _publishing_jobs(p)]


def test_the_examples_have_publishing_jobs() -> None:
    names = {(p.relative_to(ROOT).as_posix(), j) for p, j in CASES}
    assert ("examples/release.yml", "release") in names
    assert ("examples/release-reviewed.yml", "publish") in names
    assert ("examples/semantic-release/release.yml", "publish") in names  # the two-job shape (issue 21 item 3)
    assert ("examples/release-reviewed.yml", "check") not in names  # mode: check may build
    assert ("examples/release-monorepo.yml", "publish") in names  # issue 24: the changesets plan -> gate job
    assert ("examples/release-monorepo.yml", "pack") not in names  # packs without any credential


@pytest.mark.parametrize(("path", "job"), CASES, ids=[f"{p.relative_to(ROOT)}:{j}" for p, j in CASES])
def test_every_example_publishing_job_passes_the_floor(path: Path, job: str) -> None:
    text = path.read_bytes()
    doc = yaml.safe_load(text)
    oidc = (doc["jobs"][job].get("permissions") or {}).get("id-token") == "write"
    found = analyze(text, path.relative_to(ROOT).as_posix(), job, oidc=oidc)
    assert found == [], [f.message for f in found]


# -- the contents API reader and the per-suite check runs (GitHub stand-in) -------------------------------


def test_the_contents_api_reader_is_bounded_and_exact(github_server) -> None:
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper.errors import GitHubError
    from gatekeeper.secret import Secret

    repo = github_server.repo("acme/widget")
    sha = "c" * 40
    repo.add_file(REL, DEFAULT_WORKFLOW, ref=sha)
    gh = GitHubClient(github_server.url, "acme/widget", Secret(github_server.token or ""))
    assert gh.file_at(REL, sha, 1 << 20) == DEFAULT_WORKFLOW.encode()
    assert gh.file_at(REL, "d" * 40, 1 << 20) is None  # not at that commit
    with pytest.raises(GitHubError, match="larger than 100 bytes"):
        gh.file_at(REL, sha, 100)


def test_check_runs_are_decided_per_suite(github_server) -> None:
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper.secret import Secret

    repo = github_server.repo("acme/widget")
    sha = "b" * 40
    repo.add_check_run(sha, "test", "failure", check_suite_id=11)
    repo.add_check_run(sha, "test", "skipped", check_suite_id=12)  # another workflow's newer `test`
    repo.add_check_run(sha, "lint", "failure", check_suite_id=11)
    repo.add_check_run(sha, "lint", "success", check_suite_id=11)  # a re-run in the same suite
    gh = GitHubClient(github_server.url, "acme/widget", Secret(github_server.token or ""))
    got = sorted((c.name, c.suite_id, c.state) for c in gh.checks(sha) if c.kind == "check-run")
    assert got == [("lint", 11, "success"), ("test", 11, "failure"), ("test", 12, "success")]


def test_the_gates_token_input_in_another_publishing_job_is_not_an_exposure() -> None:
    other = "  publish-b:\n    runs-on: ubuntu-24.04\n    steps:\n" + CHECKOUT + GATE
    text = wf(CHECKOUT, GATE, tail=other)
    assert rules(text) == {}
    assert rules(text, job="publish-b") == {}


def test_deeply_nested_yaml_is_unreadable_not_a_crash() -> None:
    for depth in (65, 200_000):
        text = wf(CHECKOUT, GATE) + "x: " + "[" * depth + "]" * depth + "\n"
        assert set(rules(text)) == {"publish-job-unreadable"}
    assert rules(wf(CHECKOUT, GATE) + "x: " + "[" * 20 + "]" * 20 + "\n") == {}
