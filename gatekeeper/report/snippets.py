"""The exact policy YAML that would approve a blocking finding (printed with the finding).

Only the approvable diff rules get one. Files are bound to the sha256 of the candidate's bytes, so the
snippet approves exactly what was reviewed. Pasting it into the released commit's policy is a loosening
(`policy-changed` blocks): it belongs in the trusted policy (a release before) or in a reviewed release.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gatekeeper._internal.tarball import Package
from gatekeeper.findings import Finding

if TYPE_CHECKING:
    from typing import Any

_SCRIPTS = {"lifecycle-script-added", "lifecycle-script-changed", "lifecycle-script-removed"}
_DEPENDENCIES = {
    "dependency-added",
    "dependency-new-package",
    "dependency-install-script-history",
    "bundled-dependencies-changed",
}
_FILES = {
    "install-script-code-changed",
    "native-build-added",
    "executable-binary-added",
    "executable-binary-changed",
    "obfuscated-code",
    "sensitive-file",
    "entrypoint-changed",
}


def approval_for(f: Finding, candidate: Package) -> dict[str, Any] | None:
    """The `approve:` mapping that approves `f`, or None."""
    ev = f.evidence
    if f.rule in _SCRIPTS and isinstance(ev.get("script"), str):
        new = ev.get("new")
        return {"scripts": {ev["script"]: new if isinstance(new, str) else ""}}
    if f.rule == "bin-changed" and isinstance(ev.get("bin"), str):
        return {"bin": {ev["bin"]: ev.get("target")}}
    if f.rule == "dependency-source-changed" and isinstance(ev.get("dependency"), str):
        return {"sources": {ev["dependency"]: ev.get("spec")}}
    if f.rule in _DEPENDENCIES and isinstance(ev.get("dependency"), str):
        return {"dependencies": [ev["dependency"]]}
    if f.rule == "dependency-install-script" and isinstance(ev.get("package"), str) and ev.get("version"):
        return {"install-scripts": [f"{ev['package']}@{ev['version']}"]}
    if f.rule in _FILES:
        path = ev.get("target") if f.rule == "entrypoint-changed" else f.file
        entry = candidate.files.get(path) if isinstance(path, str) else None
        if entry is not None:
            import hashlib  # on use: loading OpenSSL is a measurable share of start-up

            return {"files": [{"path": path, "sha256": hashlib.sha256(entry.data).hexdigest()}]}
    return None


def snippet(approval: dict[str, Any]) -> str:
    import yaml  # lazily: `gatekeeper diff` with nothing to approve never loads YAML

    return yaml.safe_dump({"approve": approval}, sort_keys=False, default_flow_style=False, width=1000)


def add_snippets(findings: list[Finding], candidate: Package) -> list[Finding]:
    """Each approvable blocking (or warning) finding gets `evidence.approve`: the YAML to paste."""
    out = []
    for f in findings:
        approval = approval_for(f, candidate) if f.severity.value in ("block", "warn") else None
        out.append(replace(f, evidence={**f.evidence, "approve": snippet(approval)}) if approval else f)
    return out


def markdown(findings: list[Finding]) -> str:
    """A summary section with every snippet (a fence longer than any backtick run in it)."""
    blocks = [(f, str(f.evidence["approve"])) for f in findings if isinstance(f.evidence.get("approve"), str)]
    if not blocks:
        return ""
    lines = [
        "### To approve in the policy",
        "",
        "Each entry approves exactly what this release contains. Put it in the policy of an earlier release "
        "(the trusted policy), or ship it in a reviewed release: in the released commit alone it is a loosening "
        "(`policy-changed`).",
        "",
    ]
    for f, text in blocks:
        fence = "`" * max(3, _longest_run(text) + 1)
        lines += [f"`{f.rule}`:", "", f"{fence}yaml", text.rstrip("\n"), fence, ""]
    return "\n".join(lines)


def text(findings: list[Finding]) -> str:
    """The same section as plain text (`--format text`): each snippet indented, made visible."""
    from gatekeeper._internal import terminal

    blocks = [(f, str(f.evidence["approve"])) for f in findings if isinstance(f.evidence.get("approve"), str)]
    if not blocks:
        return ""
    lines = [
        "to approve in the policy (each entry approves exactly what this release contains; put it in the policy "
        "of an earlier release, or ship it in a reviewed release: in the released commit alone it is a loosening, "
        "policy-changed):"
    ]
    for f, snippet_text in blocks:
        lines.append(f"  {f.rule}:")
        lines += [f"    {terminal.safe(line)}" for line in snippet_text.rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def _longest_run(text: str) -> int:
    best = cur = 0
    for ch in text:
        cur = cur + 1 if ch == "`" else 0
        best = max(best, cur)
    return best
