# Build stage: release binary against Debian's libpq and libsqlite3.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, from the manifests alone (a stub main.rs and lib.rs): this layer is
# reused until Cargo.toml or Cargo.lock changes, so editing src/ recompiles only this crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin crm-api \
    && rm -rf src target/release/crm-api target/release/deps/crm_api-* target/release/deps/libcrm_api-* \
              target/release/.fingerprint/crm-api-*
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin crm-api \
    && strip target/release/crm-api

# Runtime stage: only the shared libraries, a non-root user and the binary.
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="crm-api" \
      org.opencontainers.image.description="Multi-tenant CRM backend with row-level access in SQL" \
      org.opencontainers.image.licenses="MIT"
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /app crm \
    && mkdir -p /app/data && chown -R crm /app
COPY --from=build /src/target/release/crm-api /usr/local/bin/crm-api
USER crm
WORKDIR /app
ENV BIND_ADDR=0.0.0.0:8080 \
    APP_ENV=production \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:///app/data/crm.sqlite3
EXPOSE 8080
# The SQLite default keeps its data here; mount a volume to keep it across containers.
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["crm-api", "healthcheck"]
ENTRYPOINT ["crm-api"]
CMD ["serve"]
