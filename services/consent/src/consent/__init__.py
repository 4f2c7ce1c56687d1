"""Yui consent: the subject registry, consent and its withdrawal, proxies, care teams, exceptional access."""
