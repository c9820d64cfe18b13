#!/usr/bin/env bash
# Build the noarch RPM (npm run package:rpm): compile, stage the relay with its
# production dependencies only, then rpmbuild. Output: packaging/build/rpmbuild/RPMS/noarch/.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in rpmbuild node npm tar; do
  command -v "$tool" >/dev/null || { echo "build-rpm: $tool is required (Debian: apt-get install rpm)" >&2; exit 1; }
done

version=$(node -p 'require("./package.json").version')
top=$PWD/packaging/build
stage=$top/stage/tuleap-realtime-$version
rm -rf "$top"
mkdir -p "$stage" "$top/rpmbuild/SOURCES"

# npm test has built dist/ already and other tests read it meanwhile: do not rewrite it then.
if [ "${TULEAP_REALTIME_RPM_SKIP_BUILD:-}" != 1 ]; then npm run -s build; fi

cp -a dist docs package.json package-lock.json config.json.example README.md LICENSE "$stage/"
rm -rf "$stage/dist/test"
find "$stage/dist" -name '*.map' -delete
mkdir -p "$stage/systemd" "$stage/packaging"
cp systemd/tuleap-realtime.service "$stage/systemd/"
cp packaging/tuleap-realtime.sh "$stage/packaging/"
# The packaged config: the example with the service user, placeholder key kept for %post.
node -e '
  const c = JSON.parse(require("fs").readFileSync("config.json.example", "utf8"))
  c.process_uid = "tuleaprt"
  c.process_gid = "tuleaprt"
  process.stdout.write(JSON.stringify(c, null, 2) + "\n")
' > "$stage/packaging/config.json"

(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
native=$(find "$stage/node_modules" -name '*.node' -o -name 'binding.gyp' | head -n 5)
if [ -n "$native" ]; then
  echo "build-rpm: native addons found, the package must stay noarch:" >&2
  echo "$native" >&2
  exit 1
fi
rm -f "$stage/package-lock.json"

# Keep what runs, nothing else: no tests, docs tooling, CI files or type declarations.
find "$stage/node_modules" -depth -type d \
  \( -name test -o -name tests -o -name __tests__ -o -name benchmarks -o -name benchmark \
     -o -name example -o -name examples -o -name .github -o -name .husky -o -name scripts \
     -o -name integration -o -name docs \) -exec rm -rf {} +
find "$stage" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '*.ts' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.taprc' \) -delete
find "$stage" -type f -empty -delete
find "$stage/node_modules" -mindepth 1 -name '.*' -prune -exec rm -rf {} +
# Type declarations only (engine.io lists @types/* as dependencies), and socket.io's browser
# bundle, which the relay never serves (serveClient: false).
rm -rf "$stage/node_modules/@types" "$stage/node_modules/socket.io/client-dist"

# Interpreters by absolute path (rpmlint: env-script-interpreter); executable bit only on scripts.
grep -rlZ '^#!/usr/bin/env node' "$stage" | xargs -0 -r sed -i '1s|^#!/usr/bin/env node|#!/usr/bin/node|'
find "$stage" -type f -perm /111 -exec sh -c 'head -c 2 "$1" | grep -q "#!" || chmod a-x "$1"' _ {} \;
find "$stage" -type f ! -perm /111 -exec sh -c 'head -c 2 "$1" | grep -q "#!" && chmod a+x "$1"' _ {} \; || true


tar -C "$top/stage" -czf "$top/rpmbuild/SOURCES/tuleap-realtime-$version.tar.gz" "tuleap-realtime-$version"
rpmbuild -bb \
  --define "_topdir $top/rpmbuild" \
  --define "relay_version $version" \
  --define "_binary_payload w6.xzdio" \
  packaging/tuleap-realtime.spec >"$top/rpmbuild.log" 2>&1 || { tail -n 30 "$top/rpmbuild.log" >&2; exit 1; }
rpm_file=$(ls "$top"/rpmbuild/RPMS/noarch/tuleap-realtime-"$version"-*.noarch.rpm)
echo "$rpm_file"
