# migrator: the runtime image that ECS RunTask starts (see the README, "Deploy to ECS").
#
#   docker build \
#     --build-arg RDS_CA_BUNDLE_SHA256="$(cat rds-ca-bundle.sha256)" \
#     --build-arg MIGRATIONS_DIR=migrations \
#     -t bcos-migrator:dev .
#
# Build arguments:
#   MIGRATIONS_DIR        the drizzle-kit folder to bake in, relative to the build context
#                         (default: migrations). It becomes /app/migrations in the image.
#   RDS_CA_BUNDLE_SHA256  sha256 of the RDS global CA bundle; required, the build fails without it
#                         (how to obtain and refresh it: the README, "The RDS CA bundle").
#   RDS_CA_BUNDLE_URL     where to fetch the bundle (default: the AWS truststore).
#
# Targets: the default (last) stage is the image with migrations; `--target base` is the same image
# without migrations, for teams that add their own folder with `FROM ... ; COPY`.
#
# scripts/image-rehearsal.sh --podman builds this file unchanged with podman on a machine without a
# Docker engine; keep the two FROM lines literal image names (it imports stand-ins under them).

############################## build ##############################
FROM swift:6.3.1-bookworm AS build

# libpq and libcurl headers for the CLibPQ system-library target and the CCurl target (which opens
# libcurl with dlopen at run time instead of linking it); libpq-dev brings libssl-dev, whose headers
# CFastHMAC uses. The release link uses lld, which the Swift toolchain in this image ships.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Dependencies first: this layer stays cached while only Sources/ changes.
COPY Package.swift ./
RUN swift package resolve

COPY Sources ./Sources
COPY Tests ./Tests
# The release link's symbol order (Package.swift).
COPY scripts/startup.order ./scripts/startup.order
RUN swift build -c release --static-swift-stdlib --product migrator \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/migrator" /out/migrator \
    && strip /out/migrator \
    && /out/migrator --version

############################## base: runtime without migrations ##############################
FROM debian:bookworm-slim AS base

ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
ARG RDS_CA_BUNDLE_SHA256=""

# Only what migrator needs at run time: libpq5 (linked), libcurl4 (opened with dlopen when a secret is
# fetched) and the CA store for Secrets Manager (https).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libcurl4 ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && groupadd --gid 10001 migrator \
    && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin migrator

# The RDS CA bundle, for sslmode=verify-full (PGSSLROOTCERT, set by the task definitions). ADD of a
# URL (hadolint cannot tell it from a local file when it is an ARG), verified by the pinned sha256.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3020
ADD ${RDS_CA_BUNDLE_URL} /etc/ssl/certs/rds-global-bundle.pem
RUN if [ -z "${RDS_CA_BUNDLE_SHA256}" ]; then \
        echo "RDS_CA_BUNDLE_SHA256 is not set: pass --build-arg RDS_CA_BUNDLE_SHA256=<sha256 of global-bundle.pem> (README, section The RDS CA bundle)" >&2; \
        exit 1; \
    fi \
    && echo "${RDS_CA_BUNDLE_SHA256}  /etc/ssl/certs/rds-global-bundle.pem" | sha256sum -c - \
    && chmod 0644 /etc/ssl/certs/rds-global-bundle.pem \
    && grep -q 'BEGIN CERTIFICATE' /etc/ssl/certs/rds-global-bundle.pem

COPY --from=build /out/migrator /usr/local/bin/migrator

WORKDIR /app
ENV MIGRATIONS_DIR=/app/migrations
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/migrator"]
CMD ["up"]

############################## migrations: the folder to bake in ##############################
# A stage of its own because the base stage's ENV MIGRATIONS_DIR (the in-image path migrator reads)
# would shadow this build argument (the source folder, relative to the build context).
FROM scratch AS migrations
ARG MIGRATIONS_DIR=migrations
COPY ${MIGRATIONS_DIR}/ /

############################## final: runtime with the migrations folder ##############################
FROM base AS final
COPY --from=migrations / /app/migrations/
