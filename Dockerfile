# precoro-bot: a small, non-root image. Configure with /app/config.yaml (mounted) and env secrets.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /app --create-home bot
WORKDIR /app
USER bot
# 3000: Slack and Precoro (public). 9100: /metrics and detailed /readyz when server.metrics_port
# is 9100 (publish it to your monitoring network only), or use server.metrics_token instead.
EXPOSE 3000 9100
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["precoro-bot"]
CMD ["serve", "--config", "/app/config.yaml"]
