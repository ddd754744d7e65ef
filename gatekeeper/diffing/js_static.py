"""What a JavaScript/TypeScript file or a shell command line loads and runs, read from a syntax tree.

The trees come from tree-sitter (JavaScript, TypeScript/TSX and Bash grammars, pinned wheels), imported only
when an install closure has a file to read. On the tree, what is static is evaluated -- string literals,
`+` and template literals of them, `__dirname`, `__filename`, `import.meta.url`/`dirname`/`filename`,
`process.cwd()`, `process.execPath`, `path.join/resolve/dirname/...`, `new URL(x, import.meta.url)`,
`fileURLToPath`, arrays of those, and constants bound once -- with paths inside the package written under
`ROOT`. Every loader is reported with what it is given: `require` (and `require.resolve`, `module.require`,
`process.mainModule.require`, `Module._load`, `createRequire(...)`), `import`/`import()`/`export from`,
`child_process` (`exec*`, `spawn*`, `fork`), `new Worker`, `vm.*`, `eval`, `new Function`, `WebAssembly.*`,
`process.dlopen`, and `fs.readFile*` (data, or code when what was read is then executed). A loader given
something that is not static, `require` or a loader used as a value, or a file that does not parse is
*unresolved*: the caller fails closed on it. This module knows nothing of packages; `install_code` resolves
what is reported here to package files.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: The package root in evaluated paths: `__dirname` of `lib/x.js` is `ROOT + "/lib"`.
ROOT = "/@package-root@"
#: What is not static in a command string or argument (a shell variable: the shell reading fails closed on it).
COMPUTED = "$COMPUTED"
_CP_FUNCS = {"exec", "execSync", "execFile", "execFileSync", "spawn", "spawnSync", "fork"}
_VM_FUNCS = {"runInThisContext", "runInNewContext", "runInContext", "compileFunction", "Script", "SourceTextModule"}
_WASM_FUNCS = {"instantiate", "compile", "Module", "instantiateStreaming", "compileStreaming"}
_READ_FUNCS = {"readFileSync", "readFile", "createReadStream"}
_DATA_FUNCS = {*_READ_FUNCS, "existsSync", "statSync", "readJsonSync", "readJSONSync", "readJson"}
_PATH_NAMES = {"path", "_path", "nodePath", "pathModule", "Path"}
_CP_NAMES = {"child_process", "childProcess", "cp", "child", "proc"}
_LOADER_IDENTS = {"require", "eval"}
_CP_BOUND = {("child_process", name) for name in _CP_FUNCS}


class _Unknown(Exception):
    """The expression is not static."""


@dataclass
class Facts:
    """What one piece of code loads and runs (paths are specifiers or `ROOT`-absolute)."""

    loads: list[tuple[str, str]] = field(default_factory=list)  # (specifier, how: "require(...) at line N")
    cwd_loads: list[tuple[str, str]] = field(default_factory=list)  # paths node resolves from the process cwd
    commands: list[tuple[str, str | None, str]] = field(default_factory=list)  # (shell command, cwd, how)
    argvs: list[tuple[list[str], str | None, str]] = field(default_factory=list)  # (argv, cwd, how)
    evals: list[tuple[str, str]] = field(default_factory=list)  # (JavaScript source run, how)
    exec_files: list[tuple[str, str]] = field(default_factory=list)  # (path read, then executed; how)
    data: list[tuple[str, str]] = field(default_factory=list)  # (path read as data, how)
    unresolved: list[str] = field(default_factory=list)
    #: Computed bare specifiers by their static start (a dependency, unless the package's own name fits).
    bare_prefixes: list[tuple[str, str]] = field(default_factory=list)


def _language(kind: str) -> Any:
    import tree_sitter  # here: only an install closure with files to read pays for the parser

    if kind == "bash":
        import tree_sitter_bash as grammar

        return tree_sitter.Language(grammar.language())
    if kind in ("ts", "tsx"):
        import tree_sitter_typescript as ts_grammar

        raw = ts_grammar.language_tsx() if kind == "tsx" else ts_grammar.language_typescript()
        return tree_sitter.Language(raw)
    import tree_sitter_javascript as js_grammar

    return tree_sitter.Language(js_grammar.language())


class Parsers:
    """One tree-sitter parser per grammar, made on first use (held by the caller, never module state)."""

    def __init__(self) -> None:
        self._parsers: dict[str, Any] = {}

    def parse(self, source: bytes, kind: str) -> Any:
        parser = self._parsers.get(kind)
        if parser is None:
            import tree_sitter

            parser = self._parsers[kind] = tree_sitter.Parser(_language(kind))
        return parser.parse(source)


def js_kind(path: str) -> str:
    low = path.lower()
    if low.endswith(".tsx"):
        return "tsx"
    if low.endswith((".ts", ".mts", ".cts")):
        return "ts"
    return "js"


def _text(node: Any) -> str:
    return node.text.decode("utf-8", "replace")


def _show(node: Any) -> str:
    text = " ".join(_text(node).split())
    return text if len(text) <= 100 else text[:97] + "..."


def _line(node: Any) -> int:
    return node.start_point[0] + 1


def _error_line(root: Any) -> int:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            return _line(node)
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing or c.type == "ERROR"]))
    return _line(root)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/", "`": "`", "$": "$", "0": "\0"}


def _unescape(raw: str) -> str:
    if len(raw) == 2 and raw[1] in _ESCAPES:
        return _ESCAPES[raw[1]]
    if raw.startswith(("\\x", "\\u")) and "{" not in raw:
        return chr(int(raw[2:], 16))
    raise _Unknown


def _path_resolve(parts: list[str], cwd: str) -> str:
    out = cwd
    for p in parts:
        out = posixpath.join(out, p)
    return posixpath.normpath(out)


class JsReader:
    """The facts of one JavaScript/TypeScript source, `path` (package-relative) and the process cwd."""

    def __init__(self, tree: Any, path: str, cwd: str, where: str) -> None:
        self.root = tree.root_node
        self.path = path
        self.dir = posixpath.dirname(path)
        self.cwd = posixpath.normpath(posixpath.join(ROOT, cwd))
        self.where = where
        self.facts = Facts()
        self.consts: dict[str, Any] = {}  # name -> value node, for names bound exactly once
        self.modules: dict[str, tuple[str, str | None]] = {}  # name -> (module, export or None)
        self.requires: set[str] = set()  # names bound to a require function (createRequire(...))
        self._evaluating: set[str] = set()

    # -------------------------------------------------------------- bindings

    def bind(self) -> None:
        counts: dict[str, int] = {}
        values: dict[str, Any] = {}
        stack = [self.root]
        while stack:
            node = stack.pop()
            t = node.type
            if t == "variable_declarator":
                name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
                if name is not None and name.type == "identifier":
                    key = _text(name)
                    counts[key] = counts.get(key, 0) + 1
                    if value is not None:
                        values[key] = value
                elif name is not None and name.type == "object_pattern" and value is not None:
                    module = self._module_of(value)
                    for prop in name.children:
                        if prop.type == "shorthand_property_identifier_pattern":
                            counts[_text(prop)] = counts.get(_text(prop), 0) + 1
                            if module:
                                self.modules[_text(prop)] = (module, _text(prop))
                        elif prop.type == "pair_pattern":
                            key_node, val_node = prop.child_by_field_name("key"), prop.child_by_field_name("value")
                            if val_node is not None and val_node.type == "identifier":
                                counts[_text(val_node)] = counts.get(_text(val_node), 0) + 1
                                if module and key_node is not None:
                                    self.modules[_text(val_node)] = (module, _text(key_node).strip("'\""))
            elif t in ("assignment_expression", "augmented_assignment_expression", "update_expression"):
                target = node.child_by_field_name("left") or node.child_by_field_name("argument")
                if target is not None and target.type == "identifier":
                    counts[_text(target)] = counts.get(_text(target), 0) + 2
            elif t in ("formal_parameters", "function_declaration", "class_declaration", "catch_clause"):
                for c in node.children:
                    if c.type == "identifier":
                        counts[_text(c)] = counts.get(_text(c), 0) + 2
                if t == "function_declaration":
                    name = node.child_by_field_name("name")
                    if name is not None:
                        counts[_text(name)] = counts.get(_text(name), 0) + 2
            elif t == "import_statement":
                source = node.child_by_field_name("source")
                module = self._module_name(_string_value(source)) if source is not None else None
                for clause in node.children:
                    if clause.type != "import_clause" or not module:
                        continue
                    for c in clause.children:
                        if c.type == "identifier":
                            self.modules[_text(c)] = (module, "default")
                        elif c.type == "namespace_import":
                            for n in c.children:
                                if n.type == "identifier":
                                    self.modules[_text(n)] = (module, None)
                        elif c.type == "named_imports":
                            for spec in c.children:
                                if spec.type == "import_specifier":
                                    name, alias = spec.child_by_field_name("name"), spec.child_by_field_name("alias")
                                    if name is not None:
                                        self.modules[_text(alias or name)] = (module, _text(name))
            stack.extend(node.children)
        for name, count in counts.items():
            if count == 1 and name in values:
                value = values[name]
                self.consts[name] = value
                module = self._module_of(value)
                if module:
                    self.modules.setdefault(name, (module, None))
                elif self._is_create_require(value):
                    self.requires.add(name)

    def _module_name(self, spec: str | None) -> str | None:
        if not spec:
            return None
        return spec.removeprefix("node:")

    def _module_of(self, node: Any) -> str | None:
        """`require('x')` / `await import('x')` -> 'x' (the builtin's name without `node:`)."""
        while node is not None and node.type in ("await_expression", "parenthesized_expression"):
            node = node.named_children[0] if node.named_children else None
        if node is None or node.type != "call_expression":
            return None
        fn = node.child_by_field_name("function")
        if fn is None or not (fn.type == "import" or (fn.type == "identifier" and _text(fn) == "require")):
            return None
        args = node.child_by_field_name("arguments")
        first = args.named_children[0] if args is not None and args.named_children else None
        return self._module_name(_string_value(first)) if first is not None else None

    def _is_create_require(self, node: Any) -> bool:
        if node.type != "call_expression":
            return False
        fn = node.child_by_field_name("function")
        return fn is not None and (
            (fn.type == "identifier" and self.modules.get(_text(fn), ("", ""))[1] == "createRequire")
            or (fn.type == "identifier" and _text(fn) == "createRequire")
            or (fn.type == "member_expression" and _prop(fn) == "createRequire")
        )

    # -------------------------------------------------------------- static values

    def value(self, node: Any) -> Any:
        """The static value of an expression (str, list, dict, bool, int); `_Unknown` when it has none."""
        t = node.type
        if t == "string":
            return _string_value(node, strict=True)
        if t == "template_string":
            out = []
            for c in node.children:
                if c.type == "string_fragment":
                    out.append(_text(c))
                elif c.type == "escape_sequence":
                    out.append(_unescape(_text(c)))
                elif c.type == "template_substitution":
                    inner = c.named_children
                    if len(inner) != 1:
                        raise _Unknown
                    out.append(str(self.value(inner[0])))
            return "".join(out)
        if t in ("parenthesized_expression", "as_expression", "non_null_expression", "satisfies_expression"):
            return self.value(node.named_children[0])
        if t == "binary_expression":
            if node.child_by_field_name("operator") is None or _text(node.child_by_field_name("operator")) != "+":
                raise _Unknown
            left, right = self.value(node.child_by_field_name("left")), self.value(node.child_by_field_name("right"))
            if isinstance(left, str) or isinstance(right, str):
                return str(left) + str(right)
            raise _Unknown
        if t == "number":
            return _text(node)
        if t in ("true", "false"):
            return t == "true"
        if t == "array":
            return [self.value(c) for c in node.named_children]
        if t == "object":
            obj: dict[str, Any] = {}
            for c in node.named_children:
                if c.type == "spread_element":
                    spread = self.value(c.named_children[0]) if c.named_children else None
                    if not isinstance(spread, dict):
                        raise _Unknown
                    obj.update(spread)
                elif c.type == "pair":
                    key = c.child_by_field_name("key")
                    try:
                        obj[_text(key).strip("'\"")] = self.value(c.child_by_field_name("value"))
                    except _Unknown:
                        obj[_text(key).strip("'\"")] = _Unknown
            return obj
        if t == "identifier":
            name = _text(node)
            if name == "__dirname":
                return posixpath.join(ROOT, self.dir) if self.dir else ROOT
            if name == "__filename":
                return posixpath.join(ROOT, self.path)
            if name in self.consts and name not in self._evaluating:
                self._evaluating.add(name)
                try:
                    return self.value(self.consts[name])
                finally:
                    self._evaluating.discard(name)
            raise _Unknown
        if t == "member_expression":
            obj, prop = node.child_by_field_name("object"), _prop(node)
            if obj is not None and obj.type == "meta_property":
                if prop == "url":
                    return "file://" + posixpath.join(ROOT, self.path)
                if prop == "dirname":
                    return posixpath.join(ROOT, self.dir) if self.dir else ROOT
                if prop == "filename":
                    return posixpath.join(ROOT, self.path)
            if obj is not None and _text(obj) == "process" and prop == "execPath":
                return "node"
            if obj is not None and self._is_module(obj, "path") and prop == "sep":
                return "/"
            raise _Unknown
        if t == "new_expression":
            ctor = node.child_by_field_name("constructor")
            args = node.child_by_field_name("arguments")
            if ctor is not None and _text(ctor) in ("URL", "url.URL") and args is not None:
                vals = [self.value(a) for a in args.named_children]
                if len(vals) == 1 and isinstance(vals[0], str) and vals[0].startswith("file://"):
                    return vals[0]
                if len(vals) == 2 and isinstance(vals[1], str) and vals[1].startswith("file://"):
                    base = posixpath.dirname(vals[1][len("file://") :])
                    rel = str(vals[0])
                    if rel.startswith("file://"):
                        return rel
                    return "file://" + posixpath.normpath(posixpath.join(base, rel))
            raise _Unknown
        if t == "call_expression":
            return self._call_value(node)
        raise _Unknown

    def _call_value(self, node: Any) -> Any:
        fn, args_node = node.child_by_field_name("function"), node.child_by_field_name("arguments")
        args = args_node.named_children if args_node is not None else []
        if fn is None:
            raise _Unknown
        if fn.type == "member_expression":
            obj, prop = fn.child_by_field_name("object"), _prop(fn)
            if obj is not None and _text(obj) == "process" and prop == "cwd":
                return self.cwd
            if obj is not None and self._is_module(obj, "path"):
                return self._path_call(prop, [self.value(a) for a in args])
            if obj is not None and self._is_module(obj, "url") and prop == "fileURLToPath":
                return _file_path(self.value(args[0]))
            if prop == "join" and obj is not None and obj.type == "array":
                sep = self.value(args[0]) if args else ","
                return str(sep).join(str(v) for v in self.value(obj))
            if prop == "toString" and obj is not None and not args:
                return str(self.value(obj))
            if obj is not None and _text(obj) == "require" and prop == "resolve" and args:
                spec = self.value(args[0])
                if isinstance(spec, str) and spec.startswith("."):
                    return posixpath.normpath(posixpath.join(ROOT, self.dir, spec))
                return spec
            raise _Unknown
        if fn.type == "identifier":
            name = _text(fn)
            module, export = self.modules.get(name, ("", None))
            if module == "path" and export:
                return self._path_call(export, [self.value(a) for a in args])
            if (module == "url" and export == "fileURLToPath") or name == "fileURLToPath":
                return _file_path(self.value(args[0]))
            if name == "String" and len(args) == 1:
                return str(self.value(args[0]))
        raise _Unknown

    def _path_call(self, prop: str | None, vals: list[Any]) -> str:
        if not all(isinstance(v, str) for v in vals):
            raise _Unknown
        if prop == "join":
            return posixpath.normpath(posixpath.join(*vals)) if vals else "."
        if prop == "resolve":
            return _path_resolve(vals, self.cwd)
        if prop in ("dirname", "basename", "normalize", "extname") and len(vals) >= 1:
            fn = {"normalize": posixpath.normpath}.get(prop) or getattr(posixpath, prop)
            return fn(vals[0])
        raise _Unknown

    def _is_module(self, node: Any, module: str) -> bool:
        if node.type == "identifier":
            bound = self.modules.get(_text(node))
            if bound is not None:
                return bound[0] in (module, module + "/posix") and bound[1] in (None, "default", "posix")
            return (module == "path" and _text(node) in _PATH_NAMES) or _text(node) == module
        if node.type == "member_expression" and _prop(node) == "posix":
            return self._is_module(node.child_by_field_name("object"), module)
        return self._module_of(node) == module

    # -------------------------------------------------------------- loaders

    def callee(self, fn: Any) -> tuple[str, str] | None:
        """What a called expression is: ("require", ""), ("child_process", "spawn"), ("vm", ...), ... or None."""
        t = fn.type
        if t == "import":
            return ("import", "")
        if t == "identifier":
            name = _text(fn)
            if name == "require" or name in self.requires:
                return ("require", "")
            if name == "eval":
                return ("eval", "")
            bound = self.modules.get(name)
            if bound is not None and bound[1] not in (None, "default"):
                return (bound[0], bound[1])
            if bound is None and name in _CP_FUNCS - {"exec"}:
                return ("child_process", name)
            if bound is None and name == "Worker":
                return ("worker_threads", "Worker")
            if bound is None and name == "Function":
                return ("Function", "")
            return None
        if t == "call_expression":
            inner = fn.child_by_field_name("function")
            if self._is_create_require(fn) or (inner is not None and _text(inner) == "createRequire"):
                return ("require", "")
            return None
        if t != "member_expression":
            return None
        obj, prop = fn.child_by_field_name("object"), _prop(fn) or ""
        if obj is None:
            return None
        otext = _text(obj)
        if otext == "require" and prop == "resolve":
            return ("require.resolve", "")
        if prop == "require" and otext in ("module", "process.mainModule", "require.main"):
            return ("require", "")
        if prop == "_load" and otext in ("Module", "module.constructor", "require('module')", 'require("module")'):
            return ("require", "")
        if otext == "WebAssembly" and prop in _WASM_FUNCS:
            return ("WebAssembly", prop)
        if otext == "process" and prop == "dlopen":
            return ("process", "dlopen")
        bound = self.modules.get(otext) if obj.type == "identifier" else None
        module = bound[0] if bound is not None and bound[1] in (None, "default") else self._module_of(obj)
        if module is None and obj.type == "identifier" and bound is None:
            if otext in _CP_NAMES and prop in _CP_FUNCS:
                module = "child_process"
            elif otext in ("vm", "fs", "fse", "worker_threads"):
                module = {"fse": "fs"}.get(otext, otext)
        if module in ("fs/promises", "fs-extra", "graceful-fs"):
            module = "fs"
        if module is None and obj.type == "member_expression" and _text(obj).endswith(("fs.promises", "fs")):
            module = "fs"
        if module is not None:
            return (module, prop)
        return None

    def read(self) -> Facts:
        if self.root.has_error:
            self.unresolved(self.root, f"does not parse (first error at line {_error_line(self.root)})")
        self.bind()
        stack = [self.root]
        while stack:
            node = stack.pop()
            t = node.type
            if t in ("call_expression", "new_expression"):
                self._call(node)
            elif t in ("import_statement", "export_statement"):
                source = node.child_by_field_name("source")
                if source is not None:
                    spec = _string_value(source)
                    if spec is not None:
                        self.facts.loads.append((spec, f"{_show(node)} at line {_line(node)}"))
            elif t == "identifier" and self._is_loader_name(_text(node)):
                self._loader_as_value(node)
            stack.extend(reversed(node.children))
        return self.facts

    def _is_loader_name(self, name: str) -> bool:
        return name in _LOADER_IDENTS or name in self.requires or self.modules.get(name, ("", None)) in _CP_BOUND

    def _loader_as_value(self, node: Any) -> None:
        parent = node.parent
        if parent is None:
            return
        callee = parent.child_by_field_name("function") or parent.child_by_field_name("constructor")
        if parent.type in ("call_expression", "new_expression") and callee == node:
            return
        if parent.type == "member_expression" and parent.child_by_field_name("object") == node:
            return
        if parent.type == "unary_expression" and _text(parent).startswith("typeof"):
            return
        if parent.type in ("variable_declarator",) and parent.child_by_field_name("name") == node:
            return
        if parent.type in ("import_specifier", "shorthand_property_identifier_pattern", "pair_pattern"):
            return
        if parent.type == "binary_expression" and _text(parent.child_by_field_name("operator")) in (
            "===",
            "!==",
            "==",
            "!=",
        ):
            return
        self.unresolved(parent, f"`{_text(node)}` is used as a value, so what it loads cannot be followed")

    def unresolved(self, node: Any, why: str) -> None:
        self.facts.unresolved.append(f"{self.where} line {_line(node)}: `{_show(node)}` {why}")

    def _call(self, node: Any) -> None:
        fn = node.child_by_field_name("function") or node.child_by_field_name("constructor")
        if fn is None:
            return
        kind = self.callee(fn)
        if kind is None:
            return
        args_node = node.child_by_field_name("arguments")
        args = [a for a in args_node.named_children if a.type != "comment"] if args_node is not None else []
        how = f"{_show(node)} at line {_line(node)}"
        module, func = kind
        if module == "require.resolve":
            return  # resolves, loads nothing: a loader given its result is evaluated there
        if module in ("require", "import"):
            if not args:
                return
            try:
                spec = self.value(args[0])
            except _Unknown:
                if self._outside_or_data(args[0]):
                    return
                head = str(self.partial(args[0])).split(COMPUTED, 1)[0]
                if head and head[0] not in "./#" and not head.startswith("file:"):
                    # `require(`@img/sharp-${platform}/x`)`: a dependency, unless it could be the package itself
                    self.facts.bare_prefixes.append((head, f"{_show(node)} at line {_line(node)}"))
                    return
                self.unresolved(node, "loads a path that is not static")
                return
            if isinstance(spec, str):
                self.facts.loads.append((spec, how))
            return
        if module == "child_process" and func in _CP_FUNCS:
            self._child_process(node, func, args, how)
        elif module == "worker_threads" and func == "Worker":
            self._worker(node, args, how)
        elif module in ("vm", "eval", "Function") and (module != "vm" or func in _VM_FUNCS):
            code = args[-1] if module == "Function" and args else (args[0] if args else None)
            if code is not None:
                self._executed(node, code, how)
        elif module == "WebAssembly" and args:
            read = self._file_read(args[0])
            if read == "?":
                self.unresolved(node, "compiles WebAssembly read from a path that is not static")
            elif read:
                self.facts.exec_files.append((read, how))
        elif module == "process" and func == "dlopen":
            try:
                path = self.value(args[1]) if len(args) > 1 else None
            except _Unknown:
                path = None
            if not isinstance(path, str):
                self.unresolved(node, "loads a native module from a path that is not static")
            else:
                self.facts.exec_files.append((path, how))
        elif module == "fs" and func in _DATA_FUNCS and args:
            try:
                path = self.value(args[0])
            except _Unknown:
                return  # a computed data path: data is never run by reading it; what runs it is checked
            if isinstance(path, str):
                self.facts.data.append((path, how))

    def _outside_or_data(self, node: Any) -> bool:
        """A computed path that cannot be package code: under `INIT_CWD` (the consumer's folder) or a `.json`."""
        text = _text(node)
        if "INIT_CWD" in text:
            return True
        tail = node
        while tail.type in ("binary_expression", "template_string", "call_expression", "arguments"):
            kids = [c for c in tail.named_children if c.type != "comment"]
            if not kids:
                break
            tail = kids[-1]
        if tail.type in ("string", "string_fragment"):
            value = _text(tail).strip("'\"`")
            return value.endswith(".json")
        return False

    def _file_read(self, node: Any) -> str | None:
        """`fs.readFileSync(p)` (directly or through a constant): p, '?' when p is not static, None otherwise."""
        for _ in range(8):
            if node.type == "identifier" and _text(node) in self.consts:
                node = self.consts[_text(node)]
                continue
            if node.type in ("await_expression", "parenthesized_expression") and node.named_children:
                node = node.named_children[0]
                continue
            if node.type == "call_expression":
                fn = node.child_by_field_name("function")
                kind = self.callee(fn) if fn is not None else None
                if kind is not None and kind[0] == "fs" and kind[1] in _READ_FUNCS:
                    args = node.child_by_field_name("arguments")
                    first = args.named_children[0] if args is not None and args.named_children else None
                    try:
                        path = self.value(first) if first is not None else None
                    except _Unknown:
                        return "?"
                    return path if isinstance(path, str) else "?"
                if fn is not None and fn.type == "member_expression" and _prop(fn) == "toString":
                    node = fn.child_by_field_name("object")
                    continue
            return None
        return None

    def _executed(self, node: Any, code: Any, how: str) -> None:
        read = self._file_read(code)
        if read == "?":
            self.unresolved(node, "runs code read from a path that is not static")
            return
        if read:
            self.facts.exec_files.append((read, how))
            return
        try:
            source = self.value(code)
        except _Unknown:
            self.unresolved(node, "runs code that is not static")
            return
        if isinstance(source, str):
            self.facts.evals.append((source, how))

    def _options(self, node: Any | None) -> dict[str, Any]:
        if node is None:
            return {}
        try:
            value = self.value(node)
        except _Unknown:
            return {"?": True}
        return value if isinstance(value, dict) else {}

    def _cwd_option(self, opts: dict[str, Any]) -> str | None:
        cwd = opts.get("cwd")
        if cwd is None:
            return None
        return cwd if isinstance(cwd, str) else COMPUTED  # paths the command names fail closed there

    def partial(self, node: Any) -> Any:
        """`value`, with what is not static in a string written as the shell variable `$COMPUTED`: a command
        built around a computed argument still shows its static program, and the shell reading fails closed
        where the computed part matters (the program, a script path)."""
        try:
            return self.value(node)
        except _Unknown:
            pass
        if node.type == "template_string":
            out = []
            for c in node.children:
                if c.type == "string_fragment":
                    out.append(_text(c))
                elif c.type == "escape_sequence":
                    out.append(_text(c)[1:])
                elif c.type == "template_substitution":
                    inner = c.named_children
                    out.append(str(self.partial(inner[0])) if len(inner) == 1 else COMPUTED)
            return "".join(out)
        if node.type == "binary_expression" and _text(node.child_by_field_name("operator")) == "+":
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            return str(self.partial(left)) + str(self.partial(right))
        if node.type == "array":
            return [self.partial(c) for c in node.named_children]
        if node.type == "parenthesized_expression" and node.named_children:
            return self.partial(node.named_children[0])
        return COMPUTED

    def _child_process(self, node: Any, func: str, args: list[Any], how: str) -> None:
        if not args:
            return
        first = self.partial(args[0])
        if func not in ("exec", "execSync", "fork") and first == COMPUTED:
            sites = self._through_parameters(node, args)
            if sites is not None:
                for argv in sites:
                    self.facts.argvs.append((argv, None, how))
                return
        if not isinstance(first, str) or (func not in ("exec", "execSync") and first == COMPUTED):
            self.unresolved(node, "runs a program that is not static")
            return
        if func in ("exec", "execSync"):
            opts = self._options(args[1] if len(args) > 1 and isinstance(self.partial(args[1]), dict) else None)
            self.facts.commands.append((str(first), self._cwd_option(opts), how))
            return
        rest, opts_node = args[1:], None
        argv: list[str] = []
        if rest and rest[0].type != "object" and not isinstance(self.partial(rest[0]), dict):
            values = self.partial(rest[0])
            if not isinstance(values, list):
                self.unresolved(node, "runs a program with arguments that are not static")
                return
            argv = [str(v) for v in values]
            rest = rest[1:]
        if rest and (rest[0].type == "object" or isinstance(self.partial(rest[0]), dict)):
            opts_node = rest[0]
        opts = self._options(opts_node)
        cwd = self._cwd_option(opts)
        if opts.get("?") or opts.get("execArgv") is _Unknown:
            self.unresolved(node, "runs a program with options that are not static")
            return
        if func == "fork":
            exec_argv = opts.get("execArgv") if isinstance(opts.get("execArgv"), list) else []
            self.facts.argvs.append((["node", *map(str, exec_argv), str(first), *argv], cwd, how))
        elif opts.get("shell"):
            self.facts.commands.append((" ".join([str(first), *argv]), cwd, how))
        else:
            self.facts.argvs.append(([str(first), *argv], cwd, how))

    def _through_parameters(self, node: Any, args: list[Any]) -> list[list[str]] | None:
        """`function f(...command) { command.push('--version'); execFileSync(command.shift(), command) }`: the
        program and arguments are the parameters of a function declared once and only called by name; each call
        site gives one argv (None: any other shape, or a call site that is not static)."""
        fn = node.parent
        while fn is not None and fn.type not in ("function_declaration", "function_expression", "arrow_function"):
            fn = fn.parent
        if fn is None or fn.type != "function_declaration":
            return None
        name_node, params = fn.child_by_field_name("name"), fn.child_by_field_name("parameters")
        if name_node is None or params is None:
            return None
        name = _text(name_node)
        plist = [c for c in params.named_children if c.type != "comment"]
        rest = plist[-1] if plist and plist[-1].type == "rest_pattern" else None
        rest_name = _text(rest.named_children[0]) if rest is not None and rest.named_children else None
        if rest_name is None or len(plist) != 1:
            return None
        prog = args[0]
        shifted = (
            prog.type == "call_expression"
            and _text(prog) == f"{rest_name}.shift()"
            and len(args) > 1
            and _text(args[1]) == rest_name
        )
        if not shifted:
            return None
        pushed: list[str] = []
        calls: list[Any] = []
        stack = [self.root]
        while stack:
            n = stack.pop()
            if n.type == "identifier" and _text(n) == name and n != name_node:
                parent = n.parent
                if parent is None or parent.type != "call_expression" or parent.child_by_field_name("function") != n:
                    return None  # the function is used as a value: its callers are unknown
                calls.append(parent)
            if n.type == "call_expression" and _text(n.child_by_field_name("function") or n).startswith(
                f"{rest_name}.push"
            ):
                arg_list = n.child_by_field_name("arguments")
                pushed.extend(str(self.partial(a)) for a in (arg_list.named_children if arg_list else []))
            stack.extend(n.children)
        out: list[list[str]] = []
        for call in calls:
            arg_list = call.child_by_field_name("arguments")
            values = [self.partial(a) for a in (arg_list.named_children if arg_list else [])]
            if not values or any(not isinstance(v, str) for v in values) or values[0] == COMPUTED:
                return None
            out.append([*values, *pushed])
        return out or None

    def _worker(self, node: Any, args: list[Any], how: str) -> None:
        if not args:
            return
        opts = self._options(args[1] if len(args) > 1 else None)
        if opts.get("eval"):
            self._executed(node, args[0], how)
            return
        try:
            target = self.value(args[0])
        except _Unknown:
            self.unresolved(node, "starts a worker from a path that is not static")
            return
        if isinstance(target, str):
            self.facts.cwd_loads.append((_file_path(target), how))


def _prop(member: Any) -> str | None:
    prop = member.child_by_field_name("property")
    return _text(prop) if prop is not None else None


def _file_path(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unknown
    return value[len("file://") :] if value.startswith("file://") else value


def _string_value(node: Any, *, strict: bool = False) -> str | None:
    if node is None or node.type != "string":
        if strict:
            raise _Unknown
        return None
    out = []
    for c in node.children:
        if c.type == "string_fragment":
            out.append(_text(c))
        elif c.type == "escape_sequence":
            try:
                out.append(_unescape(_text(c)))
            except _Unknown:
                if strict:
                    raise
                return None
    return "".join(out)


def read_js(parsers: Parsers, source: bytes, path: str, cwd: str, where: str, kind: str | None = None) -> Facts:
    """The facts of a JavaScript/TypeScript source (`path` package-relative, `cwd` the process's)."""
    tree = parsers.parse(source, kind or js_kind(path))
    return JsReader(tree, path, cwd, where).read()


# ------------------------------------------------------------------ shell


@dataclass
class ShellCommand:
    """One simple command: its words (None where not static), its `NAME=value` prefixes, its line."""

    argv: list[str]
    env: dict[str, str]
    line: int
    text: str


@dataclass
class ShellFacts:
    commands: list[ShellCommand] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    exported: dict[str, str] = field(default_factory=dict)


_DIRNAME_0 = ("$(dirname $0)", '$(dirname "$0")', "`dirname $0`", '`dirname "$0"`', "${0%/*}")
#: Stands for the folder of the running script (`$(dirname "$0")`) in a word.
SCRIPT_DIR = "\0script-dir\0"


def read_shell(parsers: Parsers, command: str, where: str) -> ShellFacts:
    """The simple commands of a shell command line or script, in order; command substitutions are walked too
    (and leave the word they are in not static)."""
    tree = parsers.parse(command.encode("utf-8", "surrogateescape"), "bash")
    facts = ShellFacts()
    root = tree.root_node
    if root.has_error:
        facts.unresolved.append(f"{where}: the shell command does not parse (line {_error_line(root)})")
    _walk_shell(root, facts, where)
    return facts


def _walk_shell(node: Any, facts: ShellFacts, where: str) -> None:
    t = node.type
    if t == "command":
        env: dict[str, str] = {}
        argv: list[str] = []
        for c in node.named_children:
            if c.type == "variable_assignment":
                name, value = c.child_by_field_name("name"), c.child_by_field_name("value")
                env[_text(name) if name is not None else ""] = _word(value, facts, where) if value is not None else ""
            elif c.type == "command_name":
                argv.append(_word(c.named_children[0] if c.named_children else c, facts, where))
            elif c.type in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                continue
            elif c.type != "comment":
                argv.append(_word(c, facts, where))
        facts.commands.append(ShellCommand(argv, env, _line(node), _text(node)))
        for c in node.named_children:  # substitutions inside run first, but order matters little here
            _walk_substitutions(c, facts, where)
        return
    if t == "declaration_command":
        for c in node.named_children:
            if c.type == "variable_assignment":
                name, value = c.child_by_field_name("name"), c.child_by_field_name("value")
                if name is not None:
                    facts.exported[_text(name)] = _word(value, facts, where) if value is not None else ""
        facts.commands.append(ShellCommand(["export"], {}, _line(node), _text(node)))
        return
    if t == "variable_assignment":
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is not None and _text(name) == "NODE_OPTIONS":
            facts.exported["NODE_OPTIONS"] = _word(value, facts, where) if value is not None else ""
        if value is not None:
            _walk_substitutions(value, facts, where)
        return
    for c in node.named_children:
        _walk_shell(c, facts, where)


def _walk_substitutions(node: Any, facts: ShellFacts, where: str) -> None:
    if node.type in ("command_substitution", "process_substitution"):
        # Its commands run (and are followed); the word it is in keeps its `$` text, so a program, script path,
        # folder or node option made of it fails closed where it is used.
        if _text(node) not in _DIRNAME_0:
            for c in node.named_children:
                _walk_shell(c, facts, where)
        return
    for c in node.named_children:
        _walk_substitutions(c, facts, where)


def _word(node: Any, facts: ShellFacts, where: str) -> str:
    """The static text of a shell word; a word with an expansion keeps its `$` text (the caller fails closed)."""
    t = node.type
    if t in ("word", "number"):
        text = _text(node)
        out, i = [], 0
        while i < len(text):
            if text[i] == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            out.append(text[i])
            i += 1
        return "".join(out)
    if t == "raw_string":
        return _text(node)[1:-1]
    if t == "string":
        parts = []
        for c in node.named_children:
            parts.append(_word(c, facts, where))
        if not node.named_children:
            return ""
        return "".join(parts)
    if t == "string_content":
        return _text(node).replace('\\"', '"').replace("\\$", "$").replace("\\\\", "\\")
    if t == "concatenation":
        return "".join(_word(c, facts, where) for c in node.named_children)
    if t in ("command_substitution",) and _text(node) in _DIRNAME_0:
        return SCRIPT_DIR
    if t == "expansion" and _text(node) == "${0%/*}":
        return SCRIPT_DIR
    if t == "ansi_c_string":
        return _text(node)[2:-1]
    return _text(node) if "$" in _text(node) or "`" in _text(node) else "$" + _text(node)
