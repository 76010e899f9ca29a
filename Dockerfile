# Container image for the iggy-connectors runtime. Not exercised by CI (no Docker engine there).
# Build: docker build -t iggy-connectors .
# Run:   docker run --rm -v $PWD/config:/config -e IGGY_CONNECTORS_CONFIG_PATH=/config/config.toml iggy-connectors
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm cmake clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci && npm run build

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/index.js /src/index.d.ts /src/*.node ./
COPY --from=build /src/build/plugins ./build/plugins
ENV IGGY_CONNECTORS_CONFIG_PATH=/config/config.toml
EXPOSE 8081
ENTRYPOINT ["node", "bin/iggy-connectors.js"]
