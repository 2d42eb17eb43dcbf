#!/usr/bin/env bash
# Start / stop / inspect all local services (PostgreSQL + Kafka) in one go.
#   infra/services.sh start    start postgres, then kafka; non-zero if either failed
#   infra/services.sh stop     stop kafka, then postgres
#   infra/services.sh status   status of both; 0 only when both run
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)"

run_each() {
    local action="$1" rc=0 svc
    shift
    for svc in "$@"; do
        "$HERE/$svc.sh" "$action" || { rc=$?; echo "$svc $action failed (exit $rc)" >&2; failed=1; }
    done
}

failed=0
case "${1:-}" in
    start)
        run_each start postgres kafka
        [[ $failed -eq 0 ]] || { echo "error: not all services started" >&2; exit 1; }
        ;;
    stop)
        run_each stop kafka postgres
        [[ $failed -eq 0 ]] || { echo "error: not all services stopped cleanly" >&2; exit 1; }
        ;;
    status)
        rc=0
        "$HERE/postgres.sh" status || rc=3
        "$HERE/kafka.sh" status || rc=3
        exit "$rc"
        ;;
    *)
        echo "error: usage: $(basename "$0") {start|stop|status}" >&2
        exit 1
        ;;
esac
