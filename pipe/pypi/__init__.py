"""Python packages: find the built wheels and sdists, read what they declare, upload them."""
