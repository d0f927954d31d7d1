"""Karmayogi Saptah: learning-week campaigns (rules.py pure, service.py use cases)."""
