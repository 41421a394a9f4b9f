#!/usr/bin/env bash
# Vendor the phone page's front-end libraries (KaTeX, markdown-it) from npm into the
# vision package's static folder. No CDN at run time: the service serves these files.
#
#   scripts/build-web.sh           -> npm ci in web/, copy into
#                                     services/mathnotes/vision/web/static/vendor/
#   scripts/build-web.sh --check   -> exit 1 if the vendored files differ from a fresh build
#
# The vendored files are committed (about 0.7 MB), so `pip install .` and the Docker
# image need no Node.js; run this after changing the versions in web/package.json.
# Honours NPM_CONFIG_REGISTRY (e.g. https://registry.npmmirror.com in mainland China).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"
DEST="$ROOT/services/mathnotes/vision/web/static/vendor"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1

command -v npm >/dev/null || { echo "build-web: npm not found (needs Node.js 18+)" >&2; exit 1; }
if [ -f "$WEB/package-lock.json" ]; then
  npm ci --prefix "$WEB" --no-audit --no-fund --loglevel=error
else
  npm install --prefix "$WEB" --no-audit --no-fund --loglevel=error
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
KATEX="$WEB/node_modules/katex"
MDIT="$WEB/node_modules/markdown-it"
mkdir -p "$OUT/katex/fonts" "$OUT/markdown-it"
cp "$KATEX/dist/katex.min.js" "$KATEX/LICENSE" "$OUT/katex/"
cp "$KATEX/dist/fonts/"*.woff2 "$OUT/katex/fonts/"
# every browser that runs ES modules reads woff2: drop the woff/ttf fallbacks we do not ship
sed -E 's/,url\(fonts\/[A-Za-z0-9_-]+\.woff\) format\("woff"\),url\(fonts\/[A-Za-z0-9_-]+\.ttf\) format\("truetype"\)//g' \
  "$KATEX/dist/katex.min.css" > "$OUT/katex/katex.min.css"
if grep -qE '\.(woff|ttf)\)' "$OUT/katex/katex.min.css"; then
  echo "build-web: katex.min.css still names woff/ttf fonts (format changed?)" >&2; exit 1
fi
cp "$MDIT/dist/markdown-it.min.js" "$MDIT/LICENSE" "$OUT/markdown-it/"
node -e '
  const v = (p) => require(p + "/package.json").version;
  const out = { katex: v(process.argv[1]), "markdown-it": v(process.argv[2]) };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' "$KATEX" "$MDIT" > "$OUT/versions.json"

if [ "$CHECK" = 1 ]; then
  diff -r "$OUT" "$DEST" && echo "build-web: vendored files are up to date" && exit 0
  echo "build-web: vendored files differ from web/package.json; run scripts/build-web.sh" >&2
  exit 1
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -r "$OUT" "$DEST"
chmod -R a+rX "$DEST"
echo "build-web: vendored $(tr -d '\n ' < "$OUT/versions.json") into ${DEST#"$ROOT"/}"
