"""Vitals as data (issue 16, rec3): an entry recorded with its post, and a subject's series for the chart."""
