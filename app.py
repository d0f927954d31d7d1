"""Karmayogi Engage: HTTP routes and event handlers. Each one only translates; the work is in chalicelib/."""
from datetime import datetime, timezone

from chalice import Chalice, Cron, Rate, Response

from chalicelib import settings
from chalicelib.bootstrap import adapters
from chalicelib.errors import ApiError
from chalicelib.ingestion import signature, webhook
from chalicelib.leaderboards import service as leaderboards
from chalicelib.learners import service as learners
from chalicelib.learners import erasure, export, preferences
from chalicelib.logs import logger
from chalicelib.notifications import delivery, digest, nudges, outbox
from chalicelib.notifications import service as notifications
from chalicelib.notifications.sending import messages_in
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
    failed = learners.recompute_streams(streams_in(event), adapters(), logger)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


# --- notifications: delivery records, unsubscribe, the outbox consumer and schedules (chalicelib/notifications/)
@app.route("/v1/learners/{learner_id}/notifications")
def get_learner_notifications(learner_id):
    caller, query = _caller(), app.current_request.query_params or {}
    return notifications.notifications_page(learner_id, caller, adapters(), query.get("limit"), query.get("cursor"))


@app.route("/v1/unsubscribe", methods=["GET", "POST"],
           content_types=["application/x-www-form-urlencoded", "application/json", "text/plain",
                          "multipart/form-data"])
def unsubscribe():
    # Public: the signed token is the authority (RFC 8058 one-click POST; GET only shows a confirmation page).
    token = (app.current_request.query_params or {}).get("token")
    if app.current_request.method == "POST":
        return notifications.unsubscribe_now(token, adapters())
    return Response(body=notifications.unsubscribe_page(token), status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/dev/outbox")
def dev_outbox():
    # Local stage only (404 elsewhere): every message decided today and yesterday, as its recipient sees it.
    return Response(body=notifications.dev_outbox_page(adapters(), _now()), status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8"})


@app.on_sqs_message(queue=settings.NOTIFICATIONS_QUEUE, batch_size=10)
def deliver_notifications(event):
    retry = delivery.deliver_batch(messages_in(event), adapters(), _now(), logger)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}


@app.on_sns_message(topic=settings.SES_EVENTS_TOPIC)
def ses_events(event):
    notifications.record_ses_event(event.message, adapters(), _now(), logger)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def notifications_every_minute(event):
    # Badge digests of closed windows, then the outbox sweep (lost messages, crashed sends, deferred ones due).
    digest.send_badge_digests(adapters(), _now(), logger)
    outbox.sweep(adapters(), _now())


@app.schedule(Cron(30, 3, "*", "*", "?", "*"))  # 09:00 IST: the nudges of the day, inside sending hours
def nightly_nudges(event):
    logger.info("nudges", extra={"outcomes": nudges.run_nightly(adapters(), _now(), log=logger)})
# --- end of notifications -----------------------------------------------------------------------------------
