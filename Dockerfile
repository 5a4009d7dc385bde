# migrator: the runtime image (docs/deploy-ecs.md). Distroless-style: the final stage is `scratch`
# plus exactly the binary's shared-library closure, the CA certificates, the RDS CA bundle and user
# 10001 (deploy/image/make-rootfs.sh). No shell, no package manager, no migrations: an app bakes the
# binary into its own image (deploy/image/app.Dockerfile.example) or mounts its drizzle folder and
# sets MIGRATIONS_DIR. Without MIGRATIONS_DIR (or a folder at /app/migrations) it exits 2.
#
#   docker build -t bcos-migrator:dev .
#
# Build arguments:
#   RDS_CA_BUNDLE_URL   where to fetch the RDS global CA bundle (default: the AWS truststore); it is
#                       checked against deploy/image/rds-ca-bundle.sha256, and the build fails on a
#                       mismatch (refreshing it: docs/deploy-ecs.md, "The RDS CA bundle").
#
# scripts/image-rehearsal.sh lays out the same root with the same script in a debootstrap chroot on
# a machine without a Docker engine; keep the FROM lines literal image names.

############################## build ##############################
FROM swift:6.3.1-bookworm AS build

# libpq and libcurl headers for the CLibPQ and CCurl system-library targets
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
RUN swift build -c release --static-swift-stdlib --product migrator \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/migrator" /out/migrator \
    && strip /out/migrator \
    && /out/migrator --version

############################## rootfs: the runtime's files, collected ##############################
FROM debian:bookworm-slim AS rootfs

ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem

# The libraries migrator links (libpq5, libcurl4 and what they pull in) and the CA store: only their
# files that the binary loads go into the image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The RDS CA bundle, for sslmode=verify-full (PGSSLROOTCERT in the task definitions), verified
# against the committed checksum. ADD of a URL (hadolint cannot tell it from a file as an ARG).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY deploy/image/rds-ca-bundle.sha256 /tmp/rds-ca-bundle.sha256
# hadolint ignore=DL3020
ADD ${RDS_CA_BUNDLE_URL} /tmp/global-bundle.pem
WORKDIR /tmp
RUN sha256sum -c rds-ca-bundle.sha256 \
    && grep -q 'BEGIN CERTIFICATE' /tmp/global-bundle.pem \
    && install -m 0644 /tmp/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem

COPY --from=build /out/migrator /usr/local/bin/migrator
COPY deploy/image/make-rootfs.sh /usr/local/sbin/make-rootfs.sh
RUN /usr/local/sbin/make-rootfs.sh /usr/local/bin/migrator /rootfs

############################## runtime ##############################
FROM scratch AS runtime
COPY --from=rootfs /rootfs/ /
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/migrator"]
CMD ["up"]
