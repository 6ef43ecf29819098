"""Operating Axon: Prometheus metrics (`metrics`), and the HTTP middleware and endpoint that serve them."""
