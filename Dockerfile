# Newsbot: the bot and its feed scheduler in one process.
#   docker build -t newsbot .
#   docker run -e TELEGRAM_BOT_TOKEN=... -v newsbot-data:/data newsbot
# The lock files are compiled for Python 3.11: keep the base on the same minor version.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/newsbot.db

RUN useradd --create-home --uid 10001 newsbot \
    && mkdir /data && chown newsbot:newsbot /data

WORKDIR /app
# Dependencies from the lock file first (pinned versions and hashes; a layer that survives code
# changes), then the project itself without resolving anything again.
COPY requirements/run.lock ./requirements/run.lock
RUN pip install --require-hashes -r requirements/run.lock
COPY pyproject.toml README.md ./
COPY news ./news
COPY storage ./storage
COPY handlers ./handlers
COPY bot ./bot
RUN pip install --no-deps .

USER newsbot
VOLUME ["/data"]
WORKDIR /data
CMD ["newsbot", "run"]
