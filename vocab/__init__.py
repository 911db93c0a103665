"""Vocabulary shared by the pipe and the registry: digests, media types, names.

The pipe and the registry never import each other; what both must agree on
lives here and nowhere else.
"""
