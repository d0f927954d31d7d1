"""Issue 15: redirect targets, fixed secrets on deployable stages, and packaging a stage without its SSM names."""
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.notifications import unsubscribe
from chalicelib.pages.session import safe_next

PROJECT = Path(__file__).resolve().parents[1]


# --- item 6: a redirect goes to a path on this site, nothing else ---------------------------------------------

@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/ /evil.example",
                                    "//evil.example", "/\\evil.example", "https://evil.example", "evil.example",
                                    "/\x00", "/\u3000/evil.example", "/caf\u00e9", "/\x7f", "", None, " /me"])
def test_safe_next_refuses_anything_but_a_printable_ascii_path(target):
    assert safe_next(target, "/me") == "/me"


@pytest.mark.parametrize("target", ["/me", "/admin/campaigns?status=live", "/me/badges/b-1#top", "/a/b/c%20d"])
def test_safe_next_keeps_a_path_on_this_site(target):
    assert safe_next(target, "/me") == target


# --- item 7: no secret defaults to a literal; packaging refuses a stage without its SSM parameter names -------

@pytest.mark.parametrize("stage", ["local", "test", "dev", "prod", "staging"])
def test_no_stage_falls_back_to_a_fixed_unsubscribe_secret(monkeypatch, stage):
    monkeypatch.delenv("KARMAYOGI_UNSUBSCRIBE_SECRET", raising=False)
    monkeypatch.setenv("KARMAYOGI_STAGE", stage)
    with pytest.raises(RuntimeError, match="KARMAYOGI_UNSUBSCRIBE_SECRET"):
        unsubscribe.make_token("learner-0042", "nudges")
    assert not hasattr(unsubscribe, "_LOCAL_SECRET")


def test_the_local_stack_sets_its_own_unsubscribe_secret(monkeypatch):
    from local import stack
    monkeypatch.delenv("KARMAYOGI_UNSUBSCRIBE_SECRET", raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "KARMAYOGI_STAGE", "KARMAYOGI_JWKS",
                 "KARMAYOGI_ISSUER_KEYS", "KARMAYOGI_PUBLIC_BASE_URL", "KARMAYOGI_JWT_ISSUER",
                 "KARMAYOGI_JWT_AUDIENCE", "KARMAYOGI_SES_SENDER", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.setenv(name, __import__("os").environ.get(name, ""))  # restored after the test
    stack.set_environment(stack.Ports(api=1, dynamodb=2, moto=3))
    assert unsubscribe.make_token("learner-0042", "nudges")


def _check_stage(stage):
    from infra import stage_config
    return stage_config.problems(stage)


def test_a_deployable_stage_needs_every_ssm_parameter_name():
    assert _check_stage("dev") == [] and _check_stage("prod") == []
    problems = _check_stage("test")
    assert any("KARMAYOGI_SECRETS_SOURCE" in p for p in problems)
    assert any("KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER" in p for p in problems)


def test_packaging_refuses_a_stage_without_its_ssm_parameter_names_before_building(tmp_path):
    result = subprocess.run(["bash", "infra/package.sh"], cwd=PROJECT, capture_output=True, text=True,
                            env={**__import__("os").environ, "STAGE": "test", "VENV": str(Path(sys.executable).parents[1]),
                                 "PATH": __import__("os").environ["PATH"]}, timeout=120)
    assert result.returncode != 0
    assert "KARMAYOGI_UNSUBSCRIBE_SECRETS_PARAMETER" in result.stderr
    assert not (PROJECT / "out" / "test" / "sam.json").exists()


def test_every_ssm_parameter_the_code_reads_is_checked():
    from infra import stage_config
    from chalicelib import settings
    import dataclasses
    names = {f.name for f in dataclasses.fields(settings.SecretsConfig) if f.name.endswith("_parameter")}
    assert {stage_config.VARIABLE_OF[n] for n in names} <= set(stage_config.REQUIRED)
