"""Badge images and the credential's shape for every badge, without the routes (pure code, fast), plus the key
set and the in-memory store."""
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from chalicelib.credentials import ob3
from chalicelib.credentials.achievements import (achievement_for, campaign_achievement, catalogue_achievement,
                                                 public_achievement)
from chalicelib.credentials.config import default_config
from chalicelib.credentials.images import MAX_BYTES, badge_svg
from chalicelib.credentials.keys import IssuerKeys, NoSigningKey, parse_key_set
from chalicelib.rules.config import badge_catalogue
from chalicelib.credentials.store import IssuedCredential, MemoryCredentialStore
from local.dev_keys import new_private_key, private_jwk, public_jwk
from tests.test_credentials import assert_valid_ob3

SVG = "{http://www.w3.org/2000/svg}"
CAMPAIGN_IDS = ["campaign.nlw-2026.goal", "campaign.state-week.mh.2026.top"]
ALL = [catalogue_achievement(b) for b in badge_catalogue()] + [campaign_achievement(i) for i in CAMPAIGN_IDS]


@pytest.mark.parametrize("achievement", ALL, ids=lambda a: a.badge_id)
def test_every_badge_image_is_accessible_small_well_formed_and_self_contained(achievement):
    svg = badge_svg(achievement)
    assert len(svg.encode()) < MAX_BYTES
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title.text == achievement.name and achievement.description in desc.text
    assert root.get("aria-labelledby").split() == [title.get("id"), desc.get("id")]
    assert list(root)[:2] == [title, desc]  # first children: what screen readers announce
    for forbidden in ("href", "url(", "@import", "<script", "<image", "@font-face"):
        assert forbidden not in svg, forbidden
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert achievement.name.split()[0].upper() in texts.upper()


def test_levels_and_areas_give_different_colours():
    by_id = {a.badge_id: badge_svg(a) for a in ALL}
    assert by_id["behavioural_5"] != by_id["functional_5"].replace("Functional", "Behavioural")
    assert "#7b2d8b" in by_id["behavioural_5"] and "#1565c0" in by_id["functional_5"]
    assert "#c9a227" in by_id["courses_50"] and "#5f7c8a" in by_id["adarsh_karmayogi"]
    assert "CAMPAIGN" in by_id["campaign.nlw-2026.goal"] and "<path" in by_id["campaign.nlw-2026.goal"]


def test_text_is_escaped_and_long_names_are_cut():
    hostile = ob3.Achievement("x", '<script>alert("&")</script> ' * 5, "a & b < c", "c", "gold", "domain")
    svg = badge_svg(hostile)
    root = ET.fromstring(svg)
    assert "<script" not in svg and root.find(f"{SVG}title").text == hostile.name
    assert len(root.findall(f".//{SVG}text")) <= 2 + 3 and len(svg.encode()) < MAX_BYTES


def test_public_achievement_knows_catalogue_and_campaign_ids_only():
    assert public_achievement("adarsh_karmayogi", badge_catalogue()).level == "platinum"
    assert public_achievement("campaign.x.top", badge_catalogue()).kind == "campaign"
    assert public_achievement("campaign.x.other", badge_catalogue()) is None
    assert public_achievement("nope", badge_catalogue()) is None


@pytest.mark.parametrize("achievement", ALL, ids=lambda a: a.badge_id)
@pytest.mark.parametrize("valid_days", [0, 365])
def test_every_credential_we_can_issue_meets_the_ob3_schema(achievement, valid_days):
    import dataclasses
    config = dataclasses.replace(default_config(), valid_days=valid_days)
    award = ob3.Award(datetime(2026, 11, 20, 6, 30, 15, 123456, tzinfo=timezone.utc), "evt-1")
    subject = ob3.Subject("learner-1", "identifier", "0123456789abcdef0123456789abcdef", "urn:uuid:1-2-3")
    credential = ob3.build_credential(config, "0b6c4a0e-1f0c-4b7e-9a51-3c8d2f9e7a10", achievement, award,
                                      subject, "3")
    assert_valid_ob3(credential)
    assert ("validUntil" in credential) == bool(valid_days)
    assert "learner-1" not in json.dumps(credential)


def test_achievement_for_needs_the_award():
    class Standing:
        badges = {}
    none = achievement_for("first_course", "l1", Standing(), badge_catalogue(), None)
    assert none is None


# --- keys -----------------------------------------------------------------------------------------------------

def test_the_first_private_key_signs_every_key_verifies_and_no_private_part_is_published():
    rsa, ec, retired = new_private_key("RS256"), new_private_key("ES256"), new_private_key("ES256")
    text = json.dumps({"keys": [public_jwk(retired, "k0"), private_jwk(rsa, "k2"), private_jwk(ec, "k1")]})
    keys = IssuerKeys(lambda: text)
    assert keys.signing_key().kid == "k2" and keys.signing_key().algorithm == "RS256"
    assert {k.kid for k in keys.keys()} == {"k0", "k1", "k2"}
    assert keys.verification_key("k0").private is None and keys.verification_key("zz") is None
    published = json.dumps(keys.public_jwks())
    assert '"d"' not in published and '"p"' not in published
    with pytest.raises(NoSigningKey):
        IssuerKeys(lambda: json.dumps({"keys": [public_jwk(retired, "k0")]})).signing_key()
    with pytest.raises(NoSigningKey):
        IssuerKeys(lambda: None).signing_key()
    with pytest.raises(ValueError):
        parse_key_set({"keys": [private_jwk(ec, "same"), private_jwk(rsa, "same")]})


def test_the_memory_store_keeps_the_first_credential_and_the_first_revocation():
    store, at = MemoryCredentialStore(), datetime(2026, 11, 26, tzinfo=timezone.utc)
    first = IssuedCredential("c1", "l1", "b1", at, "k", "3", "a.b.c")
    assert store.add(first) == first
    assert store.add(IssuedCredential("c2", "l1", "b1", at, "k", "4", "d.e.f")) == first
    revocation = store.revoke(first, "why", "admin", at)
    assert store.revoke(first, "another", "admin2", at) == revocation
    assert store.revocation("3", "c1") == revocation and store.revocations("3") == [revocation]
    assert store.get("c1").revocation == revocation and store.get("c2") is None
