"""The entry point inside a job: ``python -m kinetic.runner <job-uri>``."""
