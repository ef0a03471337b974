"""On-call schedules: rotations in layers, restrictions, overrides, and who is on call when.

Everything here is pure (no I/O, no clock): the calculator is a function of a schedule, its
overrides and an instant or interval, so it is tested over DST transitions without a database.
"""
