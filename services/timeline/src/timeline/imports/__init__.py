"""Hospital letters imported as FHIR document Bundles (issue 16 rec5): the letter on the timeline, its offers."""
