# npm-gatekeeper: the action's image. Released: built by .github/workflows/release-action.yml and
# pinned by digest in the release commit's action.yml; in development (`image: Dockerfile`) GitHub
# builds it on every run. Sizes, build and start-up times: docs/CONTAINER.md.
#
# Two stages: `build` installs and prunes on top of the pinned base; the final image is that root
# filesystem copied into ONE layer (so what was removed is really gone), plus the code.
# Reproducible: the same commit gives the same digest when built with a fixed timestamp
# (buildah --timestamp / BuildKit SOURCE_DATE_EPOCH + rewrite-timestamp): every .pyc is hash-based
# (no source mtimes in it) and compiled with a fixed hash seed, and no log, cache or state file
# of apt, dpkg, pip, npm or ldconfig stays behind (ldconfig's aux-cache records inodes and ctimes:
# the one file that differed between two builds).
#
# Base: the official Node 22 image on Debian bookworm, slim variant, pinned by the digest of its
# multi-arch index (docker-library/repo-info: node:22-bookworm-slim, Node 22.23.2). BASE_IMAGE
# exists ONLY so the local test build (no registry reachable) can use a stand-in made by
# scripts/container/build-base.sh; GitHub always builds with this default.
ARG BASE_IMAGE=docker.io/library/node:22-bookworm-slim@sha256:48e4b67d85f87bd551df43704e24d252f56cc5f8e9718841aace50f19948f0f9
FROM ${BASE_IMAGE} AS build

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
# The provenance verifier's pinned dependencies (@sigstore/verify, the library npm verifies attestations
# with; exact versions and integrity in the lock): `npm ci --ignore-scripts` below, into /opt/verifier.
# Its script and trust root ship with the code (gatekeeper/verifier/). See docs/CONTAINER.md.
COPY gatekeeper/verifier/package.json gatekeeper/verifier/package-lock.json /opt/verifier/
# The package managers the gate packs with besides npm (`package-manager: pnpm | yarn | bun`): pnpm, Yarn 4
# (@yarnpkg/cli-dist) and bun (@oven/bun-linux-x64, optional: linux-x64 only), exact versions and integrity in
# gatekeeper/packers/package-lock.json, `npm ci --ignore-scripts` below into /opt/packers. Never corepack.
COPY gatekeeper/packers/package.json gatekeeper/packers/package-lock.json /opt/packers/

# Debian's python3 + git, busybox-static (the ENTRYPOINT's `env -u`), strace and libseccomp2 (the opt-in install
# sandbox, issue 25: it traces a consumer's install and loads its no-network seccomp filter through pyseccomp;
# setpriv comes with util-linux), a venv with the hash-pinned runtime dependencies (wheels only, so no
# compiler), npm 11; then everything the gate never runs goes (see docs/CONTAINER.md for the sizes):
# perl (git's hard dependency, only for scripts the gate never calls), git's network helpers and
# their curl/LDAP libraries (Kerberos stays: libtirpc needs it) (the gate runs local plumbing only: rev-parse, ls-files,
# cat-file, ls-tree), Node's headers, docs, corepack and yarn, node's symbol tables (strip, from
# binutils, which goes again), apt itself (dpkg and its database stay: the SBOM reads them),
# glibc's iconv modules but UTF-*, Python's pydoc data and C-API test modules, pip/setuptools, the
# venv tooling, every cache and log.
# DL3008 (pin apt versions) is ignored on purpose: bookworm's point and security updates replace
# exact versions, so pins would break the build; the base digest fixes the distribution.
# hadolint ignore=DL3008
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive PYTHONHASHSEED=0; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates git python3 python3-venv binutils busybox-static strace libseccomp2; \
    if ldd /bin/busybox >/dev/null 2>&1; then echo "/bin/busybox must be statically linked (the ENTRYPOINT)" >&2; exit 1; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --disable-pip-version-check --no-cache-dir --no-compile \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt; \
    /opt/venv/bin/pip uninstall -y pip setuptools; \
    npm pack --silent --pack-destination /tmp "npm@${NPM_VERSION}"; \
    echo "${NPM_SHA512}  /tmp/npm-${NPM_VERSION}.tgz" >/tmp/npm.sha512; \
    sha512sum -c /tmp/npm.sha512; \
    npm install --global --ignore-scripts --no-audit --no-fund "/tmp/npm-${NPM_VERSION}.tgz"; \
    test "$(npm --version)" = "${NPM_VERSION}"; \
    npm ci --prefix /opt/verifier --ignore-scripts --omit=dev --no-audit --no-fund; \
    test -f /opt/verifier/node_modules/@sigstore/verify/package.json; \
    npm ci --prefix /opt/packers --ignore-scripts --no-audit --no-fund; \
    test -f /opt/packers/node_modules/pnpm/package.json; \
    test -f /opt/packers/node_modules/@yarnpkg/cli-dist/package.json; \
    strip /usr/local/bin/node; \
    node --version; \
    apt-get purge -y --auto-remove binutils python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl; \
    dpkg --purge --force-depends perl perl-modules-5.36 libperl5.36 liberror-perl; \
    for helper in remote-http remote-https remote-ftp remote-ftps http-fetch http-push http-backend imap-send \
        daemon shell credential-cache--daemon; do rm -f "/usr/lib/git-core/git-$helper"; done; \
    rm -rf /usr/lib/git-core/mergetools /usr/share/git-core/contrib /usr/share/gitweb; \
    dpkg --purge --force-depends libcurl3-gnutls libldap-2.5-0 libsasl2-2 libsasl2-modules-db librtmp1 libssh2-1 \
        libnghttp2-14 libpsl5 libbrotli1 libgdbm6 libgdbm-compat4; \
    ldd /usr/bin/git /usr/local/bin/node /usr/bin/python3.11 /usr/lib/python3.11/lib-dynload/*.so \
        /opt/venv/lib/python3.11/site-packages/*/*.so >/tmp/ldd.txt; \
    if grep 'not found' /tmp/ldd.txt; then exit 1; fi; \
    git --version; \
    dpkg --purge --force-depends --force-remove-essential apt libapt-pkg6.0; \
    find /usr/lib/*-linux-gnu/gconv -name '*.so' ! -name 'UTF-*' ! -name 'UNICODE.so' ! -name 'ISO8859-1.so' -delete; \
    rm -rf /usr/lib/python3.11/pydoc_data /usr/lib/python3.11/lib-dynload/_test* /usr/lib/python3.11/lib-dynload/xxlimited*; \
    rm -rf /usr/local/include /usr/local/share/doc /usr/local/share/man /usr/local/share/systemtap \
        /usr/local/lib/node_modules/corepack /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
        /usr/local/lib/node_modules/npm/docs /usr/local/lib/node_modules/npm/man /usr/local/lib/node_modules/npm/changelogs; \
    find / -xdev -name __pycache__ -type d -prune -exec rm -rf {} +; \
    python3 -m compileall -q -j 1 --invalidation-mode unchecked-hash /usr/lib/python3.11 \
        /opt/venv/lib/python3.11/site-packages; \
    npm cache clean --force; \
    rm -rf /tmp/* /root/.npm /root/.cache /root/.config /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
        /var/lib/dpkg/*-old /var/log/*; \
    ldconfig; \
    rm -f /var/cache/ldconfig/aux-cache

# The pruned root filesystem as ONE layer: files deleted above take no space (in a layer on top
# of the base they would, as whiteouts over the base's copies). DL3067 is exactly this, on purpose.
FROM scratch
# hadolint ignore=DL3067
COPY --from=build / /

# PATH is the only variable the image sets: the gate refuses to publish when a PYTHON*, npm_config_* (or
# any variable that changes how python, node, npm, git or the network behave) reaches it, and when PATH
# is not this one (gatekeeper/_internal/hostenv.py IMAGE_PATH). npm's notifier/fund/audit are switched
# off in each npm child's environment by the gate itself; -B and -u below replace PYTHONDONTWRITEBYTECODE
# and PYTHONUNBUFFERED.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

COPY entrypoint.py /opt/gatekeeper/entrypoint.py
COPY gatekeeper/ /opt/gatekeeper/gatekeeper/

LABEL org.opencontainers.image.title="npm-gatekeeper" \
      org.opencontainers.image.description="Gate npm publish behind CI, a green build, a CI-scoped credential and a reviewed diff" \
      org.opencontainers.image.source="https://github.com/OWNER/npm-gatekeeper"

# GitHub runs the container as root with the workspace mounted over the working directory:
# no USER, no WORKDIR, an absolute exec-form ENTRYPOINT. CMD is reset (the base's is ["node"]).
# A statically linked busybox starts first (issue 21): no dynamic loader runs for it, so LD_PRELOAD, LD_AUDIT,
# LD_LIBRARY_PATH, GLIBC_TUNABLES... a build step wrote into $GITHUB_ENV load nothing; its `env -u` removes each
# (gatekeeper/_internal/hostenv.py LOADER_NAMES) and execs the gate's Python without them (still PID 1: signals
# reach it). Not a shell: sh would drop the runner's INPUT_NPM-TOKEN (not a shell name) from the environment.
# -I: Python starts isolated (no PYTHONPATH/PYTHONHOME/PYTHONSTARTUP..., no user site), so a sitecustomize.py a
# build step put on PYTHONPATH never runs inside the gate.
ENTRYPOINT ["/bin/busybox", "env", "-u", "LD_PRELOAD", "-u", "LD_AUDIT", "-u", "LD_LIBRARY_PATH", "-u", "LD_ORIGIN_PATH", "-u", "LD_BIND_NOW", "-u", "LD_BIND_NOT", "-u", "LD_DEBUG", "-u", "LD_DEBUG_OUTPUT", "-u", "LD_DYNAMIC_WEAK", "-u", "LD_HWCAP_MASK", "-u", "LD_PROFILE", "-u", "LD_PROFILE_OUTPUT", "-u", "LD_SHOW_AUXV", "-u", "LD_TRACE_LOADED_OBJECTS", "-u", "LD_TRACE_PRELINKING", "-u", "LD_USE_LOAD_BIAS", "-u", "LD_VERBOSE", "-u", "LD_WARN", "-u", "LD_ASSUME_KERNEL", "-u", "LD_PREFER_MAP_32BIT_EXEC", "-u", "GLIBC_TUNABLES", "-u", "GCONV_PATH", "-u", "LOCPATH", "/opt/venv/bin/python", "-I", "-B", "-u", "/opt/gatekeeper/entrypoint.py"]
CMD []
