"""Images to push: built by the docker engine, taken from it, or read from an archive or OCI layout."""
