"""A read-only FHIR R4 view of booking: Appointment, Slot and Schedule."""
