"""SLSA v1 provenance for a pushed image, from what Pipelines tells the step: an in-toto statement
whose subject is the image, in a DSSE envelope signed with the cosign key when there is one.

Build arguments whose names look like secrets (token, password, secret, key, credential) are
recorded by name only: provenance is readable by everyone who may pull the image.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pipe.push.annotate import canonical_json

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
IN_TOTO = "application/vnd.in-toto+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
BUILD_TYPE = "https://bitbucket.org/bitbucket-packages/packages-pipe/container@v1"
_SECRET_NAME = re.compile(r"(?i)token|passw|secret|key|credential|auth")
REDACTED = "[redacted]"


def statement(image: str, digest: str, env: Mapping[str, str], dockerfile: str | None,
              build_args: Mapping[str, str], target: str | None, tags: list[str]) -> dict:
    """The in-toto statement (``image`` is host/workspace/name, ``digest`` the manifest's)."""
    origin = env.get("BITBUCKET_GIT_HTTP_ORIGIN") or (
        f"https://bitbucket.org/{env['BITBUCKET_REPO_FULL_NAME']}" if env.get("BITBUCKET_REPO_FULL_NAME") else "")
    ref = (f"refs/tags/{env['BITBUCKET_TAG']}" if env.get("BITBUCKET_TAG")
           else f"refs/heads/{env['BITBUCKET_BRANCH']}" if env.get("BITBUCKET_BRANCH") else "")
    build = env.get("BITBUCKET_BUILD_NUMBER", "")
    pipelines = f"{origin}/pipelines" if origin else "bitbucket-pipelines"
    external: dict = {
        "source": {"repository": origin, "ref": ref, "commit": env.get("BITBUCKET_COMMIT", "")},
        "tags": tags,
        "buildArgs": {name: (REDACTED if _SECRET_NAME.search(name) else value) for name, value in build_args.items()},
    }
    if dockerfile:
        external["dockerfile"] = dockerfile
    if target:
        external["target"] = target
    dependencies = []
    if origin and env.get("BITBUCKET_COMMIT"):
        dependencies.append({"uri": f"git+{origin}" + (f"@{ref}" if ref else ""),
                             "digest": {"gitCommit": env["BITBUCKET_COMMIT"]}})
    algorithm, _, hex_part = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": image, "digest": {algorithm: hex_part}}],
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {key: env[key] for key in (
                    "BITBUCKET_WORKSPACE", "BITBUCKET_REPO_FULL_NAME", "BITBUCKET_PIPELINE_UUID", "BITBUCKET_STEP_UUID",
                    "BITBUCKET_PR_ID") if env.get(key)},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": pipelines},
                "metadata": {
                    "invocationId": f"{pipelines}/results/{build}" if build else pipelines,
                    "finishedOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
            },
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what a DSSE signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(statement_document: dict, key: ec.EllipticCurvePrivateKey | None) -> tuple[bytes, str]:
    """The bytes to attach and their media type: a signed DSSE envelope, or the bare statement."""
    payload = canonical_json(statement_document)
    if key is None:
        return payload, IN_TOTO
    signature = key.sign(pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    return canonical_json({
        "payloadType": IN_TOTO,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode()}],
    }), DSSE_ENVELOPE
