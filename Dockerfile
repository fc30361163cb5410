# One image for the collector, the dashboard and lockctl (docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npm ci --no-audit --no-fund && npm run build
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1
