"""Local-only tooling: the local stack (`make run`), DynamoDB Local, seeding and the queue/schedule pump."""
