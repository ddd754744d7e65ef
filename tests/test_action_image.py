"""scripts/action_image.py: the one line of action.yml the release rewrites, and what it refuses."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "action_image.py"
sys.path.insert(0, str(SCRIPT.parent))
import action_image  # noqa: E402

DIGEST = "sha256:" + "0123456789abcdef" * 4
PINNED = f"docker://ghcr.io/acme/npm-gatekeeper@{DIGEST}"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env or {}, check=False
    )


@pytest.fixture
def action(tmp_path: Path) -> Path:
    """A copy of the real action.yml."""
    path = tmp_path / "action.yml"
    path.write_bytes((ROOT / "action.yml").read_bytes())
    return path


def _changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b), "set must not add or remove lines"
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_set_rewrites_only_the_image_line_of_the_real_action_yml(action: Path) -> None:
    before = action.read_bytes()
    assert run("set", PINNED, "--file", str(action), "--ref", "refs/tags/v1.4.0").returncode == 0
    after = action.read_bytes()
    changes = _changed_lines(before, after)
    assert changes == [(b"  image: Dockerfile\n", f"  image: {PINNED}\n".encode())]
    data = yaml.safe_load(after)
    assert data["runs"] == {"using": "docker", "image": PINNED}
    # and back, byte-identical (a release branch can return to the Dockerfile for development)
    assert run("set", "Dockerfile", "--file", str(action), "--ref", "refs/heads/main").returncode == 0
    assert action.read_bytes() == before


def test_set_keeps_crlf_comments_quotes_and_ignores_image_keys_elsewhere(tmp_path: Path) -> None:
    """Other engineers add inputs and outputs: an input named `image`, nested keys, CRLF files."""
    text = (
        "name: x\r\n"
        "inputs:\r\n"
        "  image:\r\n"
        "    description: an input that happens to be called image\r\n"
        "    default: Dockerfile\r\n"
        "runs:   # the container\r\n"
        "  using: docker\r\n"
        "  env:\r\n"
        "    image: not-this-one\r\n"
        "  image: 'Dockerfile'   # built per run\r\n"
        "  args:\r\n"
        "    - image: nope\r\n"
        "outputs:\r\n"
        "  image:\r\n"
        "    description: nor this\r\n"
    )
    path = tmp_path / "action.yml"
    path.write_bytes(text.encode())
    assert action_image.get_image(path) == "Dockerfile"
    assert action_image.set_image(path, PINNED, release=True) is True
    after = path.read_bytes()
    assert _changed_lines(text.encode(), after) == [
        (b"  image: 'Dockerfile'   # built per run\r\n", f"  image: {PINNED}   # built per run\r\n".encode())
    ]
    data = yaml.safe_load(after)
    assert data["runs"]["image"] == PINNED and data["runs"]["env"] == {"image": "not-this-one"}
    assert data["inputs"]["image"]["default"] == "Dockerfile"


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("docker://ghcr.io/acme/npm-gatekeeper:v1", "tag without a digest"),
        ("docker://ghcr.io/acme/npm-gatekeeper", "tag without a digest"),
        (f"docker://ghcr.io/acme/npm-gatekeeper:v1@{DIGEST}", "tag and digest"),
        ("docker://ghcr.io/acme/npm-gatekeeper@sha256:abc", "64 lower-case hex"),
        ("docker://ghcr.io/acme/npm-gatekeeper@sha256:" + "0123456789ABCDEF" * 4, "64 lower-case hex"),
        ("docker://ghcr.io/acme/npm-gatekeeper@sha512:" + "ab" * 64, "64 lower-case hex"),
        (f"docker://ghcr.io/Acme/npm-gatekeeper@{DIGEST}", "lower case"),
        (f"docker://npm-gatekeeper@{DIGEST}", "registry/repository"),
        ("node:22", "must be `Dockerfile` or docker://"),
        ("./Dockerfile", "must be `Dockerfile` or docker://"),
        ("", "must be `Dockerfile` or docker://"),
    ],
)
def test_refused_references_leave_the_file_untouched(action: Path, image: str, why: str) -> None:
    before = action.read_bytes()
    proc = run("set", image, "--file", str(action), "--ref", "refs/heads/main")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "REFUSED" in proc.stderr and why in proc.stderr, proc.stderr
    assert action.read_bytes() == before


def test_dockerfile_is_refused_on_a_release_ref_only(action: Path) -> None:
    # development: fine
    assert run("check", "--file", str(action), "--ref", "refs/heads/main").returncode == 0
    assert run("check", "--file", str(action), env={"GITHUB_REF": "refs/pull/7/merge"}).returncode == 0
    # a release: the tag (from --ref, or GITHUB_REF as in the workflow), or --release
    for args, env in (
        (["--ref", "refs/tags/v1.2.3"], None),
        ([], {"GITHUB_REF": "refs/tags/v2"}),
        (["--release"], None),
    ):
        proc = run("check", "--file", str(action), *args, env=env)
        assert proc.returncode == 2 and "release ref" in proc.stderr, (args, proc.stderr)
    # and `set Dockerfile` on a release ref is refused before anything is written
    pinned = action.read_bytes().replace(b"image: Dockerfile", f"image: {PINNED}".encode())
    action.write_bytes(pinned)
    assert run("set", "Dockerfile", "--file", str(action), "--ref", "refs/tags/v1.0.0").returncode == 2
    assert action.read_bytes() == pinned
    assert run("check", "--file", str(action), "--ref", "refs/tags/v1.0.0").returncode == 0


def test_release_refs() -> None:
    assert action_image.is_release_ref("refs/tags/v1")
    assert action_image.is_release_ref("refs/tags/v1.2.3")
    assert action_image.is_release_ref("refs/tags/v1.2.3-rc.1")
    assert not action_image.is_release_ref("refs/heads/v1")
    assert not action_image.is_release_ref("refs/tags/latest")
    assert not action_image.is_release_ref("")


def test_a_file_without_exactly_one_runs_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "action.yml"
    for text, why in (
        ("name: x\n", "exactly one top-level `runs:`"),
        ("runs:\n  using: docker\n", "exactly one `image:`"),
        ("runs:\n  image: Dockerfile\n  image: Dockerfile\n", "exactly one `image:`"),
    ):
        path.write_text(text)
        proc = run("get", "--file", str(path))
        assert proc.returncode == 2 and why in proc.stderr, (text, proc.stderr)


def test_the_repositorys_action_yml_is_valid_for_development() -> None:
    proc = run("check", "--ref", "refs/heads/main")
    assert proc.returncode == 0, proc.stderr
    assert run("get").stdout.strip() == yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["image"]


# --------------------------------------------------------------------------------------------------
# the release workflow that uses it (linted by scripts/lint.sh; here: what the linters do not check)

WORKFLOW = ROOT / ".github" / "workflows" / "release-action.yml"


@pytest.fixture(scope="module")
def release() -> dict:
    data = yaml.load(WORKFLOW.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert isinstance(data, dict)
    return data


def test_release_runs_on_version_tags_with_least_privilege_per_job(release: dict) -> None:
    assert release["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    assert release["permissions"] == {}, "nothing by default: each job says what it needs"
    jobs = release["jobs"]
    assert jobs["image"]["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    assert jobs["release-commit"]["permissions"] == {"contents": "write"}
    assert jobs["release-commit"]["needs"] == "image"


def test_release_actions_are_pinned_by_full_sha_with_their_version(release: dict) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert len(uses) >= 8
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"not pinned by full SHA: {ref}"
        assert re.fullmatch(r" # v\d+(\.\d+){1,2}", comment), f"{ref}: no `# vX.Y.Z` comment for Dependabot"
    names = {ref.split("@")[0] for ref, _ in uses}
    assert {
        "docker/build-push-action",
        "actions/attest-build-provenance",
        "actions/attest-sbom",
        "docker/login-action",
    } <= names


def test_release_builds_both_platforms_by_digest_and_attests_that_digest(release: dict) -> None:
    steps = release["jobs"]["image"]["steps"]
    build = next(s for s in steps if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    outputs = build["with"]["outputs"]
    assert "push-by-digest=true" in outputs and "rewrite-timestamp=true" in outputs
    assert "build-args" not in build["with"], "the release builds from the Dockerfile's pinned base, no overrides"
    for action in ("actions/attest-build-provenance@", "actions/attest-sbom@"):
        step = next(s for s in steps if s.get("uses", "").startswith(action))
        assert step["with"]["subject-digest"] == "${{ steps.build.outputs.digest }}"
        assert step["with"]["push-to-registry"] == "true"
    # the release commit: only through scripts/action_image.py, checked for a release ref
    script = release["jobs"]["release-commit"]["steps"][-1]["run"]
    assert 'scripts/action_image.py set "docker://$IMAGE@$DIGEST" --ref "$GITHUB_REF"' in script
    assert 'scripts/action_image.py check --ref "$GITHUB_REF"' in script
    assert 'git tag --force "$major"' in script


def test_the_image_sets_only_the_path_the_gate_expects_and_starts_python_isolated() -> None:
    """Issue 21: the final stage's only ENV is PATH, equal to hostenv.IMAGE_PATH (a different PATH makes the gate
    refuse to publish); the ENTRYPOINT starts Python with -I (no PYTHONPATH/sitecustomize, no user site)."""
    import json

    from gatekeeper._internal.hostenv import IMAGE_PATH, untrusted

    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    final = text[text.rindex("\nFROM ") :]
    envs = re.findall(r"^ENV ((?:.*\\\n)*.*)$", final, re.MULTILINE)
    assert len(envs) == 1, envs
    pairs = dict(p.split("=", 1) for p in envs[0].replace("\\\n", " ").split())
    assert pairs == {"PATH": IMAGE_PATH}
    assert untrusted(pairs, image_path=IMAGE_PATH) == []
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final, re.MULTILINE).group(1))
    # a static busybox (no dynamic loader runs for it: LD_PRELOAD & co. load nothing) removes every loader variable
    # glibc acts on, then execs the gate's Python with -I
    from gatekeeper._internal.hostenv import LOADER_NAMES

    assert entrypoint[:2] == ["/bin/busybox", "env"], entrypoint
    python = entrypoint.index("/opt/venv/bin/python")
    removed = entrypoint[2:python]
    assert removed[0::2] == ["-u"] * len(LOADER_NAMES) and removed[1::2] == list(LOADER_NAMES), removed
    assert entrypoint[python:] == ["/opt/venv/bin/python", "-I", "-B", "-u", "/opt/gatekeeper/entrypoint.py"]
    assert "busybox-static" in text and "ldd /bin/busybox" in text  # installed, and checked to be static
    assert all(untrusted({n: "x"}) == [n] for n in LOADER_NAMES)  # outside the image they are refused by name
