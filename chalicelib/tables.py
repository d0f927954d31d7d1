"""Every DynamoDB table of the service: the scoring core's (storage/models.py) and each feature's (<feature>/models.py).
Creating tables (storage/dynamodb.py create_tables, tests, the local stack) and tests/test_infra.py go by this list."""
from __future__ import annotations

from chalicelib.campaigns.models import CAMPAIGN_MODELS
from chalicelib.credentials.models import CREDENTIAL_MODELS
from chalicelib.directory.models import DIRECTORY_MODELS
from chalicelib.leaderboards.models import BOARD_MODELS
from chalicelib.notifications.models import NOTIFICATION_MODELS
from chalicelib.review.models import REVIEW_MODELS
from chalicelib.rosters.models import ROSTER_MODELS
from chalicelib.storage.models import CORE_MODELS
from chalicelib.xapi.models import XAPI_MODELS

ALL_MODELS = (CORE_MODELS + BOARD_MODELS + REVIEW_MODELS + CREDENTIAL_MODELS + ROSTER_MODELS + CAMPAIGN_MODELS
              + NOTIFICATION_MODELS + DIRECTORY_MODELS + XAPI_MODELS)
