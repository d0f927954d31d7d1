#!/usr/bin/env bash
# Build the deployable package for one stage: `make package [STAGE=dev|prod|...]`.
#
#   1. render infra/resources.yaml with the stage substituted for @@STAGE@@ -> out/resources-<stage>.json
#      (Chalice's generated template has no stage parameter, so the names are fixed at package time; JSON
#      because Chalice writes sam.yaml instead of sam.json whenever the merge template is YAML)
#   2. chalice package --stage <stage> --merge-template out/resources-<stage>.json out/<stage>
#      -> out/<stage>/sam.json (SAM template, tables and queues merged in) + out/<stage>/deployment.zip
#      (notifications/ is copied to chalicelib/_notifications/ for the duration: Chalice packages only app.py,
#      chalicelib/ and vendor/; the zip is then checked to hold the templates)
#   3. check that the merged template names the queue the app was built for, and that no secret reaches a
#      function's environment or a template parameter (they come from SSM: see infra/resources.yaml)
#   4. infra/harden.py: alarms (DLQs, function errors, DynamoDB throttling, SES bounce rate, SMS spend), one
#      dashboard, deletion protection per stage (infra/stages.yaml), for whatever the template declares
#   5. cfn-lint out/<stage>/sam.json: fails on any error (warnings are printed, not fatal)
#
# Needs no AWS credentials; chalice downloads wheels for requirements.txt from PyPI.
# Deploy afterwards with e.g.
#   aws cloudformation package --template-file out/dev/sam.json --s3-bucket BUCKET --output-template-file out/dev/packaged.yaml
#   aws cloudformation deploy --template-file out/dev/packaged.yaml --stack-name karmayogi-engage-dev \
#       --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
# The stage's SSM parameters /karmayogi/<stage>/webhook-secrets and /karmayogi/<stage>/jwks must exist first
# (created by the platform team with `aws ssm put-parameter`; see the top of infra/resources.yaml).
set -euo pipefail

cd "$(dirname "$0")/.."
STAGE="${STAGE:-dev}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

die() { echo "package.sh: $*" >&2; exit 1; }

[[ "$STAGE" =~ ^[a-z][a-z0-9]*$ ]] || die "STAGE must be lower-case letters and digits, got '$STAGE'"
"$PY" -c 'import json, sys; sys.exit(sys.argv[1] not in json.load(open(".chalice/config.json"))["stages"])' "$STAGE" \
    || die "stage '$STAGE' is not in .chalice/config.json"
# A deployable stage reads its secrets from SSM and names every parameter (infra/stage_config.py): refuse
# one that does not, before anything is built, rather than ship code that would find no secret.
"$PY" -m infra.stage_config "$STAGE" || die "stage '$STAGE' is not configured for deployment (see above)"

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-ap-south-1}"
# app.py reads the queue name at import (chalicelib/settings.py), and Chalice copies it into the event
# source: import it as the stage being packaged, with nothing from the caller's shell overriding names.
export KARMAYOGI_STAGE="$STAGE"
unset KARMAYOGI_TABLE_PREFIX KARMAYOGI_SCORING_QUEUE KARMAYOGI_NOTIFICATIONS_QUEUE KARMAYOGI_SES_EVENTS_TOPIC KARMAYOGI_ROSTER_BUCKET

OUT="out/$STAGE"
RENDERED="out/resources-$STAGE.json"
TEMPLATE="$OUT/sam.json"
started=$(date +%s)

rm -rf "$OUT"
mkdir -p out
"$PY" - "$STAGE" "$RENDERED" <<'EOF'
import json, sys
import yaml  # safe_load: a short-form tag (!Ref...) in resources.yaml fails here, as it would in the tests
stage, rendered = sys.argv[1], sys.argv[2]
text = open("infra/resources.yaml", encoding="utf-8").read().replace("@@STAGE@@", stage)
with open(rendered, "w", encoding="utf-8") as out:
    json.dump(yaml.safe_load(text), out, indent=2)
EOF

# Chalice packages only app.py, chalicelib/ and vendor/: the notification templates (notifications/, beside
# app.py) travel as chalicelib/_notifications/ (chalicelib/notifications/__init__.py templates_root() finds
# them there), a copy that exists only while packaging.
PACKAGED_TEMPLATES="chalicelib/_notifications"
[[ -f notifications/locales.toml && -f notifications/dlt.toml ]] || die "notifications/ templates are missing"
rm -rf "$PACKAGED_TEMPLATES"
trap 'rm -rf "$PACKAGED_TEMPLATES"' EXIT
cp -R notifications "$PACKAGED_TEMPLATES"

echo "chalice package --stage $STAGE (region $AWS_DEFAULT_REGION)"
"$VENV/bin/chalice" package --stage "$STAGE" --merge-template "$RENDERED" "$OUT"
rm -rf "$PACKAGED_TEMPLATES"

# The templates reached the zip (a message that cannot be rendered in Lambda would fail only when first sent).
"$PY" - "$OUT/deployment.zip" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
wanted = ["chalicelib/_notifications/locales.toml", "chalicelib/_notifications/dlt.toml",
          "chalicelib/_notifications/en/badge_awarded/subject.txt",
          "chalicelib/_notifications/hi/admin_weekly_summary/body.html"]
missing = [name for name in wanted if name not in names]
if missing:
    sys.exit(f"package.sh: deployment.zip lacks the notification templates {missing}")
# The rule versions (docs/rule-versions.md): a function without them would refuse to start.
versions = ["chalicelib/rules/versions/digests.toml", "chalicelib/rules/versions/2024-01.toml",
            "chalicelib/rules/defaults.toml", "chalicelib/rules/badges.toml"]
if [name for name in versions if name not in names]:
    sys.exit(f"package.sh: deployment.zip lacks the rule versions {[n for n in versions if n not in names]}")
EOF

# The event source Chalice generated must point at the queue this file creates, and the merge must have
# reached the event (a renamed event would leave FunctionResponseTypes on a property-less stub).
"$PY" - "$TEMPLATE" "$STAGE" <<'EOF'
import json, re, sys
from chalice.utils import to_cfn_resource_name
from infra.policies import FUNCTIONS
template_path, stage = sys.argv[1], sys.argv[2]
resources = json.load(open(template_path))["Resources"]
queue = f"karmayogi-{stage}-scoring"
problems = []
if resources.get("ScoringQueue", {}).get("Properties", {}).get("QueueName") != queue:
    problems.append(f"ScoringQueue is not named {queue}")
events = resources["ScoreStreams"]["Properties"].get("Events", {})
sqs = {name: e for name, e in events.items() if e.get("Type") == "SQS"}
if list(sqs) != ["ScoreStreamsSqsEventSource"]:
    problems.append(f"expected one SQS event ScoreStreamsSqsEventSource, found {sorted(events)}")
for name, event in sqs.items():
    props = event.get("Properties", {})
    arn = props.get("Queue", {}).get("Fn::Sub", "")
    if not arn.endswith(":" + queue):
        problems.append(f"{name} reads {arn!r}, not {queue}")
    if props.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
        problems.append(f"{name} lacks FunctionResponseTypes: [ReportBatchItemFailures]")
parameters = json.load(open(template_path)).get("Parameters", {})
secret_like = sorted(name for name, p in parameters.items()
                     if p.get("NoEcho") or re.search("secret|password|token|key", name, re.I))
if secret_like:  # a secret passed in as a parameter would end up in the Lambda configuration
    problems.append(f"the template takes secret parameters {secret_like}; secrets come from SSM")
for name, res in resources.items():
    if res.get("Type") == "AWS::Serverless::Function":
        variables = res["Properties"].get("Environment", {}).get("Variables", {})
        if variables.get("KARMAYOGI_SCORING_QUEUE") != queue:
            problems.append(f"{name}: KARMAYOGI_SCORING_QUEUE is {variables.get('KARMAYOGI_SCORING_QUEUE')!r}")
        if "TZ" in variables:
            problems.append(f"{name}: TZ is reserved by Lambda")
        for secret in ("KARMAYOGI_WEBHOOK_SECRETS", "KARMAYOGI_JWKS", "KARMAYOGI_ISSUER_KEYS",
                       "KARMAYOGI_UNSUBSCRIBE_SECRET"):
            if secret in variables:
                problems.append(f"{name}: {secret} is in its environment; secrets come from SSM")
        if variables.get("KARMAYOGI_SECRETS_SOURCE") != "ssm":
            problems.append(f"{name}: KARMAYOGI_SECRETS_SOURCE is {variables.get('KARMAYOGI_SECRETS_SOURCE')!r}, not 'ssm'")
            continue
        # Each role may read exactly the parameters its function reads (infra/policies.py: the API checks
        # signatures and tokens and signs credentials and unsubscribe links; the notification consumer signs
        # unsubscribe links; the other functions' roles have no SSM grant at all), and each is configured.
        role = resources.get(res["Properties"].get("Role", {}).get("Fn::GetAtt", [""])[0], {})
        readable = {r for p in role.get("Properties", {}).get("Policies", [])
                    for s in p["PolicyDocument"]["Statement"] if "ssm:GetParameter" in s["Action"]
                    for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
        handler = next((h for h in FUNCTIONS if (h == "api_handler" and name == "APIHandler")
                        or to_cfn_resource_name(h) == name), None)
        wanted = {f"arn:aws:ssm:*:*:parameter/karmayogi/{stage}/{p}" for p in FUNCTIONS[handler].secrets} \
            if handler else set()
        if readable != wanted:
            problems.append(f"{name}: its role may read {sorted(readable)}, expected {sorted(wanted)}")
        for short in (FUNCTIONS[handler].secrets if handler else ()):
            variable = "KARMAYOGI_" + short.upper().replace("-", "_") + "_PARAMETER"
            if variables.get(variable) != f"/karmayogi/{stage}/{short}":
                problems.append(f"{name}: {variable} is {variables.get(variable)!r}")
if problems:
    sys.exit("package.sh: " + "; ".join(problems))
EOF

# Alarms, dashboard, per-stage table protection and the DLQ check, for every table, queue and function the
# merged template declares (infra/harden.py; settings per stage in infra/stages.yaml).
"$PY" -m infra.harden "$TEMPLATE" "$STAGE" || die "infra/harden.py refused $TEMPLATE"

echo "cfn-lint $TEMPLATE"
# Exit code is non-zero only for errors; warnings and informational findings are printed.
"$VENV/bin/cfn-lint" --regions "$AWS_DEFAULT_REGION" --non-zero-exit-code error -- "$TEMPLATE" \
    || die "cfn-lint reported errors in $TEMPLATE"

zip_bytes=$(stat -c %s "$OUT/deployment.zip")
echo "template: $TEMPLATE"
echo "zip:      $OUT/deployment.zip ($(( zip_bytes / 1024 / 1024 )) MiB, $zip_bytes bytes)"
echo "done in $(( $(date +%s) - started )) s"
