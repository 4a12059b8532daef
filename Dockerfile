# Newsbot's image: one image for every role (`newsbot run --role all|poll|send|bot`).
#   docker build -t newsbot .
#   docker run --env-file newsbot.env -v newsbot-data:/data newsbot
# docker-compose.yml runs it on PostgreSQL, split into roles; the README's "Deploy" says how.
#
# The base is pinned by tag and by the digest of its multi-architecture index, so a rebuild gets
# the same Debian and Python; the lock files are compiled for Python 3.11: keep the same minor
# version. To move on, look the new digest up (`docker buildx imagetools inspect
# python:3.11-slim-bookworm`) and replace both.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/newsbot.db \
    NEWSBOT_HTTP_PORT=8080 \
    NEWSBOT_HTTP_LISTEN=0.0.0.0

# A fixed numeric uid and gid (10001), so a bind-mounted data directory can be given to it on the
# host (`chown 10001:10001 ./data`). The directory is also group 0 and group-writable, for
# platforms that run the image under another uid in group 0.
RUN groupadd --gid 10001 newsbot \
    && useradd --uid 10001 --gid 10001 --no-log-init --create-home newsbot \
    && mkdir /data \
    && chown 10001:0 /data \
    && chmod 0770 /data

WORKDIR /app
# Dependencies from the lock file first (pinned versions and hashes; a layer that survives code
# changes), then the project itself without resolving anything again.
COPY requirements/run.lock ./requirements/run.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/run.lock
COPY pyproject.toml README.md ./
COPY news ./news
COPY storage ./storage
COPY handlers ./handlers
COPY bot ./bot
RUN pip install --no-cache-dir --no-deps . \
    && newsbot --help > /dev/null

USER 10001:10001
# The sentence encoder's plain files (news/meaning/_lean.py), written once here into the user's
# ~/.cache: a container's first encode reads them instead of writing 80 MB.
RUN python -c "import news.meaning._lean as lean; print(lean.prepare())"
VOLUME ["/data"]
WORKDIR /data
# /healthz and /metrics (NEWSBOT_HTTP_PORT); the webhook server, when NEWSBOT_WEBHOOK_URL is set.
EXPOSE 8080 8443
# 200 when the database answers and the role's loop ticked recently; anything else (503, no
# answer) makes urlopen raise, so the exit status is 1: unhealthy. The slim base has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ['NEWSBOT_HTTP_PORT'], timeout=4)"]
CMD ["newsbot", "run"]
