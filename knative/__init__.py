"""Deploying Tumorscope to Knative: ``python -m knative.deploy`` (``make deploy``, ``make smoke``)."""
