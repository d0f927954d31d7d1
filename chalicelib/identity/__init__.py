"""Who is calling (bearer tokens) and what they may see or change (roles over the org tree)."""
