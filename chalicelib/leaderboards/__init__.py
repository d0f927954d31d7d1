"""Live leaderboards for learners and orgs, for every scope and period."""
