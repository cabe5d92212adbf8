"""Turning files into library documents: extractors, the folder scanner, the pipeline."""
