"""Analytics over the event store: funnels, paths, bought-together rules (and experiments), one module each."""
