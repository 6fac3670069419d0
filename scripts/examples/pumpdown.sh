#!/usr/bin/env bash
# Wait until the chamber is pumped down, then switch the detector supply on.
# Plain bash: the monitor's command port is a text protocol, one reply per request.
set -euo pipefail
monitor_host=${MONITOR_HOST:-127.0.0.1}
monitor_port=${MONITOR_PORT:-7100}

exec 3<>"/dev/tcp/$monitor_host/$monitor_port"
ask() {                       # send one request, print its one reply, fail on an error reply
    printf '%s\n' "$1" >&3
    IFS= read -r reply <&3
    printf '%s\n' "$reply"
    [[ $reply != error* ]]
}

ask 'log info "pump-down script waiting for 1e-5 mbar"'
ask 'wait gauge1.pressure<1e-5 timeout=3600'
ask 'send psu1 output ch=1 state=on'
ask 'log info "detector supply on"'
