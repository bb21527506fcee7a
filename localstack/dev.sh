#!/usr/bin/env bash
# `make dev`: the local stack for working on the API by hand.
#
#   DynamoDB Local   http://127.0.0.1:8000   (in memory: empty on every start)
#   nats-server      nats://127.0.0.1:4222   (JetStream store in .local/dev/nats)
#   the functions    https://127.0.0.1:9000/   the resources function at the root;
#                    http://127.0.0.1:9001/    .../lambda-url/<function>/ any of them
#                    (tools/lambda-local, a local Lambda emulator; rebuilt and
#                    restarted when the code changes; docs/local-stack.md)
#
# HTTPS because kubectl never sends a bearer token over plain HTTP; the certificate
# comes from a local CA made once in .local/dev/tls, which the kubeconfig trusts.
# Plain HTTP (9001) is there for curl and friends.
#
# Creates table `milo`, keeps an HS256 secret in .local/dev/hs256-secret (made once),
# mints an admin token and writes .local/kubeconfig. Ctrl-C stops everything.
# Env: LAMBDA_CONCURRENCY (instances per function at most, default 16: a watch
#      holds an instance while it runs, as on Lambda).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DIR="$ROOT/.local/dev"
HOST=127.0.0.1
DYNAMO_PORT=8000
NATS_PORT=4222
LAMBDA_PORT=9000            # HTTPS
HTTP_PORT=$((LAMBDA_PORT + 1))  # plain HTTP
TABLE=milo
ISSUER=milo-local
AUDIENCE=milo
KUBECONFIG_FILE="$ROOT/.local/kubeconfig"
CONCURRENCY="${LAMBDA_CONCURRENCY:-16}"

bash "$ROOT/localstack/install.sh"
# shellcheck source=localstack/env.sh
source "$ROOT/localstack/env.sh"

log() { printf 'dev: %s\n' "$*" >&2; }

for port in "$LAMBDA_PORT" "$HTTP_PORT"; do
  if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
    log "error: port $HOST:$port is already in use (another make dev?)"
    exit 1
  fi
done

mkdir -p "$DIR"
bash "$ROOT/localstack/start.sh" "$DYNAMO_PORT" "$NATS_PORT" "$DIR"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  # Nothing may cut the clean-up short: not a second Ctrl-C, nor a closed stdout/
  # stderr (a pager or `| tee` that died with the Ctrl-C), nor a failing command.
  trap '' INT TERM PIPE
  set +e
  for worker in events publisher gc; do
    if [[ -s "$DIR/$worker.pid" ]]; then
      log "stopping the $worker worker"
      kill "$(cat "$DIR/$worker.pid")" 2>/dev/null
      rm -f "$DIR/$worker.pid"
    fi
  done
  log "stopping the local stack"
  bash "$ROOT/localstack/stop.sh" "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "creating table $TABLE"
cargo run -q -p devctl -- create-table --endpoint "http://$HOST:$DYNAMO_PORT" --table "$TABLE" >&2
log "creating the event streams (EVENTS_* and FEED_* variables, defaults in shared/ingest/src/config.rs and shared/feed/src/config.rs)"
cargo run -q -p devctl -- create-stream --nats-url "nats://$HOST:$NATS_PORT" >&2

# Secrets: made once, kept across runs (so minted tokens stay valid).
for name in hs256-secret continue-secret; do
  if [[ ! -s "$DIR/$name" ]]; then
    (umask 077 && new_secret > "$DIR/$name")
  fi
done
HS256_SECRET="$(tr -d '[:space:]' < "$DIR/hs256-secret")"
CONTINUE_SECRET="$(tr -d '[:space:]' < "$DIR/continue-secret")"

TOKEN="$(cargo run -q -p devctl -- mint-token --secret-file "$DIR/hs256-secret" \
  --issuer "$ISSUER" --audience "$AUDIENCE" --subject admin --group system:masters --ttl-hours 720)"
[[ -n "$TOKEN" ]] || { log "error: devctl mint-token printed no token"; exit 1; }

ensure_tls "$DIR/tls"
CA_DATA="$(base64 -w0 < "$DIR/tls/ca.pem")"
SERVER="https://$HOST:$LAMBDA_PORT"
HTTP_SERVER="http://$HOST:$HTTP_PORT"
(
  umask 077
  cat > "$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: milo-local
  cluster:
    server: $SERVER
    certificate-authority-data: $CA_DATA
users:
- name: milo-local-admin
  user:
    token: $TOKEN
contexts:
- name: milo-local
  context:
    cluster: milo-local
    user: milo-local-admin
current-context: milo-local
preferences: {}
EOF
)

write_lambda_env "$DIR/lambda.env" "$TABLE" "$DYNAMO_PORT" "$NATS_PORT" \
  "$ISSUER" "$AUDIENCE" "$HS256_SECRET" "$CONTINUE_SECRET"

# Build before serving: compile errors show here, and the first request is quick.
log "building the functions and the emulator"
cargo build --bin resources --bin admission --bin events --bin gc --bin lambda-local

# The long-running events consumer (the same code as the scheduled Lambda),
# with the functions' environment; it is not restarted on code changes.
log "starting the events consumer (log: $DIR/events.log)"
(set -a; source "$DIR/lambda.env"; set +a; exec "${CARGO_TARGET_DIR:-$ROOT/target}/debug/events" --consume) \
  </dev/null >"$DIR/events.log" 2>&1 &
echo $! > "$DIR/events.pid"

# The change feed's publisher (the same code as the stream-triggered Lambda):
# every committed change of an object, published once on FEED_SUBJECT_PREFIX.
log "starting the change feed's publisher (log: $DIR/publisher.log)"
(set -a; source "$DIR/lambda.env"; set +a; exec "${CARGO_TARGET_DIR:-$ROOT/target}/debug/events" --publish) \
  </dev/null >"$DIR/publisher.log" 2>&1 &
echo $! > "$DIR/publisher.pid"

# The gc worker (the same code as the scheduled Lambda): drives deletes
# that wait (cascades, finalizers), a pass a second.
log "starting the gc worker (log: $DIR/gc.log)"
(set -a; source "$DIR/lambda.env"; set +a; exec "${CARGO_TARGET_DIR:-$ROOT/target}/debug/gc" --watch) \
  </dev/null >"$DIR/gc.log" 2>&1 &
echo $! > "$DIR/gc.pid"

ORG_PREFIX="/apis/resourcemanager.miloapis.com/v1alpha1/organizations"
cat >&2 <<EOF

  Milo resource API (local)   $SERVER   (kubectl; CA: .local/dev/tls/ca.pem)
                              $HTTP_SERVER    (plain HTTP, e.g. curl)
  DynamoDB Local              http://$HOST:$DYNAMO_PORT   (table $TABLE, in memory)
  nats-server (JetStream)     nats://$HOST:$NATS_PORT   (streams LIFECYCLE, LIFECYCLE_DEADLETTER)
  events consumer             durable milo-events-ingest on com.infratographer.events.*.*
                              (log: .local/dev/events.log; define RelationshipTypes first)
  change feed publisher       every change of an object on com.miloapis.events.>
                              (stream MILO_CHANGES; log: .local/dev/publisher.log)
  gc worker                   Terminating objects: cascades, cleanup conditions
                              (log: .local/dev/gc.log)
  admin token (720 h)         in .local/kubeconfig (group system:masters: the bootstrap
                              administrator); mint more with:
    cargo run -q -p devctl -- mint-token --secret-file .local/dev/hs256-secret \\
      --issuer $ISSUER --audience $AUDIENCE --subject <name> [--group <group>]

  In another terminal:
    export KUBECONFIG=\$(pwd)/.local/kubeconfig
    kubectl api-resources
    kubectl get organizations

  An organization's control plane (here: org "acme") is the server URL plus
    $ORG_PREFIX/acme/control-plane
  e.g.
    kubectl config set-cluster milo-acme --server=$SERVER$ORG_PREFIX/acme/control-plane \\
      --certificate-authority=$DIR/tls/ca.pem --embed-certs
    kubectl config set-context milo-acme --cluster=milo-acme --user=milo-local-admin
    kubectl --context milo-acme get projects
  (projects likewise: .../resourcemanager.miloapis.com/v1alpha1/projects/<project>/control-plane)

  curl: curl -H "Authorization: Bearer \$TOKEN" $HTTP_SERVER/apis
    (TOKEN=\$(kubectl config view --raw -o jsonpath='{.users[0].user.token}'))
  the admission function: $HTTP_SERVER/lambda-url/admission/review (and /audit)

  Code changes rebuild and restart the functions. Ctrl-C stops everything.

EOF

# In the foreground (not exec'd, so the trap above stops the stack afterwards).
# The functions get lambda.env on top of this environment.
set +e
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/lambda-local" --watch "$ROOT" \
  --function resources --function admission \
  --https "$HOST:$LAMBDA_PORT" --http "$HOST:$HTTP_PORT" \
  --tls-cert "$DIR/tls/server.pem" --tls-key "$DIR/tls/server.key" \
  --concurrency "$CONCURRENCY" --env-file "$DIR/lambda.env"
rc=$?
set -e
exit "$rc"
