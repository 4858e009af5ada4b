"""What `make demo` does at "AWS": the administrator's side of the walkthrough, against the local endpoint.

Run with the moto virtualenv's Python (it has boto3). The endpoint, region and the administrator's keys come from
the environment that `local-cluster up` prints (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...).

  create-secret NAME JSON          Secrets Manager CreateSecret
  rotate-secret NAME JSON          Secrets Manager PutSecretValue (a new current version)
  get-secret NAME                  Secrets Manager GetSecretValue: the value (string or binary); exit 1 when there
                                   is none or it is deleted
  managed-by NAME                  the secret's managed-by tag
  put-parameter NAME VALUE         SSM PutParameter, SecureString, overwriting
  trust ISSUER SUBJECT ROLE        turn on the endpoint's STS verification of web identity tokens: the JWKS (read
                                   from stdin) and issuer of the cluster, and the one subject allowed ROLE
  verified-calls                   the AssumeRoleWithWebIdentity calls the endpoint verified, one per line
  count OPERATION                  how often the endpoint served OPERATION (e.g. secretsmanager.GetSecretValue)
"""

import json
import os
import sys
import urllib.request

import boto3


def endpoint():
    return os.environ["AWS_ENDPOINT_URL"].rstrip("/")


def client(service):
    return boto3.client(service, endpoint_url=endpoint(), region_name=os.environ.get("AWS_REGION", "eu-west-1"))


def test_api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint() + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def main(argv):
    if not argv:
        sys.exit(__doc__)
    command, args = argv[0], argv[1:]
    if command == "create-secret":
        name, document = args
        client("secretsmanager").create_secret(Name=name, SecretString=document)
    elif command == "rotate-secret":
        name, document = args
        client("secretsmanager").put_secret_value(SecretId=name, SecretString=document)
    elif command == "get-secret":
        (name,) = args
        sm = client("secretsmanager")
        try:
            answer = sm.get_secret_value(SecretId=name)
        except (sm.exceptions.ResourceNotFoundException, sm.exceptions.InvalidRequestException):
            sys.exit(1)  # none, or deleted (scheduled for deletion: AWS answers InvalidRequest)
        value = answer.get("SecretString")
        if value is None:
            value = answer["SecretBinary"].decode()
        print(value)
    elif command == "managed-by":
        (name,) = args
        tags = client("secretsmanager").describe_secret(SecretId=name).get("Tags", [])
        print(next((t["Value"] for t in tags if t["Key"] == "managed-by"), ""))
    elif command == "put-parameter":
        name, value = args
        client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    elif command == "trust":
        issuer, subject, role = args
        config = {"issuer": issuer, "jwks": json.load(sys.stdin), "roles": {subject: role}}
        if not test_api("POST", "/_esr/irsa", config).get("enabled"):
            sys.exit("the endpoint did not enable web identity verification")
    elif command == "verified-calls":
        for call in test_api("GET", "/_esr/irsa/calls"):
            print(f"{call['sub']} assumed {call['role']} (token audience {call['aud']})")
    elif command == "count":
        (operation,) = args
        print(test_api("GET", "/_esr/counters").get(operation, 0))
    else:
        sys.exit(f"unknown command {command!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
