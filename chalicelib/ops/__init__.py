"""Operator commands (`make audit`, `make replay-dlq`): run by hand against AWS (credentials and
KARMAYOGI_STAGE=<stage> in the environment) or against the local stack (--local). Not used by the functions."""
from __future__ import annotations

import os


def target(local: bool) -> None:
    """Point boto3 and PynamoDB at the local stack (its ports from the environment, as `make run` uses them)
    before anything reads settings; otherwise leave the environment as the operator set it (AWS)."""
    if local:
        from local.stack import Ports, set_environment
        set_environment(Ports.from_env())
    os.environ.setdefault("KARMAYOGI_STAGE", "dev")
