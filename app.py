"""Karmayogi Engage: HTTP routes and event handlers. Each one only translates; the work is in chalicelib/."""
from datetime import datetime, timezone

from chalice import Chalice, Cron, Rate, Response

from chalicelib import settings
from chalicelib.errors import ApiError
from chalicelib.lazy import lazy
from chalicelib.logs import logger

# Each module is imported on first use (chalicelib/lazy.py): a cold start loads only what its handler needs.
audit = lazy("chalicelib.audit")
bootstrap = lazy("chalicelib.bootstrap")
deadletters = lazy("chalicelib.deadletters")
facts = lazy("chalicelib.facts")
queues = lazy("chalicelib.queues")
campaigns = lazy("chalicelib.campaigns.service")
campaign_lifecycle = lazy("chalicelib.campaigns.lifecycle")
campaign_reports = lazy("chalicelib.campaigns.reports")
credentials = lazy("chalicelib.credentials.service")
directory = lazy("chalicelib.directory.service")
signature = lazy("chalicelib.ingestion.signature")
webhook = lazy("chalicelib.ingestion.webhook")
leaderboards = lazy("chalicelib.leaderboards.service")
board_stream = lazy("chalicelib.leaderboards.stream")
learners = lazy("chalicelib.learners.service")
erasure = lazy("chalicelib.learners.erasure")
export = lazy("chalicelib.learners.export")
preferences = lazy("chalicelib.learners.preferences")
delivery = lazy("chalicelib.notifications.delivery")
nudges = lazy("chalicelib.notifications.nudges")
outbox = lazy("chalicelib.notifications.outbox")
campaign_notices = lazy("chalicelib.notifications.campaigns")
notifications = lazy("chalicelib.notifications.service")
sending = lazy("chalicelib.notifications.sending")
admin_pages = lazy("chalicelib.pages.admin")
learner_pages = lazy("chalicelib.pages.learner")
login_pages = lazy("chalicelib.pages.login")
web = lazy("chalicelib.pages.web")
review = lazy("chalicelib.review.service")
rosters = lazy("chalicelib.rosters.service")
platform = lazy("chalicelib.platform.service")
scoring = lazy("chalicelib.scoring.pipeline")

# configure_logs=False: Chalice and the powertools logger would otherwise print every line twice.
app = Chalice(app_name="karmayogi-engage", configure_logs=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def adapters():
    """The wiring of this process (chalicelib/bootstrap.py), built on first use."""
    return bootstrap.adapters()


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


# --- xAPI statements from other learning systems: chalicelib/xapi/ (docs/xapi.md) ---------------------------
# Imported when called: the xAPI models (ralph) take about 0.3 s to import, which no other function should pay
# at its cold start.
XAPI_TYPES = ["application/json"]


def _xapi_answer(answer):
    """An xAPI route's answer, its errors too with the X-Experience-API-Version (and a 401's WWW-Authenticate)."""
    from chalicelib.xapi import service as xapi
    try:
        return answer(xapi)
    except ApiError as error:
        version = app.current_request.headers.get("x-experience-api-version")
        return Response(body=error.body(), status_code=error.status, headers=xapi.error_headers(error, version))


@app.route("/xapi/statements", methods=["POST", "PUT"], content_types=XAPI_TYPES)
def xapi_statements():
    request, wiring = app.current_request, adapters()
    auth, version = request.headers.get("authorization"), request.headers.get("x-experience-api-version")

    def answer(xapi):
        if request.method == "PUT":
            spoken = xapi.put_statement((request.query_params or {}).get("statementId"), request.raw_body, auth,
                                        version, wiring, _now())
            return Response(body="", status_code=204, headers=xapi.response_headers(spoken))
        ids, spoken = xapi.post_statements(request.raw_body, auth, version, wiring, _now())
        return Response(body=ids, status_code=200, headers=xapi.response_headers(spoken))
    return _xapi_answer(answer)


@app.route("/xapi/courses", methods=["PUT"], content_types=XAPI_TYPES)
def xapi_courses():
    request = app.current_request
    return _xapi_answer(lambda xapi: xapi.register_courses(request.raw_body, request.headers.get("authorization"),
                                                           adapters(), _now()))


@app.route("/xapi/about")
def xapi_about():
    return _xapi_answer(lambda xapi: Response(body=xapi.about(), status_code=200, headers=xapi.response_headers("2.0")))
# --- end of xAPI ------------------------------------------------------------------------------------------------


# --- the platform's own events, and the directories they need (chalicelib/platform/, chalicelib/directory/) ----
@app.route("/v1/platform/events", methods=["POST"], content_types=["application/json"])
def post_platform_events():
    request = app.current_request
    status, body = platform.handle_http(request.raw_body, request.headers.get(signature.HEADER),
                                        (request.query_params or {}).get("topic"), adapters(), _now())
    return Response(body=body, status_code=status)


@app.route("/v1/platform/courses", methods=["POST"], content_types=["application/json"])
def post_platform_courses():
    return directory.courses_request(_caller(), app.current_request.raw_body, adapters(), _now())


@app.route("/v1/platform/users", methods=["POST"], content_types=["application/json"])
def post_platform_users():
    return directory.users_request(_caller(), app.current_request.raw_body, adapters(), _now())


@app.route("/v1/platform/parked")
def get_parked_activities():
    caller, query = _caller(), app.current_request.query_params or {}
    return directory.parked_list(caller, adapters(), query.get("limit"), query.get("cursor"))


# The platform's Kafka topics, through a self-managed Apache Kafka event source mapping declared in
# infra/resources.yaml (Chalice has no Kafka event source of its own).
@app.lambda_function(name="consume_platform_topics")
def consume_platform_topics(event, context):
    return platform.consume_kafka(event, adapters(), _now(), logger)
# --- end of the platform's own events -----------------------------------------------------------------------


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


# The board entries' DynamoDB stream (NEW_AND_OLD_IMAGES) into the boards' summaries and the orgs' statistics,
# one fold per batch (chalicelib/leaderboards/stream.py). A plain function: its event source mapping names the
# table's stream, which exists only once the table does (infra/resources.yaml). A failed batch is retried whole.
@app.lambda_function(name="fold_board_changes")
def fold_board_changes(event, context):
    return {"records": board_stream.fold_records(event.get("Records", []), adapters())}


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


# --- rule versions (national admins): chalicelib/rules_preview.py, chalicelib/rescore.py ------------------------
@app.route("/v1/admin/rules/preview", methods=["POST"], content_types=["application/json"])
def preview_rule_version():
    from chalicelib import rules_preview
    return rules_preview.preview_request(app.current_request.raw_body, _caller(), adapters(), _now())


@app.route("/v1/admin/rules/apply", methods=["POST"], content_types=["application/json"])
def apply_rule_version():
    from chalicelib import rules_preview
    job = rules_preview.apply_request(app.current_request.raw_body, _caller(), adapters(), logger)
    return Response(body=job, status_code=202)
# --- end of rule versions -----------------------------------------------------------------------------------


# --- credentials: Open Badges 3.0 (chalicelib/credentials/) ----------------------------------------------
VC_JWT = "application/vc+jwt"


@app.route("/v1/learners/{learner_id}/badges/{badge_id}/credential")
def get_badge_credential(learner_id, badge_id):
    return credentials.credential_for_award(learner_id, badge_id, _caller(), adapters(), _now())


@app.route("/credentials/{credential_id}")
def get_public_credential(credential_id):
    request, wiring = app.current_request, adapters()
    issued = credentials.public_credential(credential_id, wiring)
    wants_jwt = (request.query_params or {}).get("format") == "jwt" or \
        VC_JWT in (request.headers.get("accept") or "")
    if wants_jwt:
        return Response(body=issued.jwt, status_code=200, headers={"Content-Type": VC_JWT})
    return credentials.credential_document(issued, wiring)


@app.route("/credentials/status/{list_id}")
def get_revocation_list(list_id):
    wiring = adapters()
    return Response(body=credentials.revocation_list(list_id, wiring), status_code=200,
                    headers=credentials.cache_headers(wiring))


@app.route("/v1/credentials/verify", methods=["POST"], content_types=["application/json"])
def verify_credential():
    return credentials.verify_credential(app.current_request.raw_body, adapters(), _now())


@app.route("/v1/credentials/{credential_id}/revoke", methods=["POST"], content_types=["application/json"])
def revoke_credential(credential_id):
    return credentials.revoke_credential(credential_id, app.current_request.raw_body, _caller(), adapters(), _now())


@app.route("/issuer")
def get_issuer():
    wiring = adapters()
    return Response(body=credentials.issuer_profile(wiring), status_code=200, headers=credentials.cache_headers(wiring))


@app.route("/issuer/jwks.json")
def get_issuer_jwks():
    wiring = adapters()
    return Response(body=credentials.issuer_jwks(wiring), status_code=200, headers=credentials.cache_headers(wiring))


@app.route("/badges/{badge_id}/image.svg")
def get_badge_image(badge_id):
    wiring = adapters()
    return Response(body=credentials.badge_image(badge_id, wiring), status_code=200,
                    headers={"Content-Type": "image/svg+xml", **credentials.cache_headers(wiring)})
# --- end of credentials --------------------------------------------------------------------------------------
# --- rosters: chalicelib/rosters/ ------------------------------------------------------------------------------
@app.route("/v1/orgs/{org_id}/roster", methods=["POST"], content_types=["text/csv"])
def post_roster(org_id):
    request = app.current_request
    return rosters.import_from_request(org_id, request.raw_body, _caller(), adapters(), request.query_params or {})


# S3 ObjectCreated on rosters/<org_id>/<name>.csv in settings.ROSTER_BUCKET. A plain function with its S3
# notification declared in infra/resources.yaml: `chalice package` cannot package @app.on_s3_event.
@app.lambda_function(name="import_roster_upload")
def import_roster_upload(event, context):
    from urllib.parse import unquote_plus
    for record in event.get("Records", []):
        s3 = record["s3"]
        rosters.import_upload(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), bootstrap.s3_client(), adapters(),
                              logger)
    return {}
# --- end of rosters ---------------------------------------------------------------------------------------------


# --- Karmayogi Saptah campaigns: chalicelib/campaigns/ -------------------------------------------------------
@app.route("/v1/campaigns", methods=["GET", "POST"], content_types=["application/json"])
def campaigns_collection():
    request, caller = app.current_request, _caller()
    if request.method == "POST":
        return Response(body=campaigns.create(request.raw_body, caller, adapters(), _now()), status_code=201)
    return campaigns.list_campaigns(request.query_params or {}, caller, adapters())


@app.route("/v1/campaigns/{campaign_id}", methods=["GET", "PATCH"], content_types=["application/json"])
def campaign_item(campaign_id):
    request, caller = app.current_request, _caller()
    if request.method == "PATCH":
        return campaigns.update(campaign_id, request.raw_body, caller, adapters())
    return campaigns.get(campaign_id, caller, adapters())


@app.route("/v1/campaigns/{campaign_id}/cancel", methods=["POST"], content_types=["application/json"])
def cancel_campaign(campaign_id):
    return campaigns.cancel(campaign_id, _caller(), adapters())


@app.route("/v1/campaigns/{campaign_id}/progress")
def campaign_progress(campaign_id):
    caller, query = _caller(), app.current_request.query_params or {}
    return campaign_reports.learner_progress(campaign_id, query.get("learner_id"), caller, adapters())


@app.route("/v1/campaigns/{campaign_id}/dashboard")
def campaign_dashboard(campaign_id):
    caller = _caller()
    return campaign_reports.dashboard(campaign_id, app.current_request.query_params or {}, caller, adapters())


@app.route("/v1/campaigns/{campaign_id}/leaderboards/learners")
def campaign_learner_board(campaign_id):
    caller = _caller()
    return campaign_reports.learner_board(campaign_id, app.current_request.query_params or {}, caller, adapters())


@app.route("/v1/campaigns/{campaign_id}/leaderboards/orgs")
def campaign_org_board(campaign_id):
    caller = _caller()
    return campaign_reports.org_board(campaign_id, app.current_request.query_params or {}, caller, adapters())


@app.route("/v1/campaigns/{campaign_id}/report")
def campaign_report(campaign_id):
    caller = _caller()
    body = campaign_reports.report(campaign_id, app.current_request.query_params or {}, caller, adapters())
    if isinstance(body, str):
        return Response(body=body, status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id[:64]}.csv"'})
    return body


@app.schedule(Rate(5, unit=Rate.MINUTES))
def advance_campaigns(event):
    """Lifecycle steps by the clock, and closing (resumable) once a campaign's grace period is over."""
    done = campaign_lifecycle.advance(adapters(), _now(), logger)
    logger.info("campaigns advanced", extra={"campaigns": done})
    return done
# --- end of campaigns -----------------------------------------------------------------------------------------


# --- pages: server-rendered HTML for people (chalicelib/pages/); not part of the JSON API or openapi.yaml ----
PAGE_ROUTES: set[str] = set()  # tests/test_openapi.py leaves these out of the API spec
FORM = ["application/x-www-form-urlencoded"]


def page(path, methods=("GET",), **options):
    PAGE_ROUTES.add(path)
    return app.route(path, methods=list(methods), **options)


def _serve(path, view, public=False):
    request = web.PageRequest.from_chalice(app.current_request, path)
    return web.serve(request, lambda req, session: view(req, session, adapters(), _now()), adapters(), public)


@page("/")
def home_page():
    return Response(body="", status_code=303, headers={"Location": "/me", "Content-Type": "text/html"})


@page("/me")
def my_progress_page():
    return _serve("/me", learner_pages.my_progress)


@page("/leaderboard")
def leaderboard_page():
    return _serve("/leaderboard", learner_pages.leaderboard)


@page("/orgs")
def org_boards_page():
    return _serve("/orgs", learner_pages.org_boards)


@page("/orgs.csv")
def org_boards_csv():
    return _serve("/orgs.csv", learner_pages.org_boards_csv)


@page("/language", methods=["POST"], content_types=FORM)
def language_switch():
    return _serve("/language", learner_pages.switch_language)


@page("/admin")
def admin_page():
    return _serve("/admin", admin_pages.admin_home)


@page("/admin/campaigns/new")
def new_campaign_page():
    return _serve("/admin/campaigns/new", admin_pages.new_campaign)


@page("/admin/campaigns/new", methods=["POST"], content_types=FORM)
def new_campaign_submit():
    return _serve("/admin/campaigns/new", admin_pages.create_campaign)


@page("/admin/campaigns/{campaign_id}")
def campaign_dashboard_page(campaign_id):
    return _serve(f"/admin/campaigns/{campaign_id}", admin_pages.dashboard)


@page("/admin/campaigns/{campaign_id}/report.csv")
def campaign_report_csv(campaign_id):
    return _serve(f"/admin/campaigns/{campaign_id}/report.csv", admin_pages.report_csv)


@page("/admin/campaigns/{campaign_id}/remind", methods=["POST"], content_types=FORM)
def campaign_remind(campaign_id):
    return _serve(f"/admin/campaigns/{campaign_id}/remind", admin_pages.remind)


@page("/admin/campaigns/{campaign_id}/status", methods=["POST"], content_types=FORM)
def campaign_status(campaign_id):
    return _serve(f"/admin/campaigns/{campaign_id}/status", admin_pages.change_status)


@page("/me/badges/{badge_id}/credential")
def my_credential_page(badge_id):
    return _serve(f"/me/badges/{badge_id}/credential", learner_pages.my_credential)


@page("/me/badges/{badge_id}/credential.json")
def my_credential_download(badge_id):
    return _serve(f"/me/badges/{badge_id}/credential.json", learner_pages.my_credential_json)


@page("/logout", methods=["POST"], content_types=FORM)
def logout():
    return _serve("/logout", login_pages.sign_out)


# Signing in through the platform's OpenID provider (chalicelib/pages/login.py, docs/sign-in.md).
@page("/login")
def login():
    return _serve("/login", login_pages.sign_in, public=True)


@page("/auth/callback")
def sign_in_callback():
    return _serve("/auth/callback", login_pages.callback, public=True)


@page("/signed-out")
def signed_out_page():
    return _serve("/signed-out", login_pages.signed_out, public=True)
# --- end of pages -------------------------------------------------------------------------------------------


@app.on_sqs_message(queue=settings.SCORING_QUEUE, batch_size=10)
def score_streams(event):
    reasons: dict[str, str] = {}
    scoring.recompute_streams(queues.streams_in(event), adapters(), logger, reasons)
    return deadletters.batch_response(event, reasons, bootstrap.sqs_client, logger)


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
    return Response(body=notifications.unsubscribe_page(token, adapters()), status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8"})


@app.on_sqs_message(queue=settings.NOTIFICATIONS_QUEUE, batch_size=10)
def deliver_notifications(event):
    reasons: dict[str, str] = {}
    final: set[str] = set()  # failed for good (e.g. a message that cannot be rendered): dead-lettered now
    wiring = adapters()
    delivery.deliver_batch(sending.messages_in(event), wiring, _now(), logger, reasons, final)
    return deadletters.batch_response(event, reasons, bootstrap.sqs_client, logger, wiring.notifications.settings().max_receives,
                                      final)


@app.on_sns_message(topic=settings.SES_EVENTS_TOPIC)
def ses_events(event):
    notifications.record_ses_event(event.message, adapters(), _now(), logger)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def notifications_every_minute(event):
    # Facts due for their handlers (badge digests of closed windows, campaign results, any reaction left over
    # from a failed attempt), then the outbox sweep (lost messages, crashed sends, deferred ones due).
    facts.dispatch(adapters(), _now(), logger)
    outbox.sweep(adapters(), _now())


@app.schedule(Cron(30, 3, "*", "*", "?", "*"))  # 09:00 IST: the nudges of the day, inside sending hours
def nightly_nudges(event):
    logger.info("nudges", extra={"outcomes": nudges.run_nightly(adapters(), _now(), log=logger)})


@app.schedule(Cron(30, "3-12", "*", "*", "?", "*"))  # hourly 09:00-18:00 IST; resumes where the last run stopped
def campaign_reminders(event):
    outcomes = campaign_notices.run_campaign_reminders(adapters(), _now(), log=logger)
    logger.info("campaign reminders", extra={"outcomes": outcomes})


@app.schedule(Cron(30, 2, "?", "*", "MON", "*"))  # Monday 08:00 IST: last week's summary to each org's admins
def admin_weekly_summaries(event):
    logger.info("admin summaries", extra={"outcomes": campaign_notices.run_admin_summaries(adapters(), _now(), logger)})
# --- end of notifications -----------------------------------------------------------------------------------


# --- operations: the weekly audit (chalicelib/audit/; `make audit` runs the same by hand, and repairs) ------
@app.schedule(Cron(30, 20, "?", "*", "SAT", "*"))  # Sundays 02:00 IST: one message per auditor and segment
def audit_weekly(event):
    return audit.start_weekly(adapters(), _now().strftime("%Y-%m-%dT%H:%MZ"), logger)


@app.on_sqs_message(queue=settings.AUDIT_QUEUE, batch_size=1)  # one segment fills a function run
def audit_segments(event):
    reasons: dict[str, str] = {}
    final: set[str] = set()  # a board stream batch skipped: dead-lettered at once (its DLQ is alarmed)
    audit.audit_segments(queues.bodies_in(event), adapters(), logger, event.context.get_remaining_time_in_millis, reasons,
                         final)
    return deadletters.batch_response(event, reasons, bootstrap.sqs_client, logger, final=final)
