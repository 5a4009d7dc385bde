#!/usr/bin/env python3
"""Fails when a deploy file holds something that looks like a credential or a real account id.

    check_no_secrets.py PATH...   (folders are walked)

Placeholders only: the account ids 123456789012 and 111122223333 (AWS documentation's examples).
"""
import os
import re
import sys

PLACEHOLDER_ACCOUNTS = {"123456789012", "111122223333"}
PATTERNS = [
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{30,}"), "an AWS secret access key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?i)\bghp_[A-Za-z0-9]{30,}"), "a GitHub token"),
]
ACCOUNT_CONTEXT = re.compile(r"(?:arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:|\b)([0-9]{12})(?=:|\.dkr\.ecr\.)")


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for n in names:
                    yield os.path.join(root, n)
        elif os.path.exists(p):
            yield p


def main():
    bad = 0
    checked = 0
    for path in files(sys.argv[1:]):
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        checked += 1
        for n, line in enumerate(text.splitlines(), 1):
            for rx, what in PATTERNS:
                if rx.search(line):
                    print(f"{path}:{n}: looks like {what}")
                    bad += 1
            for acct in ACCOUNT_CONTEXT.findall(line):
                if acct not in PLACEHOLDER_ACCOUNTS:
                    print(f"{path}:{n}: account id {acct} (use the 123456789012 placeholder)")
                    bad += 1
    print(f"no-secrets: {checked} files checked, {bad} findings")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
