"""Test helpers: real servers on loopback, scripted models."""
