# Image for docker-compose.yml: Airflow 3.3 with reformwatch and its pinned dependencies.
FROM apache/airflow:3.3.2-python3.11
USER airflow
WORKDIR /opt/reformwatch
COPY --chown=airflow:root requirements.lock pyproject.toml README.md ./
COPY --chown=airflow:root reformwatch ./reformwatch
RUN pip install --no-cache-dir -r requirements.lock \
      "apache-airflow-providers-celery" "apache-airflow-providers-postgres" \
 && pip install --no-cache-dir --no-deps -e .
COPY --chown=airflow:root dbt_project ./dbt_project
COPY --chown=airflow:root data/samples ./data/samples
