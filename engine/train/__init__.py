"""The train step: train and register a model from events or a table (`run`), retrain a champion against a
challenger on the newest held-out days (`retrain`), and when the daemon does so on its own (`policy`).

The estimators, their selection and the ONNX conversion live in `models/`; this package turns them into
registered versions.
"""
