#!/usr/bin/env bash
# One-time (and re-runnable) setup of a fresh Debian machine for this project:
# Java 17, Maven, PostgreSQL binaries, Tesseract's English OCR model, Chromium (the review
# application's browser tests drive Debian's build through Playwright) and the Python venv.
# Installs only what is missing; apt-get update runs at most once, and only if needed.
set -euo pipefail

# shellcheck source=infra/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

java_major() {
    # "openjdk version "17.0.15" ..." -> 17 ; "1.8.0_x" -> 1
    java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n1
}

ensure_java() {
    if command -v java >/dev/null 2>&1 && [[ "$(java_major)" -ge 17 ]]; then
        log "java: $(java -version 2>&1 | head -n1)"
        return 0
    fi
    if command -v java >/dev/null 2>&1; then
        warn "java $(java_major) is too old for Kafka 4 (needs 17+); installing openjdk-17-jre-headless"
    fi
    apt_install openjdk-17-jre-headless
    [[ "$(java_major)" -ge 17 ]] \
        || die "openjdk-17 installed but 'java' is still older; select it with update-alternatives --config java"
}

ensure_maven() {
    if command -v mvn >/dev/null 2>&1; then
        log "maven: $(mvn -v 2>/dev/null | head -n1 | sed 's/\x1b\[[0-9;]*m//g')"
        return 0
    fi
    apt_install maven
}

ensure_tesseract() {
    # OCR runs in process (the tesserocr wheel carries libtesseract; the MRZ model ships in
    # src/compliance/documents/tessdata): what the machine must have is Tesseract's English
    # model, Debian's tesseract-ocr-eng.
    local folder
    for folder in "${TESSDATA_PREFIX:-}" /usr/share/tesseract-ocr/5/tessdata \
        /usr/share/tesseract-ocr/4.00/tessdata /usr/share/tessdata; do
        if [[ -n "$folder" && -f "$folder/eng.traineddata" ]]; then
            log "tesseract model: $folder/eng.traineddata"
            return 0
        fi
    done
    apt_install tesseract-ocr-eng
}

ensure_icu_build() {
    # PyICU (sanctions screening romanises names in other scripts with ICU) has no binary
    # wheel: pip builds it against the system's ICU, with pkg-config and a C++ compiler.
    if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists icu-i18n \
        && command -v g++ >/dev/null 2>&1; then
        log "icu: $(pkg-config --modversion icu-i18n) (for PyICU)"
        return 0
    fi
    apt_install libicu-dev pkg-config g++
}

ensure_chromium() {
    # Playwright's own browser download is not reachable from every machine: the browser tests
    # launch Debian's chromium package at /usr/bin/chromium instead.
    if [[ -x /usr/bin/chromium ]]; then
        log "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
        return 0
    fi
    apt_install chromium
}

ensure_prometheus() {
    # A real Prometheus scrapes a processor in tests/integration/test_prometheus_scrape.py.
    if command -v prometheus >/dev/null 2>&1; then
        log "prometheus: $(prometheus --version 2>&1 | head -n1)"
        return 0
    fi
    apt_install prometheus
}

ensure_venv() {
    local venv="$ROOT/.venv" py
    py="$(command -v python3 || true)"
    [[ -n "$py" ]] || { apt_install python3 python3-venv; py="$(command -v python3)"; }
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "python3 is $("$py" -V 2>&1 | cut -d' ' -f2); the project needs Python 3.11+"

    if [[ ! -x "$venv/bin/python" ]]; then
        # Debian splits ensurepip into python3-venv.
        if ! "$py" -c 'import ensurepip' >/dev/null 2>&1; then
            apt_install "python3-venv"
        fi
        log "creating $venv ..."
        "$py" -m venv "$venv" || die "python3 -m venv $venv failed"
    fi

    local sum stamp
    sum="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    stamp="$venv/.installed-$sum"
    if [[ -f "$stamp" ]]; then
        log "python deps up to date (pyproject.toml unchanged)"
        return 0
    fi
    log "installing the project into $venv (pip install -e '.[dev]') ..."
    (cd "$ROOT" && "$venv/bin/pip" install -q -e '.[dev]') || die "pip install -e '.[dev]' failed"
    rm -f "$venv"/.installed-*
    touch "$stamp"
}

[[ -f "$ROOT/pyproject.toml" ]] || die "no pyproject.toml in $ROOT"
ensure_java
ensure_maven
"$INFRA_DIR/postgres.sh" install
ensure_tesseract
ensure_icu_build
ensure_chromium
ensure_prometheus
ensure_venv
log "setup complete; start the services with infra/services.sh start"
