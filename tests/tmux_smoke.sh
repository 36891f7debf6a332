#!/usr/bin/env bash
# Smoke-test `shopctl tui` in a real terminal: tmux at 80x24, switch every screen, open help, quit.
#
#   tests/tmux_smoke.sh [WORKSPACE]        (default ./shopctl-demo; make one with `shopctl demo`)
#
# Environment: SHOPCTL (the command, default `shopctl`), SMOKE_TIMEOUT (seconds per check, default 15).
# Exit 0 when every expected text appeared and the console quit cleanly; 1 with the screen dump otherwise;
# 77 when tmux is not installed.
set -euo pipefail

WORKSPACE="${1:-./shopctl-demo}"
SHOPCTL="${SHOPCTL:-shopctl}"
TIMEOUT="${SMOKE_TIMEOUT:-15}"
SESSION="shopctl-smoke-$$"

command -v tmux >/dev/null || { echo "tmux is not installed" >&2; exit 77; }
[ -f "$WORKSPACE/config.toml" ] || { echo "$WORKSPACE: not a workspace (run: shopctl demo)" >&2; exit 2; }

cleanup() { tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -f "${STATUS_FILE:-}"; }
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$SESSION"; }

wait_for() {  # wait until the text is on screen, or fail with the screen dump
    local text="$1" deadline=$((SECONDS + TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if screen | grep -qF -- "$text"; then
            echo "ok: $text"
            return 0
        fi
        sleep 0.2
    done
    echo "FAIL: '$text' did not appear within ${TIMEOUT}s; the screen was:" >&2
    screen >&2
    exit 1
}

wait_gone() {  # wait until the text has left the screen (a dialog closed)
    local text="$1" deadline=$((SECONDS + TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! screen | grep -qF -- "$text"; then
            echo "ok: gone: $text"
            return 0
        fi
        sleep 0.2
    done
    echo "FAIL: '$text' is still on screen after ${TIMEOUT}s:" >&2
    screen >&2
    exit 1
}

press() { tmux send-keys -t "$SESSION" "$@"; }

# The console's exit status is written to a file by the pane's shell: tmux 3.3's #{pane_dead_status} is sometimes
# left empty when the terminal closes before the process is reaped.
STATUS_FILE="$(mktemp)"
tmux new-session -d -s "$SESSION" -x 80 -y 24 \
    "TERM=xterm-256color $(printf '%q' "$SHOPCTL") tui -w $(printf '%q' "$WORKSPACE"); echo \$? > $(printf '%q' "$STATUS_FILE")"
tmux set-option -t "$SESSION" remain-on-exit on >/dev/null

wait_for "[Overview]"
wait_for "Conversion"
wait_for "updated"
press 2 && wait_for "[Drift]" && wait_for "Threshold"
press 3 && wait_for "[KPIs]" && wait_for "Segment"
press 4 && wait_for "[Alerts]" && wait_for "Concerns"
press 5 && wait_for "[Models]" && wait_for "champion history"
press 6 && wait_for "[Jobs]" && wait_for "daemon"
press F2 && wait_for "[Overview]"
press "?" && wait_for "Same from a shell"
press Escape && wait_gone "Same from a shell"
press q

deadline=$((SECONDS + TIMEOUT))
until [ -s "$STATUS_FILE" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "FAIL: q did not quit the console; the screen was:" >&2
        screen >&2
        exit 1
    fi
    sleep 0.2
done
status="$(cat "$STATUS_FILE")"
if [ "$status" != "0" ]; then
    echo "FAIL: shopctl tui exited with $status; the screen was:" >&2
    screen >&2
    exit 1
fi
echo "ok: quit with status 0"
