# precoro-bot: a small, non-root image.
#   docker build -t precoro-bot .           (--build-arg SOURCE=<repository URL> fills the source label)
#   docker run -v precoro-bot-data:/data -v ./config.yaml:/app/config.yaml:ro --env-file .env -p 3000:3000 precoro-bot
# The SQLite database lives in the /data volume; `compose.yaml` runs it with PostgreSQL instead.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, in their own layer, pinned by constraints.txt: rebuilt only when
# pyproject.toml or constraints.txt change, not on every code change.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > requirements.txt \
 && pip install -r requirements.txt -c constraints.txt
COPY README.md LICENSE ./
COPY bot ./bot
# (the service only: the dev kit in devkit/, the tests and bench/ are left out, see .dockerignore)
RUN pip install --no-deps -c constraints.txt .

FROM python:3.11-slim
ARG VERSION=0.1.0
ARG SOURCE=""
LABEL org.opencontainers.image.title="precoro-bot" \
      org.opencontainers.image.description="Approve or reject Precoro documents from Slack" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="$SOURCE"
# The config's storage.url defaults to this (config.example.yaml: ${PRECORO_BOT_STORAGE_URL:-...});
# a relative sqlite:///file.db lands in /data too, the working directory.
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH \
    PRECORO_BOT_STORAGE_URL=sqlite:////data/precoro-bot.db
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --uid 10001 --home-dir /app --create-home bot \
 && mkdir /data && chown bot:bot /data
VOLUME ["/data"]
WORKDIR /data
USER bot
# 3000: Slack and Precoro (public). 9100: /metrics and detailed /readyz when server.metrics_port
# is 9100 (publish it to your monitoring network only), or use server.metrics_token instead.
EXPOSE 3000 9100
# Asks /healthz on the port the config names (server.port), whatever it is.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["precoro-bot", "healthcheck", "--config", "/app/config.yaml"]
ENTRYPOINT ["precoro-bot"]
CMD ["serve", "--config", "/app/config.yaml"]
