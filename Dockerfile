# syntax=docker/dockerfile:1
# The one `k12` binary (API, worker, gateway, operational commands) in a small image that
# runs as a non-root user. Build: docker build -t k12 .   Run: docker run k12 serve
FROM rust:1.95.0-bookworm AS build
# pg_query (the migration linter) compiles libpg_query and runs bindgen.
# Unpinned on purpose: bookworm's point releases carry the security fixes we want.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p k12 \
 && install -m 755 target/release/k12 /usr/local/bin/k12

FROM debian:bookworm-slim
# pg_dump/pg_restore 15 for backups; CA certificates for outgoing TLS (unpinned, as above).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/k12 --create-home k12
COPY --from=build /usr/local/bin/k12 /usr/local/bin/k12
USER 10001:10001
ENV K12_LISTEN=0.0.0.0:3000 \
    K12_DATA_DIR=/var/lib/k12 \
    K12_LOG_FORMAT=json
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/k12"]
CMD ["serve"]
