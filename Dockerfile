# syntax=docker/dockerfile:1
# asc-perf-exporter image: `docker build -t asc-perf-exporter .`
# Default command: the demo (simulated App Store Connect); see README
# "Alerts, dashboards and the docker-compose stack" for real credentials.

# ---- build --------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: only Cargo.toml / Cargo.lock
# changes rebuild them. Stub targets stand in for the real sources.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && for b in exporter memory otlp; do echo 'fn main() {}' > benches/$b.rs; done \
 && cargo build --release --locked \
 && rm -rf src benches

# The real sources; touch them so cargo rebuilds the crate, not the stubs.
COPY build.rs ./
COPY src ./src
COPY benches ./benches
ARG ASC_EXPORTER_REVISION=unknown
ENV ASC_EXPORTER_REVISION=${ASC_EXPORTER_REVISION}
RUN touch build.rs src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && strip target/release/asc-perf-exporter

# ---- runtime ------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/asc-perf-exporter --create-home asc \
 && install -d -o asc -g asc /var/lib/asc-perf-exporter/state
COPY --from=builder /src/target/release/asc-perf-exporter /usr/local/bin/asc-perf-exporter

USER asc
WORKDIR /var/lib/asc-perf-exporter
# Listen on all interfaces inside the container (the binary's default is
# 0.0.0.0:9472 already; explicit for clarity).
ENV ASC_EXPORTER_LISTEN=0.0.0.0:9472
EXPOSE 9472
ENTRYPOINT ["asc-perf-exporter"]
CMD ["serve", "--demo"]
