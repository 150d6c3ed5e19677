#!/usr/bin/env bash
# Installs Tesseract once, for the `ocr` op and its tests: the library (libtesseract5, loaded
# by sluice when an `ocr` task runs), the `tesseract` command (the tests compare with it),
# English and French language data, and the DejaVu fonts the document generator draws with.
# Without root or apt it says what to install and fails.
set -euo pipefail
have() { command -v tesseract >/dev/null && [ -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ] &&
    [ -f /usr/share/tesseract-ocr/5/tessdata/fra.traineddata ] && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; }
if have; then
    exit 0
fi
pkgs="tesseract-ocr libtesseract5 tesseract-ocr-eng tesseract-ocr-fra fonts-dejavu-core"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Tesseract with apt-get" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >&2
else
    echo "error: Tesseract is missing; install it: apt-get install $pkgs" >&2
    exit 1
fi
