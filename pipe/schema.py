"""The pipe's variables: one cerberus schema, also the source of README's Variables table.

Each entry's ``meta`` holds what README says: ``doc`` (usage), ``default`` (as README shows it,
when the default is computed rather than fixed), ``required`` (README's (*) mark),
``required_unless`` (required unless those other variables are set: README's (**) mark) and ``format``
(what a ``regex`` rule asks for, in words). List variables come in the toolkit's
``NAME_COUNT`` / ``NAME_0..N`` form, read by pipe/inputs.py; their defaults are applied by the pipe.
"""

from __future__ import annotations

BUILD_ARG_RE = r"^[A-Za-z_][A-Za-z0-9_]*=.*\Z"
LABEL_RE = r"^[^=\s][^=]*=.*\Z"
TAG_PREFIX_RE = r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?\Z"  # a tag may not start with . or -
TAG_SUFFIX_RE = r"^[A-Za-z0-9_.-]{0,64}\Z"

SCHEMA: dict[str, dict] = {
    "BITBUCKET_PACKAGES_USERNAME": {
        "type": "string", "required": False, "empty": True, "dependencies": "BITBUCKET_PACKAGES_TOKEN",
        "meta": {"required_unless": ["ATLASSIAN_ACCOUNT_EMAIL", "ATLASSIAN_API_TOKEN"], "default": "set by Pipelines",
                 "doc": "Username for the Packages registry. Pipelines sets it in every step, scoped to the "
                        "repository whose pipeline runs; set it yourself elsewhere, or use "
                        "`ATLASSIAN_ACCOUNT_EMAIL` and `ATLASSIAN_API_TOKEN` instead."}},
    "BITBUCKET_PACKAGES_TOKEN": {
        "type": "string", "required": False, "empty": True, "dependencies": "BITBUCKET_PACKAGES_USERNAME",
        "meta": {"required_unless": ["ATLASSIAN_ACCOUNT_EMAIL", "ATLASSIAN_API_TOKEN"], "default": "set by Pipelines",
                 "doc": "Token for `BITBUCKET_PACKAGES_USERNAME`. Never printed."}},
    "ATLASSIAN_ACCOUNT_EMAIL": {
        "type": "string", "required": False, "dependencies": "ATLASSIAN_API_TOKEN",
        "meta": {"required_unless": ["BITBUCKET_PACKAGES_USERNAME", "BITBUCKET_PACKAGES_TOKEN"],
                 "doc": "Email of an Atlassian account, used when `BITBUCKET_PACKAGES_*` are not set."}},
    "ATLASSIAN_API_TOKEN": {
        "type": "string", "required": False, "dependencies": "ATLASSIAN_ACCOUNT_EMAIL",
        "meta": {"required_unless": ["BITBUCKET_PACKAGES_USERNAME", "BITBUCKET_PACKAGES_TOKEN"],
                 "doc": "API token of that account, with the scopes `read:package:bitbucket` and "
                        "`write:package:bitbucket`. Never printed. Use a secured variable."}},
    "PACKAGE_TYPE": {
        "type": "string", "required": False, "default": "container", "allowed": ["container", "npm", "maven", "pypi"],
        "meta": {"doc": "What to publish: `container` (an image), `npm` (a package), `maven` (artifacts) or "
                        "`pypi` (Python wheels and sdists)."}},
    "ACTION": {
        "type": "string", "required": False, "default": "publish",
        "allowed": ["publish", "configure", "merge", "copy"],
        "meta": {"doc": "`publish`; `configure`: write `.npmrc`, `.m2/settings.xml`, `.docker/config.json`, `.pypirc` "
                        "and `pip.conf` into the clone directory so that later commands of the step can use the "
                        "registry with the same credentials; `merge`: make one multi-platform index of `IMAGES`; "
                        "`copy`: bring `SOURCE_IMAGE` in from another registry."}},
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
        "meta": {"default": "from the build: see Tags in Details",
                 "doc": "Tags to push, one per list item; replaces the default tags (and their `TAG_PREFIX`, "
                        "`TAG_SUFFIX`)."}},
    "TAG_PREFIX": {
        "type": "string", "required": False, "empty": True, "regex": TAG_PREFIX_RE,
        "meta": {"doc": "Put before every default tag except `latest` (e.g. `app-` gives `app-1.2.3`)."}},
    "TAG_SUFFIX": {
        "type": "string", "required": False, "empty": True, "regex": TAG_SUFFIX_RE,
        "meta": {"doc": "Put after every default tag except `latest` (e.g. `-alpine` gives `1.2.3-alpine`)."}},
    "LATEST_BRANCH": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`main` or `master`",
                 "doc": "The branch whose builds also move the `latest` tag."}},
    "PUSH": {
        "type": "boolean", "required": False, "default": True,
        "meta": {"doc": "`false`: check that the package exists and the credentials may push to it, build, "
                        "and stop there (for pull-request builds)."}},
    "DOCKERFILE": {
        "type": "string", "required": False, "empty": False,
        "meta": {"default": "`BUILD_CONTEXT/Dockerfile`",
                 "doc": "Path of the Dockerfile to build, relative to the clone directory (not to `BUILD_CONTEXT`), "
                        "as `docker build -f` takes it."}},
    "BUILD_CONTEXT": {
        "type": "string", "required": False, "default": ".", "empty": False,
        "meta": {"doc": "Directory sent to the docker engine as the build context."}},
    "BUILD_ARGS": {
        "type": "list", "required": False, "schema": {"type": "string", "regex": BUILD_ARG_RE},
        "meta": {"doc": "Build arguments, one `NAME=value` per list item.", "format": "NAME=value"}},
    "TARGET": {
        "type": "string", "required": False, "empty": False,
        "meta": {"doc": "Stage of a multi-stage Dockerfile to build."}},
    "LABELS": {
        "type": "list", "required": False, "schema": {"type": "string", "regex": LABEL_RE},
        "meta": {"format": "name=value",
                 "doc": "Image labels, one `name=value` per list item, over the `org.opencontainers.image.*` "
                        "labels the pipe adds (see Labels and annotations in Details)."}},
    "ANNOTATIONS": {
        "type": "list", "required": False, "schema": {"type": "string", "regex": LABEL_RE},
        "meta": {"format": "name=value",
                 "doc": "Manifest annotations, one `name=value` per list item, over the "
                        "`org.opencontainers.image.*` annotations the pipe adds (on the index too when "
                        "pushing one)."}},
    "LICENSES": {
        "type": "string", "required": False, "empty": False,
        "meta": {"doc": "SPDX license expression of the image (e.g. `Apache-2.0`), as the "
                        "`org.opencontainers.image.licenses` label and annotation."}},
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
                 "format": "an npm scope such as '@acme', or 'none'",
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
                        "`-javadoc.jar`, ...). Paths or glob patterns (`target/*.jar`), relative to the clone "
                        "directory; a pattern that matches nothing fails. Empty for a `pom` packaging."}},
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
    "IMAGES": {
        "type": "list", "required": False, "schema": {"type": "string", "empty": False},
        "meta": {"doc": "merge: the per-platform images (`workspace/image:tag` or `@digest`, in `REGISTRY`) pushed by "
                        "earlier steps; their platforms are read from their configs, one image per platform."}},
    "SOURCE_IMAGE": {
        "type": "string", "required": False, "empty": False,
        "meta": {"doc": "copy: the image or index to copy in, e.g. `docker.io/library/nginx:1.27` or "
                        "`123456789.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:...`; every platform, its cosign "
                        "signature and OCI referrers come along."}},
    "SOURCE_USERNAME": {
        "type": "string", "required": False, "empty": True, "dependencies": "SOURCE_PASSWORD",
        "meta": {"doc": "copy: the user name for `SOURCE_IMAGE`'s registry (anonymous when unset)."}},
    "SOURCE_PASSWORD": {
        "type": "string", "required": False, "empty": True,
        "meta": {"doc": "copy: its password or token. Use a secured variable; never printed."}},
    "SIGN": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Container: sign the pushed image in cosign's format with `COSIGN_PRIVATE_KEY`: the signature "
                        "goes under the tag `sha256-<digest>.sig` (where `cosign verify --key` looks) and is an OCI "
                        "1.1 referrer of the image."}},
    "PROVENANCE": {
        "type": "boolean", "required": False,
        "meta": {"default": "the value of `SIGN`",
                 "doc": "Container: attach SLSA v1 provenance (an in-toto statement: the pipeline, build number, "
                        "repository, commit, branch or tag, Dockerfile and build arguments, secret-looking ones "
                        "redacted) as an OCI 1.1 referrer; in a DSSE envelope signed with the cosign key when `SIGN` "
                        "is set."}},
    "SBOM": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Container: attach a CycloneDX JSON SBOM of what the image contains, read from its layers "
                        "without running it (dpkg and apk databases, Python dist-info, node_modules, jars), as an "
                        "OCI 1.1 referrer (for an index: one per platform's image)."}},
    "COSIGN_PRIVATE_KEY": {
        "type": "string", "required": False, "empty": True,
        "meta": {"doc": "Container, with `SIGN`: the private key `cosign generate-key-pair` wrote (`cosign.key`, "
                        "PEM). Use a secured variable; never printed."}},
    "COSIGN_PASSWORD": {
        "type": "string", "required": False, "empty": True,
        "meta": {"doc": "The password of `COSIGN_PRIVATE_KEY`. Use a secured variable; never printed."}},
    "INSECURE": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Allow plain http to a registry that is not on loopback, and skip TLS verification."}},
    "DEBUG": {
        "type": "boolean", "required": False, "default": False,
        "meta": {"doc": "Turn on extra debug information (never secrets)."}},
}

LIST_VARIABLES = tuple(name for name, rule in SCHEMA.items() if rule.get("type") == "list")

