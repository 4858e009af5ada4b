"""The project's local AWS endpoint: moto's own WSGI application (Secrets Manager, SSM, STS, ...) behind a thin
middleware of ours that adds what tests need and moto lacks:

* ``GET /_esr/health``                 readiness probe.
* ``GET /_esr/counters``                calls per operation, e.g. ``{"secretsmanager.GetSecretValue": 3}``;
  ``DELETE /_esr/counters`` resets them.
* ``POST /_esr/faults``                 ``{"operation": "GetSecretValue", "mode": "throttle"|"error500"|"delay"|
  "deny", "count": N, "delay_ms": M}`` makes the next N matching calls fail (count -1: until cleared);
  ``DELETE /_esr/faults`` clears all faults.
* ``POST /_esr/irsa``                   ``{"issuer": ..., "jwks": {...}, "roles": {"system:serviceaccount:ns:sa":
  "arn:aws:iam::...:role/..."}}`` turns on verification of ``AssumeRoleWithWebIdentity``: the token must be a JWT
  signed by a key of ``jwks``, issued by ``issuer``, for audience ``sts.amazonaws.com`` (or one listed in
  ``audiences``), unexpired, and the role asked for must be the one registered for its subject. moto alone accepts
  any string as a web identity token. ``GET /_esr/irsa/calls`` lists the verified subjects and roles.
"""

import argparse
import json
import threading
import time
from io import BytesIO
from urllib.parse import parse_qs

import jwt
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

LOCK = threading.Lock()
COUNTERS = {}
FAULTS = []
IRSA = {"config": None, "calls": []}


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
        if op:
            with LOCK:
                name = f"{service}.{op}"
                COUNTERS[name] = COUNTERS.get(name, 0) + 1
                fault = None
                for f in FAULTS:
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
