"""The pipe's own OCI distribution client: references, auth, retries, blob and manifest pushes."""
