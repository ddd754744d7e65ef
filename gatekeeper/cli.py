"""The `gatekeeper` command: publish | check | diff | pull-request | action.

`action` is what the container runs: the mode comes from INPUT_MODE. The other
subcommands set the mode; their flags mirror the action's inputs and override
`INPUT_*` env vars. Each flag's help names exactly where its value comes from.

Start-up: only what the subcommand needs is imported (`diff` of two local tarballs
loads no YAML, cryptography, requests or PyGithub; see bench/bench_startup.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gatekeeper import __version__
from gatekeeper.errors import GatekeeperError

OUTPUT_FORMATS = ("text", "markdown", "json")

#: What each input is, for its flag's help (where it is read from is added by `_sources`).
_INPUT_HELP: dict[str, str] = {
    "package-path": "folder of the package, relative to the workspace ($GITHUB_WORKSPACE, else the current folder)",
    "packages": "release several packages, all or nothing: `workspaces`, `changesets`, or newline-separated "
    "package folders/globs relative to --package-path (empty: the one package at --package-path)",
    "changesets-plan": "with --packages changesets: changesets' publish plan file, relative to the workspace",
    "registry": "registry URL the gates read and the publish goes to",
    "policy": "policy file, relative to the workspace (the default file may be missing: the safe defaults apply)",
    "tag": "dist-tag to publish under (npm publish --tag)",
    "access": "public or restricted (npm publish --access)",
    "wait-for-checks": "seconds to poll pending checks before blocking",
    "package-manager": "which tool packs: auto (the root's packageManager field, else its lockfile, else npm), npm, "
    "pnpm, yarn (4.x) or bun",
}

#: The token flags: what they are and, in order, every place the value is read from.
_TOKEN_HELP: dict[str, str] = {
    "npm-token": "npm token for publishing. Read from, first found: --npm-token, the env var INPUT_NPM-TOKEN, "
    "NODE_AUTH_TOKEN, NPM_TOKEN; none: OIDC trusted publishing in GitHub Actions. Prefer the env var: a flag's "
    "value is visible to other users in the process list",
    "github-token": "token for the GitHub API (default branch, checks, jobs, rulesets, PR comments). Read from, "
    "first found: --github-token, the env var INPUT_GITHUB-TOKEN, GITHUB_TOKEN. Prefer the env var: a flag's "
    "value is visible to other users in the process list",
}


def _sources(name: str, default: str) -> str:
    from gatekeeper.config import env_name

    shown = f"default: {default}" if default else "default: empty"
    return f"Read from: --{name}, else the env var {env_name(name)}, else the {shown}"


#: The inputs each subcommand reads (a flag for any other would be silently ignored, so it gets none);
#: publish, check and action read them all.
_COMMAND_INPUTS: dict[str, tuple[str, ...]] = {
    "watch": ("package-path", "registry", "npm-token", "github-token", "policy", "timeout"),
    "pull-request": ("registry", "github-token", "policy"),
    "notify": ("registry", "npm-token", "github-token", "policy", "timeout", "notify-webhook"),
}


def _add_input_flags(p: argparse.ArgumentParser, *, formats: bool, command: str = "publish") -> None:
    from gatekeeper.config import INPUT_DEFAULTS

    only = _COMMAND_INPUTS.get(command)
    for name, default in INPUT_DEFAULTS.items():
        if name == "mode" or (only is not None and name not in only):
            continue
        if name in _TOKEN_HELP:
            p.add_argument(f"--{name}", dest=name.replace("-", "_"), default=None, help=_TOKEN_HELP[name])
            continue
        if name == "dry-run":
            p.add_argument(
                "--dry-run",
                action="store_const",
                const="true",
                default=None,
                help="everything but the upload. Read from: --dry-run, else the env var INPUT_DRY-RUN "
                "(true/false), else false",
            )
            continue
        what = _INPUT_HELP.get(name, f"the action's `{name}` input")
        p.add_argument(
            f"--{name}", dest=name.replace("-", "_"), default=None, help=f"{what}. {_sources(name, default)}"
        )
    if command != "notify":
        p.add_argument(
            "--report",
            type=Path,
            default=None,
            help="write the JSON report to this file (default: inside GitHub Actions, "
            "node_modules/.cache/npm-gatekeeper/report.json in the workspace; elsewhere no file)",
        )
    if formats:
        p.add_argument(
            "--format",
            choices=OUTPUT_FORMATS,
            default=None,
            help="what stdout gets: text, markdown or json (the JSON report). Default: text when stdout is a "
            "terminal, else markdown. The GitHub job summary is always Markdown",
        )


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


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal width up front: its own default imports `shutil` (and
    with it bz2 and lzma) on every `add_argument`, a measurable share of `gatekeeper diff`'s start-up."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, width if width is not None else _columns() - 2)


def _columns() -> int:
    """What `shutil.get_terminal_size().columns` says: $COLUMNS, else the terminal's width, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


_COMMANDS: dict[str, str] = {
    "publish": "run every gate, then publish the packed tarball",
    "check": "run every gate, never publish",
    "action": "run as the GitHub Action (mode from INPUT_MODE)",
    "pull-request": "check a pull request for install-time changes",
    "watch": "flag every registry version the gate did not publish (scheduled)",
    "notify": "retired: the gate run that publishes notifies (refuses with exit 2)",
    "diff": "diff a package against its last release",
}
#: A subcommand's description in its own --help, where it says more than the one-line help.
_DESCRIPTIONS: dict[str, str] = {
    "notify": "Retired: `notify --from-report` trusted a report file from the workspace. It refuses (exit 2); the "
    "gate run that publishes writes the GitHub Release and the webhook from its own outcome.",
    "diff": "diff a package against its last release (or --against another package)",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given the `argv` to parse, only the subcommand it names is declared.

    Declaring every subcommand and its flags (~120) took about a third of `gatekeeper diff`'s
    start-up (argparse looks up a translation for each help text and each sub-parser). A missing
    or unknown subcommand, and top-level flags (`--version`, `--help`), get the whole parser, so
    their help and errors list every subcommand; `gatekeeper X ...` parses as the whole parser would.
    """
    first = next(iter(argv), None) if argv is not None else None
    only = first if first in _COMMANDS else None
    parser = argparse.ArgumentParser(
        prog="gatekeeper",
        description="Gate `npm publish` behind CI, a green build and a reviewed diff.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"npm-gatekeeper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS if only is None else (only,):
        description = _DESCRIPTIONS.get(name, _COMMANDS[name])
        sp = sub.add_parser(name, help=_COMMANDS[name], description=description, formatter_class=HelpFormatter)
        if name == "diff":
            from gatekeeper.modes.diff import add_diff_arguments

            add_diff_arguments(sp)
            continue
        _add_input_flags(sp, formats=name not in ("action", "notify"), command=name)
        if name in ("publish", "check"):
            _add_run_flags(sp)
        if name == "notify":
            sp.add_argument(
                "--from-report", type=Path, help="retired: refuses with exit 2 (the publishing gate run notifies)"
            )
    return parser


def output_format(requested: str | None, stream: object) -> str:
    """`--format`, else text for a terminal and markdown otherwise (a pipe, a file, the Actions log)."""
    if requested:
        return requested
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "markdown"


def script() -> int:
    """The `gatekeeper` console script and `python -m gatekeeper`: the gate's Python runs isolated (`-I`: no
    PYTHON* variable, no user site), so this process starts it again that way when it was not (issue 21)."""
    if not sys.flags.isolated:  # the new process is isolated: at most one re-start
        os.execv(sys.executable, [sys.executable, "-I", "-m", "gatekeeper", *sys.argv[1:]])
    return main()


def main(argv: Sequence[str] | None = None, *, image: bool = False) -> int:
    """Run one subcommand. `image`: the run is the Action's container (entrypoint.py), whose PATH is the image's.

    SIGINT/SIGTERM (Ctrl-C, a cancelled job) in any subcommand: the running step stops, its child processes
    are stopped and its temp dirs removed as the stack unwinds (`_internal/proc.py`), then one line on stderr
    and exit 2 (`publish`/`check` report the cancel in their own report, with what was or was possibly
    published)."""
    from gatekeeper._internal.proc import Cancelled, cancel_on_signals

    argv = sys.argv[1:] if argv is None else list(argv)
    with cancel_on_signals() as signals:
        try:
            return _main(argv, image=image)
        except (Cancelled, KeyboardInterrupt) as exc:
            signals.disarm()  # a second Ctrl-C must not interrupt the line below
            sys.stderr.write(cancelled_line(argv, exc) + "\n")
            sys.stderr.flush()
            return 2


def cancelled_line(argv: Sequence[str], exc: BaseException) -> str:
    """The one line a cancelled command prints: which signal, what it did not do, what was cleaned up."""
    command = next((a for a in argv if a in _COMMANDS), "")
    signame = str(exc) if str(exc).startswith("SIG") else "SIGINT"
    what = {
        "diff": "no verdict",
        "pull-request": "no verdict",
        "watch": "the scan stopped part-way (an issue it already opened stays, and the next run reuses it)",
        "notify": "the release record and the webhook may not be written (re-running it updates the same release)",
        "check": "no verdict (check never publishes)",
    }.get(
        command,
        # publish/action: the run itself reports its own cancel (what was or was possibly published); this line
        # comes only for a signal before the run began or after it ended
        "the run was not under way: a report printed above holds; without one, nothing was published",
    )
    return (
        f"npm-gatekeeper{' ' + command if command else ''}: cancelled ({signame}) before it finished: {what}; "
        "its child processes were stopped and its temp files removed. Re-run it for a result."
    )


def _main(argv: list[str], *, image: bool) -> int:
    args = build_parser(argv).parse_args(argv)
    if args.command == "diff":
        from gatekeeper.modes.diff import run_diff

        return run_diff(args)
    # Nothing of the inherited environment that changes how python, node, npm, git or the network behave
    # stays in this process (children get an allowlist anyway): publish mode refuses when there was any.
    from gatekeeper._internal import hostenv, route

    # a proxy or CA variable is accepted in publish mode when it says exactly what the policy's `network:` says
    network_env = {k: v for k, v in os.environ.items() if k.upper() in route.ENV_VARS}
    untrusted = tuple(hostenv.scrub(os.environ, image_path=hostenv.IMAGE_PATH if image else None))
    env = dict(os.environ)
    if args.command == "notify":
        from gatekeeper.modes.notify import run_from_report

        return run_from_report(None, env, args.from_report, sys.stdout, sys.stderr)
    from gatekeeper.config import INPUT_DEFAULTS, Inputs

    overrides = {name: getattr(args, name.replace("-", "_"), None) for name in INPUT_DEFAULTS if name != "mode"}
    if args.command not in ("action", "notify"):
        overrides["mode"] = args.command
    try:
        inputs = Inputs.from_env(env, overrides)
    except GatekeeperError as exc:
        sys.stderr.write(f"npm-gatekeeper: {exc.diagnostic()}\n")
        return 2
    fmt = output_format(getattr(args, "format", None), sys.stdout)
    if inputs.mode == "watch":
        from gatekeeper.modes.watch import run_watch

        return run_watch(inputs, env, report_path=args.report, fmt=fmt)
    if inputs.mode == "pull-request":
        from gatekeeper.modes.pull_request import run_pull_request

        return run_pull_request(inputs, env, report_path=args.report, fmt=fmt)
    from gatekeeper.modes.publish import run
    from gatekeeper.steps.run import RunOptions

    return run(
        inputs,
        env,
        RunOptions(
            report_path=args.report,
            gates=getattr(args, "gates", None),
            skip_gates=getattr(args, "skip_gates", ()),
            pack_version=getattr(args, "pack_version", None),
            pack_destination=getattr(args, "pack_destination", None),
            output_format=fmt,
            # The Action's container refuses; the CLI's `publish` (semantic-release's single job) is retired by
            # the two-job release of issue 21 item 3, where the plugin refuses to hold a credential at all.
            untrusted_env=untrusted if image else (),
            network_env=network_env,
        ),
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
