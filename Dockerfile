# npm-gatekeeper: the image GitHub builds for `runs: using: docker` on every run of the action.
# Size and build times are measured by scripts/container-test.sh (see docs/CONTAINER.md).
#
# Base: the official Node 22 image on Debian bookworm, slim variant, pinned by the digest of its
# multi-arch index (docker-library/repo-info: node:22-bookworm-slim, Node 22.23.2). BASE_IMAGE
# exists ONLY so the local test build (no registry reachable) can use a stand-in made by
# scripts/container/build-base.sh; GitHub always builds with this default.
ARG BASE_IMAGE=docker.io/library/node:22-bookworm-slim@sha256:48e4b67d85f87bd551df43704e24d252f56cc5f8e9718841aace50f19948f0f9
FROM ${BASE_IMAGE}

# npm >= 11.5.1 for OIDC trusted publishing (Node 22 bundles npm 10). The tarball is checked
# against this sha512 (hex of the registry's dist.integrity) before it is installed.
ARG NPM_VERSION=11.21.2
ARG NPM_SHA512=ec73c0a64f807e53146af4ac78bd4f9ba0a762a3081e4e77c7e2a6ba1aa64c3a8f9233cc8312294cf713aac13dd4428dc3880504957d7e75e249d1a6d435eaf4

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

COPY requirements.txt /tmp/requirements.txt

# One layer: Debian's python3 + git, a venv with the hash-pinned runtime dependencies (wheels
# only, so no compiler), npm 11; then pip/setuptools, the venv tooling and every cache go.
# DL3008 (pin apt versions) is ignored on purpose: bookworm's point and security updates replace
# exact versions, so pins would break the build; the base digest fixes the distribution.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git python3 python3-venv; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --disable-pip-version-check --no-cache-dir \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt; \
    /opt/venv/bin/pip uninstall -y pip setuptools; \
    apt-get purge -y --auto-remove python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl; \
    npm pack --silent --pack-destination /tmp "npm@${NPM_VERSION}"; \
    echo "${NPM_SHA512}  /tmp/npm-${NPM_VERSION}.tgz" >/tmp/npm.sha512; \
    sha512sum -c /tmp/npm.sha512; \
    npm install --global --ignore-scripts --no-audit --no-fund "/tmp/npm-${NPM_VERSION}.tgz"; \
    test "$(npm --version)" = "${NPM_VERSION}"; \
    npm cache clean --force; \
    rm -rf /tmp/* /root/.npm /root/.cache /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
        /var/log/apt /var/log/dpkg.log /usr/local/lib/node_modules/npm/docs /usr/local/lib/node_modules/npm/man

COPY entrypoint.py /opt/gatekeeper/entrypoint.py
COPY gatekeeper/ /opt/gatekeeper/gatekeeper/

LABEL org.opencontainers.image.title="npm-gatekeeper" \
      org.opencontainers.image.description="Gate npm publish behind CI, a green build, a CI-scoped credential and a reviewed diff" \
      org.opencontainers.image.source="https://github.com/OWNER/npm-gatekeeper"

# GitHub runs the container as root with the workspace mounted over the working directory:
# no USER, no WORKDIR, an absolute exec-form ENTRYPOINT. CMD is reset (the base's is ["node"]).
ENTRYPOINT ["/opt/venv/bin/python", "/opt/gatekeeper/entrypoint.py"]
CMD []
