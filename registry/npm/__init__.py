"""The npm registry of a workspace, mounted at /npm/<workspace>/."""
