"""Content detectors: credentials, sensitive paths, native executables, obfuscation signals."""

from __future__ import annotations

import re

from gatekeeper.diffing.lines import _Added

JS_EXTENSIONS = (".js", ".cjs", ".mjs", ".jsx")
TEXT_SCAN_LIMIT = 32 * 1024 * 1024
PRIVATE_KEY_LABEL = "a private key"

# Every pattern starts with a literal so `re` can skip ahead fast; word boundaries are checked in `_search`.
_SECRETS: tuple[tuple[str, tuple[re.Pattern[bytes], ...]], ...] = (
    ("an npm access token", (re.compile(rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),)),
    (
        "a GitHub token",
        (
            re.compile(rb"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9])"),
            re.compile(rb"github_pat_[A-Za-z0-9_]{60,255}(?![A-Za-z0-9_])"),
        ),
    ),
    (
        "an AWS access key id",
        (
            re.compile(rb"AKIA[0-9A-Z]{16}(?![0-9A-Za-z])"),
            re.compile(rb"ASIA[0-9A-Z]{16}(?![0-9A-Za-z])"),
        ),
    ),
    (
        PRIVATE_KEY_LABEL,
        (re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),),
    ),
    ("an npm auth token setting", (re.compile(rb"_authToken\s*=\s*(?!\$\{)[A-Za-z0-9_\-.:]{16,}"),)),
)
#: A PEM/OpenSSH/PGP private key is its key material, not its header line: documentation writes the
#: armour around a placeholder (`-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----`,
#: next's docs). Key material: base64 runs of at least `_KEY_RUN` characters (real lines are 64 or 70),
#: adding up to `KEY_MATERIAL_MIN` (an ed25519 PKCS#8 key, the smallest, is 64) before the END line or
#: within `_KEY_WINDOW` bytes. Newlines may be real or `\n` escapes (a key inside a JS string).
KEY_MATERIAL_MIN = 60
_KEY_RUN = 16
_KEY_WINDOW = 16 * 1024
_KEY_END = re.compile(rb"-----END [A-Z0-9 ]{0,40}-----")
_KEY_B64_RUN = re.compile(rb"[A-Za-z0-9+/]{%d,}={0,2}" % _KEY_RUN)
_ESCAPED_NEWLINE = re.compile(rb"\\+[nr]")


def key_material(text: bytes, after: int) -> bool:
    """Whether the armour header ending at `after` is followed by key material (see `KEY_MATERIAL_MIN`)."""
    window = text[after : after + _KEY_WINDOW]
    end = _KEY_END.search(window)
    body = _ESCAPED_NEWLINE.sub(b"\n", window[: end.start()] if end else window)
    return sum(len(m.group()) for m in _KEY_B64_RUN.finditer(body)) >= KEY_MATERIAL_MIN


_ENV_OK = {"example", "sample", "template", "dist", "defaults", "schema", "test"}
_KEY_NAMES = re.compile(r"^id_(?:rsa|dsa|ecdsa|ed25519)(?!.*\.pub$)")


def _search(
    text: bytes, patterns: tuple[re.Pattern[bytes], ...], count: int = 1, *, boundary: bool = True
) -> re.Match[bytes] | None:
    """The earliest match (starting at a word boundary), if at least `count` such matches exist in all."""
    best: re.Match[bytes] | None = None
    hits = 0
    for pattern in patterns:
        for m in pattern.finditer(text):
            before = text[m.start() - 1 : m.start()] if boundary else b""
            if before and (before.isalnum() or before in b"_$"):
                continue
            hits += 1
            if best is None or m.start() < best.start():
                best = m
            if hits >= count:
                break
    return best if hits >= count else None


def _sensitive_path(path: str) -> str | None:
    parts = path.split("/")
    base = parts[-1]
    low = base.lower()
    if ".git" in parts[:-1]:
        return "a file inside a .git folder"
    if low in (".npmrc", ".netrc", ".git-credentials", ".pypirc"):
        return f"a {base} credentials file"
    if low == ".env" or (low.startswith(".env.") and low.split(".")[-1] not in _ENV_OK):
        return "an environment file (.env)"
    if low.endswith((".pem", ".p12", ".pfx")):
        return "a key/certificate file"
    if _KEY_NAMES.match(low):
        return "an SSH private key file"
    return None


_DECODED = (
    rb"\s*\([^;]{0,200}?"
    rb"(?:atob\s*\(|Buffer\.from\s*\(|fromCharCode|decodeURIComponent\s*\(|unescape\s*\(|createDecipher)"
)
_EVAL_DECODE = tuple(
    re.compile(name + _DECODED)  # the names hold no regex metacharacters
    for name in (b"eval", b"Function", b"runInThisContext", b"runInNewContext", b"runInContext", b"_compile")
)
_BLOB = (
    re.compile(rb"[\"'`][A-Za-z0-9+/]{1000,}={0,2}[\"'`]"),
    re.compile(rb"[\"'`](?:[0-9a-fA-F]{2}){400,}[\"'`]"),
)
# Escapes of *printable ASCII* (`\x65\x76\x61\x6c` is "eval"); Unicode-range tables (`\u05BD`) are not counted.
_ESCAPES = (
    re.compile(rb"\\x[2-7][0-9a-fA-F](?:\\x[2-7][0-9a-fA-F]){7,}"),
    re.compile(rb"\\u00[2-7][0-9a-fA-F](?:\\u00[2-7][0-9a-fA-F]){7,}"),
)
_OBFUSCATOR_ID = (re.compile(rb"_0x[0-9a-f]{4,6}(?![0-9A-Za-z_$])"),)
#: The string-array decoder/rotation of javascript-obfuscator: `while(!![]){try{... parseInt(f(0x1a))/0x1 ...`,
#: `a['push'](a['shift']())`; each is specific to obfuscated output (bundlers and minifiers do not emit them).
_ROTATION = (
    re.compile(rb"while\s*\(\s*!!\s*\[\s*\]\s*\)"),
    re.compile(rb"\[\s*['\"]push['\"]\s*\]\s*\(\s*[\w$]+\s*\[\s*['\"]shift['\"]\s*\]\s*\(\s*\)\s*\)"),
    re.compile(rb"parseInt\s*\(\s*[\w$]+\s*\(\s*0x[0-9a-fA-F]+"),
)
#: String lookups by a hex index (`f(0x1f4)`): how obfuscated code reads its string array. Hex tables of
#: real code (colours, magic numbers) are values, not call arguments.
_HEX_NUMBER = re.compile(rb"[\w$]\s*\(\s*0x[0-9a-fA-F]{1,5}\s*\)")
HEX_MIN_COUNT = 20
HEX_PER_KB = 0.0
#: JSFuck-style booleans (`!![]`, `![]`), a second obfuscator tell; minifiers write `!0`/`!1`.
_JSFUCK_BOOL = re.compile(rb"!!?\[\]")
JSFUCK_MIN_COUNT = 8
LONG_LINE = 3000
MINIFIED_LINE = 1000
_LONG_LINE_RE = re.compile(rb"[^\n]{%d}" % MINIFIED_LINE)


def _matches(text: bytes, patterns: tuple[re.Pattern[bytes], ...], *, boundary: bool = True) -> list[re.Match[bytes]]:
    """Every match of `patterns` (starting at a word boundary when `boundary`), in file order."""
    out: list[re.Match[bytes]] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            before = text[m.start() - 1 : m.start()] if boundary else b""
            if not (before and (before.isalnum() or before in b"_$")):
                out.append(m)
    out.sort(key=lambda m: m.start())
    return out


def witness(text: bytes, m: re.Match[bytes], context: int) -> bytes:
    """What a signal's match *is*, to find it again in another file: the match, with at least `context` bytes
    (a short, generic match like `!![]` is identified by the code around it; a 1000-character literal, an
    escape run or an obfuscator identifier by itself)."""
    return text[m.start() : max(m.end(), m.start() + context)]


#: `\0asm` (the WebAssembly magic) as the start of a base64 or hex literal: an inline WebAssembly module.
_WASM_LITERAL = (b"AGFzbQ", b"0061736d", b"0061736D")


def inline_wasm(literal: bytes) -> bool:
    """A base64/hex string literal (quotes included) that encodes a WebAssembly module."""
    return literal[1:9].startswith(_WASM_LITERAL)


def _density(text: bytes, pattern: re.Pattern[bytes], min_count: int, per_kb: float) -> int | None:
    """Offset of the first match when `pattern` occurs at least `min_count` times and `per_kb` per kB."""
    first: int | None = None
    count = 0
    for m in pattern.finditer(text):
        if first is None:
            first = m.start()
        count += 1
    if first is None or count < min_count or count * 1024 / max(len(text), 1) < per_kb:
        return None
    return first


def _long_line(added: _Added) -> int | None:
    """Offset (in `added.text`) of the first added line longer than LONG_LINE, or None."""
    for i, start in enumerate(added.starts):
        end = added.starts[i + 1] - 1 if i + 1 < len(added.starts) else len(added.text)
        if end - start >= LONG_LINE:
            return start
    return None


def _binary_format(data: bytes) -> tuple[str, str] | None:
    """(format, architecture) of a native binary, e.g. ("ELF", "machine 62, 64-bit"); None for other data."""
    kind = _executable_kind(data)
    if kind is None:
        return None
    if data[:4] == b"\x7fELF" and len(data) >= 20:
        order = "little" if data[5:6] == b"\x01" else "big"
        return "ELF", f"machine {int.from_bytes(data[18:20], order)}, class {data[4]}"
    if kind.startswith("a Mach-O") and len(data) >= 8:
        order = "little" if data[:4] in (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe") else "big"
        return "Mach-O", f"cpu {int.from_bytes(data[4:8], order)}"
    if kind.startswith("a universal"):
        return "universal Mach-O", f"{int.from_bytes(data[4:8], 'big')} architectures"
    if kind.startswith("a Windows"):
        pe = int.from_bytes(data[0x3C:0x40], "little")
        return "PE", f"machine {int.from_bytes(data[pe + 4 : pe + 6], 'little')}"
    return kind, ""


def _executable_kind(data: bytes) -> str | None:
    head = data[:8]
    if head.startswith(b"\x7fELF"):
        return "an ELF executable/library"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "a Mach-O executable/library"
    if head[:4] == b"\xca\xfe\xba\xbe" and len(data) >= 8 and int.from_bytes(data[4:8], "big") < 45:
        return "a universal Mach-O binary"  # (a Java class file has a major version >= 45 here)
    if head[:2] == b"MZ" and len(data) >= 0x40:
        pe = int.from_bytes(data[0x3C:0x40], "little")
        if 0 < pe <= len(data) - 4 and data[pe : pe + 4] == b"PE\0\0":
            return "a Windows PE executable/DLL"
    return None
