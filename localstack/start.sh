#!/usr/bin/env bash
# Starts the local stack in the background, both bound to 127.0.0.1:
#   - DynamoDB Local (in memory, one shared database for every key/region)
#   - nats-server with JetStream (store in <state-dir>/nats, settings in
#     localstack/nats.conf: max_payload 8 MB)
# writes their pids and logs into <state-dir>, and returns once both accept
# connections (bounded by STACK_START_TIMEOUT seconds, default 60).
#
# Usage: localstack/start.sh <dynamo-port> <nats-port> <state-dir>
# Stop with: localstack/stop.sh <state-dir>
# Env: DYNAMODB_JAVA_OPTS (default "-Xmx2g"), STACK_START_TIMEOUT (default 60).
# Needs localstack/install.sh to have run.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <dynamo-port> <nats-port> <state-dir>" >&2
  exit 2
fi
DYNAMO_PORT="$1"
NATS_PORT="$2"
STATE_DIR="$3"
for p in "$DYNAMO_PORT" "$NATS_PORT"; do
  [[ "$p" =~ ^[0-9]+$ && "$p" -gt 0 && "$p" -lt 65536 ]] || { echo "start: bad port '$p'" >&2; exit 2; }
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
HOST=127.0.0.1
TIMEOUT="${STACK_START_TIMEOUT:-60}"

die() { printf 'start: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$LOCAL/venv/bin/nats-server" && -f "$LOCAL/dynamodb/DynamoDBLocal.jar" ]] \
  || die "the local stack is not installed: run localstack/install.sh"

mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# Refuse to start twice on the same state dir; forget pids of processes that are gone.
for name in dynamodb nats; do
  pidfile="$STATE_DIR/$name.pid"
  if [[ -f "$pidfile" ]]; then
    pid="$(cat "$pidfile")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      die "$name is already running from $STATE_DIR (pid $pid); stop it with: localstack/stop.sh $STATE_DIR"
    fi
    rm -f "$pidfile"
  fi
done

# Is something already listening there? (bash's /dev/tcp, no extra tools)
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
port_open "$DYNAMO_PORT" && die "port $HOST:$DYNAMO_PORT is already in use (DynamoDB Local would listen there)"
port_open "$NATS_PORT" && die "port $HOST:$NATS_PORT is already in use (nats-server would listen there)"

# --- DynamoDB Local -----------------------------------------------------------------
# -sharedDb: one database whatever the access key and region of the caller, so the
#  table created by devctl is the one the function and the tests see.
# -disableTelemetry: nothing leaves the machine.
ddb_args=(-inMemory -sharedDb -disableTelemetry -port "$DYNAMO_PORT")
read -r -a java_opts <<< "${DYNAMODB_JAVA_OPTS:--Xmx2g}"
if [[ -f "$LOCAL/dynamodb-launcher/DynamoDBLocalLoopback.class" ]]; then
  ddb_cmd=(java "${java_opts[@]}" -Djava.library.path="$LOCAL/dynamodb/DynamoDBLocal_lib"
    -Dmilo.dynamodb.host="$HOST"
    -cp "$LOCAL/dynamodb/DynamoDBLocal.jar:$LOCAL/dynamodb-launcher" DynamoDBLocalLoopback "${ddb_args[@]}")
else
  echo "start: warning: no loopback launcher (no javac at install): DynamoDB Local listens on all interfaces" >&2
  ddb_cmd=(java "${java_opts[@]}" -Djava.library.path="$LOCAL/dynamodb/DynamoDBLocal_lib"
    -jar "$LOCAL/dynamodb/DynamoDBLocal.jar" "${ddb_args[@]}")
fi
# setsid: own session, so a Ctrl-C in the terminal reaches the caller's trap, which
# then stops the stack in order, instead of killing these mid-flight.
(cd "$STATE_DIR" && exec setsid "${ddb_cmd[@]}" </dev/null >"$STATE_DIR/dynamodb.log" 2>&1) &
echo $! > "$STATE_DIR/dynamodb.pid"

# --- nats-server with JetStream -----------------------------------------------------
mkdir -p "$STATE_DIR/nats"
# localstack/nats.conf: a max_payload above the consumer's 1 MiB message limit.
(exec setsid "$LOCAL/venv/bin/nats-server" -c "$ROOT/localstack/nats.conf" \
  -js -a "$HOST" -p "$NATS_PORT" -sd "$STATE_DIR/nats" \
  </dev/null >"$STATE_DIR/nats.log" 2>&1) &
echo $! > "$STATE_DIR/nats.pid"

# --- wait until both answer ---------------------------------------------------------
fail() {
  printf 'start: error: %s\n' "$*" >&2
  for name in dynamodb nats; do
    printf -- '--- last lines of %s/%s.log ---\n' "$STATE_DIR" "$name" >&2
    tail -n 25 "$STATE_DIR/$name.log" >&2 2>/dev/null || true
  done
  bash "$ROOT/localstack/stop.sh" "$STATE_DIR" >&2 || true
  exit 1
}
dynamo_ready() {
  # Any HTTP answer will do (DynamoDB Local answers GET / with 400).
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$HOST:$DYNAMO_PORT/" 2>/dev/null || true)"
  [[ -n "$code" && "$code" != "000" ]]
}
nats_ready() {
  # The server greets every client with an INFO line; JetStream must be on.
  local line
  line="$( { exec 3<>"/dev/tcp/$HOST/$NATS_PORT" && timeout 2 head -n1 <&3; } 2>/dev/null)" || return 1
  [[ "$line" == INFO* && "$line" == *'"jetstream":true'* ]]
}

deadline=$((SECONDS + TIMEOUT))
ddb_up=0
nats_up=0
while :; do
  kill -0 "$(cat "$STATE_DIR/dynamodb.pid")" 2>/dev/null || fail "DynamoDB Local exited during start-up"
  kill -0 "$(cat "$STATE_DIR/nats.pid")" 2>/dev/null || fail "nats-server exited during start-up"
  [[ $ddb_up == 1 ]] || { dynamo_ready && ddb_up=1; }
  [[ $nats_up == 1 ]] || { nats_ready && nats_up=1; }
  [[ $ddb_up == 1 && $nats_up == 1 ]] && break
  ((SECONDS < deadline)) || fail "timed out after ${TIMEOUT}s (DynamoDB Local up: $ddb_up, nats-server up: $nats_up)"
  sleep 0.25
done

echo "start: DynamoDB Local on http://$HOST:$DYNAMO_PORT (pid $(cat "$STATE_DIR/dynamodb.pid")), nats-server (JetStream) on nats://$HOST:$NATS_PORT (pid $(cat "$STATE_DIR/nats.pid")), state in $STATE_DIR" >&2
