"""Customers: RFM scores, named segments and behavioural clusters per customer, point in time."""
