"""Open Badges 3.0 credentials: badge awards issued as signed W3C Verifiable Credentials (VC-JWT), verified,
revoked, with an SVG image per achievement. Pure building and checking (ob3.py, images.py, keys.py) apart from
the use cases (service.py)."""
