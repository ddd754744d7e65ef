"""Code an install script runs: command -> package files -> their closure, failing closed.

Commands and JavaScript are read from syntax trees (`js_static`: tree-sitter's Bash, JavaScript and
TypeScript grammars), never by pattern. Commands are modelled as a shell runs them (lists, pipelines,
`cd`, `NAME=value` prefixes, `export NODE_OPTIONS`, `sh -c` bodies parsed again) for node/bun/deno/tsx/
ts-node (with node's own `-r`/`--import`/`-e`/`--env-file` options and NODE_OPTIONS, also from an
`.env` file), npx/bunx/`npm exec`, sh/bash and the scripts they run, npm/pnpm/yarn `run` (with
`--prefix`/`--dir`/`--cwd` into a nested package.json), node-gyp (binding.gyp in the working directory:
its `<!(...)` command expansions, actions and includes), node-pre-gyp/prebuild-install/cmake-js, and the
package's own bins. JavaScript is followed through every loader `js_static` knows (require & co., import,
child_process, worker_threads, vm, eval, Function, WebAssembly, dlopen); what it loads is resolved to
package files as Node does (extensions, `index`, `main`, package.json `imports` and `exports` with every
condition, self-reference by name, `..` to the package root). Paths match as case-insensitive,
Unicode-normalised file systems resolve them (macOS, Windows).

Code versus data: only files that can run (JS/TS, shell, gyp, python, native binaries, executable or
shebang files) are install code; other files install code names are data (`install-data-changed`, warn),
unless a download location in them moved (`install-download-changed`, block): URLs compare by host and path,
version tokens aside, and installer config (package.json `binary` composed as node-pre-gyp composes it, with
`module_path`; `config`; `repository` for prebuild-install) by the URLs the installer downloads from.
What cannot be resolved statically -- a loader given a computed argument, `require` or a loader used as a
value, a command substitution, a variable program, a file that does not parse -- makes every changed
executable file of the package count as install code, and the finding names the expression and its line.
"""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field

from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.content import TEXT_SCAN_LIMIT, _executable_kind
from gatekeeper.diffing.js_static import ROOT, SCRIPT_DIR, Facts, Parsers, read_js, read_shell
from gatekeeper.diffing.lines import _first_diff_line, _is_text
from gatekeeper.diffing.manifest import GIT_SCRIPTS, INSTALL_SCRIPTS, _bins, _native_build, _norm, _scripts
from gatekeeper.rules.diff import INSTALL_CODE_CHANGED, INSTALL_DATA_CHANGED, INSTALL_DOWNLOAD_CHANGED

TYPE_CHECKING = False  # `typing` is not imported at run time (start-up, see docs/DESIGN.md)
if TYPE_CHECKING:
    from typing import Any

    from gatekeeper._internal.tarball import FileEntry

MAX_INSTALL_FILES = 2000
#: Scripts a local `npm install` of the repository itself runs (pull-request mode).
LOCAL_SCRIPTS = (*INSTALL_SCRIPTS, *GIT_SCRIPTS, "prepublish", "dependencies")
CODE_EXTENSIONS = (
    ".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx",
    ".sh", ".bash", ".zsh", ".ps1", ".cmd", ".bat", ".gyp", ".gypi", ".py", ".node", ".wasm",
)  # fmt: skip
_JS = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx")
_SHELL = (".sh", ".bash", ".zsh")
_NODE_EXTS = ("", ".js", ".cjs", ".mjs", ".json", ".node", ".ts", ".mts", ".cts")
_NODE_LIKE = {"node", "nodejs", "tsx", "ts-node", "ts-node-esm", "esno", "babel-node", "coffee", "jiti", "vite-node"}
_NPX_LIKE = {"npx", "bunx", "pnpx"}
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "source", "."}
_PREFIXES = {"cross-env", "env", "exec", "nohup", "time", "command", "sudo", "nice", "dotenv"}
_GYP_TOOLS = {"node-gyp", "node-gyp-build", "node-pre-gyp", "prebuild-install", "node-gyp-build-optional-packages"}
_NODE_VALUE_OPTS = {"-r", "--require", "--import", "--loader", "--experimental-loader", "-e", "--eval", "-p", "--print"}
_NODE_OPTS_WITH_ARG = {
    "--input-type",
    "--conditions",
    "-C",
    "--title",
    "--env-file",
    "--env-file-if-exists",
    "--stack-size",
    "--max-old-space-size",
}
_URL = re.compile(rb"""(?:https?|ftp)://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s'"`<>()]*)?""")
#: A gyp variable `<(name)` / `<@(name)` inside a command: the shell sees a variable (it fails closed there).
_GYP_VAR = re.compile(r"<@?\(([A-Za-z0-9_]+)\)")


def fold(path: str) -> str:
    """How a case-insensitive, Unicode-normalising file system compares names."""
    return unicodedata.normalize("NFC", path).casefold()


def _rel(spec: str, cwd: str) -> str:
    """A path (relative to `cwd`, or `ROOT`-absolute) as a package-relative one; '..' when outside."""
    if spec.startswith("file://"):
        spec = spec[len("file://") :]
    if spec.startswith(ROOT):
        norm = posixpath.normpath(spec)
        if norm == ROOT:
            return ""
        return norm[len(ROOT) + 1 :] if norm.startswith(ROOT + "/") else ".."
    if spec.startswith("/"):
        return ".."
    return _norm(posixpath.join(cwd, spec)) if cwd else _norm(spec)


@dataclass
class Closure:
    """What install commands reach: code (path -> how), data (path -> who reads it), and what was not resolvable."""

    code: dict[str, str | None] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    called: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)
    #: JavaScript files to read, with the process cwd they run in.
    cwd_of: dict[str, str] = field(default_factory=dict)
    #: Installer tools the commands run (node-pre-gyp, prebuild-install...): what their config is.
    installers: set[str] = field(default_factory=set)


def _only_version_changed(old: bytes, new: bytes, old_pkg: object, new_pkg: object) -> bool:
    """True when `new` is `old` with every copy of the old release's version string replaced by the new one.

    Such a file behaves as before but for the version it embeds (a binary's expected version, a cache key),
    so it is not an install-time code change. Any other byte changed, and it is one."""
    before, after = getattr(old_pkg, "version", None), getattr(new_pkg, "version", None)
    if not before or not after or before == after or len(before) < 5:
        return False
    return old != new and old.replace(before.encode(), after.encode()) == new


class InstallCodeChecks(Checker):
    """`install-script-code-changed`, `install-data-changed`, `install-download-changed`."""

    # ---------------------------------------------------------------- paths

    def _fold_index(self) -> dict[str, str]:
        idx = getattr(self, "_folded", None)
        if idx is None:
            idx = {}
            for p in self.new.files:
                idx.setdefault(fold(p), p)
            self._folded = idx
        return idx

    def _file(self, path: str) -> str:
        """The package file at `path` (exactly, else as a case-insensitive file system finds it), or ''."""
        if not path or path.startswith(".."):
            return ""
        if path in self.new.files:
            return path
        return self._fold_index().get(fold(path), "")

    def _is_dir(self, path: str) -> bool:
        prefix = fold(path.rstrip("/") + "/") if path else ""
        return not path or any(k.startswith(prefix) for k in self._fold_index())

    def is_code(self, path: str) -> bool:
        """A file that can run: JS/TS, shell, gyp, python, native binaries, executable or shebang files."""
        entry = self.new.files.get(path)
        if entry is None:
            return False
        base = posixpath.basename(path).lower()
        if base.endswith((".d.ts", ".d.mts", ".d.cts")):
            return False  # type declarations: nothing runs them
        if base.endswith(CODE_EXTENSIONS) or base in ("binding.gyp", "makefile", "cmakelists.txt"):
            return True
        head = entry.data[:4096]
        if head.startswith(b"#!") or _executable_kind(entry.data) is not None:
            return True
        if entry.mode & 0o111 and "." not in base:
            return True
        return "." not in base and _is_text(entry.data) and b"require(" in head

    # ---------------------------------------------------------------- the check

    def install_code(self) -> None:
        """Install-time code that is new or changed; data it reads; installer config; fail closed."""
        if self.first:
            return
        new_scripts, old_scripts = _scripts(self.new), _scripts(self.old)
        names = LOCAL_SCRIPTS if self.local_install else INSTALL_SCRIPTS
        commands = [(name, new_scripts[name]) for name in names if name in new_scripts]
        if _native_build(self.new) and _native_build(self.old):  # (newly on: native-build-added reports it)
            commands.append(("install", "node-gyp rebuild"))
        reported: set[str] = set()
        installers: set[str] = set()
        for script, command in commands:
            c = Closure(scripts=new_scripts)
            self._command(command, "", new_scripts, c, 0)
            self._follow(c)
            installers |= c.installers
            for called_name in c.called:
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
            for path, via in c.code.items():
                status = self.status.get(path)
                if status not in ("added", "changed") or path in reported:
                    continue
                reported.add(path)
                how = "runs" if via is None else f"loads (through {via})"
                self._code_finding(
                    path, status, f"{script} script {json.dumps(command)} {how} {path}, which was {status}", script
                )
            for path, via in c.data.items():
                status = self.status.get(path)
                if status not in ("added", "changed") or path in reported or path in c.code:
                    continue
                reported.add(path)
                self._data_finding(path, status, via, script)
            if c.unresolved:
                why = c.unresolved[0] + (f" (+{len(c.unresolved) - 1} more)" if len(c.unresolved) > 1 else "")
                for change in self.result.files:
                    path = change.path
                    if change.status not in ("added", "changed") or path in reported or not self.is_code(path):
                        continue
                    reported.add(path)
                    text = (
                        f"{script} script {json.dumps(command)} cannot be followed statically ({why}), so every "
                        f"changed executable file counts as install code: {path} was {change.status}"
                    )
                    self._code_finding(path, change.status, text, script)
        if commands:
            self.installer_config(installers)

    def _code_finding(self, path: str, status: str, text: str, script: str) -> None:
        if self.file_approved(path):
            self.approved("files", text, file=path)
            return
        old = self.old.files.get(path) if self.old else None
        if old is not None and _only_version_changed(old.data, self.new.files[path].data, self.old, self.new):
            return  # the same code, embedding the new version (esbuild's bin/esbuild, lib/main.js)
        line = _first_diff_line(old.data if old else None, self.new.files[path].data)
        self.emit(INSTALL_CODE_CHANGED, text, file=path, line=line, script=script)

    def _data_finding(self, path: str, status: str, via: str, script: str) -> None:
        old = self.old.files.get(path) if self.old else None
        new = self.new.files[path].data
        moved = _moved_urls(_urls(old.data) if old is not None else [], _urls(new))
        text = f"{path} ({status}) is data that install code reads ({via}, {script} script)"
        if self.file_approved(path):
            self.approved("files", text, file=path)
            return
        if moved:
            line = _first_diff_line(old.data if old else None, new)
            self.emit(
                INSTALL_DOWNLOAD_CHANGED,
                f"{text}, and it now names a download location (host and path) it did not: {moved[0]}",
                file=path,
                line=line,
                url=moved[0],
            )
        else:
            self.emit(
                INSTALL_DATA_CHANGED,
                text + "; nothing runs from it",
                file=path,
                line=_first_diff_line(old.data if old else None, new),
            )

    def installer_config(self, installers: set[str]) -> None:
        """package.json `binary` (node-pre-gyp & co.), `config`, and `repository` when prebuild-install derives its
        download URL from it: a download location (host and path, as the installer composes it) that changed
        blocks; other changes to `binary` warn."""
        keys = ["binary", "config"] + (["repository"] if installers & {"prebuild-install"} else [])
        for key in keys:
            before = self.old.manifest.get(key) if self.old else None
            after = self.new.manifest.get(key)
            if before == after or after is None:
                continue
            moved = _moved_urls(_config_urls(key, before), _config_urls(key, after))
            line = self.new.line_of(key)
            text = (
                f"package.json `{key}` (installer config read at install time) changed: "
                f"{json.dumps(before)[:200]} -> {json.dumps(after)[:200]}"
            )
            if self.file_approved("package.json"):
                self.approved("files", text, file="package.json", line=line)
            elif moved:
                self.emit(
                    INSTALL_DOWNLOAD_CHANGED,
                    f"{text}; new download location: {moved[0]}",
                    file="package.json",
                    line=line,
                    url=moved[0],
                )
            elif key == "binary":
                self.emit(INSTALL_DATA_CHANGED, text, file="package.json", line=line)

    # ---------------------------------------------------------------- shell commands

    def _parsers(self) -> Parsers:
        parsers = getattr(self, "_parser_set", None)
        if parsers is None:
            parsers = self._parser_set = Parsers()
        return parsers

    def _command(
        self, command: str, cwd: str, scripts: dict[str, str], c: Closure, depth: int, script_dir: str | None = None
    ) -> None:
        """Walk one shell command line or script (cwd and script_dir relative to the package root)."""
        if depth > 8:
            c.unresolved.append("commands nested too deep")
            return
        facts = read_shell(self._parsers(), command, json.dumps(command[:80]))
        c.unresolved.extend(facts.unresolved)
        here = posixpath.join(ROOT, script_dir if script_dir is not None else cwd).rstrip("/")
        node_options = facts.exported.get("NODE_OPTIONS")
        if node_options is not None:
            self._node_options(node_options, cwd, c, "export NODE_OPTIONS")
        for cmd in facts.commands:
            argv = [a.replace(SCRIPT_DIR, here) for a in cmd.argv]
            if "NODE_OPTIONS" in cmd.env:
                self._node_options(cmd.env["NODE_OPTIONS"], cwd, c, f"NODE_OPTIONS in {cmd.text!r}")
            while argv and posixpath.basename(argv[0]) in _PREFIXES:
                argv.pop(0)
                while argv and (argv[0].startswith("-") or "=" in argv[0]):
                    if argv[0].startswith("NODE_OPTIONS="):
                        self._node_options(argv[0].split("=", 1)[1], cwd, c, f"NODE_OPTIONS in {cmd.text!r}")
                    argv.pop(0)
            if not argv or argv[0] == "export":
                continue
            if argv[0] in ("cd", "pushd"):
                target = argv[1] if len(argv) > 1 else ""
                if (
                    not target
                    or "$" in target
                    or target.startswith("~")
                    or (target.startswith("/") and not target.startswith(ROOT))
                ):
                    c.unresolved.append(f"`cd {target}` leaves what can be followed")
                    continue
                cwd = _rel(target, cwd)
                if cwd.startswith(".."):
                    c.unresolved.append(f"`cd {target}` leaves the package")
                continue
            if argv[0] == "popd":
                cwd = ""
                continue
            self._program(argv, cwd, scripts, c, depth)

    def _node_options(self, value: str, cwd: str, c: Closure, how: str) -> None:
        """NODE_OPTIONS (from the environment, an `.env` file, `export`): node's options, no script."""
        if "$" in value or "`" in value:
            c.unresolved.append(f"{how}: NODE_OPTIONS is not static")
            return
        facts = read_shell(self._parsers(), "node " + value, how)
        for cmd in facts.commands[:1]:
            self._node(cmd.argv[1:], cwd, c, options_only=True)

    def _program(self, argv: list[str], cwd: str, scripts: dict[str, str], c: Closure, depth: int) -> None:
        prog = posixpath.basename(argv[0])
        args = argv[1:]
        if "$" in argv[0]:
            c.unresolved.append(f"the program {argv[0]!r} is a variable")
            return
        if prog in _NODE_LIKE:
            self._node(args, cwd, c)
        elif prog == "bun":
            rest = [a for a in args if not a.startswith("-")]
            if rest and rest[0] == "x":
                self._program(rest[1:], cwd, scripts, c, depth + 1)
            elif rest and rest[0] == "run" and len(rest) > 1 and rest[1] in scripts:
                self._run_script(rest[1], scripts, cwd, c, depth)
            elif rest:
                target = rest[1] if rest[0] == "run" and len(rest) > 1 else rest[0]
                if target in scripts and rest[0] != "run":
                    self._run_script(target, scripts, cwd, c, depth)
                else:
                    self._node([target], cwd, c)
        elif prog == "deno":
            rest = [a for a in args if not a.startswith("-")]
            if rest and rest[0] in ("run", "eval", "task") and len(rest) > 1:
                if rest[0] == "eval":
                    self._eval(rest[1], cwd, c)
                elif rest[0] == "task":
                    c.unresolved.append("`deno task` (deno.json tasks)")
                else:
                    self._node([rest[1]], cwd, c)
            elif rest:
                self._node([rest[0]], cwd, c)
        elif prog in _NPX_LIKE or (prog in ("npm", "pnpm", "yarn") and args[:1] in (["exec"], ["dlx"], ["x"])):
            rest = args[1:] if prog not in _NPX_LIKE else args
            i = 0
            while i < len(rest) and rest[i].startswith("-"):
                i += 2 if rest[i] in ("-p", "--package", "-c", "--call") else 1
            if i < len(rest):
                self._program(rest[i:], cwd, scripts, c, depth + 1)
        elif prog in _SHELLS:
            if "-c" in args and args.index("-c") + 1 < len(args):
                self._command(args[args.index("-c") + 1], cwd, scripts, c, depth + 1)
                return
            files = [a for a in args if not a.startswith("-")]
            if files:
                self._script_file(files[0], cwd, scripts, c, depth)
        elif prog in ("python", "python3"):
            files = [a for a in args if not a.startswith("-")]
            if files:
                found = self._file(_rel(files[0], cwd))
                if found:
                    c.code.setdefault(found, None)
        elif prog in ("npm", "pnpm", "yarn"):
            self._package_manager(prog, args, cwd, scripts, c, depth)
        elif prog in _GYP_TOOLS or prog == "cmake-js":
            c.installers.add(prog)
            directory = cwd
            for i, a in enumerate(args):
                if a.startswith(("--directory=", "-C=")):
                    directory = _rel(a.split("=", 1)[1], cwd)
                elif a in ("--directory", "-C") and i + 1 < len(args):
                    directory = _rel(args[i + 1], cwd)
            if prog == "cmake-js":
                found = self._file(posixpath.join(directory, "CMakeLists.txt") if directory else "CMakeLists.txt")
                if found:
                    c.code.setdefault(found, None)
            else:
                self._gyp(posixpath.join(directory, "binding.gyp") if directory else "binding.gyp", c, depth)
        else:
            bins = _bins(self.new)
            if prog in bins and "/" not in argv[0]:
                target = self._file(bins[prog])
                if target:
                    self._script_file(target, "", scripts, c, depth)
                return
            if "$" in cwd and (argv[0].startswith(".") or "/" in argv[0]):
                c.unresolved.append(f"{argv[0]!r} runs in a folder that is not static")
                return
            target = self._file(_rel(argv[0], cwd))
            if target:
                self._script_file(target, cwd, scripts, c, depth)

    def _claim_text(self, path: str, c: Closure) -> FileEntry | None:
        """Record package file `path` as install code the first time it is reached; its entry when it is
        text small enough to read on (None: no such file, already claimed, binary or too large)."""
        if not path or path in c.code:
            return None
        c.code[path] = None
        entry = self.new.files[path]
        if entry.size > TEXT_SCAN_LIMIT or not _is_text(entry.data):
            return None
        return entry

    def _script_file(self, spec: str, cwd: str, scripts: dict[str, str], c: Closure, depth: int) -> None:
        """A file run as a program: JS by node (read by `_follow`), shell scripts parsed and followed."""
        if "$" in spec:
            c.unresolved.append(f"the script path {spec!r} is a variable")
            return
        if "$" in _rel(spec, cwd):
            c.unresolved.append(f"the script {spec!r} runs in a folder that is not static")
            return
        path = self._file(_rel(spec, cwd)) or self._file(_rel(spec, ""))
        entry = self._claim_text(path, c)
        if entry is None:
            return
        c.cwd_of.setdefault(path, cwd)
        head = entry.data[:200]
        if path.lower().endswith(_SHELL) or re.match(rb"#!\s*\S*(?:/|env\s+)(?:ba|da|z|k)?sh\b", head):
            text = entry.data.decode("utf-8", "replace")
            self._command(text, cwd, scripts, c, depth + 1, script_dir=posixpath.dirname(path))

    def _run_script(self, name: str, scripts: dict[str, str], cwd: str, c: Closure, depth: int) -> None:
        if name in c.called or name not in scripts:
            return
        c.called.append(name)
        self._command(scripts[name], cwd, scripts, c, depth + 1)

    def _package_manager(
        self, prog: str, args: list[str], cwd: str, scripts: dict[str, str], c: Closure, depth: int
    ) -> None:
        prefix = None
        rest: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("--prefix", "-C", "--dir", "--cwd") and i + 1 < len(args):
                prefix = args[i + 1]
                i += 2
                continue
            if a.startswith(("--prefix=", "--dir=", "--cwd=")):
                prefix = a.split("=", 1)[1]
            elif not a.startswith("-"):
                rest.append(a)
            i += 1
        if not rest:
            return
        own = scripts
        base = cwd
        if prefix is not None:
            if "$" in prefix or prefix.startswith(("/", "~")):
                c.unresolved.append(f"`{prog} --prefix {prefix}`")
                return
            base = _rel(prefix, cwd)
        if base:
            manifest = self._file(posixpath.join(base, "package.json"))
            if not manifest:
                return  # a folder without package.json inside the package: nothing of ours to run
            c.data.setdefault(manifest, f"{prog} --prefix {base}")
            c.code.setdefault(manifest, f"{prog} --prefix {base}")
            try:
                raw = json.loads(self.new.files[manifest].data).get("scripts")
            except (ValueError, AttributeError):
                c.unresolved.append(f"{manifest} is not readable JSON")
                return
            own = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        verb = rest[0]
        if verb in ("run", "run-script", "rum", "urn"):
            target = rest[1] if len(rest) > 1 else None
        elif verb in ("start", "test", "stop", "restart"):
            target = verb
        elif verb in ("install", "i", "ci", "rebuild") and base:
            for name in INSTALL_SCRIPTS:
                if name in own:
                    self._command(own[name], base, own, c, depth + 1)
            return
        elif verb == "node" and prog == "yarn":
            self._node(rest[1:], cwd, c)
            return
        elif prog == "yarn" and verb not in ("install", "add", "exec", "dlx"):
            target = verb
        else:
            target = None
        if target is None or target not in own:
            return
        if own is scripts:
            self._run_script(target, scripts, base, c, depth)
        else:
            key = f"{base}/package.json:{target}"
            if key not in c.called:
                self._command(own[target], base, own, c, depth + 1)

    def _node(self, args: list[str], cwd: str, c: Closure, *, options_only: bool = False) -> None:
        i = 0
        while i < len(args):
            a = args[i]
            opt, _, inline = a.partition("=") if a.startswith("--") else (a, "", "")
            if opt in _NODE_VALUE_OPTS:
                value = inline if inline else (args[i + 1] if i + 1 < len(args) else "")
                i += 1 if inline else 2
                if opt in ("-e", "--eval", "-p", "--print"):
                    self._eval(value, cwd, c)
                else:
                    self._node_path(value, cwd, c, dependency_ok=True)
                continue
            if opt in ("--env-file", "--env-file-if-exists"):
                value = inline if inline else (args[i + 1] if i + 1 < len(args) else "")
                i += 1 if inline else 2
                self._env_file(value, cwd, c)
                continue
            if opt in _NODE_OPTS_WITH_ARG and not inline:
                i += 2
                continue
            if a.startswith("-") or options_only:
                i += 1
                continue
            self._node_path(a, cwd, c, dependency_ok=False)
            break

    def _env_file(self, spec: str, cwd: str, c: Closure) -> None:
        """`node --env-file=.env`: the file configures node (NODE_OPTIONS), so it is install code itself."""
        if "$" in spec:
            c.unresolved.append(f"node reads a variable env file {spec!r}")
            return
        path = self._file(_rel(spec, cwd))
        if not path:
            return
        c.code.setdefault(path, f"node --env-file={spec}")
        for raw in self.new.files[path].data.decode("utf-8", "replace").splitlines():
            line = raw.strip()
            if line.startswith("export "):
                line = line[len("export ") :].lstrip()
            key, sep, value = line.partition("=")
            if sep and key.strip() == "NODE_OPTIONS":
                value = value.strip()
                if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                self._node_options(value, cwd, c, f"NODE_OPTIONS in {path}")

    def _eval(self, code: str, cwd: str, c: Closure, how: str = "node -e") -> None:
        where = posixpath.join(cwd, "[eval]")
        facts = read_js(self._parsers(), code.encode("utf-8", "surrogateescape"), where, cwd, how)
        self._apply(facts, where, cwd, c, 0)

    def _node_path(self, spec: str, cwd: str, c: Closure, *, dependency_ok: bool) -> None:
        if "$" in spec:
            c.unresolved.append(f"node runs a variable path {spec!r}")
            return
        for found in self._resolve_spec(spec, cwd, root_relative=not dependency_ok, how=f"node {spec}", c=c):
            c.code.setdefault(found, None)
            c.cwd_of.setdefault(found, cwd)

    # ---------------------------------------------------------------- gyp

    def _gyp(self, spec: str, c: Closure, depth: int) -> None:
        """A gyp file (Python literal syntax, read with `ast.literal_eval`): its `<!(...)` command expansions,
        actions, includes and the .gyp files its targets depend on."""
        import ast  # here: only a closure with a gyp file pays for it
        import shlex
        import warnings

        path = self._file(_norm(spec))
        entry = self._claim_text(path, c)
        if entry is None:
            return
        gyp_dir = posixpath.dirname(path)
        try:
            with warnings.catch_warnings():  # `'\.'` in a gyp string: Python warns, gyp (Python 2) never did
                warnings.simplefilter("ignore")
                tree = ast.literal_eval(entry.data.decode("utf-8", "replace"))
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            c.unresolved.append(f"{path} does not parse as gyp ({type(exc).__name__})")
            return
        stack: list[Any] = [tree]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                for command in _gyp_expansions(node):
                    self._command(command, gyp_dir, {}, c, depth + 1)
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                for key, value in node.items():
                    stack.append(key)
                    if key == "action" and isinstance(value, list):
                        parts = [str(v) for v in value]
                        if any("<(" in p or "<@(" in p for p in parts[:2]):
                            c.unresolved.append(f"a gyp action in {path} runs a variable: {parts[:3]}")
                        else:
                            self._command(shlex.join(_GYP_VAR.sub("$GYP", p) for p in parts), gyp_dir, {}, c, depth + 1)
                    elif key in ("includes", "dependencies") and isinstance(value, list):
                        for item in value:  # 'other.gyp:target': that file's targets are built too
                            other = str(item).split(":", 1)[0]
                            if other.endswith((".gyp", ".gypi")) and "<" not in other:
                                self._gyp(posixpath.join(gyp_dir, other), c, depth + 1)
                    stack.append(value)

    # ---------------------------------------------------------------- JavaScript

    def _resolve_spec(
        self, spec: str, base_dir: str, *, root_relative: bool = False, how: str = "", c: Closure | None = None
    ) -> list[str]:
        """Node's resolution of what `spec` names inside the package (several files when package.json maps it
        by conditions); [] for a dependency or a builtin."""
        if spec.startswith(("file://", ROOT)) or spec.startswith("/"):
            rel = _rel(spec, base_dir)
            return [] if rel.startswith("..") else self._as_file_or_dir(rel)
        if spec.startswith("#"):
            return self._package_map(self.new.manifest.get("imports"), spec, how, c)
        name = self.new.name
        if name and (spec == name or spec.startswith(name + "/")):
            sub = "." + spec[len(name) :]
            exports = self.new.manifest.get("exports")
            if exports is not None:
                return self._package_map(exports, sub, how, c)
            return self._as_file_or_dir(_norm(sub))
        if not spec.startswith(".") and not root_relative:
            return []  # a dependency or a builtin: not package code
        rel = _rel(spec, base_dir)
        if "$" in rel and c is not None:
            c.unresolved.append(f"{how or spec}: {spec!r} is relative to a folder that is not static")
            return []
        if rel.startswith(".."):
            return []
        return self._as_file_or_dir(rel)

    def _as_file_or_dir(self, joined: str) -> list[str]:
        if joined:
            for ext in _NODE_EXTS:
                found = self._file(joined + ext)
                if found:
                    return [found]
        pkg_json = self._file(f"{joined}/package.json" if joined else "package.json")
        if pkg_json:
            try:
                main = json.loads(self.new.files[pkg_json].data).get("main")
            except (ValueError, AttributeError):
                main = None
            if isinstance(main, str) and _norm(posixpath.join(joined, main)) != joined:
                found = self._as_file_or_dir(_norm(posixpath.join(joined, main)))
                if found:
                    return found
        for ext in _NODE_EXTS[1:]:
            found = self._file(f"{joined}/index{ext}" if joined else f"index{ext}")
            if found:
                return [found]
        return []

    def _package_map(self, mapping: Any, key: str, how: str, c: Closure | None) -> list[str]:
        """package.json `exports` (key `.` or `./sub`) or `imports` (`#x`): every target any condition can pick."""
        if mapping is None:
            return []
        if isinstance(mapping, (str, list)) or (
            isinstance(mapping, dict) and mapping and not any(str(k).startswith((".", "#")) for k in mapping)
        ):
            mapping = {".": mapping}  # exports sugar: the package's main entry only
        if not isinstance(mapping, dict):
            return []
        target: Any = mapping.get(key)
        star = ""
        if target is None:
            best = ""
            for pattern in mapping:
                if "*" not in str(pattern):
                    continue
                head, _, tail = str(pattern).partition("*")
                fits = key.startswith(head) and key.endswith(tail) and len(key) >= len(head) + len(tail)
                if fits and len(head) > len(best):
                    best, target, star = head, mapping[pattern], key[len(head) : len(key) - len(tail)]
        out: list[str] = []
        for t in _targets(target):
            t = t.replace("*", star)
            if t.startswith("./"):
                out.extend(f for f in self._as_file_or_dir(_norm(t)) if f not in out)
            elif c is not None and not t.startswith("."):
                continue  # mapped to a dependency: not package code
        return out

    def _apply(self, facts: Facts, path: str, cwd: str, c: Closure, depth: int) -> list[str]:
        """Record what one piece of JavaScript loads and runs; the package code files it loads."""
        out: list[str] = []
        base_dir = posixpath.dirname(path)
        c.unresolved.extend(facts.unresolved)

        def add(found: str, how: str, run_cwd: str) -> None:
            if self.is_code(found):
                if found not in c.code:
                    c.code[found] = how
                    c.cwd_of.setdefault(found, run_cwd)
                    out.append(found)
            elif posixpath.basename(found) != "package.json":
                c.data.setdefault(found, how)

        for spec, how in facts.loads:
            for found in self._resolve_spec(spec, base_dir, how=how, c=c):
                add(found, f"{path}: {how}", cwd)
        name = self.new.name
        for head, how in facts.bare_prefixes:
            if name and (name.startswith(head) or head.startswith(name + "/") or head == name):
                c.unresolved.append(f"{path} {how}: a computed path that can name the package itself ({name})")
        for spec, how in facts.cwd_loads:
            for found in self._resolve_spec(spec, cwd, root_relative=True, how=how, c=c):
                add(found, f"{path}: {how}", cwd)
        for spec, how in facts.exec_files:
            found = self._file(_rel(spec, base_dir))
            if found and found not in c.code:
                c.code[found] = f"{path}: {how}"
                out.append(found)
        for spec, how in facts.data:
            found = self._file(_rel(spec, cwd))
            if found and not self.is_code(found) and posixpath.basename(found) != "package.json":
                c.data.setdefault(found, f"{path}: {how}")
        for source, how in facts.evals:
            self._eval(source, cwd, c, f"{path}: {how}")
        runs = [(command, run_cwd, how, None) for command, run_cwd, how in facts.commands]
        runs += [(None, run_cwd, how, argv) for argv, run_cwd, how in facts.argvs]
        for command, run_cwd, how, argv in runs:
            before = set(c.code)
            where = cwd if run_cwd is None else _rel(run_cwd, cwd)
            if command is not None:
                self._command(command, where, c.scripts, c, depth + 1)
            elif argv:
                argv = [_rel(a, where) if a.startswith((ROOT, "file://")) else a for a in argv]
                if not argv[0].startswith(".."):
                    self._program(argv, where, c.scripts, c, depth + 1)
            for found in c.code:
                if found not in before and c.code[found] is None:
                    c.code[found] = f"{path}: {how}"
        return out

    def _follow(self, c: Closure) -> None:
        """Every package file reachable from the code found so far by require/import & co."""
        queue: list[str] = list(c.code)
        seen: set[str] = set()
        while queue and len(seen) < MAX_INSTALL_FILES:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            entry = self.new.files.get(path)
            if entry is None or not (path.lower().endswith(_JS) or ("." not in posixpath.basename(path))):
                continue
            if not _is_text(entry.data):
                continue
            if entry.size > TEXT_SCAN_LIMIT:
                c.unresolved.append(f"{path} is too large to read ({entry.size} bytes)")
                continue
            if ("." not in posixpath.basename(path) and not entry.data.startswith(b"#!")) or (
                entry.data.startswith(b"#!") and b"node" not in entry.data.split(b"\n", 1)[0]
            ):
                continue  # an extensionless file that is not a node script (shell scripts are read as commands)
            cwd = c.cwd_of.get(path, "")
            facts = read_js(self._parsers(), entry.data, path, cwd, path)
            before = set(c.code)
            self._apply(facts, path, cwd, c, 0)
            queue.extend(p for p in c.code if p not in before and p not in seen)
        if queue:
            c.unresolved.append(f"more than {MAX_INSTALL_FILES} files are reachable")


def _closing_paren(text: str, j: int) -> int:
    """The index of the `)` that closes the `(` at `text[j]` (`len(text)` when none does)."""
    depth, k = 0, j
    while k < len(text):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            break
        k += 1
    return k


def _gyp_expansions(text: str) -> list[str]:
    """The commands of gyp's `<!(...)` / `<!@(...)` expansions in a string (parentheses balanced), with the gyp
    variables in them as shell variables."""
    out: list[str] = []
    start = 0
    while True:
        i = text.find("<!", start)
        if i < 0:
            return out
        j = i + 2 + (text[i + 2 : i + 3] == "@")
        if text[j : j + 1] != "(":
            start = j
            continue
        k = _closing_paren(text, j)
        body = text[j + 1 : k]
        inner = _gyp_expansions(body)  # `<!(A="<!(node -p ...)" pkg-config ...)`: the inner one runs first
        out.extend(inner)
        if inner:
            body = _gyp_strip_expansions(body)
        out.append(_GYP_VAR.sub(lambda m: "$GYP_" + m.group(1), body))
        start = k + 1


def _gyp_strip_expansions(text: str) -> str:
    """`text` with each `<!(...)` expansion written as the shell variable `$GYP_OUTPUT`."""
    out, start = [], 0
    while True:
        i = text.find("<!", start)
        j = i + 2 + (text[i + 2 : i + 3] == "@") if i >= 0 else -1
        if i < 0 or text[j : j + 1] != "(":
            out.append(text[start:])
            return "".join(out)
        k = _closing_paren(text, j)
        out.append(text[start:i] + "$GYP_OUTPUT")
        start = k + 1


def _targets(target: Any) -> list[str]:
    """Every string a package.json `exports`/`imports` target can resolve to, under any condition."""
    if isinstance(target, str):
        return [target]
    if isinstance(target, list):
        return [t for item in target for t in _targets(item)]
    if isinstance(target, dict):
        return [t for value in target.values() for t in _targets(value)]
    return []


#: A version in a URL path (`v1.2.3`, `1.2.3`, `v108`), as its own path token: a release moving the version it
#: downloads stays at the same location; any other change of host or path is a move. A bare integer is not a
#: version (`/projects/12345/` names a project on GitLab's API).
_URL_VERSION = re.compile(r"(?<![A-Za-z0-9.])(?:v\d+(?:\.\d+)*|\d+(?:\.\d+)+)(?![A-Za-z0-9])")


def _urls(data: bytes) -> list[str]:
    """Every URL in `data` (the first 200 distinct)."""
    out: dict[str, None] = {}
    for m in _URL.finditer(data[:TEXT_SCAN_LIMIT]):
        out.setdefault(m.group().decode("utf-8", "replace"), None)
        if len(out) >= 200:
            break
    return list(out)


def _url_key(url: str) -> str:
    """A URL's download location: scheme, host and port exactly; the path normalised (`..`, `//`) with each
    version token as `#` (node-pre-gyp's `{version}` templates stay literal, so they compare as themselves)."""
    scheme, _, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    path = posixpath.normpath("/" + path) if slash else "/"
    return f"{scheme.lower()}://{hostport.lower().rstrip('.')}" + _URL_VERSION.sub("#", path)


def _moved_urls(before: list[str], after: list[str]) -> list[str]:
    """The URLs of `after` at a location (host and path, see `_url_key`) no URL of `before` had."""
    known = {_url_key(u) for u in before}
    return [u for u in after if _url_key(u) not in known]


def _config_urls(key: str, value: Any) -> list[str]:
    """The download URLs installer config in package.json names, composed as the installer composes them:
    node-pre-gyp's `binary` (each `*host` + `remote_path` + `package_name`, and `module_path`, where the binary
    lands and is loaded from, as a `file:` location), prebuild-install's `repository`, and every URL in it."""
    if value is None:
        return []
    found = _urls(json.dumps(value).encode())
    if key == "binary" and isinstance(value, dict):
        remote = str(value.get("remote_path", "")).strip()
        name = str(value.get("package_name", "{module_name}-v{version}-{node_abi}-{platform}-{arch}.tar.gz"))
        for k, host in value.items():
            if str(k).endswith("host") and isinstance(host, str) and "://" in host:
                found.append(host.rstrip("/") + "/" + "/".join(p for p in (remote, name) if p))
        if isinstance(value.get("module_path"), str):
            found.append("file:///" + _norm(value["module_path"]))
    elif key == "repository":
        url = value.get("url") if isinstance(value, dict) else value
        if isinstance(url, str):
            found.append(url.removeprefix("git+").removesuffix(".git"))
    return found
