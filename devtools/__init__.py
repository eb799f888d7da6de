"""Running Kairos on one machine: the demo, the local services, DAG hours run from Python.

Above every other part (it may import all of them; none imports it): ``make demo``
(:mod:`devtools.demo`), ``make up`` / ``make down`` (:mod:`devtools.services`) and the
end-to-end tests (:mod:`devtools.dag_runs`) live here, not in the ``kairos`` core.
"""
