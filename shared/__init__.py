"""Tumorscope's shared library: configuration, data set, jobs, events, plots and the HTTP edge."""
