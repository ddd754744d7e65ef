"""The gates of publish/check mode. Each module: NAME, rules, `check(ctx) -> list[Finding]`."""


class Skip(Exception):
    """Raised by a gate that does not apply to this run (status `skipped`)."""
