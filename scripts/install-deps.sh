#!/usr/bin/env bash
# Install what the demo, the tests and the benchmarks need on a fresh machine (Debian, as root):
# Debian packages, then a venv from pyproject.toml. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3          # Debian's interpreter: the pipe image test makes a Python base image from it
  docker.io        # dockerd for builds and the docker CLI tests
  skopeo buildah umoci busybox-static  # OCI clients and a tiny base image
  docker-registry  # CNCF distribution 2.8.2, the container benchmark anchor
  wrk nginx        # benchmark load generator and the Maven GET anchor
  eatmydata        # the PyPI benchmark's reference run of ours with fsync made a no-op
  chromium         # the UI tests' browser (driven by Playwright, never downloaded)
  debootstrap      # a Debian base image for the pipe's own image
  postgresql ceph-mon ceph-osd radosgw ceph-common uuid-runtime  # PostgreSQL + S3 backends' tests
  maven openjdk-17-jdk-headless nodejs npm
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# node and npm may come from elsewhere than Debian (npm 11 is on this kind of machine already).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
if command -v mvn >/dev/null && command -v java >/dev/null; then
  missing=("${missing[@]/maven}"); missing=("${missing[@]/openjdk-17-jdk-headless}")
fi
read -ra missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# busybox-static of the other architecture (arm64 on amd64, amd64 on arm64), unpacked, not installed: the
# tests make one image per platform and merge them into an index (nothing of it runs: no emulation).
native_arch=$(dpkg --print-architecture)
other_arch=$([ "$native_arch" = arm64 ] && echo amd64 || echo arm64)
busybox_dir=/var/cache/packages-tests/busybox-static-$other_arch
if [ ! -x "$busybox_dir/bin/busybox" ]; then
  echo "fetching busybox-static:$other_arch"
  dpkg --print-foreign-architectures | grep -qx "$other_arch" || dpkg --add-architecture "$other_arch"
  apt-cache show "busybox-static:$other_arch" >/dev/null 2>&1 || apt-get update -qq
  mkdir -p "$(dirname "$busybox_dir")"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  if id -u _apt >/dev/null 2>&1; then chown _apt "$download"; fi  # apt downloads as _apt
  (cd "$download" && apt-get download -qq "busybox-static:$other_arch")
  rm -rf "$busybox_dir.new"
  dpkg-deb -x "$download"/busybox-static_*.deb "$busybox_dir.new"
  rm -rf "$busybox_dir"
  mv "$busybox_dir.new" "$busybox_dir"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing the Python environment (.venv)"
  # uv (a test dependency anyway) resolves and installs in seconds where pip takes a minute; pip is the
  # fallback. Their chatter goes to a log, shown only when both fail.
  if ! { .venv/bin/pip install -q uv && .venv/bin/uv pip install -q --python .venv/bin/python --upgrade pip \
         && .venv/bin/uv pip install -q --python .venv/bin/python -e '.[test,s3,postgres]'
       } >.venv/pip.log 2>&1 \
     && ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test,s3,postgres]'; } \
       >>.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
