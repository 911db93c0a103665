"""The Maven repository of a workspace, mounted at /maven/<workspace>/."""
