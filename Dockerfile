# GraphiQL's page, bundled from npm at build time: the running API loads nothing from the internet.
FROM node:20-slim AS graphiql
WORKDIR /build/frontend/graphiql
COPY frontend/graphiql/package.json frontend/graphiql/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/graphiql/entry.jsx ./
RUN mkdir -p /build/streamify/web/static/graphiql && npm run build

# The reference web app, served at /: its operation types are generated from schema.graphql.
FROM node:20-slim AS app
WORKDIR /build/frontend/app
COPY frontend/app/package.json frontend/app/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/app/ ./
RUN npm run build

FROM python:3.11-slim
# ffmpeg and ffprobe for the transcoding worker (the API image is the same).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamify ./streamify
COPY --from=graphiql /build/streamify/web/static/graphiql ./streamify/web/static/graphiql
COPY --from=app /build/streamify/web/static/app ./streamify/web/static/app
RUN pip install --no-cache-dir .
ENV STREAMIFY_HOST=0.0.0.0
EXPOSE 8000
CMD ["streamify", "serve", "--host", "0.0.0.0", "--port", "8000"]
