"""Build, read and mutate npm tarballs for the diff tests (real fixtures under tests/fixtures/tarballs)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tarballs"


def fixture(name: str) -> Path:
    """`fixture("ms-2.1.3")` -> the committed real tarball."""
    path = FIXTURES / f"{name}.tgz"
    assert path.is_file(), f"missing fixture {path}"
    return path


def members(path: Path) -> dict[str, tuple[bytes, int]]:
    """Files of a tarball, top folder stripped: path -> (bytes, mode)."""
    out: dict[str, tuple[bytes, int]] = {}
    with tarfile.open(path, "r:gz") as tf:
        for m in tf.getmembers():
            if m.isfile():
                fh = tf.extractfile(m)
                assert fh is not None
                out[m.name.split("/", 1)[1]] = (fh.read(), m.mode)
    return out


@dataclass
class Entry:
    """A raw tar entry for hostile archives."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    size: int | None = None  # declared size when it must differ from len(data)
    pax: dict[str, str] | None = None


def tar_bytes(entries: Iterable[Entry], *, fmt: int = tarfile.PAX_FORMAT, end: bool = True) -> bytes:
    """An uncompressed tar of raw entries (any name, type or link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.type
            info.linkname = e.linkname
            info.mode = e.mode
            info.mtime = 0
            info.size = len(e.data) if e.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
            if e.pax:
                info.pax_headers = dict(e.pax)
            tf.addfile(info, io.BytesIO(e.data) if info.size else None)
    data = buf.getvalue()
    if not end:
        data = data.rstrip(b"\0")
        data += b"\0" * (-len(data) % 512)
    return data


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def make_tgz(
    files: dict[str, bytes | str], dest: Path, *, top: str = "package", modes: dict[str, int] | None = None
) -> Path:
    """A well-formed npm-like tarball of `files` (paths relative to the package root)."""
    entries = []
    for path, data in sorted(files.items()):
        raw = data.encode() if isinstance(data, str) else data
        entries.append(Entry(f"{top}/{path}", raw, mode=(modes or {}).get(path, 0o644)))
    dest.write_bytes(gz(tar_bytes(entries)))
    return dest


def package_json(**fields: Any) -> str:
    return json.dumps({"name": "demo", "version": "1.0.0", **fields}, indent=2) + "\n"


def mutate(
    src: Path,
    dest: Path,
    *,
    files: dict[str, bytes | str] | None = None,
    remove: Iterable[str] = (),
    manifest: Callable[[dict[str, Any]], None] | None = None,
    modes: dict[str, int] | None = None,
) -> Path:
    """Copy a real tarball with files added/replaced/removed and package.json edited by `manifest(dict)`."""
    content = members(src)
    for path in remove:
        content.pop(path)
    for path, data in (files or {}).items():
        raw = data.encode() if isinstance(data, str) else data
        content[path] = (raw, content.get(path, (b"", 0o644))[1])
    if manifest is not None:
        doc = json.loads(content["package.json"][0])
        manifest(doc)
        content["package.json"] = (json.dumps(doc, indent=2).encode() + b"\n", content["package.json"][1])
    all_modes = {p: m for p, (_, m) in content.items()}
    all_modes.update(modes or {})
    return make_tgz({p: d for p, (d, _) in content.items()}, dest, modes=all_modes)
