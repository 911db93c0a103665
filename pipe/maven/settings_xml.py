"""A Maven settings.xml that reads from and deploys to the workspace's repository with the credentials.

One ``<server>`` with id ``bitbucket-packages`` (username and token), and an active profile that adds
the repository (releases and SNAPSHOTs) for resolution and sets ``altDeploymentRepository`` so that
``mvn deploy`` deploys there even when the pom has no ``<distributionManagement>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipe.oci.auth import Credentials

SERVER_ID = "bitbucket-packages"
NAMESPACE = "http://maven.apache.org/SETTINGS/1.2.0"


def settings_xml(repository_url: str, credentials: Credentials) -> bytes:
    root = ET.Element("settings", {"xmlns": NAMESPACE})
    servers = ET.SubElement(root, "servers")
    server = ET.SubElement(servers, "server")
    _add(server, "id", SERVER_ID)
    _add(server, "username", credentials.username)
    _add(server, "password", credentials.password)

    profiles = ET.SubElement(root, "profiles")
    profile = ET.SubElement(profiles, "profile")
    _add(profile, "id", SERVER_ID)
    properties = ET.SubElement(profile, "properties")
    # id::default::url: what maven-deploy-plugin 2.x needs and 3.x still accepts
    _add(properties, "altDeploymentRepository", f"{SERVER_ID}::default::{repository_url}")
    repositories = ET.SubElement(profile, "repositories")
    repository = ET.SubElement(repositories, "repository")
    _add(repository, "id", SERVER_ID)
    _add(repository, "url", repository_url)
    for kind in ("releases", "snapshots"):
        policy = ET.SubElement(repository, kind)
        _add(policy, "enabled", "true")
        if kind == "snapshots":
            _add(policy, "updatePolicy", "always")
    active = ET.SubElement(root, "activeProfiles")
    _add(active, "activeProfile", SERVER_ID)
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _add(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, name).text = text
