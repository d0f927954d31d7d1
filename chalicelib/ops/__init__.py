"""Operator commands (`make audit`, `make replay-dlq`): run by hand against AWS (credentials and
KARMAYOGI_STAGE=<stage> in the environment). Not used by the functions. Against the local stack (`make run`),
`ARGS=--local` runs them through local/ops.py, which points the environment at the stack's endpoints first."""
from __future__ import annotations

import os


def target() -> None:
    """Leave the environment as the operator (or local/ops.py) set it, with a stage: dev unless one is set."""
    os.environ.setdefault("KARMAYOGI_STAGE", "dev")
