"""Ingestion: the signed webhook from the learning platform, validated and stored before we say yes."""
