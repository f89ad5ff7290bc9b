"""Guardrails shared by the services: output redaction, prompt-injection detection, leak canaries."""
