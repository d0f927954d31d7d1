"""`python -m chalicelib.ops.backfill_campaign_index` (against make run: `python -m local.ops backfill-campaign-index`): give campaigns stored before GET /v1/campaigns
read its indexes (by_scope_status, by_status) their index keys, so that they are listed again. Run once per
stage after deploying; idempotent (a campaign that has its keys is left alone). One Scan of the campaigns
table, which is small (definitions only)."""
from __future__ import annotations

import argparse
import json
import sys

from chalicelib.ops import target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.ops.backfill_campaign_index",
                                     description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    target()
    from chalicelib.campaigns.rules import campaign_config
    from chalicelib.campaigns.store import DynamoCampaignStore
    store = DynamoCampaignStore(campaign_config().operation["progress_shards"])
    print(json.dumps({"campaigns_backfilled": store.backfill_index_keys()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
