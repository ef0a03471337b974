"""Booking's server-rendered pages for clients (Jinja2): the waitlist offer page."""
