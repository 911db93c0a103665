"""cosign's words, which the pipe writes and the registry reads: where an image's signatures are kept and
how a signature manifest holds them (cosign's specs/SIGNATURE_SPEC.md). The test suite's verifier
(test/support/cosign_verify.py) keeps its own copy on purpose: it checks these against the spec."""

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"  # a signed payload's layer
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"  # the layer annotation with the base64 signature
SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"  # a signature manifest's artifact type


def signature_tag(digest: str) -> str:
    """The tag cosign keeps the signatures of the image ``digest`` under: ``sha256-<hex>.sig``."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}-{hex_part}.sig"
