"""Figures and reports shared by every world."""
