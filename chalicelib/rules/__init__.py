"""Pure domain rules: points, the monthly cap, claps, badges and calendar windows. No I/O here."""
