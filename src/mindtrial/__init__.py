"""MindTrial: run and evaluate group mindfulness trials for opioid use disorder."""

__version__ = "0.1.0"
