"""Errors of building and reading images."""

from __future__ import annotations


class ImageError(Exception):
    """An image could not be built or read; the message says why and what to do."""


class BuildFailed(ImageError):
    pass


class UnsafeArchive(ImageError):
    """An archive member whose path would land outside the extraction directory."""
