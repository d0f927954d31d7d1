"""make audit, campaigns: a learner's progress record and an org's campaign statistics corrupted behind the
code's back are reported, --repair puts them back as scoring left them, and the audit comes back clean. On moto."""
import json
from datetime import timedelta

from chalicelib import audit
from chalicelib.audit.campaigns import CampaignProgressAuditor, CampaignStatsAuditor
from chalicelib.campaigns.models import CampaignProgressRecord, CampaignStatsRecord
from tests import rules_builders as b
from tests.campaign_builders import IN_WINDOW, build_tree, create, deliver


def campaign_world(aws):
    build_tree(aws)
    ministry = create(aws, scope="ministry:min_m")
    national = create(aws, goal={"kind": "courses", "target": 1})
    deliver(aws, [
        b.completion("u1", "c-1", IN_WINDOW, areas=["functional"], minutes=90, org="org_a"),
        b.time_spent("u1", 30, IN_WINDOW + timedelta(minutes=3), org="org_a"),
        b.completion("u2", "c-1", IN_WINDOW + timedelta(days=1), areas=["functional"], minutes=90, org="org_b"),
        b.time_spent("u3", 45, IN_WINDOW, org="org_c"),  # outside the ministry: national campaign only
    ])
    return ministry["id"], national["id"]


def campaign_tables() -> dict:
    def plain(record):
        return {k: v for k, v in sorted(record.attribute_values.items())}
    return {model.Meta.table_name: sorted((plain(r) for r in model.scan()), key=repr)
            for model in (CampaignProgressRecord, CampaignStatsRecord)}


def only_campaigns(adapters, repair=False):
    corrections = {}
    return audit.run(adapters, repair=repair, segments=2, workers=2,
                     auditors=[CampaignProgressAuditor(corrections), CampaignStatsAuditor(corrections)])


def test_scored_campaigns_audit_clean(aws):
    campaign_world(aws)
    report = only_campaigns(aws)
    assert report.clean and report.complete, report.as_dict()
    assert report.scanned["campaign-progress"] == 3 and report.scanned["campaign-stats"] == 2
    assert CampaignStatsRecord.count() > 10  # there were figures to recount
    assert [a.name for a in audit.registry()][-2:] == ["campaign-progress", "campaign-stats"]


def test_a_corrupted_progress_record_and_org_statistic_are_reported_then_repaired(aws):
    ministry, national = campaign_world(aws)
    expected = campaign_tables()
    # u1's progress in the ministry campaign: 120 minutes become 500 (the record only; its stats stay right)
    [record] = [r for r in CampaignProgressRecord.scan() if r.learner_id == "u1"
                and r.campaign_shard.startswith(ministry + "#")]
    body = dict(record.body, minutes=500, score=500)
    state = record.state.replace("|120|", "|500|")
    record.update(actions=[CampaignProgressRecord.body.set(body), CampaignProgressRecord.state.set(state),
                           CampaignProgressRecord.score.set(500)])
    # org_b's own participants in the national campaign: 1 becomes 4; and u3's progress there goes missing
    [stat] = [r for r in CampaignStatsRecord.scan()
              if r.stats_key.startswith(f"{national}|org_b#") and r.bucket == "own"]
    stat.update(actions=[CampaignStatsRecord.participants.add(3)])
    [lost] = [r for r in CampaignProgressRecord.scan() if r.learner_id == "u3"]
    lost.delete()

    report = only_campaigns(aws)
    assert report.differences == {"campaign-progress": 2, "campaign-stat": 1}, report.as_dict()
    progress = {d.key: d for d in report.samples["campaign-progress"]}
    assert progress[f"{ministry}|u1"].live[0].split("|")[1] == "500"
    assert progress[f"{ministry}|u1"].expected[0].split("|")[1] == "120"
    assert progress[f"{national}|u3"].live is None and progress[f"{national}|u3"].expected is not None
    [stat_difference] = report.samples["campaign-stat"]
    assert stat_difference.key == f"{stat.stats_key}/own"
    assert stat_difference.live["participants"] == 4 and stat_difference.expected["participants"] == 1
    json.dumps(report.as_dict())  # loggable

    repaired = only_campaigns(aws, repair=True)
    assert repaired.repaired == repaired.differences
    again = only_campaigns(aws)
    assert again.clean, again.as_dict()
    assert campaign_tables() == expected  # exactly as scoring left them


def test_figures_of_an_org_nobody_counts_in_are_found_and_zeroed(aws):
    _, national = campaign_world(aws)
    CampaignStatsRecord(f"{national}|org_ghost#0", "total", participants=2, minutes=10).save()
    report = only_campaigns(aws)
    assert report.differences == {"campaign-stat": 1}
    only_campaigns(aws, repair=True)
    assert only_campaigns(aws).clean
    ghost = CampaignStatsRecord.get(f"{national}|org_ghost#0", "total")
    assert (ghost.participants, ghost.minutes) == (0, 0)


def test_learners_who_earned_under_a_multiplied_campaign_audit_clean(aws):
    """The audit computes what scoring computes (scoring/compute.py), campaign multipliers included: a x2
    campaign's doubled points are not a difference, and --repair has nothing to 'fix'."""
    from chalicelib.audit.learners import LearnerAuditor
    build_tree(aws)
    create(aws, scope="ministry:min_m", multiplier=2)
    deliver(aws, [b.completion("u1", "c-1", IN_WINDOW, areas=["functional"], minutes=90, org="org_a"),
                  b.completion("u3", "c-1", IN_WINDOW, areas=["functional"], minutes=90, org="org_c")])
    doubled, plain = aws.learners.get("u1").standing.points, aws.learners.get("u3").standing.points
    assert doubled == 2 * plain > 0  # u1's org is in the ministry, u3's is not
    report = audit.run(aws, repair=False, segments=2, workers=2, auditors=[LearnerAuditor()])
    assert report.clean and report.complete, report.as_dict()
    assert report.scanned["learners"] == 2
