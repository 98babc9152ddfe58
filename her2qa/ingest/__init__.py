"""Ingest: inbox file -> read-only archive -> raw layer, patient identifiers keyed on read.

inbox.py    which files are new (SHA-256), archiving, one transaction per file
extract.py  reading a file's bytes into contract columns (CSV today)
phi.py      the PHI key and the HMAC that replaces patient_mrn by patient_key
"""
