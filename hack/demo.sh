#!/usr/bin/env bash
# `make demo`: the user story of ../shared/walkthrough.md, replayed on a private local cluster (etcd,
# kube-apiserver, kube-controller-manager) with a local AWS endpoint (moto, whose STS here verifies web identity
# tokens against the cluster's keys) standing in for AWS. It applies the manifests of examples/walkthrough/, runs
# the operator as its own ServiceAccount with the shipped ClusterRole, checks every step reaches its expected
# state (bounded waits; exits non-zero and shows the operator log when one does not), and stops everything on exit.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export ESR_STATE_DIR=${ESR_STATE_DIR:-$(mktemp -d /tmp/esr-demo.XXXXXX)}
cargo=${CARGO:-cargo}
moto_python=${ESR_MOTO_PYTHON:-$("$here/aws-endpoint.sh" venv)}
examples=examples/walkthrough
cd "$root"
work=$(mktemp -d /tmp/esr-demo-files.XXXXXX)
operator_log=$work/operator.log
operator_pid=""

# The demo's refresh interval: the manifests say 1h (as in the walkthrough); the demo wants to show rotation.
refresh=10s
# Demo values, made up for this run. Showing them is part of the demo; the operator must never show them.
username=app_user
password=demo-Initial-Pa55word
rotated=demo-Rotated-Pa55word-2
ssm_username=app_user_ro
ssm_password=demo-Ssm-Pa55word
ssm_readonly=demo-Ssm-Readonly-Pa55
ssm_other=demo-Other-Api-Key
api_token=demo-Cluster-Made-Api-Token
values=("$password" "$rotated" "$ssm_password" "$ssm_readonly" "$ssm_other" "$api_token")

stop_operator() {
  if [ -n "$operator_pid" ] && kill -0 "$operator_pid" 2>/dev/null; then
    kill -TERM "$operator_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$operator_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$operator_pid" 2>/dev/null || true
  fi
  operator_pid=""
}
cleanup() {
  local status=$?
  trap - ERR
  stop_operator
  "$cargo" run --quiet -p external-secrets-testsupport --bin local-cluster -- down >/dev/null 2>&1 || true
  if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "(demo files kept in $work)" >&2; fi
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
fail() {
  trap - ERR
  printf '\n\033[1;31mDEMO FAILED: %s\033[0m\n' "$*" >&2
  if [ -s "$operator_log" ]; then
    printf -- '--- the last lines of the operator log (%s):\n' "$operator_log" >&2
    tail -n 40 "$operator_log" >&2
  fi
  exit 1
}
trap 'fail "line $LINENO: \`$BASH_COMMAND\` failed"' ERR

# wait_until SECONDS WHAT COMMAND...: runs COMMAND once a second until it succeeds; fails the demo after SECONDS.
wait_until() {
  local timeout=$1 what=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$operator_pid" ] && ! kill -0 "$operator_pid" 2>/dev/null; then
      fail "the operator exited while waiting for: $what"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not reached within ${timeout}s"
    sleep 1
  done
}
aws() { "$moto_python" "$here/demo_aws.py" "$@"; }
http_ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1"; }
# The decoded value of one key of a Secret in `default`.
secret_value() { kubectl get secret "$1" -o "jsonpath={.data.$2}" | base64 -d; }
secret_value_is() { [ "$(secret_value "$1" "$2")" = "$3" ]; }
field() { kubectl get "$1" "$2" -o "jsonpath=$3"; }
field_differs() { [ "$(field "$1" "$2" "$3")" != "$4" ]; }
# check_secret NAME EXPECTED_JSON: type Opaque, exactly these keys with these values, ESO's data-hash annotation.
check_secret() {
  kubectl get secret "$1" -o json | python3 -c '
import base64, json, sys
secret, expected = json.load(sys.stdin), json.loads(sys.argv[1])
data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
problems = []
kind = secret.get("type")
if kind != "Opaque":
    problems.append(f"type is {kind}, not Opaque")
if sorted(data) != sorted(expected):
    problems.append(f"keys are {sorted(data)}, expected {sorted(expected)}")
problems += [f"{k} does not hold the value from AWS" for k in expected if k in data and data[k] != expected[k]]
if not secret["metadata"].get("annotations", {}).get("reconcile.external-secrets.io/data-hash"):
    problems.append("no reconcile.external-secrets.io/data-hash annotation")
if problems:
    sys.exit("; ".join(problems))
' "$2" || fail "Secret $1 is not as expected"
}

step "Building the operator (cargo build -p external-secrets)"
bin=$("$cargo" build --quiet -p external-secrets --message-format=json-render-diagnostics | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "external-secrets":
        print(message.get("executable") or "")
')
[ -x "$bin" ] || fail "cargo build did not produce the external-secrets binary"
note "$bin"

step "Starting etcd, kube-apiserver, kube-controller-manager and the local AWS endpoint"
exports=$("$cargo" run --quiet -p external-secrets-testsupport --bin local-cluster -- up 2>"$work/cluster-up.log") ||
  { cat "$work/cluster-up.log" >&2; fail "the local cluster did not start"; }
eval "$exports"
note "KUBECONFIG=$KUBECONFIG (admin)"
note "AWS endpoint $AWS_ENDPOINT_URL (Secrets Manager, SSM, STS), region $AWS_REGION"
show kubectl get namespaces
show kubectl apply --server-side -f deploy/crds/bundle.yaml
kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null || fail "the CRDs were not established"

step "Step 1 (install): the operator in namespace external-secrets, as its own ServiceAccount"
show kubectl create namespace external-secrets
show kubectl -n external-secrets create serviceaccount external-secrets
show kubectl apply -f deploy/rbac/controller-clusterrole.yaml
show kubectl create clusterrolebinding external-secrets-controller --clusterrole=external-secrets-controller \
  --serviceaccount=external-secrets:external-secrets
# What the pod would get: a kubeconfig with a token of the ServiceAccount (not admin).
token=$(kubectl -n external-secrets create token external-secrets --duration=2h)
server=$(kubectl config view --minify -o 'jsonpath={.clusters[0].cluster.server}')
ca=$(kubectl config view --minify --raw -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')
(
  umask 077
  cat >"$work/operator.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: external-secrets
  user: {token: "$token"}
contexts:
- name: operator
  context: {cluster: local, user: external-secrets}
current-context: operator
EOF
)
show kubectl --kubeconfig "$work/operator.kubeconfig" auth whoami
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The AWS endpoint variables point the SDK at the local endpoint; no AWS keys: the stores use IRSA.
flags=(--metrics-addr="127.0.0.1:$port" --live-addr="127.0.0.1:$port" --log-format=text)
# Our own crates at debug level: the leak check at the end reads that log.
log_filter=info,external_secrets=debug
printf '\033[2m$ KUBECONFIG=operator.kubeconfig RUST_LOG=%s external-secrets controller %s &\033[0m\n' \
  "$log_filter" "${flags[*]}"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY KUBECONFIG="$work/operator.kubeconfig" RUST_LOG="$log_filter" \
  "$bin" controller "${flags[@]}" >"$operator_log" 2>&1 &
operator_pid=$!
wait_until 60 "the operator reports ready on /readyz" http_ok "http://127.0.0.1:$port/readyz"
note "operator running (pid $operator_pid) and ready, with the AWS endpoint variables and no AWS keys;"
note "its log: $operator_log"

step "Step 2 (identity): the ServiceAccount appsecrets-sa and the IAM role it stands for"
role=$(sed -n 's|^ *eks.amazonaws.com/role-arn: *||p' "$examples/serviceaccount.yaml")
subject=system:serviceaccount:default:appsecrets-sa
issuer=$(kubectl get --raw /.well-known/openid-configuration | python3 -c 'import json, sys; print(json.load(sys.stdin)["issuer"])')
kubectl get --raw /openid/v1/jwks | aws trust "$issuer" "$subject" "$role"
note "the cluster's OIDC provider, as the local STS now sees it: a web identity token must be signed by this"
note "cluster (its JWKS), issued by $issuer, for audience sts.amazonaws.com; only"
note "$subject may assume $role"
show kubectl apply -f "$examples/serviceaccount.yaml"
document() { printf '{"username":"%s","password":"%s","host":"db.internal.example","port":5432,"engine":"postgres"}' "$1" "$2"; }
aws create-secret prod/app/db "$(document "$username" "$password")"
note "Secrets Manager secret prod/app/db: {username, password, host, port, engine} (password: $password)"

step "Step 3 (SecretStore): examples/walkthrough/secretstore.yaml"
show kubectl apply -f "$examples/secretstore.yaml"
kubectl wait --for=condition=Ready --timeout=60s secretstore/aws-secretsmanager >/dev/null ||
  fail "SecretStore aws-secretsmanager did not become Ready: $(field secretstore aws-secretsmanager '{.status.conditions}')"
show kubectl get secretstores
[ "$(field secretstore aws-secretsmanager '{.status.conditions[0].reason}')" = Valid ] || fail "the store is not Valid"
note "STS verified: $(aws verified-calls)"

step "Step 4 (ExternalSecret): examples/walkthrough/externalsecret.yaml, with refreshInterval $refresh instead of 1h"
note "(only so that rotation shows within seconds; the rest as in the file)"
printf '\033[2m$ sed "s/refreshInterval: 1h/refreshInterval: %s/" examples/walkthrough/externalsecret.yaml | kubectl apply -f -\033[0m\n' "$refresh"
manifest=$(sed "s/refreshInterval: 1h/refreshInterval: $refresh/" "$examples/externalsecret.yaml")
grep -q "refreshInterval: $refresh" <<<"$manifest" || fail "externalsecret.yaml has no 'refreshInterval: 1h' to shorten"
kubectl apply -f - <<<"$manifest"
kubectl wait --for=condition=Ready --timeout=60s externalsecret/appsecret >/dev/null ||
  fail "ExternalSecret appsecret did not sync: $(field externalsecret appsecret '{.status.conditions}')"
show kubectl get externalsecrets

step "Step 5 (the synced Secret)"
show kubectl describe secret appsecret
check_secret appsecret "{\"app-db-username\": \"$username\", \"app-db-password\": \"$password\"}"
note "checked: type Opaque, exactly app-db-username and app-db-password, the values of prod/app/db, data-hash set"
note "(step 6, a Pod reading the Secret through secretKeyRef, needs a node: this local cluster has none)"

step "Step 7 (rotation): a new password in Secrets Manager; nobody touches the cluster"
hash=$(field secret appsecret '{.metadata.annotations.reconcile\.external-secrets\.io/data-hash}')
note "before: app-db-password = $(secret_value appsecret app-db-password), data-hash $hash"
aws rotate-secret prod/app/db "$(document "$username" "$rotated")"
rotated_at=$SECONDS
wait_until 60 "the rotated password reaches Secret appsecret" secret_value_is appsecret app-db-password "$rotated"
hash=$(field secret appsecret '{.metadata.annotations.reconcile\.external-secrets\.io/data-hash}')
note "after $((SECONDS - rotated_at))s: app-db-password = $(secret_value appsecret app-db-password), data-hash $hash"
check_secret appsecret "{\"app-db-username\": \"$username\", \"app-db-password\": \"$rotated\"}"
note "When nothing changes, nothing is written: watching two more refreshes..."
rv=$(field secret appsecret '{.metadata.resourceVersion}')
reads=$(aws count secretsmanager.GetSecretValue)
refreshes=()
refreshed=$(field externalsecret appsecret '{.status.refreshTime}')
for _ in 1 2; do
  wait_until 60 "a refresh of ExternalSecret appsecret" field_differs externalsecret appsecret '{.status.refreshTime}' "$refreshed"
  refreshed=$(field externalsecret appsecret '{.status.refreshTime}')
  refreshes+=("$refreshed")
done
[ "$(field secret appsecret '{.metadata.resourceVersion}')" = "$rv" ] || fail "an unchanged value rewrote the Secret"
note "refreshed at ${refreshes[0]} and ${refreshes[1]} (GetSecretValue calls $reads -> $(aws count secretsmanager.GetSecretValue));"
note "Secret resourceVersion still $rv: nothing written"

step "Step 8 (Parameter Store): SecureString parameters, by name and by path"
aws put-parameter /app/db/username "$ssm_username"
aws put-parameter /app/db/password "$ssm_password"
aws put-parameter /app/db/readonly/password "$ssm_readonly"
aws put-parameter /other/api-key "$ssm_other"
note "SSM parameters: /app/db/username, /app/db/password, /app/db/readonly/password, /other/api-key"
show kubectl apply -f "$examples/secretstore-parameterstore.yaml" -f "$examples/externalsecret-parameterstore.yaml"
kubectl wait --for=condition=Ready --timeout=60s secretstore/aws-parameterstore >/dev/null ||
  fail "SecretStore aws-parameterstore did not become Ready: $(field secretstore aws-parameterstore '{.status.conditions}')"
kubectl wait --for=condition=Ready --timeout=60s externalsecret/appsecret-params >/dev/null ||
  fail "ExternalSecret appsecret-params did not sync: $(field externalsecret appsecret-params '{.status.conditions}')"
show kubectl get secretstores
show kubectl get externalsecrets
show kubectl describe secret appsecret-params
check_secret appsecret-params "{\"app-db-password\": \"$ssm_password\", \"_app_db_username\": \"$ssm_username\",
  \"_app_db_password\": \"$ssm_password\", \"_app_db_readonly_password\": \"$ssm_readonly\"}"
note "checked: /app/db/password by name, everything under /app/db (recursively) by path, nothing else"

step "PushSecret: a Secret made in the cluster appears in Secrets Manager"
show kubectl create secret generic app-api-token --from-literal=token="$api_token"
show kubectl apply -f "$examples/pushsecret.yaml"
kubectl wait --for=condition=Ready --timeout=60s pushsecret/app-api-token >/dev/null ||
  fail "PushSecret app-api-token did not sync: $(field pushsecret app-api-token '{.status.conditions}')"
show kubectl get pushsecrets
remote_is() { [ "$(aws get-secret "$1")" = "$2" ]; }
remote_is prod/app/api-token "$api_token" || fail "prod/app/api-token does not hold the Secret's token"
[ "$(aws managed-by prod/app/api-token)" = external-secrets ] || fail "prod/app/api-token is not tagged managed-by"
note "Secrets Manager prod/app/api-token = $(aws get-secret prod/app/api-token), tagged managed-by: external-secrets"

# Kept for the check at the end: the status of everything, before it is deleted.
kubectl get externalsecrets,secretstores,pushsecrets -A -o json >"$work/status.json"

step "Step 9 (clean up): deleting the ExternalSecrets removes the Secrets they own, the PushSecret what it pushed"
show kubectl delete externalsecret appsecret appsecret-params
wait_until 60 "the owned Secrets are deleted" sh -c '! kubectl get secret appsecret appsecret-params -o name 2>/dev/null | grep -q .'
show kubectl delete pushsecret app-api-token
remote_gone() { ! aws get-secret "$1"; }
wait_until 60 "prod/app/api-token is deleted from Secrets Manager" remote_gone prod/app/api-token
note "prod/app/api-token deleted in Secrets Manager (deletionPolicy: Delete)"
show kubectl delete secretstore aws-secretsmanager aws-parameterstore
show kubectl get externalsecrets,secretstores,secrets -n default

step "No secret value in the operator log, in events, or in any status"
evidence=$work/evidence.txt
{
  cat "$operator_log" "$work/status.json"
  kubectl get events -A -o json
  kubectl get events.events.k8s.io -A -o json
} >"$evidence"
for value in "${values[@]}"; do
  if grep -qF -- "$value" "$evidence"; then fail "a secret value appears in the operator log or in events"; fi
done
note "checked $(wc -l <"$operator_log") lines of the operator's debug log, every event and status for ${#values[@]} values"

step "Done: stopping the operator (pid $operator_pid) and the local cluster"
stop_operator
