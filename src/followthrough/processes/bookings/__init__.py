"""processes/bookings."""
