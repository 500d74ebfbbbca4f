# One image per Tumorscope function, all from this file:
#
#   docker build --build-arg FUNCTION=submit --build-arg TARGET=submit -t tumorscope/submit .
#   docker build --build-arg FUNCTION=status --build-arg TARGET=status -t tumorscope/status .
#   docker build --build-arg FUNCTION=render --build-arg TARGET=render \
#                --build-arg SIGNATURE=cloudevent -t tumorscope/render .
#   docker build --build-arg FUNCTION=render --build-arg TARGET=graph -t tumorscope/graph .
#
# TELEMETRY=1 also installs requirements-otel.txt (OpenTelemetry's SDK, OTLP exporter and
# instrumentations), which the functions use only when OTEL_* variables are set. Images are
# built without it by default: redis-py imports opentelemetry whenever it is installed, which
# would put tens of milliseconds on every cold start (docs/deploy.md, "Traces").
#
# FUNCTION is the folder under functions/ (its requirements.txt and main.py), TARGET the
# entry point in that main.py, SIGNATURE functions-framework's signature type. `make build`
# (docker compose build) passes them; docker-compose.yml holds the four combinations.
# An image holds only that function's requirements, shared/ and that function's folder.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS dependencies
ARG FUNCTION=submit
ARG TELEMETRY=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY functions/${FUNCTION}/requirements.txt /tmp/requirements.txt
COPY requirements-otel.txt /tmp/requirements-otel.txt
# Every requirement ships wheels for this platform: no compiler is needed, none is installed.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt \
    && if [ -n "$TELEMETRY" ]; then \
        /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements-otel.txt -c /tmp/requirements.txt; fi

FROM ${PYTHON_IMAGE}
ARG FUNCTION=submit
ARG TARGET=submit
ARG SIGNATURE=http
RUN useradd --create-home --uid 10001 --user-group app
# MPLCONFIGDIR must be writable; the font cache is built there below, so a cold start does not build it.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/home/app/.config/matplotlib \
    FUNCTION_SOURCE=functions/${FUNCTION}/main.py \
    FUNCTION_TARGET=${TARGET} \
    FUNCTION_SIGNATURE_TYPE=${SIGNATURE} \
    PORT=8080 \
    THREADS=4 \
    LOG_FORMAT=json
COPY --from=dependencies /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root shared/ shared/
COPY --chown=root:root functions/${FUNCTION}/ functions/${FUNCTION}/
RUN python -m compileall -q shared functions
USER 10001:10001
RUN python -c "import importlib.util as u; u.find_spec('matplotlib') and __import__('matplotlib.font_manager')"
EXPOSE 8080
# functions-framework reads PORT (Knative sets it) and THREADS; WORKERS stays 1 per container.
CMD ["sh", "-c", "exec functions-framework --target \"$FUNCTION_TARGET\" --signature-type \"$FUNCTION_SIGNATURE_TYPE\" --source \"$FUNCTION_SOURCE\" --host 0.0.0.0 --port \"$PORT\""]
