#!/usr/bin/env bash
# Build the deployable package for one stage: `make package [STAGE=dev|prod|...]`.
#
#   1. render infra/resources.yaml with the stage substituted for @@STAGE@@ -> out/resources-<stage>.json
#      (Chalice's generated template has no stage parameter, so the names are fixed at package time; JSON
#      because Chalice writes sam.yaml instead of sam.json whenever the merge template is YAML)
#   2. chalice package --stage <stage> --merge-template out/resources-<stage>.json out/<stage>
#      -> out/<stage>/sam.json (SAM template, tables and queues merged in) + out/<stage>/deployment.zip
#   3. check that the merged template names the queue the app was built for
#   4. cfn-lint out/<stage>/sam.json: fails on any error (warnings are printed, not fatal)
#
# Needs no AWS credentials; chalice downloads wheels for requirements.txt from PyPI.
# Deploy afterwards with e.g.
#   aws cloudformation package --template-file out/dev/sam.json --s3-bucket BUCKET --output-template-file out/dev/packaged.yaml
#   aws cloudformation deploy --template-file out/dev/packaged.yaml --stack-name karmayogi-engage-dev \
#       --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides WebhookSecrets=...
set -euo pipefail

cd "$(dirname "$0")/.."
STAGE="${STAGE:-dev}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

die() { echo "package.sh: $*" >&2; exit 1; }

[[ "$STAGE" =~ ^[a-z][a-z0-9]*$ ]] || die "STAGE must be lower-case letters and digits, got '$STAGE'"
"$PY" -c 'import json, sys; sys.exit(sys.argv[1] not in json.load(open(".chalice/config.json"))["stages"])' "$STAGE" \
    || die "stage '$STAGE' is not in .chalice/config.json"

export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-ap-south-1}"
# app.py reads the queue name at import (chalicelib/settings.py), and Chalice copies it into the event
# source: import it as the stage being packaged, with nothing from the caller's shell overriding names.
export KARMAYOGI_STAGE="$STAGE"
unset KARMAYOGI_TABLE_PREFIX KARMAYOGI_SCORING_QUEUE

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

echo "chalice package --stage $STAGE (region $AWS_DEFAULT_REGION)"
"$VENV/bin/chalice" package --stage "$STAGE" --merge-template "$RENDERED" "$OUT"

# The event source Chalice generated must point at the queue this file creates, and the merge must have
# reached the event (a renamed event would leave FunctionResponseTypes on a property-less stub).
"$PY" - "$TEMPLATE" "$STAGE" <<'EOF'
import json, sys
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
for name, res in resources.items():
    if res.get("Type") == "AWS::Serverless::Function":
        variables = res["Properties"].get("Environment", {}).get("Variables", {})
        if variables.get("KARMAYOGI_SCORING_QUEUE") != queue:
            problems.append(f"{name}: KARMAYOGI_SCORING_QUEUE is {variables.get('KARMAYOGI_SCORING_QUEUE')!r}")
        if "TZ" in variables:
            problems.append(f"{name}: TZ is reserved by Lambda")
if problems:
    sys.exit("package.sh: " + "; ".join(problems))
EOF

echo "cfn-lint $TEMPLATE"
# Exit code is non-zero only for errors; warnings and informational findings are printed.
"$VENV/bin/cfn-lint" --regions "$AWS_DEFAULT_REGION" --non-zero-exit-code error -- "$TEMPLATE" \
    || die "cfn-lint reported errors in $TEMPLATE"

zip_bytes=$(stat -c %s "$OUT/deployment.zip")
echo "template: $TEMPLATE"
echo "zip:      $OUT/deployment.zip ($(( zip_bytes / 1024 / 1024 )) MiB, $zip_bytes bytes)"
echo "done in $(( $(date +%s) - started )) s"
