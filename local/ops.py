"""The operator commands against the running local stack (`make audit ARGS=--local`, `make replay-dlq
QUEUE=... ARGS=--local`, `make replay-notifications-dlq`): point boto3 and PynamoDB at the stack's servers (their
ports from the environment, as `make run` uses them), then run chalicelib/ops' command as against AWS.

python -m local.ops audit [--repair --segments 8 ...]
python -m local.ops replay-dlq scoring [--dry-run --max 100]
python -m local.ops backfill-campaign-index
python -m local.ops rules preview|apply <version> [--sample 10]
"""
from __future__ import annotations

import sys

COMMANDS = {"audit": "chalicelib.ops.audit", "replay-dlq": "chalicelib.ops.replay_dlq",
            "backfill-campaign-index": "chalicelib.ops.backfill_campaign_index", "rules": "chalicelib.ops.rules"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m local.ops {{{','.join(COMMANDS)}}} [arguments of the command]", file=sys.stderr)
        return 2
    command, rest = argv[0], [a for a in argv[1:] if a != "--local"]  # --local: what brought us here
    from local.stack import Ports, set_environment
    set_environment(Ports.from_env())  # before anything from chalicelib reads settings
    import importlib
    return importlib.import_module(COMMANDS[command]).main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
