#!/usr/bin/env python3
"""Set or check the image reference of action.yml (`runs.image`), touching nothing else.

    python3 scripts/action_image.py get                      # print runs.image
    python3 scripts/action_image.py check [--ref REF]        # valid for REF? (default: $GITHUB_REF)
    python3 scripts/action_image.py set IMAGE [--ref REF]    # rewrite the one `image:` line, then check

Valid references:
  * `Dockerfile` -- GitHub builds the image on every run. Only for development: REFUSED on a release
    ref (`refs/tags/v*`, or `--release`), where the action must run a prebuilt image.
  * `docker://<registry>/<repository>@sha256:<64 hex>` -- a prebuilt image pinned by digest (an
    optional `:tag` before the digest is ignored by the runner and refused here: it only misleads).
    REFUSED: a tag without a digest (`docker://ghcr.io/o/r:v1`, mutable), a malformed digest, an
    upper-case repository (registries refuse it), anything else.

`set` edits only the value on the `image:` line of the top-level `runs:` mapping: every other byte
of the file (other engineers add inputs/outputs; comments, order, line endings) stays as it was.
Standard library only (the release workflow runs it with the runner's python3). Exit 0 ok, 2 refused.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "action.yml"
DOCKERFILE = "Dockerfile"
RELEASE_REF = re.compile(r"^refs/tags/v\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?$")
# docker://host[:port]/path(/path)*@sha256:<64 lower-case hex>; path components as the OCI
# distribution spec allows them (lower case, digits, separators . _ __ -).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::\d+)?"
PINNED = re.compile(rf"^docker://(?P<name>{_HOST}/{_COMPONENT}(?:/{_COMPONENT})*)@sha256:(?P<digest>[0-9a-f]{{64}})$")
_RUNS = re.compile(r"^runs:[ \t]*(#.*)?$")
_IMAGE = re.compile(r"^(?P<indent>[ \t]+)image:(?P<sep>[ \t]*)(?P<value>.*?)(?P<tail>[ \t]+#.*)?$")


class Refused(Exception):
    """The file or the reference is not acceptable; the message says why and what to do."""


@dataclass(frozen=True)
class ImageLine:
    """Where `runs.image` is: its line index and the parts of that line."""

    index: int
    indent: str
    sep: str
    value: str  # unquoted
    tail: str  # a trailing comment, kept on `set`
    newline: str


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def find_image_line(lines: list[str]) -> ImageLine:
    """The `image:` key directly under the top-level `runs:` (exactly one, or Refused)."""
    starts = [i for i, line in enumerate(lines) if _RUNS.match(line.rstrip("\r\n"))]
    if len(starts) != 1:
        raise Refused(f"action.yml must have exactly one top-level `runs:` mapping, found {len(starts)}")
    found: list[ImageLine] = []
    block_indent: str | None = None
    for i in range(starts[0] + 1, len(lines)):
        body = lines[i].rstrip("\r\n")
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        if not body[0].isspace():
            break  # the next top-level key: end of `runs:`
        indent = body[: len(body) - len(body.lstrip())]
        if block_indent is None:
            block_indent = indent
        if indent != block_indent:
            continue  # deeper (a nested mapping or a folded value)
        m = _IMAGE.match(body)
        if m:
            newline = lines[i][len(body) :]
            found.append(ImageLine(i, m["indent"], m["sep"] or " ", _unquote(m["value"]), m["tail"] or "", newline))
    if len(found) != 1:
        raise Refused(f"`runs:` must have exactly one `image:` key, found {len(found)}")
    return found[0]


def is_release_ref(ref: str) -> bool:
    return bool(RELEASE_REF.match(ref))


def validate(image: str, *, release: bool) -> None:
    """Refuse what must never ship (see the module docstring)."""
    if image == DOCKERFILE:
        if release:
            raise Refused(
                "`image: Dockerfile` on a release ref: a released action must run the prebuilt image; "
                "set it with `scripts/action_image.py set docker://ghcr.io/<owner>/npm-gatekeeper@sha256:<digest>`"
            )
        return
    if PINNED.match(image):
        return
    if image.startswith("docker://"):
        ref = image[len("docker://") :]
        if "@" not in ref:
            raise Refused(f"{image!r}: a tag without a digest is mutable; pin it as docker://<name>@sha256:<digest>")
        name, _, digest = ref.partition("@")
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise Refused(f"{image!r}: the digest must be sha256: and 64 lower-case hex digits")
        if re.search(r":[^/]*$", name):
            raise Refused(f"{image!r}: tag and digest together; the runner ignores the tag, so drop it")
        if name != name.lower():
            raise Refused(f"{image!r}: the repository must be lower case (GHCR refuses upper case)")
        raise Refused(f"{image!r}: not a registry/repository name (docker://<registry>/<repository>@sha256:<digest>)")
    raise Refused(f"{image!r}: runs.image must be `Dockerfile` or docker://<registry>/<repository>@sha256:<digest>")


def read_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").splitlines(keepends=True)


def get_image(path: Path) -> str:
    return find_image_line(read_lines(path)).value


def set_image(path: Path, image: str, *, release: bool) -> bool:
    """Write `image` into the `image:` line (validated first); True when the file changed."""
    validate(image, release=release)
    lines = read_lines(path)
    found = find_image_line(lines)
    new = f"{found.indent}image:{found.sep}{image}{found.tail}{found.newline}"
    if lines[found.index] == new:
        return False
    lines[found.index] = new
    path.write_bytes("".join(lines).encode("utf-8"))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["get", "check", "set"])
    parser.add_argument("image", nargs="?", help="for `set`: the new runs.image")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="action.yml to read/edit")
    parser.add_argument("--ref", default=None, help="the git ref being built (default: $GITHUB_REF)")
    parser.add_argument("--release", action="store_true", help="treat it as a release whatever the ref")
    args = parser.parse_args(argv)
    ref = args.ref if args.ref is not None else os.environ.get("GITHUB_REF", "")
    release = args.release or is_release_ref(ref)
    try:
        if args.command == "get":
            print(get_image(args.file))
        elif args.command == "check":
            image = get_image(args.file)
            validate(image, release=release)
            print(f"action_image: ok: runs.image is {image}" + (f" (release ref {ref})" if release else ""))
        else:
            if args.image is None:
                parser.error("set needs the image reference")
            changed = set_image(args.file, args.image, release=release)
            validate(get_image(args.file), release=release)
            print(f"action_image: {'set' if changed else 'unchanged'}: runs.image is {args.image}")
    except Refused as exc:
        print(f"action_image: REFUSED: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"action_image: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
