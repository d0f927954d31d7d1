"""Structured JSON logs. Personal data (emails, phone numbers, names) is never passed to the logger."""
from aws_lambda_powertools import Logger

logger = Logger(service="karmayogi-engage")
