# Stand-in for docker.io/library/node:24-bookworm-slim when Docker Hub is unreachable: a debootstrap'ed Debian
# bookworm (BASE) + the Node 24 binary of the npm "node" package this repository already installed, and the
# official image's "node" user (uid/gid 1000). No npm: the streamer image runs none. Context: the node binary.
ARG BASE=pgseal-tier/debian:bookworm
FROM ${BASE}
LABEL org.pgseal.stand-in="node:24-bookworm-slim"
COPY node /usr/local/bin/node
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version
CMD ["node"]
