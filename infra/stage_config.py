"""What a deployable stage's configuration (.chalice/config.json) must name before it is packaged.

    python -m infra.stage_config <stage>   # exit 1, naming what is missing, if the stage is not deployable

Deployed functions read their secrets from SSM Parameter Store (chalicelib/parameters.py): a stage must say so
(KARMAYOGI_SECRETS_SOURCE=ssm) and name each parameter. Without that the code would look for secrets in the
environment, where a deployed stage has none, or (before issue 15) fall back to a literal in the code.
infra/package.sh runs this first; `local` is the local stack's stage and is never packaged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

# settings.SecretsConfig field -> the environment variable that names its SSM parameter
VARIABLE_OF = {
    "webhook_secrets_parameter": "KARMAYOGI_WEBHOOK_SECRETS_PARAMETER",
    "jwks_parameter": "KARMAYOGI_JWKS_PARAMETER",
    "issuer_keys_parameter": "KARMAYOGI_ISSUER_KEYS_PARAMETER",
    "unsubscribe_secrets_parameter": "KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER",
    "admin_summary_recipients_parameter": "KARMAYOGI_ADMIN_SUMMARY_RECIPIENTS_PARAMETER",
    "oidc_client_secret_parameter": "KARMAYOGI_OIDC_CLIENT_SECRET_PARAMETER",
    "session_secrets_parameter": "KARMAYOGI_SESSION_SECRETS_PARAMETER",
    "xapi_clients_parameter": "KARMAYOGI_XAPI_CLIENTS_PARAMETER",
}
REQUIRED = tuple(VARIABLE_OF.values())
# Signing in on the pages (docs/sign-in.md): the provider and our client there; https only.
SIGN_IN = ("KARMAYOGI_OIDC_ISSUER", "KARMAYOGI_OIDC_CLIENT_ID", "KARMAYOGI_PUBLIC_BASE_URL")


def problems(stage: str, config_path: Path = PROJECT / ".chalice" / "config.json") -> list[str]:
    """Why `stage` cannot be packaged; empty when it can."""
    stages = json.loads(config_path.read_text(encoding="utf-8")).get("stages", {})
    if stage not in stages:
        return [f"stage {stage!r} is not in .chalice/config.json"]
    variables = stages[stage].get("environment_variables", {})
    found = []
    if variables.get("KARMAYOGI_SECRETS_SOURCE") != "ssm":
        found.append(f"stage {stage!r}: KARMAYOGI_SECRETS_SOURCE must be 'ssm' "
                     f"(is {variables.get('KARMAYOGI_SECRETS_SOURCE')!r})")
    for name in REQUIRED:
        value = variables.get(name) or ""
        if not value.startswith(f"/karmayogi/{stage}/"):
            found.append(f"stage {stage!r}: {name} must name an SSM parameter under /karmayogi/{stage}/ "
                         f"(is {value!r})")
    for name in SIGN_IN:
        value = variables.get(name) or ""
        if not value or (name != "KARMAYOGI_OIDC_CLIENT_ID" and not value.startswith("https://")):
            found.append(f"stage {stage!r}: {name} must be set" + (" to an https:// URL" if name != "KARMAYOGI_OIDC_CLIENT_ID" else "")
                         + f" (is {value!r}; docs/sign-in.md)")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.stage_config <stage>", file=sys.stderr)
        return 2
    found = problems(argv[0])
    for problem in found:
        print(f"stage_config: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
