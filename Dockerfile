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
COPY LICENSE.txt pipe.yml README.md /opt/pipe/

# Root, as Pipelines runs pipes and as official pipes' images do: the clone, the pipes' shared storage
# and files such as a `docker save -o` archive (0600) are root's in a step. Files the pipe writes into
# the clone are given the clone directory's owner (see _write_private in pipe/actions/configure.py).
WORKDIR /tmp
ENTRYPOINT ["python3", "/opt/pipe/pipe/pipe.py"]
