"""Pushing whole images: blobs in parallel (skip, mount or upload), then manifests, then tags."""
