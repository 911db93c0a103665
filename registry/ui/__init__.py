"""The web UI: Packages pages served from /."""
