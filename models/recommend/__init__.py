"""Recommendation candidates, their ranking metrics and their batched ONNX export."""
