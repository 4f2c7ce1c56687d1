"""Monitoring of a Yui deployment: Prometheus alert rules and their tests, a Grafana dashboard, textfile metrics."""
