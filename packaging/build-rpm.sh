#!/usr/bin/env bash
# Build the noarch RPM (npm run package:rpm): compile, stage the relay with its
# production dependencies only, then rpmbuild. Output: packaging/build/rpmbuild/RPMS/noarch/,
# or under $TULEAP_REALTIME_RPM_BUILD_DIR (an empty or new directory: two builds at once,
# as the tests do, each need their own).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in rpmbuild node npm tar; do
  command -v "$tool" >/dev/null || { echo "build-rpm: $tool is required (Debian: apt-get install rpm)" >&2; exit 1; }
done

version=$(node -p 'require("./package.json").version')
top=${TULEAP_REALTIME_RPM_BUILD_DIR:-$PWD/packaging/build}
stage=$top/stage/tuleap-realtime-$version
rm -rf "$top/stage" "$top/rpmbuild" "$top/rpmbuild.log"
mkdir -p "$stage" "$top/rpmbuild/SOURCES"

# npm test has built dist/ already and other tests read it meanwhile: do not rewrite it then.
if [ "${TULEAP_REALTIME_RPM_SKIP_BUILD:-}" != 1 ]; then npm run -s build; fi

cp -a dist docs package.json package-lock.json config.json.example README.md LICENSE "$stage/"
rm -rf "$stage/dist/test"
find "$stage/dist" -name '*.map' -delete
mkdir -p "$stage/systemd" "$stage/packaging" "$stage/ssl"
cp ssl/make-self-signed.sh "$stage/ssl/"
cp systemd/tuleap-realtime.service "$stage/systemd/"
cp packaging/tuleap-realtime.sh "$stage/packaging/"
# The packaged config: the example with the service user, placeholder key kept for %post.
node -e '
  const c = JSON.parse(require("fs").readFileSync("config.json.example", "utf8"))
  c.process_uid = "tuleaprt"
  c.process_gid = "tuleaprt"
  process.stdout.write(JSON.stringify(c, null, 2) + "\n")
' > "$stage/packaging/config.json"

(cd "$stage" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
native=$(find "$stage/node_modules" -name '*.node' -o -name 'binding.gyp' | head -n 5)
if [ -n "$native" ]; then
  echo "build-rpm: native addons found, the package must stay noarch:" >&2
  echo "$native" >&2
  exit 1
fi
rm -f "$stage/package-lock.json"

# Keep what runs, nothing else. Dependencies keep their JavaScript, JSON and licence texts
# only: no tests, benchmarks, examples, fixtures, docs, release scripts or lint and build
# configuration, and not their command-line tools (their package.json "bin" entries),
# which the relay never runs.
find "$stage/node_modules" -depth -type d \
  \( -name test -o -name tests -o -name __tests__ -o -name spec -o -name fixtures \
     -o -name benchmarks -o -name benchmark -o -name bench -o -name example -o -name examples \
     -o -name .github -o -name .husky -o -name scripts -o -name integration -o -name docs \) \
  -exec rm -rf {} +
find "$stage/node_modules" -mindepth 1 -name '.*' -prune -exec rm -rf {} +
find "$stage/node_modules" -type f ! \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' \
  -o -name '*.json' -o -iname 'licen[cs]e*' -o -iname 'copying*' -o -iname 'notice*' \) -delete
find "$stage/node_modules" -type f \( -name 'eslint.config.*' -o -name 'tsconfig*.json' \
  -o -name 'test.js' -o -name 'test-*.js' -o -name '*.test.js' -o -name '*.spec.js' \
  -o -name 'bench.js' -o -name 'benchmark.js' -o -name 'example.js' -o -name 'gruntfile.js' \
  -o -name 'Gruntfile.js' -o -name 'gulpfile.js' \) -delete
(cd "$stage/node_modules" && node -e '
  const { readdirSync, readFileSync, rmSync, existsSync } = require("fs")
  const path = require("path")
  const packages = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (!e.isDirectory()) return []
    const p = path.join(dir, e.name)
    if (e.name.startsWith("@")) return packages(p)
    const nested = path.join(p, "node_modules")
    return [p, ...(existsSync(nested) ? packages(nested) : [])]
  })
  for (const dir of packages(".")) {
    const manifest = path.join(dir, "package.json")
    if (!existsSync(manifest)) continue
    const { bin } = JSON.parse(readFileSync(manifest, "utf8"))
    const files = typeof bin === "string" ? [bin] : Object.values(bin ?? {})
    for (const file of files) rmSync(path.join(dir, file), { force: true })
  }
')
find "$stage" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o -name '*.ts' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.taprc' \) -delete
find "$stage" -type f -empty -delete
find "$stage/node_modules" -depth -mindepth 1 -type d -empty -delete
# Type declarations only (engine.io lists @types/* as dependencies); socket.io's browser
# bundle, which the relay never serves (serveClient: false); ajv's TypeScript sources (lib/,
# JSON left once the .ts are gone: ajv runs from dist/, its "main"); socket.io-parser's
# browser build (build/esm: Node resolves its exports to build/cjs or build/esm-debug).
rm -rf "$stage/node_modules/@types" "$stage/node_modules/socket.io/client-dist" \
  "$stage/node_modules/ajv/lib" "$stage/node_modules/socket.io-parser/build/esm"

# Files that dependencies share byte for byte (the same licence text, the same compiled
# type-only stub) become relative symlinks to one copy, as %fdupes does, so the package
# carries each once (rpmlint: files-duplicate). Only files whose meaning does not depend on
# where they lie: licence texts, and CommonJS modules that load nothing (Node runs a symlinked
# module from its target's path, so the target must be CommonJS too). Anything else that
# is duplicated stays, and test/packaging/rpm.test.ts names it.
(cd "$stage/node_modules" && node - <<'NODE'
const { readdirSync, readFileSync, existsSync, rmSync, symlinkSync } = require('fs')
const { createHash } = require('crypto')
const path = require('path')
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
  const p = path.join(dir, e.name)
  return e.isDirectory() ? walk(p) : e.isFile() ? [p] : []
})
const commonJs = (file) => {
  for (let dir = path.dirname(file); dir !== '.'; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json')
    if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')).type !== 'module'
  }
  return true
}
const movable = (file, text) =>
  /^(licen[cs]e|copying|notice)/i.test(path.basename(file)) ||
  (/\.c?js$/.test(file) && commonJs(file) && !/\b(require|import)\s*\(|\bimport\s|\bexport\s/.test(text))
const byContent = new Map()
for (const file of walk('.').sort()) {
  const bytes = readFileSync(file)
  if (bytes.length === 0 || !movable(file, bytes.toString('utf8'))) continue
  const key = createHash('sha256').update(bytes).digest('hex')
  const first = byContent.get(key)
  if (first === undefined) {
    byContent.set(key, file)
  } else if (/\.c?js$/.test(first) === /\.c?js$/.test(file)) {
    rmSync(file)
    symlinkSync(path.relative(path.dirname(file), first), file)
  }
}
NODE
)

# Interpreters by absolute path (rpmlint: env-script-interpreter); executable bit on scripts
# (a "#!" line) and on nothing else. One node process: a shell per file is slow.
node - "$stage" <<'NODE'
const { readdirSync, openSync, readSync, closeSync, readFileSync, writeFileSync, chmodSync, statSync } = require('fs')
const path = require('path')
const walk = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
  const p = path.join(dir, e.name)
  return e.isDirectory() ? walk(p) : e.isFile() ? [p] : []
})
for (const file of walk(process.argv[2])) {
  const head = Buffer.alloc(64)
  const fd = openSync(file, 'r')
  const n = readSync(fd, head, 0, 64, 0)
  closeSync(fd)
  const script = head.subarray(0, n).toString('latin1').startsWith('#!')
  if (script && head.subarray(0, n).toString('latin1').startsWith('#!/usr/bin/env node')) {
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^#!\/usr\/bin\/env node/, '#!/usr/bin/node'))
  }
  const mode = statSync(file).mode & 0o777
  chmodSync(file, script ? mode | 0o755 : mode & ~0o111)
}
NODE

tar -C "$top/stage" -czf "$top/rpmbuild/SOURCES/tuleap-realtime-$version.tar.gz" "tuleap-realtime-$version"
rpmbuild -bb \
  --define "_topdir $top/rpmbuild" \
  --define "relay_version $version" \
  --define "_binary_payload w6.xzdio" \
  packaging/tuleap-realtime.spec >"$top/rpmbuild.log" 2>&1 || { tail -n 30 "$top/rpmbuild.log" >&2; exit 1; }
rpm_file=$(ls "$top"/rpmbuild/RPMS/noarch/tuleap-realtime-"$version"-*.noarch.rpm)
echo "$rpm_file"
