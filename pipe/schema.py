"""The pipe's variables: one cerberus schema, also the source of README's Variables table.

Each entry's ``meta`` holds what README says: ``doc`` (usage), ``default`` (as README shows it,
when the default is computed rather than fixed) and ``required`` (README's (*) mark).
List variables come in the toolkit's ``NAME_COUNT`` / ``NAME_0..N`` form; their defaults are
applied by the pipe (the toolkit never applies list defaults).
"""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any

from cerberus import Validator

BUILD_ARG_RE = r"^[A-Za-z_][A-Za-z0-9_]*=.*\Z"
LABEL_RE = r"^[^=\s][^=]*=.*\Z"

SCHEMA: dict[str, dict] = {
    "BITBUCKET_PACKAGES_USERNAME": {
        "type": "string", "required": False, "empty": True, "dependencies": "BITBUCKET_PACKAGES_TOKEN",
        "meta": {"required": True, "default": "set by Pipelines",
                 "doc": "Username for the Packages registry. Pipelines sets it in every step, scoped to the "
                        "repository whose pipeline runs; set it yourself elsewhere, or use "
                        "`ATLASSIAN_ACCOUNT_EMAIL` and `ATLASSIAN_API_TOKEN` instead."}},
    "BITBUCKET_PACKAGES_TOKEN": {
        "type": "string", "required": False, "empty": True, "dependencies": "BITBUCKET_PACKAGES_USERNAME",
        "meta": {"required": True, "default": "set by Pipelines",
                 "doc": "Token for `BITBUCKET_PACKAGES_USERNAME`. Never printed."}},
    "ATLASSIAN_ACCOUNT_EMAIL": {
        "type": "string", "required": False, "dependencies": "ATLASSIAN_API_TOKEN",
        "meta": {"doc": "Email of an Atlassian account, used when `BITBUCKET_PACKAGES_*` are not set."}},
    "ATLASSIAN_API_TOKEN": {
        "type": "string", "required": False, "dependencies": "ATLASSIAN_ACCOUNT_EMAIL",
        "meta": {"doc": "API token of that account, with the scopes `read:package:bitbucket` and "
                        "`write:package:bitbucket`. Never printed. Use a secured variable."}},
    "PACKAGE_TYPE": {
        "type": "string", "required": False, "default": "container", "allowed": ["container", "npm", "maven", "pypi"],
        "meta": {"doc": "What to publish: `container` (an image), `npm` (a package), `maven` (artifacts) or "
                        "`pypi` (Python wheels and sdists)."}},
    "ACTION": {
        "type": "string", "required": False, "default": "publish", "allowed": ["publish", "configure"],
        "meta": {"doc": "`publish`, or `configure`: write `.npmrc`, `.m2/settings.xml` and `.docker/config.json` "
                        "into the clone directory so that later commands of the step can use the registry with "
                        "the same credentials."}},
    "REGISTRY": {
        "type": "string", "required": False, "default": "crg.apkg.io", "empty": False,
        "meta": {"doc": "The Packages service: a host (`crg.apkg.io`, Bitbucket's), `https://host:port`, or "
                        "`http://host:port` for a registry on loopback or with `INSECURE`. Container images go "
                        "to it; npm and Maven go to its endpoints (`NPM_REGISTRY`, `MAVEN_REPOSITORY`)."}},
    "WORKSPACE": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`$BITBUCKET_WORKSPACE`", "doc": "Workspace that owns the package."}},
    "IMAGE_NAME": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`$BITBUCKET_REPO_SLUG`",
                 "doc": "Name of the container package: the image is pushed as `REGISTRY/WORKSPACE/IMAGE_NAME`."}},
    "TAGS": {
        "type": "list", "required": False, "schema": {"type": "string", "empty": False},
        "meta": {"default": "`latest`, the short commit, and `$BITBUCKET_TAG` when set",
                 "doc": "Tags to push, one per list item."}},
    "DOCKERFILE": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`BUILD_CONTEXT/Dockerfile`", "doc": "Path of the Dockerfile to build."}},
    "BUILD_CONTEXT": {
        "type": "string", "required": False, "default": ".", "empty": False,
        "meta": {"doc": "Directory sent to the docker engine as the build context."}},
    "BUILD_ARGS": {
        "type": "list", "required": False, "schema": {"type": "string", "regex": BUILD_ARG_RE},
        "meta": {"doc": "Build arguments, one `NAME=value` per list item."}},
    "TARGET": {
        "type": "string", "required": False, "empty": False,
        "meta": {"doc": "Stage of a multi-stage Dockerfile to build."}},
    "LABELS": {
        "type": "list", "required": False, "schema": {"type": "string", "regex": LABEL_RE},
        "meta": {"doc": "Image labels, one `name=value` per list item. `org.opencontainers.image.revision`, "
                        "`.source` and `.created` are added from the pipeline unless given here."}},
    "CACHE_FROM": {
        "type": "list", "required": False, "schema": {"type": "string", "empty": False},
        "meta": {"doc": "Images to use as build cache (pulled first when missing; one that cannot be pulled "
                        "is skipped with a warning)."}},
    "PULL": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Always pull newer versions of the base images."}},
    "NO_CACHE": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Build without the engine's layer cache."}},
    "IMAGE": {
        "type": "string", "required": False, "empty": False, "excludes": "IMAGE_ARCHIVE",
        "meta": {"doc": "Push this image from the docker engine (built earlier in the step) instead of building."}},
    "IMAGE_ARCHIVE": {
        "type": "string", "required": False, "empty": False, "excludes": "IMAGE",
        "meta": {"doc": "Push this file or directory instead of building: a `docker save` tar (optionally "
                        "gzipped), an OCI image layout directory, or a tar of one."}},
    "NPM_PACKAGE": {
        "type": "string", "required": False, "default": ".", "empty": False,
        "meta": {"doc": "npm: the package folder, or a `.tgz` made by `npm pack`. A folder is packed as `npm pack` "
                        "does (`files`, `.npmignore`, the always-included files): with npm when it is on PATH, "
                        "otherwise with the pipe's own packer, which follows the same rules."}},
    "NPM_REGISTRY": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`https://npm.apkg.io/WORKSPACE/` for `crg.apkg.io`, else `REGISTRY/npm/WORKSPACE/`",
                 "doc": "npm: the workspace's npm registry URL."}},
    "DIST_TAG": {
        "type": "string", "required": False, "default": "latest", "empty": False,
        "meta": {"doc": "npm: the dist-tag that points at the published version."}},
    "ACCESS": {
        "type": "string", "required": False, "allowed": ["public", "restricted"],
        "meta": {"doc": "npm: `public` or `restricted`, sent with the publish as `npm publish --access` does."}},
    "SKIP_EXISTING": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "npm, Maven releases and PyPI: when the version (PyPI: the file) is already published, "
                        "succeed without publishing (otherwise that is a failure: published versions are immutable)."}},
    "NPM_SCOPE": {
        "type": "string", "required": False, "empty": False, "regex": r"^(@[a-z0-9][a-z0-9._~-]*|none)\Z",
        "meta": {"default": "the scope of `NPM_PACKAGE`'s package.json name, else `@WORKSPACE`",
                 "doc": "configure: the npm scope whose packages `.npmrc` sends to the registry; `none` makes the "
                        "registry npm's default for every package instead."}},
    "MAVEN_REPOSITORY": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`REGISTRY/maven/WORKSPACE/` (required for `crg.apkg.io`)",
                 "doc": "Maven: the workspace's Maven repository URL."}},
    "MAVEN_POM": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`pom.xml`", "doc": "Maven: the pom of the artifacts to deploy; groupId, artifactId and version come from "
                        "it (groupId and version may be inherited from its `<parent>`). With `MAVEN_COMMAND`, passed "
                        "to mvn as `-f`."}},
    "MAVEN_FILES": {
        "type": "list", "required": False, "schema": {"type": "string", "empty": False},
        "meta": {"doc": "Maven: the built files to deploy with the pom: the main artifact and classified files, "
                        "recognised by name (`ARTIFACT-VERSION.jar`, `ARTIFACT-VERSION-sources.jar`, "
                        "`-javadoc.jar`, ...). Empty for a `pom` packaging."}},
    "MAVEN_COMMAND": {
        "type": "string", "required": False, "empty": False,
        "meta": {"doc": "Maven: instead of deploying files, run `mvn` with these arguments (e.g. "
                        "`deploy -DskipTests`) and a generated settings.xml holding the credentials; the "
                        "deployment repository is set to `MAVEN_REPOSITORY`. Needs mvn on PATH."}},
    "PYPI_DIST": {
        "type": "list", "required": False, "schema": {"type": "string", "empty": False},
        "meta": {"default": "`dist/*`",
                 "doc": "PyPI: the wheels and sdists to upload, as files or globs relative to the clone directory "
                        "(one project and version per call)."}},
    "PYPI_REPOSITORY": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`https://pypi.apkg.io/WORKSPACE/` for `crg.apkg.io`, else `REGISTRY/pypi/WORKSPACE/`",
                 "doc": "PyPI: the workspace's upload URL (its simple index is this URL + `simple/`)."}},
    "PYPI_BUILD": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "PyPI: when nothing matches `PYPI_DIST`, build the project first with `python -m build`."}},
    "CONFIGURE": {
        "type": "list", "required": False, "schema": {"type": "string", "allowed": ["npm", "maven", "container", "pypi"]},
        "meta": {"default": "`npm`, `maven`, `container` and `pypi` (`maven` only when its repository is known)",
                 "doc": "configure: which client configurations to write."}},
    "INSECURE": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Allow plain http to a registry that is not on loopback, and skip TLS verification."}},
    "DEBUG": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Turn on extra debug information (never secrets)."}},
}

LIST_VARIABLES = tuple(name for name, rule in SCHEMA.items() if rule.get("type") == "list")


def make_validator() -> Validator:
    """The toolkit's validator, made to accept list items with their own rules.

    Cerberus rebuilds a list value through its type's constructor when items have a schema, which the
    toolkit's ArrayVariable does not support; plain lists go in instead.
    """
    return _Validator(SCHEMA, purge_unknown=True)


class _Validator(Validator):
    def validate(self, document: dict, *args: Any, **kwargs: Any) -> bool:
        plain = {key: list(value) if isinstance(value, MutableSequence) else value
                 for key, value in document.items()}
        return super().validate(plain, *args, **kwargs)
