"""Publish: what a person reads, made from the warehouse of one run.

site/        the offline dashboard site (one page per topic, a lab selector)
audit_pack/  the accreditation audit pack of a period (report, metrics.csv, lineage)
"""
