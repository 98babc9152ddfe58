"""her2qa: HER2 testing quality assurance for pathology laboratories."""
