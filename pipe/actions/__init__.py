"""What the pipe can do; one module per package type (container now; npm and maven beside it later)."""
