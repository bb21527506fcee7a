#!/bin/bash
# LocalStack ready.d hook: creates the table from infra/template.yaml (resource
# `Table`), the same definition `devctl create-table` reads for the Docker-free stack.
# Runs inside the LocalStack container, where `awslocal` and LocalStack's Python
# (with PyYAML) are available. Idempotent: an existing table is left as it is.
set -euo pipefail

TABLE="${MILO_TABLE:-milo}"
TEMPLATE="${MILO_TEMPLATE:-/opt/milo/infra/template.yaml}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

log() { echo "milo-init: $*"; }

[[ -f "$TEMPLATE" ]] || { log "error: $TEMPLATE not found (is ../infra mounted?)"; exit 1; }

PY=
for candidate in /opt/code/localstack/.venv/bin/python python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    PY="$candidate"
    break
  fi
done
[[ -n "$PY" ]] || { log "error: no Python with PyYAML in this image"; exit 1; }

# Template -> CreateTable request (+ TTL attribute, PITR flag). CloudFormation's
# short-form tags (!Ref, !Sub, ...) elsewhere in the template are read as plain values.
"$PY" - "$TEMPLATE" "$TABLE" "$WORK" <<'PYEOF'
import json, sys, yaml

class Loader(yaml.SafeLoader):
    pass

def any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)

Loader.add_multi_constructor("!", any_tag)

template, table, work = sys.argv[1:4]
with open(template) as f:
    doc = yaml.load(f, Loader=Loader)
p = doc["Resources"]["Table"]["Properties"]

req = {
    "TableName": table,
    "BillingMode": p.get("BillingMode", "PAY_PER_REQUEST"),
    "AttributeDefinitions": p["AttributeDefinitions"],
    "KeySchema": p["KeySchema"],
}
if p.get("GlobalSecondaryIndexes"):
    req["GlobalSecondaryIndexes"] = [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in p["GlobalSecondaryIndexes"]
    ]
stream = p.get("StreamSpecification", {}).get("StreamViewType")
if stream:
    req["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
with open(f"{work}/create-table.json", "w") as f:
    json.dump(req, f)

ttl = p.get("TimeToLiveSpecification") or {}
with open(f"{work}/ttl-attribute", "w") as f:
    f.write(ttl.get("AttributeName", "") if ttl.get("Enabled") else "")
pitr = (p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
with open(f"{work}/pitr", "w") as f:
    f.write("true" if pitr else "")
PYEOF

if awslocal dynamodb describe-table --table-name "$TABLE" >/dev/null 2>&1; then
  log "table $TABLE already exists"
else
  awslocal dynamodb create-table --cli-input-json "file://$WORK/create-table.json" >/dev/null
  awslocal dynamodb wait table-exists --table-name "$TABLE"
  log "table $TABLE created from $TEMPLATE"
fi

ttl_attribute="$(cat "$WORK/ttl-attribute")"
if [[ -n "$ttl_attribute" ]]; then
  if awslocal dynamodb update-time-to-live --table-name "$TABLE" \
    --time-to-live-specification "Enabled=true,AttributeName=$ttl_attribute" >/dev/null 2>&1; then
    log "TTL on attribute $ttl_attribute"
  else
    log "TTL already set (or not supported here); continuing"
  fi
fi
if [[ -n "$(cat "$WORK/pitr")" ]]; then
  if awslocal dynamodb update-continuous-backups --table-name "$TABLE" \
    --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true >/dev/null 2>&1; then
    log "point-in-time recovery on"
  else
    log "point-in-time recovery not supported here; continuing"
  fi
fi
