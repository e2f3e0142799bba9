# smc-chatops: `smc-bot serve` on a slim Python, as a non-root user, with a health check on /healthz.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY sandbox ./sandbox
RUN python -m venv /opt/smc-bot && /opt/smc-bot/bin/pip install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/smc-bot/bin:$PATH \
    PORT=3000 \
    DATABASE_URL=sqlite:////var/lib/smc-bot/smc-bot.db
COPY --from=build /opt/smc-bot /opt/smc-bot
RUN useradd --system --uid 10001 --home-dir /var/lib/smc-bot --create-home smc
USER smc
WORKDIR /var/lib/smc-bot
VOLUME ["/var/lib/smc-bot"]
EXPOSE 3000
# /healthz answers in both modes (Socket Mode serves it on PORT too): database, scheduler, last poll.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
ENTRYPOINT ["smc-bot"]
CMD ["serve"]
