"""The project's local AWS endpoint: moto's own WSGI application (Secrets Manager, SSM, STS, ...) behind a thin
middleware of ours that adds what tests need and moto lacks:

* ``GET /_esr/health``                 readiness probe.
* ``GET /_esr/counters``                calls per operation, e.g. ``{"secretsmanager.GetSecretValue": 3}``;
  ``DELETE /_esr/counters`` resets them.
* ``GET /_esr/calls``                   every call so far, in order: ``[{"operation": ..., "at": <unix seconds>,
  "principal": ...}]`` (for the timing of retries and who called); ``DELETE`` clears them.
* ``POST /_esr/faults``                 ``{"operation": "GetSecretValue", "mode": "throttle"|"error500"|"delay"|
  "deny"|"kms", "count": N, "delay_ms": M, "secret": NAME}`` makes the next N matching calls fail (count -1: until
  cleared). With ``secret``, only reads of that Secrets Manager secret fail, the way AWS reports it: a
  ``GetSecretValue`` of it is answered with ``AccessDeniedException`` ("deny") or ``DecryptionFailure`` ("kms", its
  KMS key refusing to decrypt), and a ``BatchGetSecretValue`` leaves it out of ``SecretValues`` and names it in
  ``Errors`` (the count is not used up). ``DELETE /_esr/faults`` clears all faults.
* ``POST /_esr/iam``                    ``{"principals": {PRINCIPAL: [{"effect": "Allow"|"Deny", "actions":
  ["secretsmanager:GetSecretValue", ...], "resources": ["arn:aws:secretsmanager:...:secret:prod/db-*", ...]}]}}``
  gives principals an identity policy. A principal is a role ARN (for the sessions ``AssumeRole`` and
  ``AssumeRoleWithWebIdentity`` handed out) or an access key id. A principal with a policy may do only what an
  Allow statement grants and no Deny statement takes away (``*`` and ``?`` are wildcards); principals without
  one are not restricted. Secrets Manager and SSM calls are checked against the resource ARNs AWS uses (a secret's
  full ARN, ``arn:aws:ssm:<region>:<account>:parameter/<name>``, ``*`` for listing and batch calls; every name of
  ``GetParameters``); a refusal is AWS's ``AccessDeniedException``. As in AWS, ``BatchGetSecretValue`` also needs
  ``secretsmanager:GetSecretValue`` on each secret: the others are named in ``Errors``. ``DELETE`` removes all
  policies. moto's own IAM enforcement cannot do this: it is process-wide and checks Secrets Manager and SSM calls
  against resource ``*`` only.
* ``POST /_esr/irsa``                   ``{"issuer": ..., "jwks": {...}, "roles": {"system:serviceaccount:ns:sa":
  "arn:aws:iam::...:role/..."}}`` turns on verification of ``AssumeRoleWithWebIdentity``: the token must be a JWT
  signed by a key of ``jwks``, issued by ``issuer``, for audience ``sts.amazonaws.com`` (or one listed in
  ``audiences``), unexpired, and the role asked for must be the one registered for its subject. moto alone accepts
  any string as a web identity token. ``GET /_esr/irsa/calls`` lists the verified subjects and roles.
"""

import argparse
import json
import re
import threading
import time
from io import BytesIO
from urllib.parse import parse_qs

import jwt
from moto.iam.models import get_account_id_from
from moto.secretsmanager.models import secretsmanager_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

LOCK = threading.Lock()
COUNTERS = {}
CALLS = []
MAX_CALLS = 100000
FAULTS = []
IRSA = {"config": None, "calls": []}
# policies: principal -> statements; sessions: access key id of an assumed-role session -> role ARN.
IAM = {"policies": {}, "sessions": {}}
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/")
# Secrets Manager operations that name one secret with SecretId, and the SSM operations that name parameters.
SECRET_OPERATIONS = {"GetSecretValue", "DescribeSecret", "ListSecretVersionIds", "GetResourcePolicy",
                     "PutSecretValue", "UpdateSecret", "DeleteSecret", "RestoreSecret", "TagResource",
                     "UntagResource", "PutResourcePolicy", "DeleteResourcePolicy", "RotateSecret",
                     "CancelRotateSecret", "UpdateSecretVersionStage", "ReplicateSecretToRegions",
                     "RemoveRegionsFromReplication", "StopReplicationToReplica", "ValidateResourcePolicy"}
PARAMETER_FIELDS = {"GetParameter": "Name", "PutParameter": "Name", "DeleteParameter": "Name",
                    "GetParameterHistory": "Name", "LabelParameterVersion": "Name",
                    "UnlabelParameterVersion": "Name", "GetParametersByPath": "Path",
                    "GetParameters": "Names", "DeleteParameters": "Names",
                    "ListTagsForResource": "ResourceId", "AddTagsToResource": "ResourceId",
                    "RemoveTagsFromResource": "ResourceId"}


def _json(start_response, status, body):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = BytesIO(body)
    return body


def _operation(environ, body):
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        prefix, _, op = target.partition(".")
        service = {"secretsmanager": "secretsmanager", "AmazonSSM": "ssm"}.get(prefix, prefix)
        return service, op
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (form.get("Action") or query.get("Action") or [None])[0]
    if action:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = "sts" if ("/sts/" in auth or "AssumeRole" in action or not auth) else "query"
        return service, action
    return None, None


def _sts_error(start_response, code, message, status="400 Bad Request"):
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>esr</RequestId></ErrorResponse>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _json_error(start_response, code, message, status="400 Bad Request"):
    data = json.dumps({"__type": code, "message": message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]


def _verify_web_identity(body):
    """Returns None when the call is allowed, else (code, message)."""
    cfg = IRSA["config"]
    if cfg is None:
        return None
    form = parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("WebIdentityToken") or [""])[0]
    role = (form.get("RoleArn") or [""])[0]
    audiences = cfg.get("audiences") or ["sts.amazonaws.com"]
    try:
        header = jwt.get_unverified_header(token)
        keys = {k.get("kid"): k for k in cfg["jwks"].get("keys", [])}
        jwk = keys.get(header.get("kid")) or (list(keys.values())[0] if len(keys) == 1 else None)
        if jwk is None:
            return "InvalidIdentityToken", "no key in the JWKS matches the token"
        key = jwt.PyJWK(jwk)
        claims = jwt.decode(token, key.key, algorithms=[header.get("alg", "RS256")], audience=audiences,
                            issuer=cfg["issuer"], options={"require": ["exp", "iss", "aud", "sub"]})
    except jwt.ExpiredSignatureError:
        return "ExpiredTokenException", "the web identity token has expired"
    except Exception as e:  # noqa: BLE001 - any verification failure is an invalid token
        return "InvalidIdentityToken", f"token verification failed: {type(e).__name__}: {e}"
    subject = claims["sub"]
    expected = cfg.get("roles", {}).get(subject)
    if expected != role:
        return "AccessDenied", f"subject {subject} may not assume {role}"
    with LOCK:
        IRSA["calls"].append({"sub": subject, "role": role, "aud": claims.get("aud")})
    return None


def _glob(pattern, text, fold=False):
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE if fold else 0) is not None


def _caller(environ):
    """(access key id, region) of a SigV4-signed request, or (None, None)."""
    match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return (match.group(1), match.group(2)) if match else (None, None)


def _allowed(statements, action, resource):
    allowed = False
    for statement in statements:
        if not any(_glob(a, action, fold=True) for a in statement.get("actions", [])):
            continue
        if not any(_glob(r, resource) for r in statement.get("resources", ["*"])):
            continue
        if statement.get("effect", "Allow") == "Deny":
            return False
        allowed = True
    return allowed


def _secret_arn(account, region, secret_id):
    """The full ARN of a secret named by name or (partial) ARN; a made-up one for a secret that does not exist."""
    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    if secret is not None:
        return secret.arn
    if secret_id.startswith("arn:"):
        return secret_id
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"


def _parameter_arn(account, region, name):
    if name.startswith("arn:"):
        return name
    name = name.split(":", 1)[0]  # a version or label selector is not part of the resource
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def _resources(service, op, request, account, region):
    """The resource ARNs a call is authorized against."""
    if service == "secretsmanager" and op in SECRET_OPERATIONS and request.get("SecretId"):
        return [_secret_arn(account, region, request["SecretId"])]
    if service == "ssm" and op in PARAMETER_FIELDS:
        names = request.get(PARAMETER_FIELDS[op])
        names = names if isinstance(names, list) else [names] if names else []
        return [_parameter_arn(account, region, n) for n in names] or ["*"]
    return ["*"]


def _denial(principal, action, resource):
    return (f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action")


def _secret_name(secret_id):
    """A secret's name from its name or (partial) ARN."""
    if ":secret:" not in secret_id:
        return secret_id
    name = secret_id.split(":secret:", 1)[1]
    return re.sub(r"-[A-Za-z0-9]{6}$", "", name)


def _secret_fault(name):
    """The per-secret fault for reads of secret `name`, if any (never used up)."""
    with LOCK:
        for f in FAULTS:
            if f.get("secret") == name and f.get("count", 1) != 0 and f.get("mode") in ("deny", "kms"):
                return f["mode"]
    return None


SECRET_FAULT_ERRORS = {
    "deny": ("AccessDeniedException", "denied by test fault"),
    "kms": ("DecryptionFailure",
            "Secrets Manager can't decrypt the protected secret text using the provided KMS key."),
}


def _filter_batch(body, request, can_read):
    """Moves the entries of a BatchGetSecretValue answer that the caller may not read (IAM) or that a per-secret
    fault hits into ``Errors``, as AWS reports them."""
    answer = json.loads(body)
    requested = request.get("SecretIdList") or []
    kept, errors = [], answer.get("Errors", [])
    for entry in answer.get("SecretValues", []):
        refusal = None
        if not can_read(entry["ARN"]):
            refusal = ("AccessDeniedException", "not authorized to perform: secretsmanager:GetSecretValue")
        elif (mode := _secret_fault(entry["Name"])) is not None:
            refusal = SECRET_FAULT_ERRORS[mode]
        if refusal is None:
            kept.append(entry)
            continue
        secret_id = next((i for i in requested if i in (entry["Name"], entry["ARN"])
                          or (i.startswith("arn:") and entry["ARN"].startswith(i))), entry["ARN"])
        errors.append({"SecretId": secret_id, "ErrorCode": refusal[0], "Message": refusal[1]})
    answer["SecretValues"] = kept
    answer["Errors"] = errors
    return json.dumps(answer).encode()


def _call_moto(moto_app, environ):
    """Calls moto; (status, headers, body bytes)."""
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers

    body = b"".join(moto_app(environ, capture))
    return captured["status"], captured["headers"], body


def _respond(start_response, status, headers, body):
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]


def make_app():
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/_esr/"):
            body = _read_body(environ)
            with LOCK:
                if path == "/_esr/health":
                    return _json(start_response, "200 OK", {"ok": True})
                if path == "/_esr/counters":
                    if method == "DELETE":
                        COUNTERS.clear()
                    return _json(start_response, "200 OK", dict(COUNTERS))
                if path == "/_esr/calls":
                    if method == "DELETE":
                        CALLS.clear()
                    return _json(start_response, "200 OK", list(CALLS))
                if path == "/_esr/iam":
                    if method == "POST":
                        IAM["policies"] = json.loads(body or b"{}").get("principals", {})
                    elif method == "DELETE":
                        IAM["policies"] = {}
                    return _json(start_response, "200 OK", {"principals": sorted(IAM["policies"])})
                if path == "/_esr/faults":
                    if method == "DELETE":
                        FAULTS.clear()
                    elif method == "POST":
                        FAULTS.append(json.loads(body or b"{}"))
                    return _json(start_response, "200 OK", list(FAULTS))
                if path == "/_esr/irsa":
                    if method == "POST":
                        IRSA["config"] = json.loads(body or b"{}")
                        IRSA["calls"] = []
                    elif method == "DELETE":
                        IRSA["config"] = None
                    return _json(start_response, "200 OK", {"enabled": IRSA["config"] is not None})
                if path == "/_esr/irsa/calls":
                    return _json(start_response, "200 OK", list(IRSA["calls"]))
            return _json(start_response, "404 Not Found", {"error": "unknown test endpoint"})

        body = _read_body(environ)
        service, op = _operation(environ, body)
        access_key, region = _caller(environ)
        with LOCK:
            principal = IAM["sessions"].get(access_key, access_key)
            statements = IAM["policies"].get(principal)
        if op:
            with LOCK:
                name = f"{service}.{op}"
                COUNTERS[name] = COUNTERS.get(name, 0) + 1
                CALLS.append({"operation": name, "at": time.time(), "principal": principal})
                del CALLS[:-MAX_CALLS]
                fault = None
                for f in FAULTS:
                    if "secret" in f:
                        continue
                    if f.get("operation") in (op, name, "*") and f.get("count", 1) != 0:
                        fault = dict(f)
                        if f.get("count", 1) > 0:
                            f["count"] = f.get("count", 1) - 1
                        break
            if fault:
                mode = fault.get("mode")
                if mode == "delay":
                    time.sleep(fault.get("delay_ms", 1000) / 1000.0)
                elif mode == "throttle":
                    if service == "sts":
                        return _sts_error(start_response, "Throttling", "Rate exceeded")
                    return _json_error(start_response, "ThrottlingException", "Rate exceeded")
                elif mode == "deny":
                    if service == "sts":
                        return _sts_error(start_response, "AccessDenied", "denied by test fault", "403 Forbidden")
                    return _json_error(start_response, "AccessDeniedException", "denied by test fault")
                elif mode == "error500":
                    return _json_error(start_response, "InternalServiceError", "injected failure",
                                       "500 Internal Server Error")
            if service == "sts" and op == "AssumeRoleWithWebIdentity":
                denied = _verify_web_identity(body)
                if denied:
                    return _sts_error(start_response, denied[0], denied[1], "403 Forbidden")
        if service in ("secretsmanager", "ssm") and op and region:
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = {}
            account = get_account_id_from(access_key or "")
            action = f"{service}:{op}"
            if statements is not None:
                for resource in _resources(service, op, request, account, region):
                    if not _allowed(statements, action, resource):
                        return _json_error(start_response, "AccessDeniedException",
                                           _denial(principal, action, resource))
            if service == "secretsmanager" and op == "GetSecretValue" and request.get("SecretId"):
                secret = secretsmanager_backends[account][region].secrets.get(request["SecretId"])
                mode = _secret_fault(secret.name if secret is not None else _secret_name(request["SecretId"]))
                if mode is not None:
                    return _json_error(start_response, *SECRET_FAULT_ERRORS[mode])
            if service == "secretsmanager" and op == "BatchGetSecretValue":
                status, headers, answer = _call_moto(moto_app, environ)
                if status.startswith("200"):
                    def can_read(arn):
                        return statements is None or _allowed(statements, "secretsmanager:GetSecretValue", arn)
                    answer = _filter_batch(answer, request, can_read)
                return _respond(start_response, status, headers, answer)
        if service == "sts" and op in ("AssumeRole", "AssumeRoleWithWebIdentity"):
            status, headers, answer = _call_moto(moto_app, environ)
            key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", answer)
            role = (parse_qs(body.decode("utf-8", "replace")).get("RoleArn") or [""])[0]
            if status.startswith("200") and key and role:
                with LOCK:
                    IAM["sessions"][key.group(1).decode()] = role
            return _respond(start_response, status, headers, answer)
        return moto_app(environ, start_response)

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    run_simple(args.host, args.port, make_app(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
