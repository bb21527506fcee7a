#!/usr/bin/env bash
# Stops what localstack/start.sh started from <state-dir> (and the functions'
# emulator, lambda-local, that localstack/with-stack.sh recorded there): TERM, then
# KILL after STACK_STOP_TIMEOUT seconds (default 10). Only pids recorded in
# <state-dir> are signalled, and only if they still run the program that was started;
# one that leads a process group of its own (started with setsid) is signalled with
# its group, so the function instances the emulator started go with it.
# Usage: localstack/stop.sh <state-dir>
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <state-dir>" >&2
  exit 2
fi
STATE_DIR="$1"
TIMEOUT="${STACK_STOP_TIMEOUT:-10}"
[[ -d "$STATE_DIR" ]] || exit 0

# name of pid file -> a word its command line must contain
declare -A expect=([gc]='gc --watch' [publisher]='events --publish' [lambda]=lambda-local [dynamodb]=DynamoDBLocal [nats]=nats-server)

stop_one() {
  local name="$1" pidfile="$STATE_DIR/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  rm -f "$pidfile"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # Read whole, then matched: `| grep -q` under pipefail fails when tr is cut off.
  local cmdline
  cmdline="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
  if [[ $cmdline != *"${expect[$name]}"* ]]; then
    echo "stop: pid $pid in $pidfile is not $name any more; left alone" >&2
    return 0
  fi
  local target="$pid"
  [[ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null || return 0
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "stop: $name (pid $pid) ignored TERM for ${TIMEOUT}s; sending KILL" >&2
      kill -KILL -- "$target" 2>/dev/null
      break
    fi
    sleep 0.1
  done
  echo "stop: stopped $name (pid $pid)" >&2
}

# The functions first (they talk to the others), then the stores.
stop_one gc
stop_one publisher
stop_one lambda
stop_one dynamodb
stop_one nats
exit 0
