"""The operators' audit search over all services (S2): ask each, merge by time, verify chains, export CSV."""
