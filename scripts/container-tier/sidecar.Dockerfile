# Stand-in for cloudflare/proxy-everything, workerd's network sidecar, when its registry is unreachable:
# proxy-standin.mjs on Node, with iproute2 (it removes the container's default route at start).
FROM node:24-bookworm-slim
LABEL org.pgseal.stand-in="cloudflare/proxy-everything"
RUN apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*
COPY proxy-standin.mjs /proxy-standin.mjs
ENTRYPOINT ["node", "/proxy-standin.mjs"]
