"""The bundled Packages registry: OCI images, npm and Maven with Bitbucket Packages' access model."""
