"""Shared building blocks of the chatbot fleet. Nothing here runs at import time."""
