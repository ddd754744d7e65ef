"""Safe, in-memory reader of npm package tarballs (gzip + tar).

Nothing is ever written to disk. The compressed input is inflated in bounded
steps (a cap on decompressed bytes defeats gzip bombs), tar headers are parsed
here (pax `x`/`g` and GNU `L`/`K` records are size-capped before they are read),
and every limit of `LimitsPolicy` is checked from the header *before* the data
is read. Like pacote (`tar.x({strip: 1})`), the first path component -- the top
folder, whatever its name -- is stripped from the raw name before anything is
normalised, so every file maps to the path npm installs it at; a root-level file,
a file under another first component (`./install.js` too), two files mapping to one
path (by Windows and macOS name rules as well) or a backslash is rejected.

What npm installs is what node-tar extracts, so the reader reads an archive the way node-tar does or rejects
it: the archive ends at two zero blocks (not one), a second gzip member is rejected, pax fields apply to the
next file entry only (never a global `path`, the later of `x`/`L` wins), the ustar prefix counts only with
the `ustar\0` `00` magic, checksums are node-tar's (unsigned), numbers and pax records are strict, and a
folder with data or an entry without a path (whose data node-tar would read as more entries) is rejected.

A rejection never raises: it is recorded in `Package.problems`, which the diff
gate turns into blocking `tarball-unsafe` findings. Entry point: `read_package`.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper.trust.policy import LimitsPolicy

if TYPE_CHECKING:
    from typing import Any

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
#: Compressed bytes fed beyond what the compression ratio so far says a read needs.
_INPUT_MARGIN = 4096
#: The most compressed input fed to one `decompress` call: what zlib does not use of it, it copies (its
#: `unconsumed_tail`), so this bounds that copy whatever sizes and ratios a tarball declares.
_MAX_INPUT_STEP = 8 * 1024 * 1024
#: Largest pax (`x`/`g`) or GNU long-name (`L`/`K`) record read into memory.
MAX_META_BYTES = 1024 * 1024
#: Problems recorded before the reader gives up on the tarball.
MAX_PROBLEMS = 20


class _Tar:
    """The tar type flags, named as in the stdlib `tarfile` (not imported: it costs start-up time)."""

    REGTYPE, AREGTYPE, LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE = b"0", b"\0", b"1", b"2", b"3", b"4"
    DIRTYPE, FIFOTYPE, CONTTYPE = b"5", b"6", b"7"
    GNUTYPE_LONGNAME, GNUTYPE_LONGLINK = b"L", b"K"
    XHDTYPE, XGLTYPE, SOLARIS_XHDTYPE = b"x", b"g", b"X"


_FILE_TYPES = {_Tar.REGTYPE, _Tar.AREGTYPE, _Tar.CONTTYPE}
_DEVICE_TYPES = {_Tar.CHRTYPE: "character device", _Tar.BLKTYPE: "block device", _Tar.FIFOTYPE: "FIFO"}
_PAX_TYPES = {_Tar.XHDTYPE, _Tar.XGLTYPE, _Tar.SOLARIS_XHDTYPE}
_GNU_LONG = {_Tar.GNUTYPE_LONGNAME, _Tar.GNUTYPE_LONGLINK}
_DRIVE = re.compile(r"^[A-Za-z]:")


class FileEntry:
    """One regular file of the package: its path (top folder stripped), bytes and mode.

    A file read from a tarball keeps its bytes as zlib returned them -- one `bytes` object, or a few when the
    reader's input estimate fell short -- and `data` joins those only when something asks for them (once);
    `same_data` compares two files with `memcmp` in place, so a file a release did not change is never copied."""

    __slots__ = ("_data", "_pieces", "mode", "path", "size")

    def __init__(self, path: str, data: bytes, mode: int) -> None:
        self.path = path
        self.mode = mode
        self.size = len(data)
        self._data: bytes | None = data
        self._pieces: tuple[bytes, ...] = ()

    @classmethod
    def _of_pieces(cls, path: str, pieces: tuple[bytes, ...], mode: int) -> FileEntry:
        entry = cls.__new__(cls)
        entry.path, entry.mode, entry.size = path, mode, sum(len(p) for p in pieces)
        entry._data = pieces[0] if len(pieces) == 1 else None if pieces else b""
        entry._pieces = pieces if len(pieces) > 1 else ()
        return entry

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = b"".join(self._pieces)
            self._pieces = ()
        return self._data

    def same_data(self, other: FileEntry) -> bool:
        """Whether the two files hold the same bytes (no copy of either is made)."""
        if self.size != other.size:
            return False
        if self._data is not None and other._data is not None:
            return self._data == other._data
        return _same_pieces(self._pieces or (self.data,), other._pieces or (other.data,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FileEntry):
            return NotImplemented
        return self.path == other.path and self.mode == other.mode and self.same_data(other)

    def __hash__(self) -> int:
        return hash((self.path, self.size, self.mode))

    def __repr__(self) -> str:
        return f"FileEntry(path={self.path!r}, size={self.size}, mode={self.mode:o})"


def _same_pieces(a: tuple[bytes, ...], b: tuple[bytes, ...]) -> bool:
    """Equal bytes in two runs of non-empty pieces of the same total length, compared span by span in place."""
    i = j = pa = pb = 0
    while i < len(a):
        ca, cb = a[i], b[j]
        n = min(len(ca) - pa, len(cb) - pb)
        if not ca.startswith(memoryview(cb)[pb : pb + n], pa):  # memcmp, no copy
            return False
        pa += n
        pb += n
        if pa == len(ca):
            i, pa = i + 1, 0
        if pb == len(cb):
            j, pb = j + 1, 0
    return True


@dataclass
class Package:
    """A package read from a tarball: its files, parsed `package.json`, and any rejections."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_text: str = ""
    manifest_error: str | None = None
    problems: list[str] = field(default_factory=list)
    #: Why the bytes are not a readable tarball at all (not gzip/tar, corrupt, truncated); also in `problems`.
    unreadable: str | None = None
    #: False when reading stopped early (a limit, corrupt data): the files are then incomplete.
    complete: bool = True
    top_folder: str = ""
    compressed_size: int = 0
    label: str = ""

    @property
    def unsafe(self) -> bool:
        return bool(self.problems)

    @property
    def name(self) -> str:
        value = self.manifest.get("name")
        return value if isinstance(value, str) else ""

    @property
    def version(self) -> str:
        value = self.manifest.get("version")
        return value if isinstance(value, str) else ""

    @property
    def unpacked_size(self) -> int:
        return sum(f.size for f in self.files.values())

    @cached_property
    def key_lines(self) -> dict[tuple[str, ...], int]:
        """Line (1-based) of each object key in package.json, by key path, e.g. ("scripts", "postinstall")."""
        return json_key_lines(self.manifest_text)

    def line_of(self, *path: str) -> int | None:
        """The line of the deepest key of `path` found in package.json."""
        lines = self.key_lines
        for end in range(len(path), 0, -1):
            line = lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


class _Stop(Exception):
    """The tarball cannot be read further (the reason is already recorded)."""


class _Inflater:
    """Sequential reads of the decompressed stream, capped at `cap` bytes in total.

    Each read inflates exactly the bytes it asks for (a header, a metadata record, one file's data), so nothing
    is read ahead and a gzip bomb never gets more than the declared size of the entry being read, which the limits
    already checked. The input is fed in steps sized from the compression ratio seen so far, so one `decompress`
    call usually returns the whole request: a file's data is then that one `bytes` object, never joined from
    pieces or copied again."""

    def __init__(self, data: bytes, cap: int) -> None:
        self._data = data
        self._src = memoryview(data)
        self._pos = 0
        self.gzip = data[:2] == b"\x1f\x8b"
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gzip else None
        self.cap = cap
        self.total = 0

    def _inflate(self, want: int) -> list[bytes]:
        """Up to `want` more decompressed bytes (fewer only at the end of the stream), as the outputs of zlib."""
        outs: list[bytes] = []
        d = self._d
        if d is None:  # a plain tar (pacote accepts those too)
            out = self._data[self._pos : self._pos + want]
            self._pos += len(out)
            if out:
                outs.append(out)
        else:
            src, end = self._src, len(self._src)
            ratio = (self._pos + 1) / (self.total + 1) if self.total else 1.0  # input bytes per output byte so far
            while want > 0 and not d.eof and self._pos < end:
                # enough input for `want` bytes at that ratio, and a little more; what is left over is copied by
                # zlib into `unconsumed_tail` and fed again next time, so the margin stays small
                step = min(int(want * ratio * 1.25) + _INPUT_MARGIN, _MAX_INPUT_STEP)
                inp = src[self._pos : self._pos + step]
                out = d.decompress(inp, want)
                used = len(inp) - len(d.unconsumed_tail)
                self._pos += used
                if out:
                    outs.append(out)
                    want -= len(out)
                    ratio = used / len(out)  # what this part of the stream needs
                elif not used:
                    break
        produced = sum(len(o) for o in outs)
        self.total += produced
        if self.total > self.cap:
            raise _CapExceeded
        return outs

    @property
    def cut_short(self) -> bool:
        """The input ended before the gzip stream did."""
        return self._d is not None and not self._d.eof

    def trailing_data(self) -> bool:
        """Non-zero bytes follow the end of the (first) gzip member: Node's zlib, and so npm, reads them as another
        member (more tar entries); only trailing zero bytes are padding it skips."""
        if self._d is None or not self._d.eof:
            return False
        rest = (self._d.unused_data, self._src[self._pos :])
        return any(bytes(part).strip(b"\0") for part in rest)

    def take(self, n: int) -> tuple[bytes, ...]:
        """The next `n` bytes as zlib returned them (usually one piece), uncopied; fewer at the end."""
        return tuple(self._inflate(n))

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer at the end of the stream."""
        outs = self._inflate(n)
        return outs[0] if len(outs) == 1 else b"".join(outs)


class _CapExceeded(Exception):
    pass


def read_package(source: bytes | Path, limits: LimitsPolicy, *, label: str = "") -> Package:
    """Read an npm tarball (bytes or a file path) safely into a `Package`; never raises on bad input."""
    pkg = Package(label=label)
    data = _load(source, limits, pkg)
    if data is None:
        pkg.complete = False
        return pkg
    pkg.compressed_size = len(data)
    if data[:2] != b"\x1f\x8b" and data[257:262] != b"ustar":
        pkg.unreadable = f"is not a gzip-compressed tar archive ({_sniff(data)})"
        pkg.problems.append(pkg.unreadable)
        pkg.complete = False
        return pkg
    # Headers and padding are bounded by the entry limit; metadata records by MAX_META_BYTES each.
    cap = limits.max_unpacked_bytes + BLOCK * (3 * limits.max_entries + 16) + 4 * MAX_META_BYTES
    reader = _Reader(_Inflater(data, cap), limits, pkg)
    pkg.complete = False
    try:
        reader.run()
        pkg.complete = True
    except _Stop:
        pass
    except _CapExceeded:
        pkg.problems.append(
            f"decompresses to more than {cap} bytes (a gzip bomb?); limit diff.limits.max-unpacked-bytes"
        )
    except zlib.error as exc:
        pkg.unreadable = f"has corrupt gzip data ({exc})"
        pkg.problems.append(pkg.unreadable)
    parse_manifest(pkg)
    return pkg


def _load(source: bytes | Path, limits: LimitsPolicy, pkg: Package) -> bytes | None:
    if isinstance(source, bytes):
        size = len(source)
    else:
        try:
            size = source.stat().st_size
        except OSError as exc:
            pkg.unreadable = f"cannot be read ({exc.strerror or exc})"
            pkg.problems.append(pkg.unreadable)
            return None
    if size > limits.max_compressed_bytes:
        pkg.problems.append(
            f"is {size} bytes compressed, more than diff.limits.max-compressed-bytes={limits.max_compressed_bytes}"
        )
        return None
    if isinstance(source, bytes):
        return source
    try:
        with source.open("rb") as fh:
            return fh.read(size + 1)  # exactly the file (a larger hint allocates, then shrinks, a bigger buffer)
    except OSError as exc:
        pkg.unreadable = f"cannot be read ({exc.strerror or exc})"
        pkg.problems.append(pkg.unreadable)
        return None


class _Reader:
    """The tar header loop: one pass, limits checked before any data is read."""

    def __init__(self, stream: _Inflater, limits: LimitsPolicy, pkg: Package) -> None:
        self.s = stream
        self.limits = limits
        self.pkg = pkg
        self.entries = 0
        self.meta = 0
        self.unpacked = 0
        self.global_pax: dict[str, str] = {}
        self.seen: dict[str, str] = {}  # normalised key -> path
        self.dirs: set[str] = set()

    def fail(self, message: str, *, fatal: bool = False, corrupt: bool = False) -> None:
        if corrupt and self.pkg.unreadable is None:
            if self.entries == 0 and self.s.gzip and "tar header" in message:
                why = message.rsplit("(", 1)[-1].rstrip(")") if message.endswith(")") else "too short"
                message = f"is gzip-compressed, but what it holds is not a tar archive (first header: {why})"
            self.pkg.unreadable = message
        self.pkg.problems.append(message)
        if len(self.pkg.problems) >= MAX_PROBLEMS:
            self.pkg.problems.append(f"has too many problems; stopped reading after {MAX_PROBLEMS}")
            raise _Stop
        if fatal:
            raise _Stop

    def take_exact(self, n: int, what: str, shown: _Shown | None = None) -> tuple[bytes, ...]:
        pieces = self.s.take(n)
        if sum(len(p) for p in pieces) != n:
            self.fail(f"is truncated inside {what}{f' {shown}' if shown else ''}", fatal=True, corrupt=True)
        return pieces

    def skip_padding(self, size: int) -> None:
        pad = -size % BLOCK
        if pad:
            self.take_exact(pad, "padding")

    def run(self) -> None:
        local_pax: dict[str, str] = {}
        while True:
            hdr = self.s.read(BLOCK)
            if not hdr:
                if self.s.cut_short:
                    self.fail("is truncated (the gzip stream ends early)", fatal=True, corrupt=True)
                self.end_of_stream()
                return  # no end-of-archive blocks: accepted, as tar and node-tar do
            if len(hdr) < BLOCK:
                self.fail("is truncated (a partial tar header)", fatal=True, corrupt=True)
            if hdr == _ZERO_BLOCK:
                # node-tar (npm's extractor) ends the archive only at TWO zero blocks: after a single one it reads
                # the next header on, so entries hidden there would be installed but not diffed.
                after = self.s.read(BLOCK)
                if after.strip(b"\0"):
                    self.fail(
                        f"has tar data after a single zero block (after entry {self.entries}); npm reads on past it, "
                        "so the entries there would be installed without being checked",
                        fatal=True,
                    )
                if not after:
                    self.end_of_stream()
                return  # end of archive; anything after two zero blocks is never read (node-tar stops too)
            try:
                size, mode = _number(hdr[124:136]), _number(hdr[100:108])
            except ValueError:
                self.fail(
                    f"has a corrupt tar header after entry {self.entries} (bad number field)", fatal=True, corrupt=True
                )
            if _node_checksum(hdr) != _checksum(hdr):
                # node-tar skips a header whose (unsigned) checksum it does not accept and reads the entry's data as
                # more headers: whatever we would take for data there, npm would install as entries.
                self.fail(
                    f"has a corrupt tar header after entry {self.entries} (bad checksum)", fatal=True, corrupt=True
                )
            kind = hdr[156:157]
            if kind in _PAX_TYPES or kind in _GNU_LONG:
                # As node-tar: pending pax fields describe the next *file* entry, never an intervening record.
                self.meta += 1
                if self.meta > 2 * self.limits.max_entries + 16:
                    self.fail("has more tar metadata records than entries allow", fatal=True)
                if size < 0 or size > MAX_META_BYTES:
                    self.fail(f"has a {size}-byte tar metadata record (limit {MAX_META_BYTES})", fatal=True)
                body = b"".join(self.take_exact(size, "a metadata record"))
                self.skip_padding(size)
                if kind == _Tar.XGLTYPE:
                    self.global_pax.update(_parse_pax(body, self))
                elif kind in _PAX_TYPES:
                    local_pax.update(_parse_pax(body, self))
                elif kind == _Tar.GNUTYPE_LONGNAME:
                    local_pax["path"] = _name_field(body, self, "a GNU long name")  # the later of `x`/`L` wins
                continue
            if "size" in local_pax or "size" in self.global_pax:
                size = _pax_int(local_pax.get("size", self.global_pax.get("size", "")), self)
            if size < 0:
                self.fail("has a tar entry with a negative size", fatal=True)
            # node-tar takes the path of a local pax header or GNU long name, else the header's; a *global* pax
            # `path` is never applied to entries.
            name = local_pax["path"] if "path" in local_pax else _ustar_name(hdr, self)
            local_pax = {}
            self.entry(name, kind, size, mode)

    def end_of_stream(self) -> None:
        """The tar ended with the first gzip member: a second member would still be read by npm."""
        if self.s.trailing_data():
            self.fail(
                "has data after the end of its gzip stream (a second gzip member?); npm reads it as more of the "
                "archive, so what is there would be installed without being checked",
                fatal=True,
            )

    def entry(self, name: str, kind: bytes, size: int, mode: int) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            self.fail(f"has more than {self.limits.max_entries} entries (limit diff.limits.max-entries)", fatal=True)
        shown = _Shown(name)
        if not name:
            # node-tar skips a header without a path and reads the entry's data as more headers.
            self.fail(
                f"has a tar entry without a path (entry {self.entries}); npm would read its data as entries", fatal=True
            )
        if kind in _FILE_TYPES and name.endswith("/"):
            if kind == _Tar.CONTTYPE:
                self.fail(f"has a contiguous-file entry named like a folder {shown}", fatal=True)
            kind = _Tar.DIRTYPE
        if kind == _Tar.DIRTYPE and size:
            # node-tar reads no data for a folder: the bytes it declares would be read as more entries.
            self.fail(
                f"has a folder entry {shown} declaring {size} bytes of data; npm reads them as entries", fatal=True
            )
        reject = ""
        if kind == _Tar.SYMTYPE:
            reject = f"has a symlink {shown}; npm packages may hold regular files only"
        elif kind == _Tar.LNKTYPE:
            reject = f"has a hardlink {shown}; npm packages may hold regular files only"
        elif kind in _DEVICE_TYPES:
            reject = f"has a {_DEVICE_TYPES[kind]} {shown}; npm packages may hold regular files only"
        elif kind not in _FILE_TYPES and kind != _Tar.DIRTYPE:
            reject = f"has an entry {shown} of unsupported tar type {kind!r}"
        if kind in _FILE_TYPES:
            if size > self.limits.max_file_bytes:
                self.fail(
                    f"has a {size}-byte file {shown}, over diff.limits.max-file-bytes={self.limits.max_file_bytes}",
                    fatal=True,
                )
            self.unpacked += size
            if self.unpacked > self.limits.max_unpacked_bytes:
                self.fail(
                    f"unpacks to more than diff.limits.max-unpacked-bytes={self.limits.max_unpacked_bytes} bytes",
                    fatal=True,
                )
        # Non-file entries normally carry no data; a size they declare is still bounded and skipped.
        if size > self.limits.max_file_bytes:
            self.fail(f"has an entry {shown} declaring {size} bytes", fatal=True)
        data = self.take_exact(size, "entry", shown) if size else ()
        self.skip_padding(size)
        if reject:
            self.fail(reject)
            return
        rel = self.normalise(name, kind == _Tar.DIRTYPE)
        if rel is None or kind == _Tar.DIRTYPE:
            return
        self.add_file(FileEntry._of_pieces(rel, data, mode & 0o7777))

    def normalise(self, name: str, is_dir: bool) -> str | None:
        """The path npm installs the entry at (None: rejected, or a folder npm does not extract).

        As pacote's `tar.x({strip: 1})`: node-tar splits the name at `/` and drops the first component *before*
        anything is normalised, then resolves the rest under the package folder (so `./install.js` is installed
        as `install.js`, `./package/x.js` as `package/x.js`, `package//a.js` as `a.js`). Every file entry must
        sit under the one top folder; a root-level file, an entry under any other first component (`.`
        included), a backslash or a `..` is rejected, never set aside."""
        shown = _Shown(name)
        if "\0" in name:
            self.fail(f"has a path with a NUL byte {shown}")
            return None
        if name.startswith(("/", "\\")) or _DRIVE.match(name):
            self.fail(f"has an absolute path {shown}")
            return None
        if ".." in re.split(r"[/\\]", name):
            self.fail(f"has a path that climbs out of the package with `..`: {shown}")
            return None
        if "\\" in name:
            # node-tar on Windows reads a backslash as a folder separator; on POSIX it is part of the name.
            self.fail(f"has a backslash in the path {shown}; npm on Windows reads it as a folder separator")
            return None
        top, _, rest = name.partition("/")
        parts = [p for p in rest.split("/") if p not in ("", ".")]
        if len(parts) - 1 > self.limits.max_path_depth:
            self.fail(f"has a path deeper than diff.limits.max-path-depth={self.limits.max_path_depth}: {shown}")
            return None
        if is_dir:
            return None  # pacote's filter extracts files only; a folder entry installs nothing
        if not parts:
            self.fail(
                f"has a file {shown} at the root of the archive; npm strips the first path component and "
                "drops it, so it is never installed, and a package tarball has none"
            )
            return None
        if not self.pkg.top_folder:
            self.pkg.top_folder = top
        elif top != self.pkg.top_folder:
            self.fail(
                f"has the file {shown} outside the top folder {_show(self.pkg.top_folder)}; npm strips the first "
                f"path component, whatever it is, and installs it as {_show('/'.join(parts))}"
            )
            return None
        if parts[-1] == ".gitignore":
            # pacote installs `.gitignore` as `.npmignore` unless it saw a `.npmignore` in that folder first.
            parts[-1] = ".npmignore"
        return "/".join(parts)

    def add_file(self, entry: FileEntry) -> None:
        rel = entry.path
        if ":" in rel:
            self.fail(f"has a colon in the path {_show(rel)}; npm on Windows writes it as another character")
            return
        # Case-insensitive, Unicode-normalised, and with Windows' file name rules (trailing dots and spaces of each
        # component dropped): what names one file on macOS/Windows file systems collides here.
        key = "/".join(p.rstrip(". ") or p for p in unicodedata.normalize("NFC", rel).casefold().split("/"))
        if key in self.seen:
            other = self.seen[key]
            same = "twice" if other == rel else f"twice ({_show(other)} and {_show(rel)} name the same file)"
            self.fail(f"has the file {_show(rel)} {same}; npm installs the last one")
            self.pkg.files[rel] = entry  # what npm installs (package.json too)
            return
        if key in self.dirs:
            self.fail(f"has {_show(rel)} both as a file and as a folder")
            return
        parts = key.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in self.seen:
                self.fail(f"has {_show(self.seen[prefix])} both as a file and as a folder")
                return
            self.dirs.add(prefix)
        self.seen[key] = rel
        self.pkg.files[rel] = entry


def _sniff(data: bytes) -> str:
    """What the bytes look like instead (for the message)."""
    if not data:
        return "the file is empty"
    for magic, what in (
        (b"PK\x03\x04", "it is a zip archive"),
        (b"BZh", "it is bzip2-compressed"),
        (b"\xfd7zXZ", "it is xz-compressed"),
        (b"(\xb5/\xfd", "it is zstd-compressed"),
    ):
        if data.startswith(magic):
            return what
    head = data[:512].lstrip()
    if head[:1] in (b"{", b"["):
        return "it looks like JSON"
    if head[:1] == b"<":
        return "it looks like HTML or XML"
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "it looks like plain text"
    return "its first bytes are not the gzip magic 1f 8b"


def _number(field: bytes) -> int:
    """A tar number field: octal text, or GNU base-256 (first byte 0x80 / 0xff); ValueError if neither.

    Strict (octal digits between optional spaces/NULs only) so the value is the one node-tar reads too."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[:1] == b"\xff" else value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if text.strip(b"01234567"):
        raise ValueError(f"not an octal number: {text[:20]!r}")
    return int(text or b"0", 8)


def _node_checksum(hdr: bytes) -> int | None:
    """The checksum as node-tar reads it: 12 bytes from offset 148 up to a NUL, trimmed, `parseInt(_, 8)`."""
    raw = hdr[148:160]
    if raw[0] & 0x80:
        return None
    text = raw.decode("utf-8", "replace").split("\0", 1)[0].strip()
    sign = text[:1] if text[:1] in ("+", "-") else ""
    digits = text[len(sign) :]
    end = next((i for i, c in enumerate(digits) if c not in "01234567"), len(digits))
    return int(sign + digits[:end], 8) if end else None


def _checksum(hdr: bytes) -> int:
    """The unsigned header sum, the checksum field counted as spaces (the sum node-tar checks)."""
    return 256 + sum(hdr) - sum(hdr[148:156])


def _name_field(raw: bytes, reader: _Reader, what: str) -> str:
    """A name as node-tar decodes it (UTF-8, cut at the first NUL); anything it could read otherwise is rejected."""
    text, _, rest = raw.partition(b"\0")
    if rest.strip(b"\0"):
        reader.fail(f"has {what} with data after its terminating NUL", fatal=True)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        reader.fail(f"has {what} that is not UTF-8", fatal=True)
        raise AssertionError from None  # unreachable: fail(fatal=True) raises


def _ustar_name(hdr: bytes, reader: _Reader) -> str:
    name = _name_field(hdr[0:100], reader, "a tar entry name")
    if hdr[257:265] == b"ustar\x0000":  # POSIX ustar (magic and version, as node-tar checks): the prefix field
        prefix = _name_field(hdr[345:500] if hdr[475] else hdr[345:475], reader, "a tar name prefix")
        if prefix:
            name = prefix + "/" + name
    return name


def _parse_pax(body: bytes, reader: _Reader) -> dict[str, str]:
    """Pax records `LEN key=value\\n`, strictly: node-tar splits the body at newlines and drops records whose
    length does not match, so a value holding a newline, non-UTF-8 text or a NUL would be read differently there
    and is a rejection, as is any malformed record."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        if body[pos] == 0:
            if body[pos:].strip(b"\0"):
                reader.fail("has a malformed pax header record", fatal=True)
            break
        sp = body.find(b" ", pos)
        digits = body[pos:sp] if sp > pos else b""
        length = int(digits) if 0 < len(digits) <= 9 and not digits.strip(b"0123456789") else 0
        record = body[sp + 1 : pos + length] if length > 0 else b""
        if not record.endswith(b"\n") or b"=" not in record or b"\n" in record[:-1] or b"\0" in record:
            reader.fail("has a malformed pax header record", fatal=True)
        key, _, value = record[:-1].partition(b"=")
        try:
            out[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            reader.fail("has a pax header record that is not UTF-8", fatal=True)
        pos += length
    return out


def _pax_int(text: str, reader: _Reader) -> int:
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        reader.fail(f"has a pax size that is not a number: {text[:40]!r}", fatal=True)
    return int(text)


class _Shown:
    """A path as a message shows it (`_show`), made only when a message is: most entries never need one."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __format__(self, spec: str) -> str:
        return format(_show(self.path), spec)

    def __str__(self) -> str:
        return _show(self.path)


def _show(path: str) -> str:
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return json.dumps(text[:300] + ("…" if len(text) > 300 else ""), ensure_ascii=False)


def parse_manifest(pkg: Package) -> None:
    entry = pkg.files.get("package.json")
    if entry is None:
        pkg.manifest_error = "the tarball has no package.json at the package root"
        return
    try:
        text = entry.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        pkg.manifest_error = f"package.json is not UTF-8 ({exc.reason} at byte {exc.start})"
        return
    text = text.removeprefix("\ufeff")  # npm strips a BOM too
    pkg.manifest_text = text
    try:
        data = json.loads(text)
    except ValueError as exc:
        pkg.manifest_error = f"package.json is not valid JSON ({exc})"
        return
    if not isinstance(data, dict):
        pkg.manifest_error = "package.json is not a JSON object"
        return
    pkg.manifest = data


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+|\s+', re.S)
_MAX_KEY_DEPTH = 4


def json_key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each object key path (up to 4 deep) to its line in JSON text; best effort, never raises."""
    out: dict[tuple[str, ...], int] = {}
    # stack of (is_object, path of this container, pending key)
    stack: list[tuple[bool, tuple[str, ...]]] = []
    pending: str | None = None
    last_key: tuple[str, int] | None = None
    line = 1
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok[0] == '"':
            if stack and stack[-1][0] and pending is None:
                try:
                    key = json.loads(tok)
                except ValueError:
                    key = tok.strip('"')
                last_key = (key, line)
            line += tok.count("\n")
            continue
        if tok == ":" and last_key is not None and stack:
            pending = last_key[0]
            path = (*stack[-1][1], pending)
            if len(path) <= _MAX_KEY_DEPTH:
                out.setdefault(path, last_key[1])
            last_key = None
        elif tok in "{[":
            parent = stack[-1][1] if stack else ()
            path = (*parent, pending) if pending is not None else parent
            stack.append((tok == "{", path))
            pending = None
        elif tok in "}]":
            if stack:
                stack.pop()
            pending = None
        elif tok == ",":
            pending, last_key = None, None
        elif tok[0].isspace():
            line += tok.count("\n")
        else:
            pending = None
    return out
