"""Operations: the maintenance switch (O2), its gate over every request, operator pages and the CLI."""
