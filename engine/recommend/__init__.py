"""Recommendations: interactions from the event store, training and registering candidates, serving them."""
