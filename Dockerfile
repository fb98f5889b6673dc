# Image for docker-compose.yml: Airflow 3.3 with reformwatch and its pinned dependencies.
FROM apache/airflow:3.3.2-python3.11
USER airflow
WORKDIR /opt/reformwatch
COPY --chown=airflow:root requirements.lock pyproject.toml README.md ./
COPY --chown=airflow:root reformwatch ./reformwatch
# requirements.lock pins the Celery and Postgres providers too (the same set `make cluster` runs)
RUN pip install --no-cache-dir -r requirements.lock \
 && pip install --no-cache-dir --no-deps -e .
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root deploy ./deploy
COPY --chown=airflow:root data/samples ./data/samples
