"""Print what Open Badges credentials cost: sizes (SVG images, credentials, VC-JWTs) and the DynamoDB requests
of each credential route, counted by the meter (local/metering.py) on moto in-process.

    .venv/bin/python -m local.credential_figures

Request counts are exact (they are what the code sends). Capacity units are moto's own accounting, not a
billing figure: moto counts a write as 1 WCU whatever its size, while AWS bills a credential item (about 2.5 KB
with its VC-JWT) 3 WCU, and as much again for its copy in the by_credential index.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "ap-south-1",
                   "AWS_REGION": "ap-south-1", "KARMAYOGI_STAGE": "figures"})
for _name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
    os.environ.pop(_name)


def main() -> None:
    from moto import mock_aws

    from local.dev_keys import new_private_key, private_jwk
    os.environ["KARMAYOGI_ISSUER_KEYS"] = json.dumps({"keys": [private_jwk(new_private_key("ES256"), "k-es")]})
    from chalicelib import bootstrap
    from chalicelib.credentials import ob3, service
    from chalicelib.credentials.achievements import campaign_achievement, catalogue_achievement
    from chalicelib.credentials.config import default_config
    from chalicelib.credentials.images import badge_svg
    from chalicelib.credentials.keys import parse_key
    from chalicelib.identity.tokens import Principal
    from chalicelib.rules.config import badge_catalogue
    from chalicelib.rules.learner import BadgeAward, LearnerStanding, Profile
    from local.metering import DynamoMeter
    from chalicelib.tables import ALL_MODELS

    config = default_config()
    achievements = [catalogue_achievement(b) for b in badge_catalogue()] + \
        [campaign_achievement("campaign.nlw-2026.goal"), campaign_achievement("campaign.nlw-2026.top")]
    sizes = [len(badge_svg(a).encode()) for a in achievements]
    print(f"SVG images: {len(sizes)} badges, {min(sizes)} to {max(sizes)} bytes (limit 10,240)")
    award = ob3.Award(datetime(2026, 11, 20, tzinfo=timezone.utc), "e")
    subject = ob3.Subject("5f1c2a9e-8d44-4b7a-9a6e-1c2d3e4f5a6b", "identifier", "0" * 32,
                          "urn:uuid:0b6c4a0e-1f0c-4b7e-9a51-3c8d2f9e7a10")
    longest = max(achievements[:-2], key=lambda a: len(a.description))
    credential = ob3.build_credential(config, "0b6c4a0e-1f0c-4b7e-9a51-3c8d2f9e7a10", longest, award, subject, "3")
    for algorithm in ("ES256", "RS256"):
        key = parse_key(private_jwk(new_private_key(algorithm), "k1"))
        print(f"{algorithm}: credential JSON {len(json.dumps(credential)):,} bytes, "
              f"compact VC-JWT {len(ob3.sign(credential, key, config)):,} bytes ({longest.badge_id})")

    with mock_aws():
        for model in ALL_MODELS:
            model.create_table(wait=False, billing_mode="PAY_PER_REQUEST")
        adapters = bootstrap.aws_adapters()
        standing = LearnerStanding(learner_id="l-1", profile=Profile(org_id="org-1"))
        standing.badges = {"first_course": BadgeAward("first_course", "e1", datetime(2026, 11, 20, tzinfo=timezone.utc))}
        adapters.learners.save(standing, [], [], 0)
        meter = DynamoMeter().install_for(adapters)
        meter.watch(adapters.credentials._connection)  # its revocation transactions
        learner, admin = Principal("l-1", "org-1", frozenset({"learner"})), Principal("a", None, frozenset({"national_admin"}))
        now = datetime.now(timezone.utc)

        def measure(name, call):
            before = meter.snapshot()
            result = call()
            used = meter.since(before)
            ops = ", ".join(f"{op} {c.requests}" for op, c in sorted(used.operations.items()))
            print(f"{name:<48} {used.requests:>2} requests ({ops}), RCU {used.rcu:.1f}, WCU {used.wcu:.1f}")
            return result

        print("\nDynamoDB requests per call (moto in-process, metered):")
        doc = measure("issue (first request)", lambda: service.credential_for_award(
            "l-1", "first_course", learner, adapters, now))
        measure("issue again (idempotent)", lambda: service.credential_for_award(
            "l-1", "first_course", learner, adapters, now))
        cid = doc["credential_id"]
        measure("GET /credentials/{id} (public)", lambda: service.public_credential(cid, adapters))
        body = json.dumps({"credential": doc["jwt"]}).encode()
        measure("POST /v1/credentials/verify", lambda: service.verify_credential(body, adapters, now))
        measure("POST /v1/credentials/{id}/revoke", lambda: service.revoke_credential(
            cid, b'{"reason": "figures"}', admin, adapters, now))
        status_list = doc["credential"]["credentialStatus"]["id"].rsplit("/", 1)[1]
        measure("GET /credentials/status/{list} (1 revoked)", lambda: service.revocation_list(status_list, adapters))
        measure("GET /issuer, /issuer/jwks.json, image.svg", lambda: (service.issuer_profile(adapters),
                                                                      service.badge_image("first_course", adapters)))


if __name__ == "__main__":
    main()
