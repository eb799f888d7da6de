"""Kairos core: settings, the event contract, the Spark session factory and the landing store.

Every other package (spark_jobs, ml, serving, dags) builds on these few modules.
"""
