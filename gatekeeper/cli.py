"""The `gatekeeper` command: publish | check | diff | pull-request | action.

`action` is what the container runs: the mode comes from INPUT_MODE. The other
subcommands set the mode; their flags mirror the action's inputs and override
`INPUT_*` env vars.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .config import INPUT_DEFAULTS, Inputs
from .errors import GatekeeperError


def _add_input_flags(p: argparse.ArgumentParser) -> None:
    for name, default in INPUT_DEFAULTS.items():
        if name == "mode":
            continue
        if name == "dry-run":
            p.add_argument(
                "--dry-run", action="store_const", const="true", default=None, help="everything but the upload"
            )
            continue
        shown = f" (default: {default})" if default else ""
        help_text = f"the `{name}` input{shown}"
        if name.endswith("token"):
            help_text += "; prefer the env var (INPUT_" + name.upper() + ", NODE_AUTH_TOKEN/NPM_TOKEN, GITHUB_TOKEN)"
        p.add_argument(f"--{name}", dest=name.replace("-", "_"), default=None, help=help_text)
    p.add_argument("--report", type=Path, default=None, help="write the JSON report to this file")


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """Hooks for callers that split one release into steps (the semantic-release plugin)."""
    p.add_argument("--gates", type=_names, default=None, help="run only these gates (comma-separated names)")
    p.add_argument(
        "--skip-gates",
        type=_names,
        default=(),
        help="run every gate but these (comma-separated; names this version lacks are ignored)",
    )
    p.add_argument(
        "--pack-version",
        default=None,
        help="pack as if package.json said this version (package.json itself is left untouched)",
    )
    p.add_argument("--pack-destination", type=Path, default=None, help="keep the packed tarball in this folder")
    p.add_argument(
        "--format",
        dest="output_format",
        choices=("markdown", "text"),
        default="markdown",
        help="what is printed: the Markdown summary (default) or plain text",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatekeeper", description="Gate `npm publish` behind CI, a green build and a reviewed diff."
    )
    parser.add_argument("--version", action="version", version=f"npm-gatekeeper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("publish", "run every gate, then publish the packed tarball"),
        ("check", "run every gate, never publish"),
        ("action", "run as the GitHub Action (mode from INPUT_MODE)"),
        ("pull-request", "check a pull request for install-time changes"),
    ):
        sp = sub.add_parser(name, help=text, description=text)
        _add_input_flags(sp)
        if name in ("publish", "check"):
            _add_run_flags(sp)
    try:
        from .diffcli import add_diff_arguments
    except ModuleNotFoundError as exc:
        if exc.name != "gatekeeper.diffcli":
            raise
    else:
        add_diff_arguments(
            sub.add_parser(
                "diff",
                help="diff a package against its last release",
                description="diff a package against its last release",
            )
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    if args.command == "diff":
        from .diffcli import run_diff

        return run_diff(args)
    overrides = {name: getattr(args, name.replace("-", "_"), None) for name in INPUT_DEFAULTS if name != "mode"}
    if args.command != "action":
        overrides["mode"] = args.command
    try:
        inputs = Inputs.from_env(env, overrides)
    except GatekeeperError as exc:
        sys.stderr.write(f"npm-gatekeeper: {exc.diagnostic()}\n")
        return 2
    if inputs.mode == "pull-request":
        from .pull_request import run_pull_request

        return run_pull_request(inputs, env, report_path=args.report)
    from .pipeline import RunOptions, run

    return run(
        inputs,
        env,
        RunOptions(
            report_path=args.report,
            gates=getattr(args, "gates", None),
            skip_gates=getattr(args, "skip_gates", ()),
            pack_version=getattr(args, "pack_version", None),
            pack_destination=getattr(args, "pack_destination", None),
            output_format=getattr(args, "output_format", "markdown"),
        ),
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
