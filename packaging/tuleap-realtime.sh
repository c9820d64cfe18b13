#!/bin/sh
# /usr/bin/tuleap-realtime: runs the relay installed beside this launcher
# (../lib/tuleap-realtime), with the first `node` on PATH or $TULEAP_REALTIME_NODE.
set -eu
self=$(readlink -f "$0")
appdir=$(dirname "$(dirname "$self")")/lib/tuleap-realtime
node=${TULEAP_REALTIME_NODE:-node}
if ! major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null); then
  echo "tuleap-realtime: Node.js (node) not found; install Node.js 22 or 24" >&2
  exit 1
fi
if [ "$major" -lt 20 ]; then
  echo "tuleap-realtime: Node.js 20 or later is required (22 or 24 supported), $("$node" --version) found" >&2
  exit 1
fi
exec "$node" "$appdir/dist/src/main.js" "$@"
