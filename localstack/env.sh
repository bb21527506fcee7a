# shellcheck shell=bash
# Sourced by localstack/dev.sh and localstack/with-stack.sh (needs ROOT set):
# the local stack's environment and a few helpers. Not meant to be run.

# The tools installed by localstack/install.sh come first.
export PATH="$ROOT/.local/venv/bin:$PATH"

# Everything talks to DynamoDB Local: a region and dummy keys satisfy the AWS SDK's
# default chain, which then never looks further (no instance-metadata look-ups).
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_EC2_METADATA_DISABLED=true
# DynamoDB Local answers 500 "took too long waiting for a lock" when it is loaded
# (hundreds of test tables), an error DynamoDB itself does not have. The SDK retries a
# 500; its default three attempts were once not enough in CI, so allow ten.
export AWS_MAX_ATTEMPTS=10
# Local addresses never go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

if [[ ! -f "$ROOT/.local/install.stamp" ]]; then
  echo "the local stack is not installed: run localstack/install.sh (make does)" >&2
  exit 1
fi

# ensure_tls DIR
# A local CA (DIR/ca.pem) and a server certificate for 127.0.0.1 and localhost signed
# by it (DIR/server.pem, DIR/server.key), made once. `lambda-local --tls-cert
# --tls-key` serves HTTPS with them: kubectl (client-go) never sends a bearer token
# over plain HTTP, so kubectl needs HTTPS; kubeconfigs trust DIR/ca.pem.
ensure_tls() {
  local dir="$1"
  [[ -s "$dir/ca.pem" && -s "$dir/server.pem" && -s "$dir/server.key" ]] && return 0
  command -v openssl >/dev/null || { echo "error: openssl is needed to make the local TLS certificate" >&2; return 1; }
  mkdir -p "$dir"
  (
    umask 077
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=milo local CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "extendedKeyUsage=serverAuth" \
      "basicConstraints=CA:FALSE" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 644 ca.pem server.pem
  ) || { echo "error: making the local TLS certificate in $dir failed" >&2; return 1; }
}

# 32 random bytes, hex (64 characters), no newline.
new_secret() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# write_lambda_env FILE TABLE DYNAMO_PORT NATS_PORT ISSUER AUDIENCE HS256_SECRET CONTINUE_SECRET
# The functions' environment, for `lambda-local --env-file` (KEY=VALUE lines; the
# functions also inherit the emulator's own environment).
write_lambda_env() {
  local file="$1"
  (
    umask 077
    cat > "$file" <<EOF
TABLE_NAME=$2
DYNAMODB_ENDPOINT=http://127.0.0.1:$3
NATS_URL=nats://127.0.0.1:$4
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
AWS_EC2_METADATA_DISABLED=true
AUTH_ISSUER=$5
AUTH_AUDIENCE=$6
AUTH_HS256_SECRET=$7
CONTINUE_SECRET=$8
RUST_LOG=info
EOF
  )
}

# wait_for_function URL PIDFILE LOG SECONDS [CURL_ARGS...]
# Waits until URL answers with the function's own answer (any HTTP status but 502,
# which is the emulator's when the function did not answer). Fails early, with the
# log's tail, when the emulator exits or the function cannot start.
wait_for_function() {
  local url="$1" pidfile="$2" logfile="$3" seconds="$4" code start=$SECONDS
  shift 4
  local deadline=$((SECONDS + seconds))
  echo "waiting for $url (at most ${seconds}s)" >&2
  while :; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "error: the functions' emulator (lambda-local) exited; last lines of $logfile:" >&2
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$@" "$url" 2>/dev/null || true)"
    if [[ "$code" == 502 ]]; then
      echo "error: the function did not start; last lines of $logfile:" >&2
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    if [[ -n "$code" && "$code" != "000" ]]; then
      echo "function up after $((SECONDS - start))s ($url answered $code)" >&2
      return 0
    fi
    if ((SECONDS >= deadline)); then
      echo "error: $url did not answer within ${seconds}s; last lines of $logfile:" >&2
      tail -n 40 "$logfile" >&2 || true
      return 1
    fi
    sleep 1
  done
}
