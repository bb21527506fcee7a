#!/usr/bin/env bash
# Runs COMMAND against a fresh, private local stack, then tears the stack down,
# pass or fail, and exits with COMMAND's exit code.
#
#   1. wipes <dir>, starts DynamoDB Local + nats-server there (localstack/start.sh)
#   2. creates the table from infra/template.yaml (devctl create-table) and the
#      event streams (devctl create-stream)
#   3. writes fresh HS256 and continue-token secrets into <dir>
#   4. with --lambda-port N: builds the HTTP functions (resources, admission) and
#      the local Lambda emulator, tools/lambda-local, and serves them with it
#      (log: <dir>/lambda.log; docs/local-stack.md):
#        https://127.0.0.1:N/         the resources function at the root (TLS, certificate
#                                     from a local CA, <dir>/tls/ca.pem): for kubectl, which
#                                     sends tokens over TLS only
#        http://127.0.0.1:N+1/        the same over plain HTTP for HTTP clients
#        .../lambda-url/<function>/   any served function (admission, or resources again)
#      and waits until /version answers; and starts the gc worker (gc --watch,
#      log: <dir>/gc.log) and the change feed's publisher (events --publish,
#      log: <dir>/publisher.log)
#   5. runs COMMAND with the stack in its environment:
#        DYNAMODB_ENDPOINT, NATS_URL, E2E_TABLE, E2E_HS256_SECRET, E2E_ISSUER,
#        E2E_AUDIENCE, AWS_REGION and dummy keys, STACK_DIR (<dir>, whose
#        dynamodb.pid / nats.pid a test may signal), and with --lambda-port:
#        E2E_BASE_URL      http://127.0.0.1:N+1
#        E2E_KUBE_SERVER   https://127.0.0.1:N
#        E2E_KUBE_CA_FILE  <dir>/tls/ca.pem (the kubeconfig's certificate-authority)
#
# Usage: localstack/with-stack.sh [options] -- COMMAND [ARGS...]
#   --dir DIR            state directory, wiped first    (default .local/test)
#   --dynamo-port N      DynamoDB Local port              (default 18000)
#   --nats-port N        nats-server port                 (default 14222)
#   --lambda-port N      serve the functions on N (HTTPS) and N+1 (HTTP) (default: none)
#   --table NAME         table to create                  (default milo-e2e)
#   --release            build and serve the functions in release mode
# Env: LAMBDA_CONCURRENCY (instances per function at most, default 16: a watch
#      holds an instance while it runs, as on Lambda),
#      LAMBDA_WAIT_SECONDS (bound on the wait in step 4, default 900).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DIR=.local/test
DYNAMO_PORT=18000
NATS_PORT=14222
LAMBDA_PORT=
TABLE=milo-e2e
RELEASE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --dynamo-port) DYNAMO_PORT="$2"; shift 2 ;;
    --nats-port) NATS_PORT="$2"; shift 2 ;;
    --lambda-port) LAMBDA_PORT="$2"; shift 2 ;;
    --table) TABLE="$2"; shift 2 ;;
    --release) RELEASE=1; shift ;;
    --) shift; break ;;
    *) echo "with-stack: unknown option $1 (usage: see the top of $0)" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "with-stack: no command given after --" >&2; exit 2; }

HOST=127.0.0.1
ISSUER=milo-local
AUDIENCE=milo
CONCURRENCY="${LAMBDA_CONCURRENCY:-16}"
WAIT_SECONDS="${LAMBDA_WAIT_SECONDS:-900}"

# shellcheck source=localstack/env.sh
source "$ROOT/localstack/env.sh"

log() { printf 'with-stack: %s\n' "$*" >&2; }

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
# It is wiped below: only ever a directory of its own under .local/ or the temp dir.
case "$DIR" in
  "$ROOT/.local/"?* | "${TMPDIR:-/tmp}/"?*) ;;
  *) echo "with-stack: --dir must be under $ROOT/.local/ or ${TMPDIR:-/tmp}/ (it is wiped): $DIR" >&2; exit 2 ;;
esac

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  # Nothing may cut the clean-up short: not a second Ctrl-C, nor a closed stdout/
  # stderr (a pager or `| tee` that died with the Ctrl-C), nor a failing command.
  trap '' INT TERM PIPE
  set +e
  log "stopping the stack in $DIR"
  bash "$ROOT/localstack/stop.sh" "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A leftover stack from a run that was killed hard: stop it, then start afresh.
bash "$ROOT/localstack/stop.sh" "$DIR"
rm -rf "$DIR"
mkdir -p "$DIR"

bash "$ROOT/localstack/start.sh" "$DYNAMO_PORT" "$NATS_PORT" "$DIR"

log "creating table $TABLE"
cargo run -q -p devctl -- create-table --endpoint "http://$HOST:$DYNAMO_PORT" --table "$TABLE" >&2
log "creating the event streams (EVENTS_* variables, defaults in shared/ingest/src/config.rs)"
cargo run -q -p devctl -- create-stream --nats-url "nats://$HOST:$NATS_PORT" >&2

new_secret > "$DIR/hs256-secret"
new_secret > "$DIR/continue-secret"
HS256_SECRET="$(cat "$DIR/hs256-secret")"

export DYNAMODB_ENDPOINT="http://$HOST:$DYNAMO_PORT"
export NATS_URL="nats://$HOST:$NATS_PORT"
export E2E_TABLE="$TABLE"
export E2E_HS256_SECRET="$HS256_SECRET"
export E2E_ISSUER="$ISSUER"
export E2E_AUDIENCE="$AUDIENCE"
export STACK_DIR="$DIR"

if [[ -n "$LAMBDA_PORT" ]]; then
  HTTP_PORT=$((LAMBDA_PORT + 1))
  for port in "$LAMBDA_PORT" "$HTTP_PORT"; do
    if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
      log "error: port $HOST:$port is already in use"
      exit 1
    fi
  done
  ensure_tls "$DIR/tls"

  write_lambda_env "$DIR/lambda.env" "$TABLE" "$DYNAMO_PORT" "$NATS_PORT" \
    "$ISSUER" "$AUDIENCE" "$HS256_SECRET" "$(cat "$DIR/continue-secret")"
  # A watch a test's kubectl left (killed, or `kubectl wait` done) holds its
  # instance until its next write fails or it ends: a minute, not five.
  echo "WATCH_MAX_SECONDS=60" >> "$DIR/lambda.env"

  profile_flag=()
  profile_dir=debug
  if [[ $RELEASE == 1 ]]; then
    profile_flag=(--release)
    profile_dir=release
  fi

  # Built first, so compile errors show here and the first request is quick.
  log "building the functions and the emulator${profile_flag[*]:+ (${profile_flag[*]})}"
  cargo build "${profile_flag[@]}" --bin resources --bin admission --bin gc --bin events --bin lambda-local

  log "serving the functions on https://$HOST:$LAMBDA_PORT and http://$HOST:$HTTP_PORT (log: $DIR/lambda.log)"
  # setsid: a process group of its own, which stop.sh signals as a whole.
  (exec setsid "${CARGO_TARGET_DIR:-$ROOT/target}/$profile_dir/lambda-local" "${profile_flag[@]}" \
    --function resources --function admission \
    --https "$HOST:$LAMBDA_PORT" --http "$HOST:$HTTP_PORT" \
    --tls-cert "$DIR/tls/server.pem" --tls-key "$DIR/tls/server.key" \
    --concurrency "$CONCURRENCY" --env-file "$DIR/lambda.env" \
    </dev/null >"$DIR/lambda.log" 2>&1) &
  echo $! > "$DIR/lambda.pid"

  # The gc worker, as make dev runs it: deletes that wait (cascades).
  log "starting the gc worker (log: $DIR/gc.log)"
  (set -a; source "$DIR/lambda.env"; set +a
   exec setsid "${CARGO_TARGET_DIR:-$ROOT/target}/$profile_dir/gc" --watch) \
    </dev/null >"$DIR/gc.log" 2>&1 &
  echo $! > "$DIR/gc.pid"

  # The change feed's publisher, as make dev runs it: what watches read.
  log "starting the change feed's publisher (log: $DIR/publisher.log)"
  (set -a; source "$DIR/lambda.env"; set +a
   exec setsid "${CARGO_TARGET_DIR:-$ROOT/target}/$profile_dir/events" --publish) \
    </dev/null >"$DIR/publisher.log" 2>&1 &
  echo $! > "$DIR/publisher.pid"

  export E2E_BASE_URL="http://$HOST:$HTTP_PORT"
  export E2E_KUBE_SERVER="https://$HOST:$LAMBDA_PORT"
  export E2E_KUBE_CA_FILE="$DIR/tls/ca.pem"
  wait_for_function "$E2E_BASE_URL/version" "$DIR/lambda.pid" "$DIR/lambda.log" "$WAIT_SECONDS"
  wait_for_function "$E2E_KUBE_SERVER/version" "$DIR/lambda.pid" "$DIR/lambda.log" 60 \
    --cacert "$E2E_KUBE_CA_FILE"
fi

log "running: $*"
set +e
"$@"
rc=$?
set -e
log "command exited with $rc"
exit "$rc"
