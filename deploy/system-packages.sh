#!/usr/bin/env bash
# Debian packages Frontdesk needs beside its Python ones, installed only when missing (a prepared
# machine skips apt entirely): ffmpeg (OGG/Opus voice replies), espeak-ng (Hindi and fallback
# speech) and, for the test suite, Debian's Chromium (the web-chat widget's browser tests drive it
# through Playwright; never a browser Playwright downloads: machines here reach no download host).
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if [ "${1:-}" = "--with-test-browser" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
