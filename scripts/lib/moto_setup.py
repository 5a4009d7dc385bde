#!/usr/bin/env python3
"""Prepare a moto server (started with IAM request authentication) for migrator's AWS tests.

    moto_setup.py --print-action-count
        How many calls `setup` makes before it has an access key. scripts/lib/moto.sh starts moto with
        INITIAL_NO_AUTH_ACTION_COUNT set to this, so exactly those calls go unauthenticated and every
        later call (ours and the tests') has its SigV4 signature verified.

    moto_setup.py setup --endpoint URL --out STATE.json
        Creates an IAM user with a policy, its access key, a role the user may assume (for session-token
        credentials), and the fixed test secrets. Writes their ids and keys to STATE.json.

    moto_setup.py put-secret --state STATE.json --name NAME < value
        Creates or updates secret NAME with the SecretString read from stdin (signed with the user's key).

All keys are moto's own throwaway values, valid only against this local server.
"""
import argparse
import json
import sys

import boto3
import botocore.config
import botocore.exceptions

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
USER = "migrator-test"
ROLE = "migrator-test-task-role"

# The secrets every run has. The database URL ones point at nothing: tests that need a live database
# store their own URL with put-secret.
SECRETS = {
    "json_url": ("migrator/test/json-url", json.dumps({"DATABASE_URL": "postgres://app:moto-json-pass-EXAMPLE@db.example.internal:5432/app"})),
    "rds": ("migrator/test/rds", json.dumps({
        "engine": "postgres", "host": "db.example.internal", "port": 5432, "username": "app",
        "password": "moto-rds-pass/EXAMPLE@1", "dbname": "bcos",
    })),
    "bare_url": ("migrator/test/bare-url", "postgresql://app:moto-bare-pass-EXAMPLE@db.example.internal/app"),
}


def client(service, endpoint, key=None, secret=None, token=None):
    # Placeholder keys for the unauthenticated phase: moto ignores them until the count is used up.
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=key or "AKIDEXAMPLE", aws_secret_access_key=secret or "unauthenticated-setup-EXAMPLE",
        aws_session_token=token,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def unauthenticated_setup(endpoint):
    """Every call here is one unauthenticated action; keep ACTION_COUNT in step."""
    iam = client("iam", endpoint)
    iam.create_user(UserName=USER)
    iam.put_user_policy(UserName=USER, PolicyName="migrator-test", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
        ],
    }))
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{USER}"},
                       "Action": "sts:AssumeRole"}],
    }))
    iam.put_role_policy(RoleName=ROLE, PolicyName="get-secret", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
    }))
    return key


ACTION_COUNT = 5


def put_secret(sm, name, value):
    try:
        return sm.create_secret(Name=name, SecretString=value)["ARN"]
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        sm.put_secret_value(SecretId=name, SecretString=value)
        return sm.describe_secret(SecretId=name)["ARN"]


def setup(endpoint, out):
    key = unauthenticated_setup(endpoint)
    user = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    # From here on moto verifies signatures. First prove it: a wrong secret key must be refused.
    wrong = client("secretsmanager", endpoint, user["access_key_id"], "wrong-secret-key-EXAMPLE")
    try:
        wrong.list_secrets()
        sys.exit("moto accepted a request signed with a wrong key: request authentication is not on")
    except botocore.exceptions.ClientError as error:
        # moto answers the JSON protocol with an XML body here, which botocore cannot parse: look at the text.
        if "SignatureDoesNotMatch" not in str(error):
            raise

    sts = client("sts", endpoint, user["access_key_id"], user["secret_access_key"])
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="migrator-tests")["Credentials"]
    session = {
        "access_key_id": assumed["AccessKeyId"],
        "secret_access_key": assumed["SecretAccessKey"],
        "session_token": assumed["SessionToken"],
    }

    sm = client("secretsmanager", endpoint, user["access_key_id"], user["secret_access_key"])
    secrets = {}
    for label, (name, value) in SECRETS.items():
        secrets[label] = {"name": name, "arn": put_secret(sm, name, value), "value": value}

    state = {"endpoint": endpoint, "region": REGION, "account": ACCOUNT, "user": user, "session": session,
             "secrets": secrets}
    with open(out, "w") as f:
        json.dump(state, f, indent=2)


def put_secret_command(state_path, name):
    with open(state_path) as f:
        state = json.load(f)
    user = state["user"]
    sm = client("secretsmanager", state["endpoint"], user["access_key_id"], user["secret_access_key"])
    print(put_secret(sm, name, sys.stdin.read()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print-action-count", action="store_true")
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("setup")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--out", required=True)
    p = sub.add_parser("put-secret")
    p.add_argument("--state", required=True)
    p.add_argument("--name", required=True)
    args = parser.parse_args()
    if args.print_action_count:
        print(ACTION_COUNT)
    elif args.command == "setup":
        setup(args.endpoint, args.out)
    elif args.command == "put-secret":
        put_secret_command(args.state, args.name)
    else:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
