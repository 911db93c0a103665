# The Bitbucket Packages pipe. The base is a build argument so that tests (and air-gapped builds)
# can use a locally made Python image; any Python 3.11+ image with pip works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp

# Wheels in ./wheels (optional, e.g. from `pip wheel -r requirements.txt -w wheels`) are used
# instead of the index: builds without network access need them.
COPY requirements.txt wheel[s] /tmp/pipe-install/
RUN if ls /tmp/pipe-install/*.whl >/dev/null 2>&1; then \
        set -- --no-index --find-links /tmp/pipe-install; \
    fi; \
    python3 -m pip install --no-cache-dir "$@" -r /tmp/pipe-install/requirements.txt \
    && rm -rf /tmp/pipe-install

COPY vocab /opt/pipe/vocab/
COPY pipe /opt/pipe/pipe/
# Compiled once here: with PYTHONDONTWRITEBYTECODE every run would compile the pipe's modules again.
RUN python3 -m compileall -q /opt/pipe/vocab /opt/pipe/pipe
COPY LICENSE.txt pipe.yml /opt/pipe/

# Not root: the pipe needs no privileges (in Pipelines the docker engine is reached over TCP).
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["python3", "/opt/pipe/pipe/pipe.py"]
