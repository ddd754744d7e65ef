"""Code an install script runs: command -> package files -> their relative require/import closure."""

from __future__ import annotations

import json
import posixpath
import re
import shlex

from .checker import Checker
from .content import JS_EXTENSIONS, TEXT_SCAN_LIMIT
from .lines import _first_diff_line, _is_text
from .manifest import INSTALL_SCRIPTS, _native_build, _norm, _scripts
from .rules import INSTALL_CODE_CHANGED

MAX_INSTALL_FILES = 2000

_REQUIRE = re.compile(
    rb"""(?:\brequire|\bimport)\s*\(\s*(['"`])([^'"`\n]{1,300})\1"""
    rb"""|\b(?:from|import)\s*(['"])([^'"\n]{1,300})\3"""
    rb"""|__dirname\s*(?:,|\+)\s*(['"`])([^'"`\n]{1,300})\5"""
)
_NODE_EXTS = ("", ".js", ".cjs", ".mjs", ".json", ".node")


class InstallCodeChecks(Checker):
    """`install-script-code-changed`: files an install script runs that are new or changed."""

    def install_code(self) -> None:
        """Files an install script runs (and what they require inside the package) that are new or changed."""
        if self.first:
            return
        new_scripts, old_scripts = _scripts(self.new), _scripts(self.old)
        commands = [(name, new_scripts[name]) for name in INSTALL_SCRIPTS if name in new_scripts]
        if _native_build(self.new) and _native_build(self.old):  # (newly on: native-build-added reports it)
            commands.append(("install", "node-gyp rebuild"))
        reported: set[str] = set()
        for script, command in commands:
            files, called = self._command_files(command, new_scripts)
            for called_name in called:
                key = f"scripts.{called_name}"
                if key in reported or new_scripts.get(called_name) == old_scripts.get(called_name):
                    continue
                reported.add(key)
                self.emit(
                    INSTALL_CODE_CHANGED,
                    f"{script} runs {json.dumps(command)}, which runs script {called_name!r}, and that changed: "
                    f"{json.dumps(old_scripts.get(called_name))} -> {json.dumps(new_scripts.get(called_name))}",
                    file="package.json",
                    line=self.new.line_of("scripts", called_name),
                )
            for path, via in self._closure(files).items():
                status = self.status.get(path)
                if status not in ("added", "changed") or path in reported:
                    continue
                reported.add(path)
                how = "runs" if via is None else f"loads (through {via})"
                text = f"{script} script {json.dumps(command)} {how} {path}, which was {status}"
                if self.file_approved(path):
                    self.approved("files", text, file=path)
                    continue
                old = self.old.files.get(path) if self.old else None
                line = _first_diff_line(old.data if old else None, self.new.files[path].data)
                self.emit(INSTALL_CODE_CHANGED, text, file=path, line=line, script=script)

    def _command_files(self, command: str, scripts: dict[str, str], depth: int = 0) -> tuple[list[str], list[str]]:
        """Package files a shell command runs, and the package scripts it calls (`npm run x`)."""
        files: list[str] = []
        called: list[str] = []
        if depth > 5:
            return files, called
        for segment in re.split(r"&&|\|\||[;|&\n]", command):
            try:
                argv = shlex.split(segment)
            except ValueError:
                argv = segment.split()
            while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
                argv.pop(0)  # FOO=bar node x.js
            if argv and argv[0] in ("cross-env", "env", "exec", "nohup"):
                argv.pop(0)
                while argv and "=" in argv[0]:
                    argv.pop(0)
            if not argv:
                continue
            prog = posixpath.basename(argv[0])
            args = argv[1:]
            if prog in ("node", "nodejs", "bun", "deno"):
                files += self._node_args(args)
            elif prog in ("sh", "bash", "dash", "zsh"):
                if "-c" in args and args.index("-c") + 1 < len(args):
                    sub_files, sub_called = self._command_files(args[args.index("-c") + 1], scripts, depth + 1)
                    files += sub_files
                    called += sub_called
                else:
                    files += [self._resolve_exact(a) for a in args if not a.startswith("-")][:1]
            elif prog == "node-gyp":
                files.append("binding.gyp")
            elif prog in ("npm", "pnpm", "yarn") and args:
                name = self._run_target(prog, args)
                if name and name in scripts and name not in called:
                    called.append(name)
                    sub_files, sub_called = self._command_files(scripts[name], scripts, depth + 1)
                    files += sub_files
                    called += [c for c in sub_called if c not in called]
            else:
                files.append(self._resolve_exact(argv[0]))
        return [f for f in files if f], called

    @staticmethod
    def _run_target(prog: str, args: list[str]) -> str | None:
        rest = [a for a in args if not a.startswith("-")]
        if not rest:
            return None
        if rest[0] in ("run", "run-script", "rum", "urn"):
            return rest[1] if len(rest) > 1 else None
        if rest[0] in ("start", "test", "stop", "restart"):
            return rest[0]
        if prog == "yarn" and rest[0] not in ("install", "add", "exec", "dlx"):
            return rest[0]
        return None

    def _node_args(self, args: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-e", "--eval", "-p", "--print") and i + 1 < len(args):
                out += self._requires(args[i + 1].encode(), "")
                i += 2
                continue
            if a in ("-r", "--require", "--import", "--loader", "--experimental-loader") and i + 1 < len(args):
                out.append(self._resolve_node(args[i + 1], ""))
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            out.append(self._resolve_node(a, ""))
            break
        return [p for p in out if p]

    def _resolve_exact(self, spec: str) -> str:
        path = _norm(spec)
        return path if path in self.new.files else ""

    def _resolve_node(self, spec: str, base_dir: str) -> str:
        """Node's resolution of a relative path (or the package itself) to a package file, '' if outside."""
        name = self.new.name
        if name and (spec == name or spec.startswith(name + "/")):
            spec = "./" + spec[len(name) :].lstrip("/")  # the package requiring itself by name
        if spec in (".", "./"):
            main = self.new.manifest.get("main")
            spec = main if isinstance(main, str) else "index.js"
        elif not spec.startswith((".", "/")) and base_dir == "":
            spec = "./" + spec  # `node install.js` is relative to the package root
        elif not spec.startswith("."):
            return ""  # a dependency or a builtin: not package code
        joined = posixpath.normpath(posixpath.join(base_dir, spec)) if base_dir else _norm(spec)
        if joined.startswith(".."):
            return ""
        joined = _norm(joined)
        files = self.new.files
        for ext in _NODE_EXTS:
            if joined + ext in files:
                return joined + ext
        pkg_json = files.get(f"{joined}/package.json")
        if pkg_json is not None:
            try:
                main = json.loads(pkg_json.data).get("main")
            except (ValueError, AttributeError):
                main = None
            if isinstance(main, str):
                found = self._resolve_node("./" + main, joined)
                if found:
                    return found
        for ext in _NODE_EXTS[1:]:
            if f"{joined}/index{ext}" in files:
                return f"{joined}/index{ext}"
        return ""

    def _requires(self, code: bytes, base_dir: str) -> list[str]:
        out: list[str] = []
        for m in _REQUIRE.finditer(code):
            raw = m.group(2) or m.group(4) or m.group(6)
            spec = raw.decode("utf-8", "replace")
            if m.group(6) is not None:
                spec = "./" + spec.lstrip("/")
            if not spec.startswith(".") and not (self.new.name and spec.startswith(self.new.name)):
                continue
            found = self._resolve_node(spec, base_dir)
            if found and not found.endswith(".json"):  # data, not code
                out.append(found)
        return out

    def _closure(self, roots: list[str]) -> dict[str, str | None]:
        """Every package file reachable from `roots` by relative require/import; value: who loads it."""
        seen: dict[str, str | None] = {}
        queue: list[tuple[str, str | None]] = [(r, None) for r in roots]
        while queue and len(seen) < MAX_INSTALL_FILES:
            path, via = queue.pop()
            if path in seen:
                continue
            seen[path] = via
            entry = self.new.files.get(path)
            if entry is None or (not path.endswith((*JS_EXTENSIONS, ".ts")) and "." in posixpath.basename(path)):
                continue
            if entry.size > TEXT_SCAN_LIMIT or not _is_text(entry.data):
                continue
            for dep in self._requires(entry.data, posixpath.dirname(path)):
                if dep not in seen:
                    queue.append((dep, path))
        return seen
