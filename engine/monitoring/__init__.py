"""Monitoring: reference profiles, drift, realized and estimated performance, and the checks that use them.

Kept import-light on purpose: the submodules pull in numpy, polars, scipy and scikit-learn only when imported.
"""
