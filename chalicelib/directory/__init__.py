"""What the platform's events do not say: the course catalogue, the user directory, and events parked until they
are known (docs/platform-events.md)."""
