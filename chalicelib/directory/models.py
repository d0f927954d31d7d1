"""The directories' tables (directory/dynamodb.py). PynamoDB models; infra/resources.yaml declares the same tables
for AWS (tests/test_infra.py checks it)."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.models import table_meta


class ByActivityIndex(GlobalSecondaryIndex):
    """An xAPI client's own course by "<client>|<activity IRI>" (sparse: catalogue courses have no key)."""
    class Meta:
        index_name = "by_activity"
        projection = AllProjection()
    activity_key = UnicodeAttribute(hash_key=True)


class CourseRecord(Model):
    """One course of the catalogue (the platform's content search result), or a course an xAPI client registered."""
    Meta = table_meta("platform-courses")
    course_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    primary_category = UnicodeAttribute()
    duration_minutes = NumberAttribute(default=0)
    competencies = JSONAttribute(default=list)  # [{id, name, area}]
    client = UnicodeAttribute(null=True)
    activity_iri = UnicodeAttribute(null=True)
    activity_key = UnicodeAttribute(null=True)
    by_activity = ByActivityIndex()
    updated_at = UTCDateTimeAttribute()


class CompletionRecord(Model):
    """A stored completion of a course (intake.py), by course: who is re-scored when the course changes."""
    Meta = table_meta("platform-completions")
    course_id = UnicodeAttribute(hash_key=True)
    completion = UnicodeAttribute(range_key=True)  # "<stream>|<event id>"


class UserRecord(Model):
    """One user as the platform's user read returns them. email and phone are never logged."""
    Meta = table_meta("platform-users")
    user_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    root_org_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    designation = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    accounts = JSONAttribute(default=list)  # [[homePage, name]]
    as_of = UnicodeAttribute(null=True)  # "<ISO instant>|<what>": older profile events change nothing
    updated_at = UTCDateTimeAttribute()


class UserKeyRecord(Model):
    """Another way to name a user: "account:<homePage>|<name>" or "mbox:<digest of the email>" -> user id."""
    Meta = table_meta("platform-user-keys")
    key = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()


class ByWaitIndex(GlobalSecondaryIndex):
    """What waits for one user or course ("user|<key>", "course|<id>")."""
    class Meta:
        index_name = "by_wait"
        projection = AllProjection()
    waits_for = UnicodeAttribute(hash_key=True)
    park_id = UnicodeAttribute(range_key=True)


class ParkedRecord(Model):
    """An activity waiting for the directory; and one item "#count", the number of them (moved in the same
    transaction as each parking and release: the alarm's figure without counting)."""
    Meta = table_meta("platform-parked")
    park_id = UnicodeAttribute(hash_key=True)
    waits_for = UnicodeAttribute(null=True)
    by_wait = ByWaitIndex()
    activity = JSONAttribute(null=True)
    parked_at = UTCDateTimeAttribute(null=True)
    parked = NumberAttribute(null=True)  # on "#count" only


DIRECTORY_MODELS = (CourseRecord, CompletionRecord, UserRecord, UserKeyRecord, ParkedRecord)
