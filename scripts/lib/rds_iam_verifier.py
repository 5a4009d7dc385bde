#!/usr/bin/python3
"""Checks an RDS IAM auth token the way RDS does, for the tests' PostgreSQL (scripts/lib/rds-iam.sh).

PostgreSQL's `pam` authentication hands the password the client sent to the PAM service, whose
`pam_exec expose_authtok` runs this with the password on stdin (NUL-terminated) and PAM_USER set. It
recomputes the token's signature with botocore, from the token's own X-Amz-Date and the secret key
that config.json holds for the token's access key, and exits 0 only when everything holds:

- the token is for this endpoint (host:port), this region, service rds-db, and this login user;
- the user is one the "policy" (config.json's users) allows;
- the access key is known, and the session token is there exactly when the key needs one;
- X-Amz-Expires is at most 900 and the token is neither expired nor from the future (the user's
  clock_offset_seconds moves this verifier's clock, to play a server whose clock is ahead);
- the signature matches.

Every attempt appends one JSON line (user, result, reason; never the token) to config.json's log, so
a test can tell why a login was refused. Limitation: pam_exec passes at most 512 bytes of password
(PAM_MAX_RESP_SIZE), so the tests' session tokens are short; a real STS token would not fit.
"""

import datetime
import hmac
import json
import os
import sys
import time
from urllib.parse import parse_qsl

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_EXPIRES = 900
FUTURE_TOLERANCE = 300


class Refused(Exception):
    pass


def expected_signature(authority, user, amz_date, region, access_key, secret, session_token, expires):
    """The signature botocore's generate_db_auth_token would have made at amz_date."""
    auth = SigV4QueryAuth(Credentials(access_key, secret, session_token), "rds-db", region, expires=expires)
    request = AWSRequest(
        method="GET", url=f"https://{authority}/", data={"Action": "connect", "DBUser": user}
    )
    request.context["timestamp"] = amz_date
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


def check(token, login_user, config):
    if token.startswith("http://") or token.startswith("https://"):
        raise Refused("token starts with a scheme")
    authority, sep, query = token.partition("/?")
    if not sep:
        raise Refused("not a presigned URL")
    if authority.lower() != config["endpoint"].lower():
        raise Refused(f"wrong host: token is for {authority}, this endpoint is {config['endpoint']}")
    params = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    names = [name for name, _ in params]
    if len(set(names)) != len(names):
        raise Refused("repeated parameter")
    p = dict(params)
    if p.get("Action") != "connect":
        raise Refused("Action is not connect")
    if p.get("DBUser") != login_user:
        raise Refused("wrong user: the token's DBUser is not the login user")
    user_policy = config["users"].get(login_user)
    if user_policy is None:
        raise Refused(f"user {login_user} not allowed by the policy")
    if p.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or p.get("X-Amz-SignedHeaders") != "host":
        raise Refused("wrong algorithm or signed headers")
    access_key, date, region, service, terminator = (p.get("X-Amz-Credential") or "////").split("/", 4)
    amz_date = p.get("X-Amz-Date", "")
    if region != config["region"] or service != "rds-db" or terminator != "aws4_request":
        raise Refused("wrong credential scope")
    if date != amz_date[:8]:
        raise Refused("credential date does not match X-Amz-Date")
    key = config["keys"].get(access_key)
    if key is None:
        raise Refused("unknown access key")
    expected_token = key.get("session_token")
    got_token = p.get("X-Amz-Security-Token")
    if expected_token and got_token is None:
        raise Refused("missing session token")
    if got_token is not None and got_token != expected_token:
        raise Refused("wrong session token")
    try:
        expires = int(p.get("X-Amz-Expires", ""))
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refused("malformed X-Amz-Expires or X-Amz-Date")
    if not 0 < expires <= MAX_EXPIRES:
        raise Refused("X-Amz-Expires out of range")
    now = time.time() + user_policy.get("clock_offset_seconds", 0)
    if now > signed_at.timestamp() + expires:
        raise Refused("expired token")
    if signed_at.timestamp() > now + FUTURE_TOLERANCE:
        raise Refused("token signed in the future")
    signature = expected_signature(
        authority, login_user, amz_date, region, access_key, key["secret"], got_token, expires
    )
    if not hmac.compare_digest(signature, p.get("X-Amz-Signature", "")):
        raise Refused("wrong signature")


def main():
    config = json.load(open(sys.argv[1]))
    login_user = os.environ.get("PAM_USER", "")
    token = sys.stdin.buffer.read().split(b"\0", 1)[0].decode("utf-8", "replace")
    try:
        check(token, login_user, config)
        result, reason = "accepted", ""
    except Refused as refusal:
        result, reason = "refused", str(refusal)
    except Exception as error:  # a bug here must refuse, never let in
        result, reason = "refused", f"verifier error: {type(error).__name__}"
    with open(config["log"], "a") as log:
        log.write(json.dumps({"time": time.time(), "user": login_user, "result": result, "reason": reason}) + "\n")
    sys.exit(0 if result == "accepted" else 1)


if __name__ == "__main__":
    main()
