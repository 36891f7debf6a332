"""Shop analytics on the event store: experiments, funnels and paths, forecasts."""
