"""Learners: turning stored events into points, claps, badges and an explained ledger."""
