#!/usr/bin/env python3
"""Checks task-definitions/iam/*.json: valid IAM policy JSON, least privilege as the README ("Deploy to ECS")
describes it, and consistent with the task definitions (role names, log groups, families).

    validate_iam.py [REPO_DIR]
"""
import glob
import json
import os
import re
import sys

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENVS = ("staging", "production")
# actions that have no resource-level permissions, so "*" is the only possible Resource
STAR_OK = {"ecr:GetAuthorizationToken", "ecs:RegisterTaskDefinition"}

errors = []


def want(cond, msg):
    if not cond:
        errors.append(msg)


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(policy):
    return as_list(policy.get("Statement", []))


def allowed(policy, action):
    return [s for s in statements(policy) if s.get("Effect") == "Allow" and action in as_list(s.get("Action", []))]


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    iam_dir = os.path.join(repo, "task-definitions", "iam")
    policies = {}
    for path in sorted(glob.glob(os.path.join(iam_dir, "*.json"))):
        name = os.path.basename(path)
        try:
            with open(path) as f:
                policies[name] = json.load(f)
        except ValueError as e:
            errors.append(f"{name}: not JSON: {e}")
    want(len(policies) >= 6, f"expected at least 6 policy files, found {sorted(policies)}")

    # --- shape of every policy document
    for name, p in policies.items():
        want(p.get("Version") == "2012-10-17", f"{name}: Version must be 2012-10-17")
        sids = [s.get("Sid") for s in statements(p) if "Sid" in s]
        want(len(sids) == len(set(sids)), f"{name}: duplicate Sid")
        trust = name.endswith("trust-policy.json")
        for s in statements(p):
            where = f"{name} {s.get('Sid', '?')}"
            want(s.get("Effect") in ("Allow", "Deny"), f"{where}: Effect")
            want(re.fullmatch(r"[A-Za-z0-9]*", s.get("Sid", "")) is not None, f"{where}: Sid must be alphanumeric")
            actions = as_list(s.get("Action", []))
            want(actions, f"{where}: no Action")
            for a in actions:
                want(re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a) is not None, f"{where}: action {a!r} is a wildcard or malformed")
            if trust:
                want("Principal" in s and "Resource" not in s, f"{where}: a trust policy names a Principal, no Resource")
                want(s.get("Condition"), f"{where}: a trust policy needs a Condition")
            else:
                want("Resource" in s and "Principal" not in s, f"{where}: an identity policy names a Resource")
                for r in as_list(s.get("Resource", [])):
                    if r == "*":
                        want(set(actions) <= STAR_OK, f"{where}: Resource * for {actions}")
                    else:
                        want(r.startswith("arn:aws:"), f"{where}: {r!r} is not an ARN")
        text = json.dumps(p)
        for acct in set(re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)):
            want(acct == ACCOUNT, f"{name}: account id {acct} (use the {ACCOUNT} placeholder)")
        for region in set(re.findall(r"arn:aws:[a-z0-9-]+:([a-z0-9-]*):", text)):
            want(region in ("", REGION), f"{name}: region {region}")

    tds = {}
    for env in ENVS:
        with open(os.path.join(repo, "task-definitions", f"{env}.json")) as f:
            tds[env] = json.load(f)

    # --- task roles: one per environment, its own secret only
    for env in ENVS:
        name = f"task-role-{env}.json"
        p = policies.get(name)
        if p is None:
            errors.append(f"missing {name}")
            continue
        other = next(e for e in ENVS if e != env)
        want(other not in json.dumps(p), f"{name}: mentions {other}")
        secret_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{env}/bcos-secrets-??????"
        gsv = allowed(p, "secretsmanager:GetSecretValue")
        want([as_list(s["Resource"]) for s in gsv] == [[secret_arn]], f"{name}: GetSecretValue only on {secret_arn}")
        kms = allowed(p, "kms:Decrypt")
        want(len(kms) == 1, f"{name}: one kms:Decrypt statement")
        for s in kms:
            cond = s.get("Condition", {})
            want(cond.get("StringEquals", {}).get("kms:ViaService") == f"secretsmanager.{REGION}.amazonaws.com",
                 f"{name}: kms:Decrypt needs kms:ViaService secretsmanager")
            want(cond.get("StringLike", {}).get("kms:EncryptionContext:SecretARN") == secret_arn,
                 f"{name}: kms:Decrypt limited to the secret's encryption context")
        all_actions = {a for s in statements(p) for a in as_list(s["Action"])}
        want(all_actions == {"secretsmanager:GetSecretValue", "kms:Decrypt"}, f"{name}: extra actions {all_actions}")
        want(tds[env]["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/bcos-migration-task-{env}",
             f"{env}.json taskRoleArn does not name the role of {name}")

    # --- execution role: pull the image, write the two log groups
    p = policies.get("execution-role.json", {})
    log_resources = {r for s in allowed(p, "logs:PutLogEvents") for r in as_list(s["Resource"])}
    for env in ENVS:
        group = tds[env]["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"]
        want(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*" in log_resources,
             f"execution-role.json: PutLogEvents on {group}")
    want(allowed(p, "ecr:BatchGetImage"), "execution-role.json: ECR pull")
    want(not allowed(p, "secretsmanager:GetSecretValue"), "execution-role.json: the execution role reads no secret")
    execution_arns = {tds[e]["executionRoleArn"] for e in ENVS}

    # --- deploy role
    p = policies.get("deploy-role.json", {})
    passrole = allowed(p, "iam:PassRole")
    want(len(passrole) == 1, "deploy-role.json: one iam:PassRole statement")
    for s in passrole:
        want(s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService") == "ecs-tasks.amazonaws.com",
             "deploy-role.json: PassRole limited with iam:PassedToService ecs-tasks.amazonaws.com")
        roles = set(as_list(s["Resource"]))
        expected = execution_arns | {tds[e]["taskRoleArn"] for e in ENVS}
        want(roles == expected, f"deploy-role.json: PassRole on {sorted(roles)}, expected {sorted(expected)}")
    run = allowed(p, "ecs:RunTask")
    run_resources = {r for s in run for r in as_list(s["Resource"])}
    for env in ENVS:
        want(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{tds[env]['family']}:*" in run_resources,
             f"deploy-role.json: RunTask on {tds[env]['family']}")
        want(any(f"task/bcos-{env}-cluster/*" in r for s in allowed(p, "ecs:DescribeTasks") for r in as_list(s["Resource"])),
             f"deploy-role.json: DescribeTasks on bcos-{env}-cluster tasks")
    for s in run:
        want("ecs:cluster" in json.dumps(s.get("Condition", {})), "deploy-role.json: RunTask limited to the clusters")
    for action in ("ecs:RegisterTaskDefinition", "ecs:StopTask", "logs:GetLogEvents", "logs:CreateLogGroup",
                   "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "ecr:PutImage"):
        want(allowed(p, action), f"deploy-role.json: {action} (used by scripts/run-migration-task.sh / ci-deploy-example.sh)")
    want(not allowed(p, "secretsmanager:GetSecretValue"), "deploy-role.json: the deploy role reads no secret")

    # --- trust policies
    t = policies.get("ecs-tasks-trust-policy.json", {})
    want(any(s.get("Principal", {}).get("Service") == "ecs-tasks.amazonaws.com" for s in statements(t)),
         "ecs-tasks-trust-policy.json: ecs-tasks.amazonaws.com")
    t = policies.get("deploy-role-trust-policy.json", {})
    want("token.actions.githubusercontent.com:sub" in json.dumps(t), "deploy-role-trust-policy.json: limited to the repository")

    for e in errors:
        print(f"  - {e}")
    print(f"iam: {len(policies)} policy files, {'INVALID' if errors else 'valid'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
