"""Scoring one learner: load a snapshot, compute (pure), project, save. See docs/architecture.md.

compute.py   the pure computation: Snapshot in, Scored out; the weekly audit calls the same function
pipeline.py  the use case around it: load, run the projections wired in bootstrap.py, the version-checked save
"""
