# syntax=docker/dockerfile:1
# One image, both components:
#   operator: node dist/operator/src/main.js (the default command)
#   agent:    node dist/node-agent/src/main.js
# The Helm chart sets the command of each. test/chart/image.test.ts carries
# out these steps without a container engine (each stage in a folder, RUN
# lines as written) and starts both entry points from the result.

ARG NODE_IMAGE=node:24.21.0-slim

# --- build: every dependency, then the compiled JavaScript in dist/ ----------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The manifests first, so the dependency layer is reused while only code changes.
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY kube/package.json kube/
COPY operator/package.json operator/
COPY node-agent/package.json node-agent/
COPY test/package.json test/
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hack/build.ts hack/
COPY crds/src crds/src
COPY kube/src kube/src
COPY operator/src operator/src
COPY node-agent/src node-agent/src
# What `make build` runs.
RUN node hack/build.ts

# --- production: runtime dependencies and dist/ only -------------------------
FROM ${NODE_IMAGE} AS production
ENV NODE_ENV=production
WORKDIR /app
# npm ci needs every workspace's manifest to link the workspaces; only the
# runtime dependencies are installed (no TypeScript, vitest or Biome). The
# npm cache stays in a cache mount, out of the image.
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY kube/package.json kube/
COPY operator/package.json operator/
COPY node-agent/package.json node-agent/
COPY test/package.json test/
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
COPY --from=build /src/dist dist
# The node image's unprivileged user. The operator runs as it; the agent's
# pod runs as root, which the kernel's merge files require.
USER 1000:1000
CMD ["node", "dist/operator/src/main.js"]
