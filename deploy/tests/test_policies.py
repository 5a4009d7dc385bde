#!/usr/bin/env python3
"""Least privilege, proven over the template's own policies (deploy/cloudformation/migrator.yaml).

Renders the staging and the production stack (deploy/tests/iam_eval.py) and asks, as IAM would:
  - can any staging role (deploy, task, execution) do anything to any production resource? For each
    production ARN, every action that AWS's authorization reference (parliament's database) lists
    for that resource type is evaluated, in every request context the checks below vary. None may
    be allowed.
  - can each deploy role be assumed by another branch, GitHub environment or repository? No.
  - can the staging deploy role do each step the workflow needs on staging? Yes (so the "no" above
    is not vacuous), and a deliberately widened copy of its policy is caught (so the check can fail).
  - is the template deterministic (a second `aws cloudformation deploy` is an empty change set)?
  - do task-definitions/ENV.json name the roles and log group the stack creates?

    test_policies.py [--dump DIR]    (--dump writes every rendered identity policy for parliament;
                                      the trust policies are checked above: parliament reads
                                      identity policies only)

Prints one line per check and "policies: N passed, M failed".
"""
import copy
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam_eval  # noqa: E402
from iam_eval import ACCOUNT, PARTITION, REGION, allowed  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(REPO, "deploy", "cloudformation", "migrator.yaml")
GITHUB_REPO = "example-org/bcos-app"
OIDC = f"arn:{PARTITION}:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
IMPORTS = {"BCOS-NetworkStack-VpcId": "vpc-0example", "BCOS-NetworkStack-PrivateSubnetIds": "subnet-a,subnet-b",
           "BCOS-SecurityStack-DatabaseSecurityGroupId": "sg-0database"}
DB = {"staging": "db-STAGINGRESOURCEID0000000", "production": "db-PRODUCTIONRESOURCEID000000"}

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")


def render(env, template, **extra):
    params = {"Environment": env, "GitHubRepository": GITHUB_REPO, "AppServiceName": f"bcos-app-{env}",
              "AppTaskFamily": f"bcos-app-{env}", "AppExecutionRoleName": f"bcos-app-execution-{env}",
              "AppTaskRoleName": f"bcos-app-task-{env}", "DbInstanceResourceId": DB[env], "DbUser": "migrator",
              "CreateGitHubOidcProvider": "true" if env == "staging" else "false"}
    params.update(extra)
    return iam_eval.Rendered(template, params, IMPORTS, f"bcos-migrator-{env}")


def arn(service, rest, region=REGION):
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{rest}"


def resources_of(env, stack):
    """Every resource of ENV that a deploy touches, as ARNs (the stack's own and those it names)."""
    cluster = f"bcos-{env}-cluster"
    out = [r["arn"] for r in stack.roles().values()]
    out += [arn("ecr", f"repository/bcos-app-{env}"),
            arn("logs", f"log-group:/ecs/bcos-migrations-{env}"),
            arn("logs", f"log-group:/ecs/bcos-migrations-{env}:log-stream:migration/migrator/0123abcd"),
            arn("ecs", f"task-definition/bcos-migration-{env}:7"), arn("ecs", f"task-definition/bcos-app-{env}:7"),
            arn("ecs", f"cluster/{cluster}"), arn("ecs", f"task/{cluster}/0123456789abcdef"),
            arn("ecs", f"service/{cluster}/bcos-app-{env}"),
            arn("secretsmanager", f"secret:{env}/bcos-secrets-AbCdEf"),
            arn("rds-db", f"dbuser:{DB[env]}/migrator"), stack.stack_id]
    return out


def contexts(cluster_envs=("staging", "production")):
    # what a caller controls in a request: which cluster, which service a role is passed to
    base = {"iam:PassedToService": "ecs-tasks.amazonaws.com",
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    return [dict(base, **{"ecs:cluster": arn("ecs", f"cluster/bcos-{e}-cluster")}) for e in cluster_envs]


def cannot_touch(staging, other_env, production, actions):
    """Requests of every role of the first stack against every resource of OTHER_ENV: the allowed ones."""
    prod = resources_of(other_env, production)
    evaluated = 0
    violations = []
    for logical, role in staging.roles().items():
        for resource in prod:
            service = resource.split(":")[2]
            for privilege, patterns in actions.get(service, []):
                if not any(re.fullmatch(p, resource) for p in patterns):
                    continue
                action = f"{service}:{privilege}"
                for ctx in contexts():
                    evaluated += 1
                    if allowed(role["policies"], action, resource, ctx):
                        violations.append(f"{logical} {action} {resource} ({ctx['ecs:cluster'].rsplit('/', 1)[1]})")
    return evaluated, violations


WORKFLOW_STEPS = [  # (action, resource, cluster env): what deploy.yml and the action do, per environment
    ("cloudformation:DescribeStacks", "{stack}", None),
    ("ecr:GetAuthorizationToken", "*", None),
    ("ecr:PutImage", "arn:aws:ecr:{region}:{account}:repository/bcos-app-{env}", None),
    ("ecr:InitiateLayerUpload", "arn:aws:ecr:{region}:{account}:repository/bcos-app-{env}", None),
    ("ecs:RegisterTaskDefinition", "arn:aws:ecs:{region}:{account}:task-definition/bcos-migration-{env}:8", None),
    ("iam:PassRole", "arn:aws:iam::{account}:role/bcos-migration-task-{env}", None),
    ("iam:PassRole", "arn:aws:iam::{account}:role/bcos-migration-execution-{env}", None),
    ("ecs:RunTask", "arn:aws:ecs:{region}:{account}:task-definition/bcos-migration-{env}:8", "{env}"),
    ("ecs:DescribeTasks", "arn:aws:ecs:{region}:{account}:task/bcos-{env}-cluster/0123", None),
    ("logs:GetLogEvents", "arn:aws:logs:{region}:{account}:log-group:/ecs/bcos-migrations-{env}:log-stream:migration/migrator/0123", None),
    ("ecs:StopTask", "arn:aws:ecs:{region}:{account}:task/bcos-{env}-cluster/0123", None),
    ("ecs:DescribeTaskDefinition", "*", None),
    ("ecs:RegisterTaskDefinition", "arn:aws:ecs:{region}:{account}:task-definition/bcos-app-{env}:8", None),
    ("iam:PassRole", "arn:aws:iam::{account}:role/bcos-app-task-{env}", None),
    ("ecs:UpdateService", "arn:aws:ecs:{region}:{account}:service/bcos-{env}-cluster/bcos-app-{env}", None),
    ("ecs:DescribeServices", "arn:aws:ecs:{region}:{account}:service/bcos-{env}-cluster/bcos-app-{env}", None),
]


def workflow_can_run(env, stack):
    role = stack.role("DeployRole")
    missing = []
    for action, resource, cluster_env in WORKFLOW_STEPS:
        r = resource.format(region=REGION, account=ACCOUNT, env=env, stack=stack.stack_id)
        ctx = contexts((cluster_env.format(env=env),))[0] if cluster_env else contexts(("staging",))[0]
        if not cluster_env:
            ctx.pop("ecs:cluster")
        if not allowed(role["policies"], action, r, ctx):
            missing.append(f"{action} {r}")
    return missing


def token(env, branch, repo=GITHUB_REPO, aud="sts.amazonaws.com"):
    sub = f"repo:{repo}:environment:{env}:ref:refs/heads/{branch}" if env else f"repo:{repo}:ref:refs/heads/{branch}"
    return {"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud}


def main():
    dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
    template = iam_eval.load(TEMPLATE)
    stacks = {env: render(env, template) for env in ("staging", "production")}
    staging, production = stacks["staging"], stacks["production"]
    actions = iam_eval.parliament_actions()

    evaluated, violations = cannot_touch(staging, "production", production, actions)
    check(f"staging roles cannot act on any production resource ({evaluated} requests evaluated)",
          evaluated > 500 and not violations, "; ".join(violations[:10]) or f"only {evaluated} requests")
    evaluated, violations = cannot_touch(production, "staging", staging, actions)
    check(f"production roles cannot act on any staging resource ({evaluated} requests evaluated)",
          evaluated > 500 and not violations, "; ".join(violations[:10]))

    for env in stacks:
        missing = workflow_can_run(env, stacks[env])
        check(f"{env} deploy role can do every step of the workflow on {env}", not missing, "; ".join(missing))

    # a widened copy must be caught: RunTask on every bcos-migration-* family and any cluster
    widened = copy.deepcopy(template)
    stmts = widened["Resources"]["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    run = next(s for s in stmts if isinstance(s, dict) and s.get("Sid") == "RunItOnThisEnvironmentsClusterOnly")
    run["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/bcos-migration-*"}
    del run["Condition"]
    _, caught = cannot_touch(render("staging", widened), "production", production, actions)
    check("a widened staging policy (RunTask on bcos-migration-*) is caught",
          any("ecs:RunTask" in v and "bcos-migration-production" in v for v in caught), f"{len(caught)} violations")

    # who can assume which deploy role (OIDC subject: repo + GitHub environment + branch)
    cases = [("staging", token("staging", "staging"), True), ("staging", token("production", "main"), False),
             ("staging", token("staging", "main"), False), ("staging", token("production", "staging"), False),
             ("staging", token(None, "staging"), False), ("staging", token("staging", "staging", "other/repo"), False),
             ("staging", token("staging", "staging", aud="other"), False),
             ("production", token("production", "main"), True), ("production", token("staging", "staging"), False),
             ("production", token("production", "staging"), False), ("production", token("staging", "main"), False),
             ("production", token(None, "main"), False)]
    for env, ctx, want in cases:
        trust = stacks[env].role("DeployRole")["trust"]
        got = allowed([trust], "sts:AssumeRoleWithWebIdentity", "", ctx, principal=OIDC)
        check(f"{env} deploy role {'accepts' if want else 'refuses'} {ctx['token.actions.githubusercontent.com:sub']}"
              f"{'' if ctx['token.actions.githubusercontent.com:aud'] == 'sts.amazonaws.com' else ' (wrong audience)'}",
              got == want)
    for env in stacks:
        for name in ("TaskRole", "ExecutionRole"):
            trust = stacks[env].role(name)["trust"]
            check(f"{env} {name} is assumable by ECS tasks of this account only",
                  allowed([trust], "sts:AssumeRole", "", {"aws:SourceAccount": ACCOUNT}, principal="ecs-tasks.amazonaws.com")
                  and not allowed([trust], "sts:AssumeRole", "", {"aws:SourceAccount": "444455556666"},
                                  principal="ecs-tasks.amazonaws.com")
                  and not allowed([trust], "sts:AssumeRoleWithWebIdentity", "", token(env, "main"), principal=OIDC))

    # RDS IAM authentication (issue 15): only with both parameters, only that instance and user
    task = staging.role("TaskRole")["policies"]
    check("staging task role: rds-db:connect on its own instance and user only",
          allowed(task, "rds-db:connect", arn("rds-db", f"dbuser:{DB['staging']}/migrator"))
          and not allowed(task, "rds-db:connect", arn("rds-db", f"dbuser:{DB['staging']}/postgres"))
          and not allowed(task, "rds-db:connect", arn("rds-db", f"dbuser:{DB['production']}/migrator")))
    plain = render("staging", template, DbInstanceResourceId="", DbUser="").role("TaskRole")["policies"]
    check("without DbInstanceResourceId/DbUser the task role has no rds-db permission",
          not allowed(plain, "rds-db:connect", arn("rds-db", f"dbuser:{DB['staging']}/migrator"))
          and allowed(plain, "secretsmanager:GetSecretValue", arn("secretsmanager", "secret:staging/bcos-secrets-AbCdEf")))
    check("staging task role reads staging/bcos-secrets only",
          allowed(task, "secretsmanager:GetSecretValue", arn("secretsmanager", "secret:staging/bcos-secrets-AbCdEf"))
          and not allowed(task, "secretsmanager:GetSecretValue", arn("secretsmanager", "secret:staging/bcos-secrets-extra-AbCdEf"))
          and not allowed(task, "secretsmanager:GetSecretValue", arn("secretsmanager", "secret:production/bcos-secrets-AbCdEf")))

    determinism(template, stacks)
    task_definitions_match(stacks)
    if dump:
        os.makedirs(dump, exist_ok=True)
        for env, stack in stacks.items():
            for logical, role in stack.roles().items():
                for i, doc in enumerate(role["policies"]):
                    with open(os.path.join(dump, f"{env}-{logical}-{i}.json"), "w") as f:
                        json.dump(doc, f, indent=2)
    failed = results.count(False)
    print(f"policies: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def determinism(template, stacks):
    text = open(TEMPLATE).read()
    decoded = json.dumps(template)
    check("template: no Transform, dynamic reference, SSM parameter type or GetAZs (deploy twice = empty change set)",
          "Transform" not in template and "{{resolve:" not in decoded and "Fn::GetAZs" not in decoded
          and not any(p["Type"].startswith("AWS::SSM") for p in template["Parameters"].values()))
    again = {env: render(env, iam_eval.load(TEMPLATE)) for env in stacks}
    check("template: rendering twice gives the same resources",
          all(json.dumps(again[e].resources, sort_keys=True) == json.dumps(stacks[e].resources, sort_keys=True) for e in stacks))
    named = {"AWS::IAM::Role": "RoleName", "AWS::ECR::Repository": "RepositoryName", "AWS::Logs::LogGroup": "LogGroupName",
             "AWS::EC2::SecurityGroup": "GroupName"}
    unnamed = [n for n, r in stacks["staging"].resources.items() if r["Type"] in named and named[r["Type"]] not in r["Properties"]]
    check("template: every role, repository, log group and security group has a fixed name", not unnamed, str(unnamed))
    literal = sorted(set(re.findall(r"\b\d{12}\b", text)) | set(re.findall(r"\b(?:us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text)))
    check("template: no account id or region written out", not literal, str(literal))
    logs = stacks["production"].resources["LogGroup"]["Properties"]
    check("template: log group /ecs/bcos-migrations-ENV with 30-day retention",
          logs == {"LogGroupName": "/ecs/bcos-migrations-production", "RetentionInDays": 30})
    repo = stacks["staging"].resources["Repository"]["Properties"]
    check("template: repository with immutable tags and a lifecycle policy",
          repo["ImageTagMutability"] == "IMMUTABLE" and json.loads(repo["LifecyclePolicy"]["LifecyclePolicyText"])["rules"])


def task_definitions_match(stacks):
    for env, stack in stacks.items():
        with open(os.path.join(REPO, "task-definitions", f"{env}.json")) as f:
            td = json.load(f)
        roles = {r["arn"].rsplit("/", 1)[1] for r in stack.roles().values()}
        names = {td["executionRoleArn"].rsplit("/", 1)[1], td["taskRoleArn"].rsplit("/", 1)[1]}
        group = td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"]
        check(f"task-definitions/{env}.json uses the stack's roles and log group",
              names <= roles and group == stack.resources["LogGroup"]["Properties"]["LogGroupName"],
              f"{names - roles} {group}")


if __name__ == "__main__":
    sys.exit(main())
