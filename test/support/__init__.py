"""Real parts for the tests: the registry server, a private dockerd, base images."""
