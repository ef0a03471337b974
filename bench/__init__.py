"""Throughput of the relay and the inbox consumer beside the raw limits of NATS and PostgreSQL."""
