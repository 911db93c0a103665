"""What the pipe attaches to a pushed image: cosign signatures, SLSA provenance, SBOMs."""
