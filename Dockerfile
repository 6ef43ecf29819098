# syntax=docker/dockerfile:1
# Axon: multi-stage build with uv. Only PyPI and the Docker Hub python image are needed.

# ---- build: resolve the locked dependencies into /app/.venv ----
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==0.13.8"
WORKDIR /app
# Dependencies first (cached while only the code changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY migrations ./migrations
COPY alembic.ini ./
RUN uv sync --frozen --no-dev

# ---- runtime: the virtualenv and the code, run as an unprivileged user ----
FROM python:3.11-slim AS runtime
RUN groupadd --system axon && useradd --system --gid axon --home-dir /app --no-create-home axon \
    && mkdir -p /data && chown axon:axon /data
WORKDIR /app
COPY --from=build --chown=axon:axon /app /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    AXON_HOST=0.0.0.0 \
    AXON_PORT=8000 \
    AXON_DATABASE_URL=sqlite+aiosqlite:////data/axon.db
USER axon
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["axon"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
