"""Test infrastructure with real parts (loopback only).

- `github_server`: `GitHubServer` — a GitHub REST stand-in whose answers follow recorded GitHub
  responses (`tests/fixtures/github/`); state in `FakeGitHub`; faults, rate limits, request log.
- `verdaccio`: `Verdaccio` — a real npm registry (Verdaccio 6.8.0) behind a packument-patching proxy
  (Verdaccio records no `maintainers`; `set_maintainers` serves them).
- `workspace`: `make_package_repo`, `run_action` (the action as the runner runs it), `assert_no_leak`.

The pytest fixtures wrapping them live in `tests/conftest.py`.
"""
