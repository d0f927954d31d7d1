"""The directory ports (chalicelib/directory/store.py) against DynamoDB Local: the same checks as the moto and
in-memory runs of tests/test_directory_store.py, on AWS's own engine (transactions, GSIs, Scan paging)."""
import pytest

from chalicelib.directory.dynamodb import DynamoCourseCatalogue, DynamoParkedStore, DynamoUserDirectory
from chalicelib.directory.store import MemoryCourseCatalogue, MemoryParkedStore, MemoryUserDirectory
from tests.test_directory_store import (  # noqa: F401 - collected here, on this fixture
    test_courses_by_id_in_batches_by_client_activity_and_their_completions,
    test_parked_once_counted_waiting_for_released_and_paged, test_users_by_id_by_account_and_by_email)


@pytest.fixture(params=["memory", "dynamodb"])
def directory_stores(request):
    if request.param == "memory":
        return MemoryCourseCatalogue(), MemoryUserDirectory(), MemoryParkedStore()
    request.getfixturevalue("adapters")  # DynamoDB Local, every table emptied
    return DynamoCourseCatalogue(), DynamoUserDirectory(), DynamoParkedStore()
