"""Anti-abuse review: events over the rate (rules/abuse.py) wait for a national admin to release or reject them."""
