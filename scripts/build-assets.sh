#!/usr/bin/env bash
# Copy the front-end packages installed by `npm ci` (see package.json and
# package-lock.json) into service/web/static/vendor/, which is gitignored.
# Nothing in vendor/ is edited by hand: re-run this script (or `make assets`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nm="$root/node_modules"
out="$root/service/web/static/vendor"

if [ ! -d "$nm" ]; then
    echo "build-assets: $nm is missing; run 'npm ci' (or 'make assets') first" >&2
    exit 1
fi

need() {
    if [ ! -e "$nm/$1" ]; then
        echo "build-assets: $nm/$1 not found (is node_modules up to date? run 'npm ci')" >&2
        exit 1
    fi
}

need bpmn-js/dist/bpmn-navigated-viewer.production.min.js
need bpmn-js/dist/bpmn-modeler.production.min.js
need bpmn-js/dist/assets
need htmx.org/dist/htmx.min.js
need echarts/dist/echarts.min.js
need quill/dist/quill.js
need quill/dist/quill.snow.css

mkdir -p "$(dirname "$out")"
tmp="$(mktemp -d "$(dirname "$out")/.vendor.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bpmn-js" "$tmp/htmx" "$tmp/echarts" "$tmp/quill"
cp "$nm/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" "$tmp/bpmn-js/"
cp "$nm/bpmn-js/dist/bpmn-modeler.production.min.js" "$tmp/bpmn-js/"
cp -R "$nm/bpmn-js/dist/assets" "$tmp/bpmn-js/assets"
cp "$nm/htmx.org/dist/htmx.min.js" "$tmp/htmx/"
cp "$nm/echarts/dist/echarts.min.js" "$tmp/echarts/"
cp "$nm/quill/dist/quill.js" "$nm/quill/dist/quill.snow.css" "$tmp/quill/"

# Record which versions were copied (read from the installed package.json files).
{
    for pkg in bpmn-js htmx.org echarts quill; do
        v="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$nm/$pkg/package.json" | head -n1)"
        echo "$pkg $v"
    done
} > "$tmp/VERSIONS"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
chmod 755 "$out"
echo "build-assets: vendor files written to service/web/static/vendor/"
