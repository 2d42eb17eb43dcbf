# Shared helpers for the infra/*.sh scripts. Source it, do not run it.
# shellcheck shell=bash

# Project root = the folder that holds infra/ (resolved through symlinks).
INFRA_DIR="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"
ROOT="$(dirname "$INFRA_DIR")"
SERVICES_DIR="$ROOT/.services"

log() { printf '%s\n' "$*"; }
warn() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# .services/ holds runtime state (jars, data, logs); keep it out of git even if the
# project's own .gitignore does not mention it.
ensure_services_dir() {
    mkdir -p "$SERVICES_DIR"
    [[ -f "$SERVICES_DIR/.gitignore" ]] || printf '*\n' >"$SERVICES_DIR/.gitignore"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Best-effort description of who listens on a port (empty if unknown).
port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1
}

require_root_for() {
    [[ $EUID -eq 0 ]] || die "installing $1 needs root (run as root or install it yourself)"
}

# apt-get update at most once per run; the flag is exported so child scripts
# (e.g. postgres.sh called from setup.sh) see that it already happened.
apt_update_once() {
    if [[ "${COMPLIANCE_APT_UPDATED:-0}" != 1 ]]; then
        log "apt-get update ..."
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
        export COMPLIANCE_APT_UPDATED=1
    fi
}

apt_install() {
    require_root_for "$*"
    apt_update_once
    log "apt-get install $* ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# Serialise concurrent invocations of the same service script.
take_lock() {
    local lockfile="$1"
    exec 9>"$lockfile"
    flock -w 120 9 || die "another $(basename "$0") is still running (lock $lockfile)"
}
