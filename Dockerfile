# The api image (production): the locked dependencies without the dev group.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself is installed in place: migrations and data are read from /app.
COPY . .
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --home-dir /app coalition
USER coalition

EXPOSE 8000
CMD ["coalition", "serve", "--host", "0.0.0.0", "--port", "8000"]
