#!/usr/bin/env python3
"""Validates ECS task definitions: against botocore's RegisterTaskDefinition input shape (the schema
the ECS API and `aws ecs register-task-definition --cli-input-json` use), then against what the
migration task needs (docs/deploy-ecs.md).

    validate_task_definitions.py [--env ENV] FILE...

Without --env the environment is the file's name (staging.json -> staging).
"""
import argparse
import json
import os
import sys

import botocore.session
from botocore.validate import ParamValidator


def schema_errors(td):
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(td, shape)
    return report.generate_report() if report.has_errors() else ""


def policy_errors(td, env):
    errors = []

    def want(cond, msg):
        if not cond:
            errors.append(msg)

    want(td.get("family") == f"bcos-migration-{env}", f"family is {td.get('family')!r}")
    want(td.get("requiresCompatibilities") == ["FARGATE"], "requiresCompatibilities must be [FARGATE]")
    want(td.get("networkMode") == "awsvpc", "networkMode must be awsvpc")
    want(td.get("cpu") == "256" and td.get("memory") == "512", "cpu/memory must be 256/512")
    for key in ("executionRoleArn", "taskRoleArn"):
        want(str(td.get(key, "")).startswith("arn:aws:iam::"), f"{key} must be an IAM role ARN")
    want(td.get("taskRoleArn", "").endswith(f":role/bcos-migration-task-{env}"),
         "taskRoleArn must be the environment's own task role")
    containers = td.get("containerDefinitions", [])
    want(len(containers) == 1, "exactly one container")
    c = next((c for c in containers if c.get("name") == "migrator"), None)
    if c is None:
        errors.append("no container named migrator")
        return errors
    env_vars = {e["name"]: e["value"] for e in c.get("environment", [])}
    want(env_vars.get("DATABASE_SECRET_ID") == f"{env}/bcos-secrets", "DATABASE_SECRET_ID")
    want(env_vars.get("MIGRATOR_ENVIRONMENT") == env, "MIGRATOR_ENVIRONMENT")
    want("DATABASE_URL" not in env_vars, "DATABASE_URL must not be a plain environment variable")
    for name, value in env_vars.items():
        want(not any(w in name.upper() for w in ("PASSWORD", "TOKEN", "SECRET_KEY", "ACCESS_KEY")),
             f"{name}: no credentials in the environment")
    want(c.get("essential") is True, "essential")
    want(c.get("readonlyRootFilesystem") is True, "readonlyRootFilesystem")
    want(c.get("linuxParameters", {}).get("initProcessEnabled") is True, "initProcessEnabled")
    # migrator exits within 2 s of SIGTERM after rolling back; Fargate allows at most 120 s
    want(isinstance(c.get("stopTimeout"), int) and 10 <= c["stopTimeout"] <= 120, "stopTimeout in 10..120")
    want(c.get("command") in (None, ["up"]), "command must be up (the default)")
    # the task runs the app's image, whose own entrypoint is the app: migrator is named explicitly
    want(c.get("entryPoint") == ["/usr/local/bin/migrator"], "entryPoint must be /usr/local/bin/migrator")
    # no default folder in a production image: the app's drizzle folder is named explicitly
    want(str(env_vars.get("MIGRATIONS_DIR", "")).startswith("/"), "MIGRATIONS_DIR must be set to an absolute path")
    lc = c.get("logConfiguration", {})
    opts = lc.get("options", {})
    want(lc.get("logDriver") == "awslogs", "awslogs driver")
    want(opts.get("awslogs-group") == f"/ecs/bcos-migrations-{env}", "awslogs-group")
    want(opts.get("mode") == "blocking", "awslogs mode blocking (no lost lines)")
    want(bool(opts.get("awslogs-stream-prefix")), "awslogs-stream-prefix")
    want(bool(opts.get("awslogs-region")), "awslogs-region")
    want(env_vars.get("AWS_REGION") == opts.get("awslogs-region"), "AWS_REGION equals awslogs-region")
    want("awslogs-create-group" not in opts, "the log group is created by the deploy, not by the task")
    want("secrets" not in c or all(":" in s.get("valueFrom", "") for s in c["secrets"]), "secrets valueFrom")
    return errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    bad = 0
    for path in args.files:
        env = args.env or os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            td = json.load(f)
        problems = []
        schema = schema_errors(td)
        if schema:
            problems.append("RegisterTaskDefinition schema: " + schema)
        problems += policy_errors(td, env)
        if problems:
            bad += 1
            print(f"{path}: INVALID")
            for p in problems:
                print(f"  - {p}")
        else:
            print(f"{path}: valid RegisterTaskDefinition input for {env}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
