#!/usr/bin/env bash
# Copy the front-end packages installed by `npm ci` (see package.json and
# package-lock.json) into service/web/static/vendor/, which is gitignored, and
# bundle the browser modeler (service/web/designer_src/modeler.js: bpmn-js, the
# GovFlow properties panel, zh-CN labels, bpmnlint-plugin-govflow) with esbuild
# into vendor/designer/. Nothing in vendor/ is edited by hand: re-run this
# script (or `make assets`).
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
need .bin/esbuild
need bpmn-js-properties-panel/dist/index.esm.js
need @bpmn-io/properties-panel/dist/assets/properties-panel.css
need bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css
need camunda-bpmn-moddle/resources/camunda.json
need bpmn-js-i18n/translations/zn.js
need bpmnlint-plugin-govflow/index.js

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

# The modeler: one browser bundle (no webpack; the lint rules come from the local
# bpmnlint-plugin-govflow package) and the CSS of the panel and the lint overlays.
mkdir -p "$tmp/designer"
(cd "$root" && "$nm/.bin/esbuild" service/web/designer_src/modeler.js \
    --bundle --format=iife --target=es2019 --minify --sourcemap --legal-comments=linked \
    --jsx=automatic --jsx-import-source=@bpmn-io/properties-panel/preact \
    --define:process.env.NODE_ENV='"production"' \
    --log-level=warning --outfile="$tmp/designer/modeler.js")
cp "$nm/@bpmn-io/properties-panel/dist/assets/properties-panel.css" "$tmp/designer/"
cp "$nm/bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css" "$tmp/designer/"

# Record which versions were copied (read from the installed package.json files).
{
    for pkg in bpmn-js htmx.org echarts quill bpmn-js-properties-panel @bpmn-io/properties-panel \
               camunda-bpmn-moddle bpmn-js-bpmnlint bpmnlint bpmn-js-i18n esbuild bpmnlint-plugin-govflow; do
        v="$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$nm/$pkg/package.json" | head -n1)"
        echo "$pkg $v"
    done
} > "$tmp/VERSIONS"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
chmod 755 "$out"
echo "build-assets: vendor files written to service/web/static/vendor/"
