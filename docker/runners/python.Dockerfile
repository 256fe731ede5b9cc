# TFactory's Python runner image: the sandbox that generated tests and the offline
# engines run in. Built by `manage.py build_runner_image` (agents_app/sandbox/docker_image.py),
# never by hand: that module assembles the build context (this file, the pinned tool lists
# agents_app/env/tools/*.txt as toolenvs/, agents_app/sandbox/runner_side/ as runner_side/, and the
# host's CA bundle as host-ca.crt) and names the image after a hash of all of it.
#
# Works with the classic builder (no BuildKit syntax). The constants here are mirrored in
# docker_image.py (RUNNER_UID/GID, TOOLS_DIR, RUNNER_SIDE_DIR, IMAGE_PYTHON); a test keeps
# them in step.

# BASE: tfactory-base:bookworm-<hash>, either debian:bookworm-slim pulled and re-tagged or a
# debootstrapped Debian bookworm (minbase + the packages below) imported with `docker import`.
ARG BASE
FROM ${BASE}

# Build-time only: ARGs are visible to RUN steps but are not part of the image's config.
ARG DEBIAN_FRONTEND=noninteractive
ARG PIP_DISABLE_PIP_VERSION_CHECK=1
ARG PIP_NO_CACHE_DIR=1
ARG PIP_NO_INPUT=1
ARG PIP_ROOT_USER_ACTION=ignore

ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8

# The host's CA bundle: the network may go through a TLS-inspecting proxy whose CA only the
# host trusts. Certificates only (no keys, no secrets); used by the RUN steps below through
# PIP_CERT / SSL_CERT_FILE for their own duration and deleted from the final filesystem.
COPY host-ca.crt /tmp/tfactory-build/host-ca.crt

# OS packages: Debian's python3 (3.11) with venv, CA certificates, tini (PID 1) and procps
# (ps/pkill for the reaper inside the container). A debootstrapped base already has them;
# a pulled debian:bookworm-slim gets them here.
RUN set -eu; \
    missing=""; \
    for p in python3 python3-venv ca-certificates tini procps; do \
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get -o Acquire::https::CAInfo=/tmp/tfactory-build/host-ca.crt update; \
        apt-get -o Acquire::https::CAInfo=/tmp/tfactory-build/host-ca.crt install -y \
            --no-install-recommends $missing; \
        apt-get clean; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    /usr/bin/python3 -c 'import sys, venv; assert sys.version_info >= (3, 11), sys.version'; \
    test -x /usr/bin/tini; \
    command -v pkill >/dev/null

# The unprivileged user every sandboxed command runs as (uid/gid 10001, home /home/runner).
# /root is made traversable (0755): TFactory bind-mounts host paths at the same path inside
# the container, often under /root/.tfactory, and the runner user must be able to reach
# them. The image's own /root is empty, so this exposes nothing.
RUN set -eu; \
    groupadd --gid 10001 runner; \
    useradd --uid 10001 --gid 10001 --home-dir /home/runner --create-home \
        --shell /bin/sh runner; \
    chmod 0755 /root; \
    test -z "$(ls -A /root | grep -v '^\.\(bashrc\|profile\)$' || true)"

# TFactory's tool environments, one venv per pinned list (agents_app/env/tools/<name>.txt),
# built with the image's Python: /opt/tfactory/tools/<name>. Owned by root, read-only for
# the runner. Before runner_side so that editing a helper does not reinstall the tools.
COPY toolenvs/ /tmp/tfactory-build/toolenvs/
RUN set -eu; \
    cat /etc/ssl/certs/ca-certificates.crt /tmp/tfactory-build/host-ca.crt \
        > /tmp/tfactory-build/ca.crt; \
    export PIP_CERT=/tmp/tfactory-build/ca.crt SSL_CERT_FILE=/tmp/tfactory-build/ca.crt; \
    mkdir -p /opt/tfactory/tools; \
    for req in /tmp/tfactory-build/toolenvs/*.txt; do \
        name="$(basename "$req" .txt)"; \
        venv="/opt/tfactory/tools/$name"; \
        echo "tool environment $name -> $venv"; \
        /usr/bin/python3 -m venv "$venv"; \
        "$venv/bin/python" -m pip install --progress-bar off -r "$req"; \
        "$venv/bin/python" -m pip check; \
        cp "$req" "$venv/requirements.txt"; \
    done; \
    rm -rf /tmp/tfactory-build; \
    chmod -R a+rX,go-w /opt/tfactory

# The runner-side helpers (a copy of agents_app/sandbox/runner_side), read-only for the runner.
COPY runner_side/ /opt/tfactory/runner_side/

# USER runner, by number: the Docker backend and its checks compare numeric ids.
USER 10001:10001
WORKDIR /home/runner
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sleep", "infinity"]
