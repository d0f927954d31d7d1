"""Karmayogi Engage: HTTP routes and event handlers. Each one only translates; the work is in chalicelib/."""
from datetime import datetime, timezone

from chalice import Chalice, Cron, Response

from chalicelib import audit, deadletters, settings
from chalicelib.bootstrap import adapters, sqs_client
from chalicelib.errors import ApiError
from chalicelib.ingestion import signature, webhook
from chalicelib.leaderboards import service as leaderboards
from chalicelib.learners import service as learners
from chalicelib.learners import erasure, export, preferences
from chalicelib.logs import logger
from chalicelib.queues import streams_in
from chalicelib.review import service as review

# configure_logs=False: Chalice and the powertools logger would otherwise print every line twice.
app = Chalice(app_name="karmayogi-engage", configure_logs=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _caller():
    """The bearer token's holder: every route but the health check and the signed webhook asks for one."""
    return adapters().tokens.principal(app.current_request.headers.get("authorization"))


@app.middleware("http")
def json_errors(event, get_response):
    try:
        return get_response(event)
    except ApiError as error:
        return Response(body=error.body(), status_code=error.status)


@app.route("/health")
def health():
    return {"status": "ok"}


@app.route("/v1/events", methods=["POST"], content_types=["application/json"])
def post_events():
    request = app.current_request
    status, body = webhook.handle(request.raw_body, request.headers.get(signature.HEADER), adapters(), _now())
    return Response(body=body, status_code=status)


@app.route("/v1/learners/{learner_id}")
def get_learner(learner_id):
    return learners.learner_summary(learner_id, _caller(), adapters(), _now())


@app.route("/v1/learners/{learner_id}/ledger")
def get_ledger(learner_id):
    caller, query = _caller(), app.current_request.query_params or {}
    return learners.ledger_page(learner_id, caller, adapters(), query.get("limit"), query.get("cursor"))


# --- privacy: preferences, export, erasure -------------------------------------------------------------

@app.route("/v1/learners/{learner_id}/preferences", methods=["GET", "PUT"])
def learner_preferences(learner_id):
    caller = _caller()
    if app.current_request.method == "PUT":
        return preferences.put_preferences(learner_id, caller, adapters(), app.current_request.raw_body)
    return preferences.get_preferences(learner_id, caller, adapters())


@app.route("/v1/learners/{learner_id}/export")
def export_learner(learner_id):
    return export.export_learner(learner_id, _caller(), adapters(), _now())


@app.route("/v1/learners/{learner_id}/erase", methods=["POST"])
def erase_learner(learner_id):
    return erasure.erase_learner(learner_id, _caller(), adapters(), _now())


@app.route("/v1/badges")
def get_badges():
    _caller()
    return learners.badge_catalogue(adapters())


@app.route("/v1/leaderboards/learners")
def get_learner_board():
    caller = _caller()
    return leaderboards.learner_board(app.current_request.query_params or {}, adapters(), _now(), caller)


@app.route("/v1/leaderboards/orgs")
def get_org_board():
    _caller()
    return leaderboards.org_board(app.current_request.query_params or {}, adapters(), _now())


# --- anti-abuse review (national admins): chalicelib/review/ ---------------------------------------------
@app.route("/v1/review/held")
def get_held_events():
    caller, query = _caller(), app.current_request.query_params or {}
    return review.held_list(caller, adapters(), query.get("limit"), query.get("cursor"))


@app.route("/v1/review/{event_id}/release", methods=["POST"], content_types=["application/json"])
def release_held_event(event_id):
    return review.decide(event_id, app.current_request.raw_body, _caller(), adapters(), _now(), "released")


@app.route("/v1/review/{event_id}/reject", methods=["POST"], content_types=["application/json"])
def reject_held_event(event_id):
    return review.decide(event_id, app.current_request.raw_body, _caller(), adapters(), _now(), "rejected")
# --- end of anti-abuse review -------------------------------------------------------------------------------


@app.on_sqs_message(queue=settings.SCORING_QUEUE, batch_size=10)
def score_streams(event):
    reasons: dict[str, str] = {}
    learners.recompute_streams(streams_in(event), adapters(), logger, reasons)
    retry = deadletters.settle([r.to_dict() for r in event], reasons, sqs_client, logger)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}


# --- operations: the weekly audit (chalicelib/audit/; `make audit` runs the same by hand, and repairs) ------
@app.schedule(Cron(30, 20, "?", "*", "SAT", "*"))  # Sundays 02:00 IST
def audit_weekly(event):
    return audit.weekly(adapters(), logger, event.context.get_remaining_time_in_millis)
