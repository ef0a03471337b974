#!/usr/bin/env bash
# Debian packages `make test` needs and PyPI does not ship: promtool (package `prometheus`)
# checks the alert rules, and Chromium renders the services' pages headless (Playwright's own
# browser downloads are not reachable here). Installed once, when missing; needs root or sudo.
set -euo pipefail
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "make test: installing ${missing[*]} from Debian" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
