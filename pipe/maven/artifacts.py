"""Which deployed file each built file is: the main artifact or a classified one, and its extension.

Files are recognised by name, as Maven names them: ``ARTIFACT-VERSION[-CLASSIFIER].EXT`` (for a
SNAPSHOT, ``ARTIFACT-1.0-SNAPSHOT.jar`` as built, or already timestamped). A file named otherwise is
the main artifact when its extension fits the packaging, or a classified file when it ends in a
well-known classifier (``-sources.jar``, ``-javadoc.jar``, ``-tests.jar``, ``-test-sources.jar``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipe.maven.pom import Coordinates

# Two-part extensions Maven artifacts commonly have.
COMPOUND_EXTENSIONS = ("tar.gz", "tar.bz2", "tar.xz")
KNOWN_CLASSIFIERS = ("test-sources", "sources", "javadoc", "tests")
# packaging -> the main artifact's extension (Maven's artifact handlers)
PACKAGING_EXTENSIONS = {"jar": "jar", "bundle": "jar", "maven-plugin": "jar", "ejb": "jar", "war": "war",
                        "ear": "ear", "rar": "rar", "pom": "pom", "aar": "aar"}
_CLASSIFIER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_EXTENSION_RE = re.compile(r"^[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*\Z")
_TIMESTAMP_RE = r"\d{8}\.\d{6}-\d+"


class ArtifactError(Exception):
    pass


@dataclass(frozen=True)
class Artifact:
    path: Path
    classifier: str | None
    extension: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.classifier or "", self.extension)

    def file_name(self, artifact_id: str, version: str) -> str:
        """The name in the repository (``version`` is the timestamped one for a SNAPSHOT)."""
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{artifact_id}-{version}{suffix}.{self.extension}"


def split_extension(name: str) -> tuple[str, str]:
    lower = name.lower()
    for compound in COMPOUND_EXTENSIONS:
        if lower.endswith("." + compound):
            return name[:-len(compound) - 1], name[-len(compound):]
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        raise ArtifactError(f"{name} has no file extension")
    return stem, extension


def classify(path: Path, coordinates: Coordinates) -> Artifact:
    stem, extension = split_extension(path.name)
    if not _EXTENSION_RE.match(extension):
        raise ArtifactError(f"{path.name}: {extension!r} is not a usable extension")
    base = coordinates.version.removesuffix("-SNAPSHOT")
    prefixes = [re.escape(f"{coordinates.artifact_id}-{coordinates.version}")]
    if coordinates.is_snapshot:
        prefixes.append(re.escape(f"{coordinates.artifact_id}-{base}-") + _TIMESTAMP_RE)
    for prefix in prefixes:
        classifier = _match_prefix(prefix, stem)
        if classifier is not None:
            return Artifact(path, classifier or None, extension)
    for classifier in KNOWN_CLASSIFIERS:
        if stem.endswith("-" + classifier):
            return Artifact(path, classifier, extension)
    return Artifact(path, None, extension)


def _match_prefix(prefix: str, stem: str) -> str | None:
    """The classifier after the regex ``prefix`` ('' for none), or None when ``stem`` does not start with it."""
    match = re.match(rf"^{prefix}(?:-(.+))?\Z", stem)
    if match is None:
        return None
    classifier = match.group(1) or ""
    if classifier and not _CLASSIFIER_RE.match(classifier):
        raise ArtifactError(f"{stem}: {classifier!r} is not a usable classifier")
    return classifier


def plan(files: list[Path], pom: Path, coordinates: Coordinates) -> list[Artifact]:
    """The pom and the files, each with its classifier and extension; one file per (classifier, extension)."""
    artifacts = [Artifact(pom, None, "pom")]
    seen: dict[tuple[str, str], Path] = {("", "pom"): pom}
    for path in files:
        if not path.is_file():
            raise ArtifactError(f"{path} does not exist or is not a file")
        artifact = classify(path, coordinates)
        if artifact.key in seen:
            raise ArtifactError(
                f"{path.name} and {seen[artifact.key].name} would both be deployed as "
                f"{artifact.file_name(coordinates.artifact_id, coordinates.version)}: name the files "
                f"{coordinates.artifact_id}-{coordinates.version}[-classifier].ext")
        seen[artifact.key] = path
        artifacts.append(artifact)
    main_extension = PACKAGING_EXTENSIONS.get(coordinates.packaging, coordinates.packaging)
    has_main = any(a.classifier is None and a.extension != "pom" for a in artifacts)
    if not has_main and coordinates.packaging != "pom":
        raise ArtifactError(f"MAVEN_FILES has no main artifact for packaging {coordinates.packaging} (expected "
                            f"{coordinates.artifact_id}-{coordinates.version}.{main_extension})")
    # Maven deploys the main artifact first, then the pom, then attached artifacts.
    main = [a for a in artifacts if a.classifier is None and a.extension != "pom"]
    rest = [a for a in artifacts if a.classifier is not None]
    return main + [artifacts[0]] + rest
