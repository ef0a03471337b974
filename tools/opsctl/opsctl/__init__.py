"""counselctl: the operators' command line for the counseling-center suite."""
