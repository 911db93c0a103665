"""The API token scopes of Bitbucket Packages: what the registry grants and what the pipe names in its advice."""

SCOPE_READ = "read:package:bitbucket"
SCOPE_WRITE = "write:package:bitbucket"
