"""Server-rendered pages (jinja2, autoescaped) for learners and admins, on the same use cases as the API.

How to add a page (e.g. the campaign dashboard):
1. A view in a module here (admin.py for admin pages): `def dashboard(request, session, adapters, now)`.
   Call use cases in-process as `session.principal`; raise ApiError like they do (a 403 becomes the 403 page,
   a 400 the 400 page); start admin views with `require_admin(session)`. Return `Page(template, context,
   title_key)`, `Redirect(location)` after a POST, or `components.csv_download(...)` for a file.
2. A template in templates/ that `{% extends "layout.html" %}`, fills `{% block main %}` and imports
   components.html for the shared pieces (field + error_summary, bar_chart, sortable_head, csv_link, progress).
3. Its strings in locales/en.toml (and hi.toml; a key missing elsewhere falls back to English).
4. A route in app.py under `# --- pages ---`: `@page(path, methods=...)` with a one-line body calling
   `_serve(path, views.x)` (a `{campaign_id}` in the route reaches the view as `request.params["campaign_id"]`);
   POST forms take `content_types=FORM` and call `session.check_csrf(...)` in the view
   (the layout's forms carry `csrf`). A form that posts to the API's use case gets its errors next to the
   fields with `components.form_errors(error, {api_field: input_name})`.
5. Tests in tests/test_pages.py (the `page` helper signs in with a cookie).
"""
