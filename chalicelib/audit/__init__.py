"""Audit and rebuild: recompute what is derived from the stored events and compare it with the live state.

A registry of auditors (AUDITORS). Each one scans one table in parallel segments, page by page (never the
whole table in memory), checks each item it reads against what the rules and the stored events say, and can
repair what it finds. `run()` drives them in registry order: learners first (their repair re-runs the normal
recompute, which moves board entries), then the figures aggregated from board entries (score counts, org
statistics), which are recounted from the entries as they are after that.

Adding a figure is adding one Auditor: a table to scan, `check` and `repair` (campaigns.py: each learner's
campaign progress, then each campaign's per-org statistics recounted from the progress records).

A rule change reaches history as a dated rule version applied by the re-score job (chalicelib/rescore.py,
docs/rule-versions.md), whose segments share this queue; `make audit ARGS=--repair` also recomputes every learner
under the rule book (new ledger entries are corrections, never rewrites) and recounts the boards.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Protocol

from chalicelib import deadletters, settings

SAMPLES_PER_KIND = 5


@dataclass(frozen=True)
class Difference:
    kind: str  # learner-total, streak, badge, ledger, board-entry, score-count, org-stat, ...
    key: str  # what differs: a learner id, a board shard and score, a period and org
    live: Any
    expected: Any

    def as_dict(self) -> dict:
        return {"kind": self.kind, "key": self.key, "live": self.live, "expected": self.expected}


@dataclass
class Report:
    scanned: Counter = field(default_factory=Counter)  # items read, by auditor
    differences: Counter = field(default_factory=Counter)  # by kind
    repaired: Counter = field(default_factory=Counter)  # by kind
    samples: dict[str, list[Difference]] = field(default_factory=dict)
    segments_done: Counter = field(default_factory=Counter)  # by auditor
    segments: int = 0
    complete: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, auditor: str, scanned: int, found: list[Difference], repaired: bool) -> None:
        with self._lock:
            self.scanned[auditor] += scanned
            for difference in found:
                self.differences[difference.kind] += 1
                if repaired:
                    self.repaired[difference.kind] += 1
                samples = self.samples.setdefault(difference.kind, [])
                if len(samples) < SAMPLES_PER_KIND:
                    samples.append(difference)

    @property
    def clean(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict:
        return {"clean": self.clean, "complete": self.complete, "segments": self.segments,
                "segments_done": dict(self.segments_done), "scanned": dict(self.scanned),
                "differences": dict(self.differences), "repaired": dict(self.repaired),
                "samples": {kind: [d.as_dict() for d in found] for kind, found in self.samples.items()}}


class Auditor(Protocol):
    name: str

    def scan(self, segment: int, segments: int) -> Iterable[Any]:
        """The items of one segment of the auditor's table, page by page."""

    def check(self, item: Any, adapters) -> list[Difference]:
        """What differs for this item between the live state and what the events and rules say."""

    def repair(self, item: Any, differences: list[Difference], adapters) -> None:
        """Make the live state what check() expected. Safe to run twice."""


def registry() -> list[Auditor]:
    """The auditors, in the order they must run (see the module docstring)."""
    from chalicelib.audit.learners import LearnerAuditor
    from chalicelib.audit.boards import BoardFiguresAuditor, OrphanFiguresAuditor
    from chalicelib.audit.campaigns import CampaignProgressAuditor, CampaignStatsAuditor
    # Campaign statistics are recounted from progress records, so progress is checked (and put right) first; the
    # records it found wrong are counted as they should be.
    corrections: dict = {}
    return [LearnerAuditor(), BoardFiguresAuditor(), OrphanFiguresAuditor(), CampaignProgressAuditor(corrections),
            CampaignStatsAuditor(corrections)]


def run(adapters, repair: bool = False, segments: int = 4, workers: int = 4, only_segment: Optional[int] = None,
        auditors: Optional[list[Auditor]] = None, out_of_time: Callable[[], bool] = lambda: False,
        log: Optional[Callable[[str], None]] = None) -> Report:
    """Every auditor over every segment (or one segment: `only_segment`, to resume or split a long run).

    Segments of one auditor run in parallel (`workers` threads); auditors run one after the other. With
    `out_of_time` (a Lambda's remaining time), a run stops between pages and says it is incomplete.
    """
    report = Report(segments=segments)
    chosen = [only_segment] if only_segment is not None else list(range(segments))
    for auditor in auditors if auditors is not None else registry():
        def one(segment: int, auditor=auditor) -> None:
            for item in auditor.scan(segment, segments):
                if out_of_time():
                    report.complete = False
                    return
                found = auditor.check(item, adapters)
                if found and repair:
                    auditor.repair(item, found, adapters)
                report.add(auditor.name, 1, found, repair)
            with report._lock:
                report.segments_done[auditor.name] += 1
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
            list(pool.map(one, chosen))
        if log:
            log(f"{auditor.name}: {report.scanned[auditor.name]} items, "
                f"{report.segments_done[auditor.name]}/{len(chosen)} segments")
        if not report.complete:
            break
    return report


# --- the weekly audit: fanned out, one message per auditor and segment -----------------------------------------

def segments_for(learners: int, per_segment: int, least: int, most: int) -> int:
    """Scan segments enough that one segment's learners are audited inside one function run."""
    return max(least, min(most, -(-learners // max(1, per_segment))))


def plan_weekly(run: str, learners: int, per_segment: int, least: int, most: int) -> list[dict]:
    """The messages of one weekly run: every auditor over every segment. A report-only run needs no order between
    auditors (repairs, which do, are an operator's `make audit ARGS=--repair`), so they all run at once."""
    segments = segments_for(learners, per_segment, least, most)
    return [{"run": run, "auditor": auditor.name, "segment": segment, "segments": segments}
            for auditor in registry() for segment in range(segments)]


def start_weekly(adapters, run: str, log) -> dict:
    """The schedule: size the run by the number of learners (an approximate count is enough to size by) and
    queue its segments on the audit queue."""
    learners = adapters.learners.approximate_count()
    messages = plan_weekly(run, learners, settings.AUDIT_LEARNERS_PER_SEGMENT, settings.AUDIT_MIN_SEGMENTS,
                           settings.AUDIT_MAX_SEGMENTS)
    adapters.audit_queue.send_json(messages)
    summary = {"run": run, "learners": learners, "segments": messages[0]["segments"] if messages else 0,
               "messages": len(messages)}
    log.info("audit started", extra={"audit": summary})
    return summary


def audit_segment(adapters, message: dict, log, remaining_ms: Callable[[], int], reserve_ms: int = 60_000) -> dict:
    """One message of a weekly run: one auditor over one scan segment, report only. Stops a minute before the
    function's timeout and says so, naming the `make audit` command that finishes the segment. The log line has
    counts and a few samples per kind (learner ids, board keys and numbers: no personal data); a CloudWatch
    Logs Insights query over the run id adds the segments up (README)."""
    by_name = {auditor.name: auditor for auditor in registry()}
    auditor, segment, segments = by_name[message["auditor"]], int(message["segment"]), int(message["segments"])
    reserve = min(reserve_ms, remaining_ms() // 10)  # a short-lived runner (the local pump: 60 s) keeps a tenth
    report = run(adapters, segments=segments, only_segment=segment, auditors=[auditor],
                 out_of_time=lambda: remaining_ms() < reserve)
    summary = {"run": message.get("run"), "auditor": auditor.name, "segment": segment, **report.as_dict()}
    if report.clean and report.complete:
        log.info("audit clean", extra={"audit": summary})
    elif not report.complete:
        log.warning("audit incomplete", extra={"audit": summary, "finish_with": (
            f"make audit ARGS='--segments {segments} --segment {segment} --auditor {auditor.name}'")})
    else:
        log.warning("audit found differences", extra={"audit": summary})
    return summary


def audit_segments(messages: list[tuple[str, dict]], adapters, log, remaining_ms: Callable[[], int],
                   reasons: dict[str, str], final: Optional[set] = None) -> None:
    """The audit queue's batch: (message id, message) each; a failure (an outage, a malformed message) is put in
    `reasons` (message id -> why) for chalicelib/deadletters.py to retry or dead-letter, and in `final` when no
    retry can help. Others are unaffected."""
    final = set() if final is None else final
    for message_id, message in messages:
        if "rescore" in message:  # a re-score job shares the audit queue (chalicelib/rescore.py)
            from chalicelib.rescore import rescore_segments
            rescore_segments([(message_id, message)], adapters, log, remaining_ms, reasons)
            continue
        if "DDBStreamBatchInfo" in message:  # the board stream's on-failure destination (infra/resources.yaml)
            from chalicelib.audit.boards import failed_batch_reason
            reasons[message_id] = failed_batch_reason(message)
            final.add(message_id)  # nothing a retry can fold: to the DLQ now, with the boards and the command
            log.error("board stream batch skipped", extra={"message_id": message_id, "reason": reasons[message_id]})
            continue
        try:
            audit_segment(adapters, message, log, remaining_ms)
        except Exception as exc:  # noqa: BLE001 (retried by SQS, then the DLQ with the reason)
            log.error("audit segment failed", extra={"message_id": message_id, "error": type(exc).__name__})
            reasons[message_id] = deadletters.reason_of(exc)
