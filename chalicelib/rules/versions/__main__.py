"""Print the [digests] table of digests.toml for the version files as they are."""
from chalicelib.rules.config import recorded_digests

if __name__ == "__main__":
    print("[digests]")
    for version_id, digest in recorded_digests().items():
        print(f'"{version_id}" = "{digest}"')
