"""Code an install script runs: command -> package files -> their closure, failing closed.

Commands are modelled as a shell runs them (segments, `cd`, env prefixes) for node/bun/deno/tsx/
ts-node, npx/bunx/`npm exec`, sh/bash and the scripts they run, npm/pnpm/yarn `run` (with `--prefix`/
`--dir`/`--cwd` into a nested package.json), node-gyp (binding.gyp in the working directory: its
`<!(...)` command expansions, actions and includes), node-pre-gyp/prebuild-install/cmake-js, and the
package's own bins. JavaScript is followed through require/import (literal, `path.join(__dirname, ...)`,
`__dirname + '...'`), `require.resolve`, `fork`, `new Worker`. Paths match as case-insensitive,
Unicode-normalised file systems resolve them (macOS, Windows).

Code versus data: only files that can run (JS/TS, shell, gyp, python, native binaries, executable or
shebang files) are install code; other files install code names are data (`install-data-changed`, warn),
unless a download host or URL in them changed (`install-download-changed`, block), as in installer config
(package.json `binary`, `config`). Where a command or a require cannot be resolved statically (variables,
command substitution, computed require paths), every changed executable file of the package counts as
install code.
"""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field

from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.content import TEXT_SCAN_LIMIT, _executable_kind
from gatekeeper.diffing.lines import _first_diff_line, _is_text
from gatekeeper.diffing.manifest import GIT_SCRIPTS, INSTALL_SCRIPTS, _bins, _native_build, _norm, _scripts
from gatekeeper.rules.diff import INSTALL_CODE_CHANGED, INSTALL_DATA_CHANGED, INSTALL_DOWNLOAD_CHANGED

TYPE_CHECKING = False  # `typing` is not imported at run time (start-up, see docs/DESIGN.md)
if TYPE_CHECKING:
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
_SHELL_WORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "!", "{", "}", "(", ")"}
_NODE_VALUE_OPTS = {"-r", "--require", "--import", "--loader", "--experimental-loader", "-e", "--eval", "-p", "--print"}
_NODE_OPTS_WITH_ARG = {
    "--input-type",
    "--conditions",
    "-C",
    "--title",
    "--env-file",
    "--stack-size",
    "--max-old-space-size",
}

_LIT = rb"""(?:'[^'\n]{0,300}'|"[^"\n]{0,300}"|`[^`$\n]{0,300}`)"""
#: A call that runs what it is given: require/import/fork/Worker, or node spawned on it (through require.resolve).
_CALL = (
    rb"""(?:\b(?:require|import|fork)\s*\(|\bnew\s+Worker\s*\("""
    rb"""|\b(?:spawn|execFile)(?:Sync)?\s*\(\s*(?:process\.execPath|['"]node['"])\s*,\s*\[)"""
    rb"""\s*(?:require\.resolve\s*\(\s*)?"""
)
_REQUIRE = re.compile(
    _CALL + rb"""(""" + _LIT + rb""")\s*[,)\]]"""
    rb"""|\b(?:from|import)\s*(['"])([^'"\n]{1,300})\2"""
)
_JOIN = re.compile(
    _CALL
    + rb"""(?:path\w*\.|require\(\s*['"](?:node:)?path['"]\s*\)\.)?(?:join|resolve)\s*\(\s*__dirname\s*,((?:\s*"""
    + _LIT
    + rb"""\s*,?)+)\s*\)\s*[,)\]]"""
)
_DIRNAME_PLUS = re.compile(_CALL + rb"""__dirname\s*\+\s*(""" + _LIT + rb""")""")
_DYNAMIC = re.compile(
    rb"""(?:\brequire|\bimport|\bfork|\bnew\s+Worker)\s*\(\s*(?!\s*['"`)]|\s*[@A-Za-z][\w@/.]*[-/@][\w@/.-]*\s*\)|\s*(?:path\w*\.|require\(\s*['"](?:node:)?path['"]\s*\)\.)?(?:join|resolve)\s*\(\s*__dirname\s*,(?:\s*"""
    + _LIT
    + rb"""\s*,?)+\s*\)\s*[,)])"""
)
#: A concatenated/template path whose literal start is package-relative (or empty): `'./lib/' + name`.
_DYNAMIC_CONCAT = re.compile(
    rb"""(?:\brequire|\bimport|\bfork)\s*\(\s*(?:['"`](?:\.{1,2}/|/)[^'"`\n]{0,300}['"`]\s*\+|`(?:(?:\.{1,2}/|/)[^`\n]{0,300}?)?\$\{)"""
)
_DATA_REF = re.compile(
    rb"""(?:readFileSync|readFile|createReadStream|existsSync|loadJSON|require)\s*\(\s*(?:path\w*\.|require\(\s*['"](?:node:)?path['"]\s*\)\.)?(?:join|resolve)\s*\(\s*__dirname\s*,"""
    rb"""((?:\s*""" + _LIT + rb"""\s*,?)+)\s*\)"""
    rb"""|(?:readFileSync|readFile|createReadStream)\s*\(\s*(""" + _LIT + rb""")"""
)
_URL = re.compile(rb"""(?:https?|ftp)://[A-Za-z0-9.-]+(?::\d+)?(?:/[^\s'"`<>()]*)?""")
_GYP_EXPANSION = re.compile(r"""<!@?\(([^)\n]*(?:\([^)\n]*\)[^)\n]*)*)\)""")
_GYP_ACTION = re.compile(r"""['"]action['"]\s*:\s*\[([^\]]*)\]""")
_GYP_INCLUDE = re.compile(r"""['"]includes['"]\s*:\s*\[([^\]]*)\]""")
_GYP_STR = re.compile(r"""'([^'\n]*)'|"([^"\n]*)\"""")


def fold(path: str) -> str:
    """How a case-insensitive, Unicode-normalising file system compares names."""
    return unicodedata.normalize("NFC", path).casefold()


def _literal(raw: bytes) -> str:
    return raw[1:-1].decode("utf-8", "replace")


@dataclass
class Closure:
    """What install commands reach: code (path -> how), data (path -> who reads it), and what was not resolvable."""

    code: dict[str, str | None] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    called: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


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
        for script, command in commands:
            c = Closure()
            self._command(command, "", new_scripts, c, 0)
            self._follow(c)
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
            self.installer_config()

    def _code_finding(self, path: str, status: str, text: str, script: str) -> None:
        if self.file_approved(path):
            self.approved("files", text, file=path)
            return
        old = self.old.files.get(path) if self.old else None
        line = _first_diff_line(old.data if old else None, self.new.files[path].data)
        self.emit(INSTALL_CODE_CHANGED, text, file=path, line=line, script=script)

    def _data_finding(self, path: str, status: str, via: str, script: str) -> None:
        old = self.old.files.get(path) if self.old else None
        new = self.new.files[path].data
        before = _hosts(old.data) if old is not None else {}
        after = _hosts(new)
        old_hosts = set(before.values()) if old is not None else set()
        moved = [u for u, host in after.items() if host not in old_hosts]
        text = f"{path} ({status}) is data that install code reads ({via}, {script} script)"
        if self.file_approved(path):
            self.approved("files", text, file=path)
            return
        if moved:
            line = _first_diff_line(old.data if old else None, new)
            self.emit(
                INSTALL_DOWNLOAD_CHANGED,
                f"{text}, and it now names a download host it did not: {moved[0]}",
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

    def installer_config(self) -> None:
        """package.json `binary` (node-pre-gyp & co.) and `config`: a changed download host blocks."""
        for key in ("binary", "config"):
            before = self.old.manifest.get(key) if self.old else None
            after = self.new.manifest.get(key)
            if before == after or after is None:
                continue
            old_hosts = set(_hosts(json.dumps(before).encode()).values()) if before is not None else set()
            new_urls = _hosts(json.dumps(after).encode())
            moved = [u for u, h in new_urls.items() if h not in old_hosts]
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
                    f"{text}; new download host: {moved[0]}",
                    file="package.json",
                    line=line,
                    url=moved[0],
                )
            elif key == "binary":
                self.emit(INSTALL_DATA_CHANGED, text, file="package.json", line=line)

    # ---------------------------------------------------------------- shell commands

    def _command(self, command: str, cwd: str, scripts: dict[str, str], c: Closure, depth: int) -> None:
        """Walk one shell command line (cwd relative to the package root)."""
        import shlex  # here, not at module level: start-up (docs/DESIGN.md)

        if depth > 8:
            c.unresolved.append("commands nested too deep")
            return
        only_dirname = re.search(r'cd\s+"?\$\(dirname\s+"?\$0"?\)"?', command) and command.count("$(") == 1
        if ("$(" in command or "`" in command) and not only_dirname:
            c.unresolved.append(f"command substitution in {json.dumps(command[:80])}")
        for segment in re.split(r"&&|\|\||[;|&\n]", command):
            segment = segment.strip().strip("()").strip()
            if not segment:
                continue
            try:
                argv = shlex.split(segment, comments=True)
            except ValueError:
                argv = segment.split()
            while argv and argv[0] in _SHELL_WORDS:
                argv.pop(0)
            while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
                argv.pop(0)  # FOO=bar node x.js
            while argv and posixpath.basename(argv[0]) in _PREFIXES:
                argv.pop(0)
                while argv and (argv[0].startswith("-") or "=" in argv[0]):
                    argv.pop(0)
            if not argv:
                continue
            if argv[0] in ("cd", "pushd"):
                target = argv[1] if len(argv) > 1 else ""
                if "$(dirname" in segment or target.startswith("$(dirname"):
                    continue  # cd "$(dirname "$0")": the script's own folder (handled by the caller)
                if not target or "$" in target or target.startswith(("/", "~")):
                    c.unresolved.append(f"`cd {target}` leaves what can be followed")
                    continue
                cwd = _norm(posixpath.join(cwd, target)) if target not in (".", "./") else cwd
                if cwd.startswith(".."):
                    c.unresolved.append(f"`cd {target}` leaves the package")
                continue
            if argv[0] == "popd":
                cwd = ""
                continue
            self._program(argv, cwd, scripts, c, depth)

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
                found = self._file(_norm(posixpath.join(cwd, files[0])))
                if found:
                    c.code.setdefault(found, None)
        elif prog in ("npm", "pnpm", "yarn"):
            self._package_manager(prog, args, cwd, scripts, c, depth)
        elif prog in _GYP_TOOLS or prog == "cmake-js":
            directory = cwd
            for i, a in enumerate(args):
                if a.startswith(("--directory=", "-C=")):
                    directory = _norm(posixpath.join(cwd, a.split("=", 1)[1]))
                elif a in ("--directory", "-C") and i + 1 < len(args):
                    directory = _norm(posixpath.join(cwd, args[i + 1]))
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
            target = self._file(_norm(posixpath.join(cwd, argv[0])))
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
        """A file run as a program: JS by node, shell scripts followed line by line."""
        if "$" in spec:
            c.unresolved.append(f"the script path {spec!r} is a variable")
            return
        path = self._file(_norm(posixpath.join(cwd, spec))) or self._file(_norm(spec))
        entry = self._claim_text(path, c)
        if entry is None:
            return
        head = entry.data[:200]
        if path.lower().endswith(_SHELL) or re.match(rb"#!\s*\S*(?:/|env\s+)(?:ba|da|z|k)?sh\b", head):
            text = entry.data.decode("utf-8", "replace").replace("\\\n", " ")
            script_dir = posixpath.dirname(path)
            uses_dirname = "$(dirname" in text
            self._command(text, script_dir if uses_dirname else cwd, scripts, c, depth + 1)

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
            base = _norm(posixpath.join(cwd, prefix))
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

    def _node(self, args: list[str], cwd: str, c: Closure) -> None:
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
            if opt in _NODE_OPTS_WITH_ARG and not inline:
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            self._node_path(a, cwd, c, dependency_ok=False)
            break

    def _eval(self, code: str, cwd: str, c: Closure) -> None:
        data = code.encode()
        for path, via in self._requires(data, cwd, c, "node -e").items():
            c.code.setdefault(path, via)

    def _node_path(self, spec: str, cwd: str, c: Closure, *, dependency_ok: bool) -> None:
        if "$" in spec:
            c.unresolved.append(f"node runs a variable path {spec!r}")
            return
        found = self._resolve_node(spec, cwd, root_relative=not dependency_ok)
        if found:
            c.code.setdefault(found, None)

    # ---------------------------------------------------------------- gyp

    def _gyp(self, spec: str, c: Closure, depth: int) -> None:
        path = self._file(_norm(spec))
        entry = self._claim_text(path, c)
        if entry is None:
            return
        text = entry.data.decode("utf-8", "replace").replace("\\\\", "\\").replace('\\"', '"')
        gyp_dir = posixpath.dirname(path)
        for m in _GYP_EXPANSION.finditer(text):
            self._command(m.group(1), gyp_dir, {}, c, depth + 1)
        for m in _GYP_ACTION.finditer(text):
            parts = [a or b for a, b in _GYP_STR.findall(m.group(1))]
            if any("<(" in p or "<@(" in p for p in parts[:2]):
                c.unresolved.append(f"a gyp action runs a variable: {parts[:3]}")
                continue
            import shlex

            self._command(shlex.join(parts), gyp_dir, {}, c, depth + 1)
        for m in _GYP_INCLUDE.finditer(text):
            for a, b in _GYP_STR.findall(m.group(1)):
                self._gyp(posixpath.join(gyp_dir, a or b), c, depth + 1)

    # ---------------------------------------------------------------- JavaScript

    def _resolve_node(self, spec: str, base_dir: str, *, root_relative: bool = False) -> str:
        """Node's resolution of a relative path (or the package itself) to a package file, '' if outside."""
        name = self.new.name
        if name and (spec == name or spec.startswith(name + "/")):
            spec = "./" + spec[len(name) :].lstrip("/")  # the package requiring itself by name
            base_dir = ""
        if spec in (".", "./"):
            main = self.new.manifest.get("main")
            spec = main if isinstance(main, str) else "index.js"
            base_dir = ""
        elif not spec.startswith((".", "/")) and root_relative:
            spec = "./" + spec  # `node install.js` is relative to the working directory
        elif not spec.startswith("."):
            return ""  # a dependency or a builtin: not package code
        joined = _norm(posixpath.join(base_dir, spec)) if base_dir else _norm(spec)
        if not joined or joined.startswith(".."):
            return ""
        for ext in _NODE_EXTS:
            found = self._file(joined + ext)
            if found:
                return found
        pkg_json = self._file(f"{joined}/package.json")
        if pkg_json:
            try:
                main = json.loads(self.new.files[pkg_json].data).get("main")
            except (ValueError, AttributeError):
                main = None
            if isinstance(main, str):
                found = self._resolve_node("./" + main, joined)
                if found:
                    return found
        for ext in _NODE_EXTS[1:]:
            found = self._file(f"{joined}/index{ext}")
            if found:
                return found
        return ""

    def _requires(self, code: bytes, base_dir: str, c: Closure, where: str) -> dict[str, str]:
        """Package files `code` loads (path -> `where`); data files it reads go to `c.data`."""
        out: dict[str, str] = {}

        def add(spec: str) -> None:
            if not spec.startswith(".") and not (self.new.name and spec.startswith(self.new.name)):
                return
            found = self._resolve_node(spec, base_dir)
            if not found:
                return
            if self.is_code(found):
                out.setdefault(found, where)
            elif posixpath.basename(found) != "package.json":
                c.data.setdefault(found, where)

        for m in _REQUIRE.finditer(code):
            if m.group(1) is not None:
                add(_literal(m.group(1)))
            else:
                add(m.group(3).decode("utf-8", "replace"))
        for m in _JOIN.finditer(code):
            parts = [_literal(x) for x in re.findall(_LIT, m.group(1))]
            add("./" + "/".join(p.strip("/") for p in parts))
        for m in _DIRNAME_PLUS.finditer(code):
            add("./" + _literal(m.group(1)).lstrip("/"))
        for m in _DATA_REF.finditer(code):
            if m.group(1) is not None:
                parts = [_literal(x) for x in re.findall(_LIT, m.group(1))]
                rel = "/".join(p.strip("/") for p in parts)
            else:
                rel = _literal(m.group(2))
                if not rel.startswith("."):
                    continue
            found = self._file(_norm(posixpath.join(base_dir, rel)))
            if found and not self.is_code(found) and posixpath.basename(found) != "package.json":
                c.data.setdefault(found, where)
        for m in _DYNAMIC.finditer(code):
            line = code.count(b"\n", 0, m.start()) + 1
            snippet = code[m.start() : m.start() + 60].decode("utf-8", "replace")
            c.unresolved.append(f"{where} line {line}: a computed path is loaded ({snippet!r})")
        for m in _DYNAMIC_CONCAT.finditer(code):
            line = code.count(b"\n", 0, m.start()) + 1
            c.unresolved.append(f"{where} line {line}: a concatenated path is loaded")
        return out

    def _follow(self, c: Closure) -> None:
        """Every package file reachable from the code found so far by require/import & co."""
        queue: list[tuple[str, str | None]] = list(c.code.items())
        seen: set[str] = set()
        while queue and len(seen) < MAX_INSTALL_FILES:
            path, via = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            c.code.setdefault(path, via)
            entry = self.new.files.get(path)
            if entry is None or not (path.lower().endswith(_JS) or ("." not in posixpath.basename(path))):
                continue
            if entry.size > TEXT_SCAN_LIMIT or not _is_text(entry.data):
                continue
            for dep, _ in self._requires(entry.data, posixpath.dirname(path), c, path).items():
                if dep not in seen:
                    queue.append((dep, path))
        if queue:
            c.unresolved.append(f"more than {MAX_INSTALL_FILES} files are reachable")


def _hosts(data: bytes) -> dict[str, str]:
    """URL -> host for every URL in `data` (first 200 distinct)."""
    out: dict[str, str] = {}
    for m in _URL.finditer(data[:TEXT_SCAN_LIMIT]):
        url = m.group().decode("utf-8", "replace")
        host = url.split("://", 1)[1].split("/", 1)[0].lower()
        out.setdefault(url, host)
        if len(out) >= 200:
            break
    return out
