"""Karmayogi Engage: HTTP routes and event handlers. Each one only translates; the work is in chalicelib/."""
from datetime import datetime, timezone

from chalice import Chalice, Response

from chalicelib import settings
from chalicelib.bootstrap import adapters
from chalicelib.errors import ApiError
from chalicelib.ingestion import signature, webhook
from chalicelib.leaderboards import service as leaderboards
from chalicelib.learners import service as learners
from chalicelib.learners import erasure, export, preferences
from chalicelib.logs import logger
from chalicelib.pages import admin as admin_pages, learner as learner_pages, login as login_pages
from chalicelib.pages.web import PageRequest, serve
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


# --- pages: server-rendered HTML for people (chalicelib/pages/); not part of the JSON API or openapi.yaml ----
PAGE_ROUTES: set[str] = set()  # tests/test_openapi.py leaves these out of the API spec
FORM = ["application/x-www-form-urlencoded"]


def page(path, methods=("GET",), **options):
    PAGE_ROUTES.add(path)
    return app.route(path, methods=list(methods), **options)


def _serve(path, view, public=False):
    request = PageRequest.from_chalice(app.current_request, path)
    return serve(request, lambda req, session: view(req, session, adapters(), _now()), adapters(), public)


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


@page("/login")
def login_page():
    return _serve("/login", login_pages.login_page, public=True)


@page("/login", methods=["POST"], content_types=FORM)
def login_submit():
    return _serve("/login", login_pages.sign_in, public=True)


@page("/logout", methods=["POST"], content_types=FORM)
def logout():
    return _serve("/logout", login_pages.sign_out)
# --- end of pages -------------------------------------------------------------------------------------------


@app.on_sqs_message(queue=settings.SCORING_QUEUE, batch_size=10)
def score_streams(event):
    failed = learners.recompute_streams(streams_in(event), adapters(), logger)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
