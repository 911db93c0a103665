"""The OCI Distribution API (v1.1) under /v2/."""
