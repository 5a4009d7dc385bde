"""Renders deploy/cloudformation/migrator.yaml for given parameters and evaluates the IAM policies in
it, as IAM does for one request: an explicit Deny wins, else any matching Allow, else denied.

Only what the template uses is modelled (Ref, Fn::Sub/GetAtt/If/ImportValue/Join/Split/Select,
conditions; the condition operators below). Anything else raises, so a template change that the
evaluator does not understand fails the test instead of passing it silently.
"""
import re

from cfnlint.decode import decode

ACCOUNT = "111122223333"
REGION = "eu-central-1"  # not the team's region: the template must not depend on it
PARTITION = "aws"
NO_VALUE = object()


def load(path):
    template, matches = decode(path)
    if matches:
        raise ValueError(f"{path}: {[str(m) for m in matches]}")
    return template


class Rendered:
    """One stack of the template: parameters filled in, every intrinsic resolved."""

    def __init__(self, template, parameters, imports, stack_name):
        self.t = template
        self.stack_id = f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/00000000-1111-2222-3333-{len(stack_name):012d}"
        self.params = {}
        for name, spec in template["Parameters"].items():
            if name in parameters:
                value = parameters[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise KeyError(f"parameter {name} has no value")
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = [v for v in value.split(",")] if value else [""]
            self.params[name] = value if isinstance(value, list) else str(value)
        unknown = set(parameters) - set(self.params)
        if unknown:
            raise KeyError(f"unknown parameters {unknown}")
        self.imports = imports
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": PARTITION,
                       "AWS::StackName": stack_name, "AWS::StackId": self.stack_id, "AWS::URLSuffix": "amazonaws.com"}
        self.conditions = {}
        self.resources = {}
        for name, res in template["Resources"].items():
            if "Condition" in res and not self.condition(res["Condition"]):
                continue
            self.resources[name] = {"Type": res["Type"], "Properties": None}
        for name in self.resources:
            self.resources[name]["Properties"] = self.resolve(template["Resources"][name].get("Properties", {}))

    # ---- conditions and intrinsics
    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.resolve(self.t["Conditions"][name])
        return self.conditions[name]

    def physical(self, name, attr=None):
        res = self.t["Resources"][name]
        props = self.resolve(res.get("Properties", {}))
        kind = res["Type"]
        if kind == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{props['RoleName']}" if attr == "Arn" else props["RoleName"]
        if kind == "AWS::ECR::Repository":
            repo = props["RepositoryName"]
            return {"Arn": f"arn:{PARTITION}:ecr:{REGION}:{ACCOUNT}:repository/{repo}",
                    "RepositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}", None: repo}[attr]
        if kind == "AWS::Logs::LogGroup":
            return props["LogGroupName"] if attr is None else f"arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:{props['LogGroupName']}:*"
        if kind == "AWS::EC2::SecurityGroup":
            return "sg-0migrationtask" + props["GroupName"][-4:]
        if kind == "AWS::IAM::OIDCProvider":
            return f"arn:{PARTITION}:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
        raise NotImplementedError(f"Ref/GetAtt of {kind}")

    def lookup(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            return self.params[name]
        base, _, attr = name.partition(".")
        return self.physical(base, attr or None)

    def sub(self, text, variables):
        def one(m):
            key = m.group(1)
            v = variables[key] if key in variables else self.lookup(key)
            if not isinstance(v, str):
                raise TypeError(f"Fn::Sub ${{{key}}} is not a string: {v!r}")
            return v
        return re.sub(r"\$\{([A-Za-z0-9:._]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(v) for v in node]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            fn = {"Ref": lambda a: self.lookup(a),
                  "Fn::GetAtt": lambda a: self.lookup(".".join(a) if isinstance(a, list) else a),
                  "Fn::Sub": self._sub, "Fn::If": self._if,
                  "Fn::ImportValue": lambda a: self.imports[self.resolve(a)],
                  "Fn::Join": lambda a: self.resolve(a[0]).join(self.resolve(a[1])),
                  "Fn::Split": lambda a: self.resolve(a[1]).split(self.resolve(a[0])),
                  "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
                  "Fn::Equals": lambda a: self.resolve(a[0]) == self.resolve(a[1]),
                  "Fn::Not": lambda a: not self.resolve(a[0]),
                  "Fn::And": lambda a: all(self.resolve(x) for x in a),
                  "Fn::Or": lambda a: any(self.resolve(x) for x in a),
                  "Condition": lambda a: self.condition(a)}.get(key)
            if fn is not None:
                return fn(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, arg):
        if isinstance(arg, str):
            return self.sub(arg, {})
        text, variables = arg
        return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})

    def _if(self, arg):
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    # ---- what the tests look at
    def role(self, logical):
        props = self.resources[logical]["Properties"]
        return {"arn": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{props['RoleName']}",
                "trust": props["AssumeRolePolicyDocument"],
                "policies": [p["PolicyDocument"] for p in props.get("Policies", [])]}

    def roles(self):
        return {n: self.role(n) for n, r in self.resources.items() if r["Type"] == "AWS::IAM::Role"}


# ---- evaluation
def as_list(v):
    return v if isinstance(v, list) else [v]


def _glob(pattern, value, case=True):
    # IAM wildcards: * any run of characters (including / and :), ? one character
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, 0 if case else re.IGNORECASE) is not None


def _condition_holds(op, block, context):
    if_exists = op.endswith("IfExists")
    base = op[:-len("IfExists")] if if_exists else op
    for key, wanted in block.items():
        wanted = [str(w).lower() if base == "Bool" else str(w) for w in as_list(wanted)]
        if base == "Null":
            present = key in context
            if not any((w == "true") != present for w in wanted):
                return False
            continue
        if key not in context:
            if if_exists:
                continue
            return False
        have = [str(v) for v in as_list(context[key])]
        if base in ("StringEquals", "ArnEquals"):
            ok = any(h == w for h in have for w in wanted)
        elif base in ("StringLike", "ArnLike"):
            ok = any(_glob(w, h) for h in have for w in wanted)
        elif base == "StringNotEquals":
            ok = all(h != w for h in have for w in wanted)
        elif base == "StringEqualsIgnoreCase":
            ok = any(h.lower() == w.lower() for h in have for w in wanted)
        elif base == "Bool":
            ok = any(h.lower() == w for h in have for w in wanted)
        else:
            raise NotImplementedError(f"condition operator {op}")
        if not ok:
            return False
    return True


def _statement_matches(s, action, resource, context, principal=None):
    if "Action" in s:
        if not any(_glob(a, action, case=False) for a in as_list(s["Action"])):
            return False
    elif any(_glob(a, action, case=False) for a in as_list(s["NotAction"])):
        return False
    if principal is not None:
        names = [v for vs in s.get("Principal", {}).values() for v in as_list(vs)]
        if principal not in names and "*" not in names:
            return False
    elif "Resource" in s:
        if not any(_glob(r, resource) for r in as_list(s["Resource"])):
            return False
    elif "NotResource" in s:
        if any(_glob(r, resource) for r in as_list(s["NotResource"])):
            return False
    return all(_condition_holds(op, block, context) for op, block in s.get("Condition", {}).items())


def allowed(policies, action, resource, context=None, principal=None):
    """True when the identity (or, with principal, the trust) policies allow the request."""
    context = context or {}
    statements = [s for p in policies for s in as_list(p["Statement"])]
    hits = [s for s in statements if _statement_matches(s, action, resource, context, principal)]
    if any(s["Effect"] == "Deny" for s in hits):
        return False
    return any(s["Effect"] == "Allow" for s in hits)


def parliament_actions():
    """{service prefix: [(privilege, [ARN regex of each resource type it acts on])]} from the IAM
    definition database that parliament ships (AWS's Service Authorization Reference)."""
    import json
    import os

    import parliament

    with open(os.path.join(os.path.dirname(parliament.__file__), "iam_definition.json")) as f:
        services = json.load(f)
    out = {}
    for svc in services:
        arns = {r["resource"]: r["arn"] for r in svc["resources"]}
        for p in svc["privileges"]:
            patterns = []
            for rt in p["resource_types"]:
                name = rt["resource_type"].rstrip("*")
                if name in arns:
                    patterns.append(re.sub(r"\\\$\\\{[A-Za-z0-9]+\\\}", ".+", re.escape(arns[name])))
            out.setdefault(svc["prefix"], []).append((p["privilege"], patterns))
    return out

