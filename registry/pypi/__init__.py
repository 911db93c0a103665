"""The PyPI index of a workspace: the legacy upload API (twine, uv, Poetry), the Simple Repository
API (PEP 503 HTML and PEP 691 JSON, with PEP 658 core metadata and PEP 592 yanking) and warehouse's
JSON API, mounted at /pypi/<workspace>/."""
