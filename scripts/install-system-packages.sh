#!/usr/bin/env bash
# Debian packages the project needs beyond Python: Chromium (dashboard and report
# checks in a real browser, PDF printing) and poppler-utils (pdftotext in tests).
# Installs only what is missing; needs root (CI runs as root) or sudo.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "her2qa setup: please install these Debian packages: ${missing[*]}" >&2; exit 1
fi
echo "her2qa setup: installing ${missing[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
