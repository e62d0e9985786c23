# The project image: Airflow 3.3 (CeleryExecutor) with the credit warehouse's pinned dependencies and code.
# One image for every Airflow component and for the simulators (docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    GX_ANALYTICS_ENABLED=False

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libpq5 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --gid 0 --home-dir /home/airflow airflow \
    && mkdir -p /opt/airflow /opt/creditwh /var/creditwh \
    && chown -R 50000:0 /opt/airflow /opt/creditwh /var/creditwh

WORKDIR /opt/creditwh
# Dependencies first: they change far less often than the code.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY pyproject.toml README.md ./
COPY etl ./etl
COPY simulators ./simulators
COPY warehouse_sql ./warehouse_sql
COPY expectations ./expectations
COPY dags ./dags
# Editable: etl.config finds warehouse_sql/ and expectations/ beside the package, as in a checkout.
RUN pip install --no-deps -e . && chown -R 50000:0 /opt/creditwh

USER 50000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
