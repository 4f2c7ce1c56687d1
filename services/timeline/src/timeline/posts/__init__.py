"""Posts and threads on a board: writing, reading, read marks, versions, the feed, search and the FHIR export."""
