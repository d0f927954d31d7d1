"""Rosters: who each org expects to learn (imported from CSV). Gives headcounts and never-started employees."""
