"""Issue 15: text people see. Campaign text must be storable (a lone surrogate used to pass and then break every
message naming the campaign), and bidi/zero-width controls are stripped from names and campaign text when
stored, where NFC is applied."""

import pytest

from chalicelib import bootstrap
from chalicelib.errors import ApiError
from chalicelib.events import parse_event
from chalicelib.rosters.importer import normalise_text
from tests.campaign_builders import build_tree, create

CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
            "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


@pytest.fixture
def world():
    adapters = bootstrap.memory_adapters()
    build_tree(adapters)
    return adapters


@pytest.mark.parametrize("field", ["name", "description"])
def test_a_lone_surrogate_in_campaign_text_is_a_400(world, field):
    with pytest.raises(ApiError) as raised:
        create(world, **{field: "Saptah \ud800"})
    assert (raised.value.status, raised.value.field) == (400, field)


@pytest.mark.parametrize("control", CONTROLS)
def test_controls_are_stripped_from_campaign_text(world, control):
    c = create(world, name=f"Karma{control}yogi", description=f"Learn{control} more")
    assert c["name"] == "Karmayogi" and c["description"] == "Learn more"


def test_campaign_text_is_stored_in_nfc(world):
    assert create(world, name="Cafe\u0301")["name"] == "Caf\u00e9"


def test_a_name_of_only_controls_is_no_name(world):
    with pytest.raises(ApiError) as raised:
        create(world, name="\u202e\u200b")
    assert raised.value.field == "name"


@pytest.mark.parametrize("control", CONTROLS)
def test_controls_are_stripped_from_names_in_events(control):
    event = parse_event({"id": "e-1", "type": "learner.upserted", "occurred_at": "2024-10-21T10:15:00Z",
                         "learner": {"id": "u-1", "org_id": "o-1", "name": f"Asha{control} Rao\u202egnp.exe",
                                     "designation": f"{control}Officer"}})
    assert event.learner.name == "Asha Raognp.exe" and event.learner.designation == "Officer"
    org = parse_event({"id": "e-2", "type": "org.upserted", "occurred_at": "2024-10-21T10:15:00Z",
                       "org": {"id": "o-1", "name": f"Mines{control}", "type": "mdo"}})
    assert org.org.name == "Mines"


@pytest.mark.parametrize("control", CONTROLS)
def test_controls_are_stripped_from_roster_names(control):
    assert normalise_text(f"Asha{control} Rao") == "Asha Rao"
