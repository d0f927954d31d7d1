"""The platform's own events (Sunbird CB / Sunbird Lern topics) and the shared intake every outside door uses
(docs/platform-events.md)."""
