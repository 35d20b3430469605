#!/usr/bin/env bash
# The browser tests drive Debian's chromium (/usr/bin/chromium), never a browser that
# Playwright downloads. Install it when it is missing; do nothing when it is there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium
