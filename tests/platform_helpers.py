"""Records in the platform's own shapes (tests/fixtures/platform/: field names copied from the platform's code,
values our own), and the AWS self-managed Kafka event that carries them."""
import base64
import json
from pathlib import Path

PLATFORM = Path(__file__).resolve().parent / "fixtures" / "platform"
MEERA = "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
ARJUN = "b7e2d3c4-6f5a-4b8c-9d0e-1f2a3b4c5d6e"
COURSE = "do_1141100012345678901"
TALK = "do_1141200098765432109"


def record(name: str):
    return json.loads((PLATFORM / f"{name}.json").read_text())


def kafka_event(topic_records: dict[str, list], env: str = "prod") -> dict:
    """The event Lambda gets from a self-managed Apache Kafka event source mapping (values base64 JSON)."""
    records: dict[str, list] = {}
    for topic, values in topic_records.items():
        full = f"{env}.{topic}"
        records[f"{full}-0"] = [{"topic": full, "partition": 0, "offset": 100 + n, "timestamp": 1794897000000,
                                 "timestampType": "CREATE_TIME", "key": base64.b64encode(b"k").decode(),
                                 "value": base64.b64encode(json.dumps(v).encode()).decode(),
                                 "headers": []} for n, v in enumerate(values)]
    return {"eventSource": "SelfManagedKafka", "bootstrapServers": "b-1.kafka.igot.internal:9092",
            "records": records}
