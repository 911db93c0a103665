"""The Bitbucket Packages pipe: builds and pushes container images to a Packages registry.

``pipe/pipe.py`` is the entry point; everything below it raises typed errors and never exits.
"""
