"""The operator's pages about other networks: agreements (協定) with neighbouring networks (issue 12)."""
