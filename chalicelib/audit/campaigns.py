"""Auditors of campaigns: each learner's progress against the pure fold of their events, then each campaign's
per-org statistics against what the progress records add up to.

Only campaigns whose progress scoring keeps up to date (scheduled, live, closing: campaigns/rules.py ACTIVE) are
audited: a closed campaign's results are frozen, and a learner's later move to another org does not move them.

CampaignProgressAuditor walks the learners table (as the learner auditor does) and, per learner, compares the
stored progress in every active campaign (one batch read) with campaigns/service.py expected_progress (the
function scoring uses) over the stored events: a missing, extra or different record is a "campaign-progress"
difference. Its repair puts the record as it should be, without touching the statistics.

CampaignStatsAuditor runs next, once per active campaign (campaigns split over the segments): it recounts the
statistics from every progress record of the campaign (campaigns/rules.py contributions, on the shard scoring
writes each learner's share to) and compares them with the stored items of the campaign; a difference is a
"campaign-stat". Its repair ADDs the difference, so a scorer writing meanwhile (ADD too) is not undone; a
difference found while scoring runs may be one in flight: audit again, and what persists is real.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Iterable, Optional

from chalicelib.audit import Difference
from chalicelib.campaigns import progress as campaign_progress, rules
from chalicelib.campaigns import reports as campaign_reports
from chalicelib.rules import abuse
from chalicelib.campaigns.store import progress_to_json
from chalicelib.sharding import shard_of
from chalicelib.campaigns.models import CampaignProgressRecord, CampaignRecord, CampaignStatsRecord
from chalicelib.storage.models import LearnerRecord

PAGE = 100
FIELDS = ("participants", "goal_met", "courses", "minutes", "active")


class _ActiveCampaigns:
    """The campaigns to audit, read once per auditor run (a small table)."""

    def __init__(self):
        self._lock, self._campaigns = threading.Lock(), None

    def __call__(self, adapters) -> list:
        with self._lock:
            if self._campaigns is None:
                self._campaigns = sorted((c for c in adapters.campaigns.all() if c.status in rules.ACTIVE),
                                         key=lambda c: c.id)
            return self._campaigns


def _progress_key(campaign_id: str, learner_id: str, adapters) -> tuple[str, str]:
    return f"{campaign_id}#{shard_of(learner_id, adapters.campaigns.progress_shards)}", learner_id


def _decisions(learner_id: str, events, stored, adapters) -> dict:
    """The review decisions scoring would apply (as the learner auditor reads them)."""
    held = abuse.holds(events, adapters.rules)
    if not (held or stored.standing.held_events or stored.standing.rejected_events):
        return {}
    return {event_id: r.status for event_id, r in adapters.reviews.for_learner(learner_id).items()
            if r.status in abuse.DECISIONS}


def _state(stored) -> Optional[list]:
    return None if stored is None else [stored.progress.state(), list(stored.ancestors)]


class CampaignProgressAuditor:
    name = "campaign-progress"

    def __init__(self, corrections: Optional[dict] = None):
        self.active = _ActiveCampaigns()
        # (campaign id, learner id) -> (progress or None, ancestors) for every record found wrong in this run: the
        # statistics auditor counts these instead of the stored records (in a report-only run too).
        self.corrections = corrections if corrections is not None else {}

    def scan(self, segment: int, segments: int) -> Iterable[str]:
        for record in LearnerRecord.scan(segment=segment, total_segments=segments, page_size=PAGE,
                                         attributes_to_get=["learner_id"]):
            yield record.learner_id

    def expected(self, learner_id: str, adapters) -> Optional[dict]:
        """campaign id -> (progress or None, ancestors) for every active campaign; None: no such learner."""
        stored = adapters.learners.get(learner_id)
        active = self.active(adapters)
        if stored is None or not active:
            return None
        events, received = adapters.events.stream_received(f"learner:{learner_id}")
        decisions = _decisions(learner_id, events, stored, adapters)
        plan = campaign_progress.expected_progress(learner_id, events, received, stored.standing.profile.org_id,
                                           decisions, adapters, active)
        wanted: dict = {c.id: (None, ()) for c in active}
        wanted.update({c.id: (new, ancestors) for c, _, new, ancestors in plan})
        return wanted

    def check(self, learner_id: str, adapters) -> list[Difference]:
        wanted = self.expected(learner_id, adapters)
        if not wanted:
            return []
        stored = adapters.campaigns.progress([(campaign_id, learner_id) for campaign_id in wanted])
        found = []
        for campaign_id, (new, ancestors) in sorted(wanted.items()):
            old = stored.get((campaign_id, learner_id))
            live, expected = _state(old), (None if new is None else [new.state(), list(ancestors)])
            if live != expected:
                found.append(Difference("campaign-progress", f"{campaign_id}|{learner_id}", live, expected))
                self.corrections[(campaign_id, learner_id)] = (new, ancestors)
        return found

    def repair(self, learner_id: str, differences: list[Difference], adapters) -> None:
        wanted = self.expected(learner_id, adapters) or {}
        for d in differences:
            campaign_id = d.key.rsplit("|", 1)[0]
            new, ancestors = wanted.get(campaign_id, (None, ()))
            key = _progress_key(campaign_id, learner_id, adapters)
            if new is None:
                CampaignProgressRecord(*key).delete()
            else:
                CampaignProgressRecord(*key, org_id=new.org_id, ancestors=list(ancestors), score=new.score,
                                       state=new.state(), body=progress_to_json(new)).save()


def stats_key(campaign_id: str, org_id: str, shard: int) -> str:
    return f"{campaign_id}|{org_id}#{shard}"  # as campaigns/store.py writes them


class CampaignStatsAuditor:
    name = "campaign-stats"

    def __init__(self, corrections: Optional[dict] = None):
        self.corrections = corrections if corrections is not None else {}

    def scan(self, segment: int, segments: int) -> Iterable[str]:
        # scan() gets no adapters: the campaigns come from the table directly; a segment takes those whose id
        # hashes to it.
        for record in CampaignRecord.scan(attributes_to_get=["campaign_id", "status"]):
            if record.status in rules.ACTIVE and shard_of(record.campaign_id, segments) == segment:
                yield record.campaign_id

    def expected(self, campaign_id: str, adapters) -> dict[tuple[str, str], Counter]:
        """(stats key, bucket) -> fields, recounted from every progress record of the campaign."""
        expected: dict[tuple[str, str], Counter] = {}
        shards: dict[str, int] = {}

        def count(learner: str, progress, ancestors) -> None:
            for (org_id, bucket), values in rules.contributions(progress, ancestors).items():
                if org_id not in shards:
                    shards[org_id] = campaign_reports._org_shards(org_id, adapters)
                n = 0 if bucket == "own" else shard_of(learner, shards[org_id])
                expected.setdefault((stats_key(campaign_id, org_id, n), bucket), Counter()).update(values)

        corrected = {learner: fixed for (campaign, learner), fixed in self.corrections.items()
                     if campaign == campaign_id}
        for shard in range(adapters.campaigns.progress_shards):
            after = None
            while True:
                page, after = adapters.campaigns.progress_page(campaign_id, shard, after, PAGE)
                for stored in page:
                    learner = stored.progress.learner_id
                    if learner not in corrected:
                        count(learner, stored.progress, stored.ancestors)
                if after is None:
                    break
        for learner, (progress, ancestors) in corrected.items():  # as the progress auditor says they should be
            count(learner, progress, ancestors)
        return expected

    @staticmethod
    def live(campaign_id: str) -> dict[tuple[str, str], Counter]:
        """Every statistics item of the campaign but the frozen report rows (a filtered scan: campaigns are
        few, and an org with figures but no participant must be found too)."""
        found = {}
        for r in CampaignStatsRecord.scan(CampaignStatsRecord.stats_key.startswith(f"{campaign_id}|")):
            if r.stats_key == f"{campaign_id}|report":
                continue
            found[(r.stats_key, r.bucket)] = Counter({f: int(getattr(r, f) or 0) for f in FIELDS})
        return found

    def _differences(self, campaign_id: str, adapters) -> list[Difference]:
        expected, live = self.expected(campaign_id, adapters), self.live(campaign_id)
        found = []
        for key in sorted(set(expected) | set(live)):
            want, have = expected.get(key, Counter()), live.get(key, Counter())
            if any(want[f] != have[f] for f in FIELDS):
                found.append(Difference("campaign-stat", f"{key[0]}/{key[1]}",
                                        {f: have[f] for f in FIELDS if have[f] or want[f]},
                                        {f: want[f] for f in FIELDS if have[f] or want[f]}))
        return found

    def check(self, campaign_id: str, adapters) -> list[Difference]:
        return self._differences(campaign_id, adapters)

    def repair(self, campaign_id: str, differences: list[Difference], adapters) -> None:
        attributes = CampaignStatsRecord.get_attributes()
        for d in self._differences(campaign_id, adapters):  # as they are now
            key, bucket = d.key.rsplit("/", 1)
            change = {f: d.expected.get(f, 0) - d.live.get(f, 0) for f in FIELDS}
            actions: list = [attributes[f].add(v) for f, v in sorted(change.items()) if v]
            if actions:
                CampaignStatsRecord(key, bucket).update(actions=actions)
