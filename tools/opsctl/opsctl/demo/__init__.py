"""`counselctl demo load`: a demo center, created through the services' public HTTP APIs."""
