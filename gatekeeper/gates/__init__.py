"""The gates of publish/check mode. Each module: NAME, rules, `check(ctx) -> list[Finding]`."""


class Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a gate that does not apply to this run (status `skipped`)."""
