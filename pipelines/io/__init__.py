"""The edges of the jobs: reading sources (files, folders, databases), validating them into
tables, splitting large inputs into chunks, publishing outputs atomically, and MLflow
tracking. Jobs (``leadscore.pipelines``) use these; nothing here imports a job."""
