"""Adapters to DynamoDB, and in-memory fakes with the same interface for unit tests."""
