"""Reading the pipe's variables strictly, and saying plainly what is wrong (pipe/inputs.py)."""

from __future__ import annotations

import pytest

from pipe.inputs import InputError, example, near_misses, read
from test.pipe.conftest import lists

BASE = {"BITBUCKET_PACKAGES_USERNAME": "u", "BITBUCKET_PACKAGES_TOKEN": "t"}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(InputError) as caught:
        read({**BASE, **env})
    return str(caught.value)


def test_a_list_given_as_a_plain_string_is_refused_with_the_yaml_to_write() -> None:
    assert "TAGS must be a YAML list: TAGS: ['v1', 'v2']" in problems({"TAGS": "v1,v2"})
    assert "BUILD_ARGS must be a YAML list: BUILD_ARGS: ['A=1']" in problems({"BUILD_ARGS": "A=1"})
    assert example("v1, v2 ,") == "['v1', 'v2']"


def test_list_counts_and_items() -> None:
    assert "TAGS_COUNT must be a whole number" in problems({"TAGS_COUNT": "two"})
    assert "TAGS_COUNT is 2 but TAGS_1 is not set" in problems(lists("TAGS", ["ok"]) | {"TAGS_COUNT": "2"})
    inputs = read({**BASE, **lists("TAGS", ["", "dev", " "])})
    assert inputs.variables["TAGS"] == ["dev"]
    assert [w for w in inputs.warnings if "is empty" in w] == [
        "TAGS item 1 is empty (a variable such as $BITBUCKET_TAG that this build does not set?): it is left out",
        "TAGS item 3 is empty (a variable such as $BITBUCKET_TAG that this build does not set?): it is left out"]


@pytest.mark.parametrize(("env", "sentence"), [
    ({"PULL": "maybe"}, "PULL must be true or false; got 'maybe'"),
    ({"ACTION": "deploy"}, "ACTION must be one of 'publish', 'configure', 'merge' or 'copy'; got 'deploy'"),
    ({"PACKAGE_TYPE": "gem"}, "PACKAGE_TYPE must be one of 'container', 'npm', 'maven' or 'pypi'; got 'gem'"),
    ({"IMAGE": "a:1", "IMAGE_ARCHIVE": "a.tar"}, "IMAGE and IMAGE_ARCHIVE cannot be used together: set one of them"),
    ({"IMAGE_NAME": ""}, "IMAGE_NAME must not be empty"),
    (lists("BUILD_ARGS", ["A=1", "no-equals"]), "BUILD_ARGS item 2 ('no-equals') must be NAME=value"),
    (lists("LABELS", ["=x"]), "LABELS item 1 ('=x') must be name=value"),
    ({"NPM_SCOPE": "team"}, "NPM_SCOPE must be an npm scope such as '@acme', or 'none'"),
    (lists("CONFIGURE", ["npm", "gem"]),
     "CONFIGURE item 2 ('gem') must be one of 'npm', 'maven', 'container' or 'pypi'"),
    ({"ATLASSIAN_ACCOUNT_EMAIL": "a@example.com"}, "ATLASSIAN_ACCOUNT_EMAIL needs ATLASSIAN_API_TOKEN too"),
])
def test_validation_errors_are_sentences(env: dict[str, str], sentence: str) -> None:
    text = problems(env)
    assert sentence in text, text
    for cerberus_words in ("unallowed", "regex", "must not be present with", "depends on these values", "''"):
        assert cerberus_words not in text


def test_every_problem_at_once_with_near_misses() -> None:
    text = problems({"TAGS": "v1", "PULL": "maybe", "DOCKER_FILE": "x"})
    assert text.splitlines() == ["Some variables cannot be used:", "- TAGS must be a YAML list: TAGS: ['v1']",
                                 "- PULL must be true or false; got 'maybe'",
                                 ("- DOCKER_FILE is not a variable of this pipe; did you mean DOCKERFILE? It is "
                                 "ignored.")]


@pytest.mark.parametrize(("name", "meant"), [
    ("IMAGE_NAM", "IMAGE_NAME"), ("TAG", "TAGS"), ("DOCKER_FILE", "DOCKERFILE"), ("image_name", "IMAGE_NAME"),
    ("BUILD_ARG", "BUILD_ARGS"), ("MAVEN_FILE", "MAVEN_FILES"), ("BITBUCKET_PACKAGE_TOKEN", "BITBUCKET_PACKAGES_TOKEN"),
])
def test_near_misses_warn(name: str, meant: str) -> None:
    assert near_misses({name: "x"}) == [f"{name} is not a variable of this pipe; did you mean {meant}? It is ignored."]


def test_other_variables_pass_through_silently() -> None:
    # what Pipelines, docker and the image put in every pipe's environment, and the user's own variables
    env = {"DOCKER_HOST": "tcp://localhost:2375", "BITBUCKET_BRANCH": "main", "BITBUCKET_TAG": "v1",
           "BITBUCKET_PIPE_STORAGE_DIR": "/s", "HOSTNAME": "x", "PATH": "/bin", "HOME": "/root", "CI": "true",
           "NODE_ENV": "production", "AWS_REGION": "eu-west-1", "TAGS_COUNT": "1", "TAGS_0": "a", "MY_TOKEN": "s",
           "PYTHONUNBUFFERED": "1", "VERSION": "1.0"}
    assert near_misses(env) == []


def test_the_quick_check_never_accepts_what_cerberus_refuses_and_normalises_alike() -> None:
    """``check`` takes plainly valid documents without cerberus: on every document it accepts, cerberus must
    accept too and give the same variables; it may leave any document to cerberus."""
    from cerberus import Validator

    from pipe.inputs import check
    from pipe.schema import SCHEMA

    strings = ["", "x", "public", "npm", "maven", "gem", "copy", "@acme", "none", "team", "A=1", "1A=1", "=x",
               "a=b", " k=v", "v1.2", ".bad", "-bad", "ok_1", "x" * 70]
    values = {"string": strings, "boolean": [True, False, None, "maybe", 1],
              "list": [[], ["a"], [""], ["A=1"], ["no-equals"], ["npm", "gem"], ["npm", "pypi"], "v1", [1]]}
    random = __import__("random").Random(13)
    validator = Validator(SCHEMA, purge_unknown=True)
    accepted = refused = 0
    for _ in range(250):
        names = random.sample(list(SCHEMA), random.randint(0, 8))
        document = {name: random.choice(values[SCHEMA[name]["type"]]) for name in names}
        quick = check(document)
        valid = validator.validate(document)
        if quick is not None:
            assert valid, (document, validator.errors)
            assert quick == validator.document, document
            accepted += 1
        refused += not valid
    assert accepted > 30 and refused > 30  # both kinds of document were tried
