"""xAPI statements from other learning systems (Moodle, Open edX, cmi5 content): POST /xapi/statements, the
clients' own courses, mapped to the shared intake (chalicelib/platform/intake.py). docs/xapi.md."""
