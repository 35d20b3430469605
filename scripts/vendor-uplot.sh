#!/bin/sh
# Copy uPlot (the version package.json pins, installed by `npm ci`) into the UI's
# static files. The banner's URL is written without its scheme: the UI's files name
# no external address (tests/browser/test_assets.py checks that).
set -eu
cd "$(dirname "$0")/.."
src=node_modules/uplot
dst=server/src/runyard_server/web/static/vendor/uplot
mkdir -p "$dst"
sed '1s#https://github.com#github.com#' "$src/dist/uPlot.iife.min.js" > "$dst/uPlot.iife.min.js"
cp "$src/dist/uPlot.min.css" "$dst/uPlot.min.css"
cp "$src/LICENSE" "$dst/LICENSE"
version=$(node -p "require('./$src/package.json').version")
printf 'uPlot %s (MIT, see LICENSE), copied from npm by scripts/vendor-uplot.sh.\n' "$version" > "$dst/VERSION"
